#include "hemingway/plugin/elastic/detail/failpoint.h"

#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include <fmt/format.h>

namespace hemingway::elastic::detail {

void failpoint(const char* name, int workerId, int generation) {
  static const std::string armed = [] {
    const char* v = std::getenv("HEMINGWAY_FAILPOINT");
    return std::string(v != nullptr ? v : "");
  }();
  if (armed.empty()) return;
  if (armed == fmt::format("{}:{}:{}", name, workerId, generation)) ::kill(::getpid(), SIGKILL);
}

}  // namespace hemingway::elastic::detail
