// The message of an exception from c10, Gloo or the standard library, without
// the C++ stack trace c10 appends: errors that wrap one stay a readable line.
#pragma once

#include <exception>
#include <string>

namespace hemingway::plugin::detail {

std::string brief(const std::exception& e);

}  // namespace hemingway::plugin::detail
