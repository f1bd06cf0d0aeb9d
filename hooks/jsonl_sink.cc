#include "hemingway/hooks/jsonl_sink.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>
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

void JsonlSink::onIteration(const IterationRecord& record) { writeLine(toJson(record)); }

namespace {
nlohmann::json orNull(const std::optional<double>& v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}
}  // namespace

std::string toJson(const IterationRecord& r) {
  nlohmann::json j = {{"event", "iteration"},
                      {"run", r.run},
                      {"rank", r.rank},
                      {"world_size", r.worldSize},
                      {"iteration", r.iteration},
                      {"algorithm", r.algorithm},
                      {"primal", r.primal},
                      {"dual", orNull(r.dual)},
                      {"gap", orNull(r.gap)},
                      {"iter_ms", orNull(r.iterMs)},
                      {"compute_ms", orNull(r.computeMs)},
                      {"comm_ms", orNull(r.commMs)},
                      {"virtual", r.isVirtual},
                      {"time", r.time}};
  return j.dump();
}

// A step record is written every step: formatted directly (a few
// microseconds) rather than through a JSON object. Numbers are finite (the
// recorder rejects NaN losses) and fmt prints them in shortest round-trip form.
std::string toJson(const StepRecord& r) {
  const std::string loss = r.loss ? fmt::format("{}", *r.loss) : "null";
  return fmt::format(
      "{{\"event\":\"step\",\"run\":{},\"rank\":{},\"world_size\":{},\"step\":{},"
      "\"step_ms\":{},\"compute_ms\":{},\"comm_ms\":{},\"exposed_comm_ms\":{},\"loss\":{},"
      "\"samples\":{},\"time\":{:.6f}}}",
      nlohmann::json(r.run).dump(), r.rank, r.worldSize, r.step, r.stepMs, r.computeMs, r.commMs,
      r.exposedCommMs, loss, r.samples, r.time);
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
