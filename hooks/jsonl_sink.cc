#include "hemingway/hooks/jsonl_sink.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <nlohmann/json.hpp>

#include "hemingway/hooks/error.h"

namespace hemingway::hooks {

JsonlSink::JsonlSink(const std::string& path) : path_(path) {
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  HEMINGWAY_CHECK_AS(ConfigError, fd_ >= 0, "cannot open log file '{}': {}", path,
                     std::strerror(errno));
}

JsonlSink::~JsonlSink() {
  if (fd_ >= 0) ::close(fd_);
}

void JsonlSink::writeLine(const std::string& json) {
  std::string line = json;
  line.push_back('\n');
  const char* p = line.data();
  size_t left = line.size();
  while (left > 0) {
    ssize_t n = ::write(fd_, p, left);
    if (n < 0 && errno == EINTR) continue;
    HEMINGWAY_CHECK(n > 0, "writing log file '{}' failed: {}", path_, std::strerror(errno));
    p += n;
    left -= static_cast<size_t>(n);
  }
}

void JsonlSink::onStep(const StepRecord& record) { writeLine(toJson(record)); }

void JsonlSink::onRunStart(const RunInfo& info) { writeLine(toJson(info)); }

std::string toJson(const StepRecord& r) {
  nlohmann::json j = {{"event", "step"},
                      {"run", r.run},
                      {"rank", r.rank},
                      {"world_size", r.worldSize},
                      {"step", r.step},
                      {"step_ms", r.stepMs},
                      {"compute_ms", r.computeMs},
                      {"comm_ms", r.commMs},
                      {"exposed_comm_ms", r.exposedCommMs},
                      {"loss", r.loss ? nlohmann::json(*r.loss) : nlohmann::json(nullptr)},
                      {"samples", r.samples},
                      {"time", r.time}};
  return j.dump();
}

std::string toJson(const RunInfo& info) {
  nlohmann::json j = {{"event", "run_start"},
                      {"run", info.run},
                      {"rank", info.rank},
                      {"world_size", info.worldSize},
                      {"algorithm", info.algorithm},
                      {"parameter_count", info.parameterCount},
                      {"parameter_bytes", info.parameterBytes},
                      {"dataset_size", info.datasetSize},
                      {"host", info.host},
                      {"time", info.time}};
  if (!info.extra.empty()) j["config"] = info.extra;
  return j.dump();
}

}  // namespace hemingway::hooks
