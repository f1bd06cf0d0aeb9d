#include "hemingway/hooks/log.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

namespace hemingway::hooks {
namespace {

std::atomic<int> gRank{-1};

LogLevel parseLevel() {
  const char* value = std::getenv("HEMINGWAY_LOG_LEVEL");
  if (value == nullptr) return LogLevel::kWarn;
  if (std::strcmp(value, "error") == 0) return LogLevel::kError;
  if (std::strcmp(value, "info") == 0) return LogLevel::kInfo;
  if (std::strcmp(value, "debug") == 0) return LogLevel::kDebug;
  if (std::strcmp(value, "warn") != 0) {
    std::fprintf(stderr,
                 "hemingway: HEMINGWAY_LOG_LEVEL='%s' is not one of error, warn, info, "
                 "debug; using warn\n",
                 value);
  }
  return LogLevel::kWarn;
}

const char* levelName(LogLevel level) {
  switch (level) {
    case LogLevel::kError:
      return "error";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kDebug:
      return "debug";
  }
  return "?";
}

}  // namespace

LogLevel logLevel() {
  static const LogLevel level = parseLevel();
  return level;
}

void setLogRank(int rank) { gRank = rank; }

void logLine(LogLevel level, const std::string& message) {
  const int rank = gRank.load();
  std::string line =
      rank >= 0 ? fmt::format("hemingway[rank {}] {}: {}\n", rank, levelName(level), message)
                : fmt::format("hemingway {}: {}\n", levelName(level), message);
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

}  // namespace hemingway::hooks
