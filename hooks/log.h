// Human-readable logging to stderr, gated by HEMINGWAY_LOG_LEVEL
// (error, warn, info, debug; default warn) and prefixed with the rank.
#pragma once

#include <cstdio>
#include <string>

#include <fmt/format.h>

namespace hemingway::hooks {

enum class LogLevel { kError = 0, kWarn = 1, kInfo = 2, kDebug = 3 };

LogLevel logLevel();
// The rank shown in log prefixes; -1 (the default) shows none.
void setLogRank(int rank);
void logLine(LogLevel level, const std::string& message);

}  // namespace hemingway::hooks

#define HEMINGWAY_LOG(level, ...)                                                                 \
  do {                                                                                            \
    if (static_cast<int>(::hemingway::hooks::LogLevel::level) <=                                  \
        static_cast<int>(::hemingway::hooks::logLevel())) {                                       \
      ::hemingway::hooks::logLine(::hemingway::hooks::LogLevel::level, fmt::format(__VA_ARGS__)); \
    }                                                                                             \
  } while (0)
