// The distributed algorithms the models know: what bounds how their
// iteration counts may change with the machine count (slopeBoundsFor).
#pragma once

#include <string_view>

namespace hemingway::adaptive {

enum class Algorithm { kGd, kSgd, kLocalSgd, kCocoa, kCocoaPlus, kOther };

// From the names records and flags use: "gd", "sgd", "local-sgd", "cocoa",
// "cocoa+"; any other name is kOther.
Algorithm algorithmFromName(std::string_view name);
// The name back ("other" for kOther).
const char* algorithmName(Algorithm algorithm);

}  // namespace hemingway::adaptive
