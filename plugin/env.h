// Checked reads of environment variables: errors name the variable.
#pragma once

#include <optional>
#include <string>

namespace hemingway::plugin {

// The value of `name`, or nullopt when unset. An empty value counts as set.
std::optional<std::string> envString(const char* name);

// Parses `name` as a base-10 integer in [min, max]; nullopt when unset.
// Throws ConfigError naming the variable when it is empty, not an integer
// or out of range.
std::optional<long long> envInt(const char* name, long long min, long long max);

// Parses `text` (from a flag or variable called `what`) as an integer in
// [min, max], throwing ConfigError naming `what`.
long long parseInt(const std::string& what, const std::string& text, long long min, long long max);

// Parses `text` (from a flag or variable called `what`) as a number of
// seconds in (0, 1e6], throwing ConfigError naming `what`.
double parseSeconds(const std::string& what, const std::string& text);

// Parses `name` as a number of seconds in (0, 1e6]; nullopt when unset.
std::optional<double> envSeconds(const char* name);

}  // namespace hemingway::plugin
