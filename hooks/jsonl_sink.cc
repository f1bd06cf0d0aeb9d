#include "hemingway/hooks/jsonl_sink.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "hemingway/hooks/job.h"

#include "hemingway/hooks/error.h"

namespace hemingway::hooks {

namespace {
// Appends the step record as one JSON line (with its newline) to `out`;
// `runJson` is the run id already encoded as a JSON string.
void appendStepLine(fmt::memory_buffer& out, const StepRecord& r, const std::string& runJson) {
  fmt::format_to(std::back_inserter(out),
                 "{{\"event\":\"step\",\"run\":{},\"rank\":{},\"world_size\":{},\"step\":{},"
                 "\"step_ms\":{},\"compute_ms\":{},\"comm_ms\":{},\"exposed_comm_ms\":{},\"loss\":",
                 runJson, r.rank, r.worldSize, r.step, r.stepMs, r.computeMs, r.commMs,
                 r.exposedCommMs);
  if (r.loss) {
    fmt::format_to(std::back_inserter(out), "{}", *r.loss);
  } else {
    fmt::format_to(std::back_inserter(out), "null");
  }
  fmt::format_to(std::back_inserter(out), ",\"samples\":{},\"time\":{:.6f},\"generation\":{}",
                 r.samples, r.time, r.generation);
  if (r.lr) fmt::format_to(std::back_inserter(out), ",\"lr\":{}", *r.lr);
  if (r.globalBatch)
    fmt::format_to(std::back_inserter(out), ",\"global_batch\":{}", *r.globalBatch);
  fmt::format_to(std::back_inserter(out), "}}\n");
}
}  // namespace

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
  writeBytes(line.data(), line.size());
}

void JsonlSink::writeBytes(const char* p, size_t left) {
  while (left > 0) {
    ssize_t n = ::write(fd_, p, left);
    if (n < 0 && errno == EINTR) continue;
    HEMINGWAY_CHECK(n > 0, "writing log file '{}' failed: {}", path_, std::strerror(errno));
    p += n;
    left -= static_cast<size_t>(n);
  }
}

void JsonlSink::onStep(const StepRecord& record) {
  if (record.run != run_) {
    run_ = record.run;
    runJson_ = nlohmann::json(run_).dump();
  }
  buffer_.clear();
  appendStepLine(buffer_, record, runJson_);
  writeBytes(buffer_.data(), buffer_.size());
}

void JsonlSink::onRunStart(const RunInfo& info) { writeLine(toJson(info)); }

void JsonlSink::onIteration(const IterationRecord& record) { writeLine(toJson(record)); }

void JsonlSink::onRegroup(const RegroupRecord& record) { writeLine(toJson(record)); }

void JsonlSink::onRunEnd(const RunEndRecord& record) { writeLine(toJson(record)); }

void JsonlSink::onDecision(const DecisionRecord& record) { writeLine(toJson(record)); }

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
  if (r.simulatedS) j["simulated_s"] = *r.simulatedS;
  return j.dump();
}

std::string toJson(const RegroupRecord& r) {
  nlohmann::json j = {{"event", "regroup"},
                      {"run", r.run},
                      {"generation", r.generation},
                      {"from_world_size", r.fromWorldSize},
                      {"to_world_size", r.toWorldSize},
                      {"step", r.step},
                      {"cause", r.cause},
                      {"agree_ms", r.agreeMs},
                      {"form_ms", r.formMs},
                      {"state_ms", r.stateMs},
                      {"total_ms", r.totalMs},
                      {"state_bytes", r.stateBytes},
                      {"time", r.time}};
  if (r.simulated) j["simulated"] = true;
  return j.dump();
}

std::string toJson(const RunEndRecord& r) {
  nlohmann::json j = {{"event", "run_end"},
                      {"run", r.run},
                      {"rank", r.rank},
                      {"world_size", r.worldSize},
                      {"generation", r.generation},
                      {"steps", r.steps},
                      {"param_checksum", r.paramChecksum},
                      {"time", r.time}};
  return j.dump();
}

std::string toJson(const DecisionRecord& r) {
  nlohmann::json candidates = nlohmann::json::array();
  for (const auto& c : r.candidates) {
    nlohmann::json one = {{"m", c.machines},
                          {"predicted_remaining_s", orNull(c.predictedRemainingS)},
                          {"interval", c.low && c.high ? nlohmann::json::array({*c.low, *c.high})
                                                       : nlohmann::json(nullptr)}};
    if (c.log10AtBudget) one["log10_at_budget"] = *c.log10AtBudget;
    candidates.push_back(one);
  }
  nlohmann::json j = {{"event", "decision"},      {"run", r.run},
                      {"step", r.step},           {"world_size", r.worldSize},
                      {"action", r.action},       {"to_world_size", r.toWorldSize},
                      {"reason", r.reason},       {"rescale_cost_s", r.rescaleCostS},
                      {"candidates", candidates}, {"time", r.time}};
  if (r.simulatedS) j["simulated_s"] = *r.simulatedS;
  return j.dump();
}

// A step record is written every step: formatted directly into a reused
// buffer (no JSON object, no allocation once warm). Numbers are finite (the
// recorder rejects NaN losses) and fmt prints them in shortest round-trip form.
std::string toJson(const StepRecord& r) {
  fmt::memory_buffer out;
  appendStepLine(out, r, nlohmann::json(r.run).dump());
  return std::string(out.data(), out.size() - 1);  // without the newline
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
  if (!info.extra.empty()) {
    j["config"] = info.extra;
    j["job"] = jobFingerprint(info.extra);
  }
  if (!info.command.empty()) j["command"] = info.command;
  return j.dump();
}

}  // namespace hemingway::hooks
