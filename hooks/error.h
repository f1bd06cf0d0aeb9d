// Hemingway's error type and check macro.
#pragma once

#include <stdexcept>
#include <string>

#include <fmt/format.h>

namespace hemingway {

// The one exception base of the project. `what()` is the message alone, for
// people; `where()` is the "dir/file.cc:line" that raised it, for developers
// (Hemingway's tools show it at HEMINGWAY_LOG_LEVEL=debug).
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message, std::string where = {})
      : std::runtime_error(message), where_(std::move(where)) {}
  const std::string& where() const noexcept { return where_; }

 private:
  std::string where_;
};

// Bad flags, env or options given by the user.
class ConfigError : public Error {
 public:
  using Error::Error;
};

// A blocking call ran out of time (a hung or slow peer).
class TimeoutError : public Error {
 public:
  using Error::Error;
};

// A peer died or its connection broke.
class PeerLostError : public Error {
 public:
  using Error::Error;
};

namespace detail {
// "dir/file.cc" from a full path: messages stay short and stable.
constexpr const char* shortPath(const char* path) {
  const char* last = path;
  const char* prev = path;
  for (const char* p = path; *p != '\0'; ++p) {
    if (*p == '/') {
      prev = last;
      last = p + 1;
    }
  }
  return prev;
}

template <typename E, typename... Args>
[[noreturn]] void fail(const char* file, int line, fmt::format_string<Args...> fmtStr,
                       Args&&... args) {
  throw E(fmt::format(fmtStr, std::forward<Args>(args)...),
          fmt::format("{}:{}", shortPath(file), line));
}
}  // namespace detail

}  // namespace hemingway

#define HEMINGWAY_FAIL_AS(ErrorType, ...) \
  ::hemingway::detail::fail<ErrorType>(__FILE__, __LINE__, __VA_ARGS__)

#define HEMINGWAY_FAIL(...) HEMINGWAY_FAIL_AS(::hemingway::Error, __VA_ARGS__)

#define HEMINGWAY_CHECK(cond, ...) \
  do {                             \
    if (!(cond)) {                 \
      HEMINGWAY_FAIL(__VA_ARGS__); \
    }                              \
  } while (0)

#define HEMINGWAY_CHECK_AS(ErrorType, cond, ...) \
  do {                                           \
    if (!(cond)) {                               \
      HEMINGWAY_FAIL_AS(ErrorType, __VA_ARGS__); \
    }                                            \
  } while (0)
