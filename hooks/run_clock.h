// The clock of a run, handed to its StepRecorder, which stamps the records
// with it: the wall clock (times are measurements), a simulated cluster's
// clock (simulated seconds, no measured times), or none (virtual workers on
// no cluster model: no time at all).
#pragma once

namespace hemingway::hooks {

class RunClock {
 public:
  enum class Kind { kWall, kSimulated, kNone };
  virtual ~RunClock() = default;
  virtual Kind kind() const = 0;
  // Simulated seconds since the start of the run (kSimulated).
  virtual double now() const { return 0; }
};

// Virtual workers on no cluster model.
class NoClock final : public RunClock {
 public:
  Kind kind() const override { return Kind::kNone; }
};

}  // namespace hemingway::hooks
