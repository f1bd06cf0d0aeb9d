#include "hemingway/plugin/env.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>

#include "hemingway/hooks/error.h"

namespace hemingway::plugin {

std::optional<std::string> envString(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr) return std::nullopt;
  return std::string(value);
}

long long parseInt(const std::string& what, const std::string& text, long long min, long long max) {
  HEMINGWAY_CHECK_AS(ConfigError, !text.empty(), "{} is empty; expected an integer in [{}, {}]",
                     what, min, max);
  errno = 0;
  char* end = nullptr;
  const long long value = std::strtoll(text.c_str(), &end, 10);
  HEMINGWAY_CHECK_AS(ConfigError, end != nullptr && *end == '\0' && errno != ERANGE,
                     "{}='{}' is not an integer", what, text);
  HEMINGWAY_CHECK_AS(ConfigError, value >= min && value <= max,
                     "{}={} is out of range; expected an integer in [{}, {}]", what, value, min,
                     max);
  return value;
}

std::optional<long long> envInt(const char* name, long long min, long long max) {
  auto text = envString(name);
  if (!text) return std::nullopt;
  return parseInt(name, *text, min, max);
}

double parseSeconds(const std::string& what, const std::string& text) {
  errno = 0;
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  HEMINGWAY_CHECK_AS(
      ConfigError,
      !text.empty() && *end == '\0' && std::isfinite(value) && value > 0 && value <= 1e6,
      "{}='{}' is not a number of seconds in (0, 1e6]", what, text);
  return value;
}

std::optional<double> envSeconds(const char* name) {
  auto text = envString(name);
  if (!text) return std::nullopt;
  return parseSeconds(name, *text);
}

}  // namespace hemingway::plugin
