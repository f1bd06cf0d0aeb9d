#include "hemingway/adaptive/algorithm.h"

namespace hemingway::adaptive {
namespace {

struct Named {
  Algorithm algorithm;
  const char* name;
};
constexpr Named kNames[] = {{Algorithm::kGd, "gd"},
                            {Algorithm::kSgd, "sgd"},
                            {Algorithm::kLocalSgd, "local-sgd"},
                            {Algorithm::kCocoa, "cocoa"},
                            {Algorithm::kCocoaPlus, "cocoa+"}};

}  // namespace

Algorithm algorithmFromName(std::string_view name) {
  for (const auto& n : kNames) {
    if (name == n.name) return n.algorithm;
  }
  return Algorithm::kOther;
}

const char* algorithmName(Algorithm algorithm) {
  for (const auto& n : kNames) {
    if (algorithm == n.algorithm) return n.name;
  }
  return "other";
}

}  // namespace hemingway::adaptive
