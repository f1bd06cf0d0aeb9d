// A StepHook that appends one JSON object per record to a file.
#pragma once

#include <string>

#include <fmt/format.h>

#include "hemingway/hooks/step_hook.h"

namespace hemingway::hooks {

// Appends JSON Lines to `path` (created if missing, never truncated, so ranks
// of one run and successive runs can share a file; `run` tells them apart).
// Each record is one write(2) of a whole line with O_APPEND: lines of
// concurrent ranks never interleave and a crash loses at most the line being
// written. Schema: hooks/README.md.
class JsonlSink : public StepHook {
 public:
  explicit JsonlSink(const std::string& path);
  ~JsonlSink() override;
  JsonlSink(const JsonlSink&) = delete;
  JsonlSink& operator=(const JsonlSink&) = delete;

  void onStep(const StepRecord& record) override;
  void onRunStart(const RunInfo& info) override;
  void onIteration(const IterationRecord& record) override;
  void onRegroup(const RegroupRecord& record) override;
  void onRunEnd(const RunEndRecord& record) override;
  void onDecision(const DecisionRecord& record) override;

  // Appends an already-serialized JSON object (one line, no newline).
  void writeLine(const std::string& json);

  const std::string& path() const { return path_; }

 private:
  // One write(2) of a whole line: lines of concurrent writers never interleave.
  void writeBytes(const char* data, size_t size);

  std::string path_;
  int fd_ = -1;
  std::string run_, runJson_;  // the last run id and its JSON encoding
  fmt::memory_buffer buffer_;  // reused for every step line
};

// Serializers shared by the sink and by readers' tests.
std::string toJson(const StepRecord& record);
std::string toJson(const RunInfo& info);
std::string toJson(const IterationRecord& record);
std::string toJson(const RegroupRecord& record);
std::string toJson(const RunEndRecord& record);
std::string toJson(const DecisionRecord& record);

}  // namespace hemingway::hooks
