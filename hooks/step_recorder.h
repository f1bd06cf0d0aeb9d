// Records every training step: wall, compute and communication time, loss and
// samples, and hands the record to the registered StepHooks.
#pragma once

#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "hemingway/hooks/run_clock.h"
#include "hemingway/hooks/step_hook.h"

namespace hemingway::hooks {

struct RecorderOptions {
  std::string run;  // run id shared by all ranks of one run
  // rank -1 with world size 0: a parked worker of an elastic run, which
  // records nothing until setMembership() admits it.
  int rank = 0;
  int worldSize = 1;
  bool enabled = true;  // when false, steps are not timed and hooks are not called
  int generation = 0;
};

// Where a rank stands: its rank, world size and generation (rank -1 and
// world size 0: a parked worker, which records nothing).
struct GroupPlace {
  int rank = 0;
  int worldSize = 1;
  int generation = 0;
};

// Usage, once per iteration:
//   auto step = recorder.step(batchSize);
//   ... forward, backward (the data-parallel wrapper reports its communication) ...
//   step.setLoss(loss.item<double>());
// The record is emitted when `step` goes out of scope.
class StepRecorder {
 public:
  using Clock = std::chrono::steady_clock;

  explicit StepRecorder(RecorderOptions options);

  void addHook(std::shared_ptr<StepHook> hook);
  // Fills run, rank and world size, stamps the time and calls every hook.
  void runStart(RunInfo info);

  class Step {
   public:
    Step(Step&& other) noexcept;
    Step(const Step&) = delete;
    Step& operator=(const Step&) = delete;
    Step& operator=(Step&&) = delete;
    ~Step();

    // Throws hemingway::Error on NaN or Inf: training that diverged must stop.
    void setLoss(double loss);
    void setSamples(std::int64_t samples) { samples_ = samples; }
    // The effective learning rate and the step's examples over all ranks.
    void setOptimization(double lr, std::int64_t globalBatch) {
      lr_ = lr;
      globalBatch_ = globalBatch;
    }

   private:
    friend class StepRecorder;
    Step(StepRecorder* recorder, std::int64_t samples);
    StepRecorder* recorder_;
    std::int64_t samples_;
    std::optional<double> loss_;
    std::optional<double> lr_;
    std::optional<std::int64_t> globalBatch_;
    Clock::time_point start_;
    int exceptions_ = 0;  // std::uncaught_exceptions() when the scope opened
  };

  // Fills run, rank and time and hands an algorithm's iteration to every hook.
  // Off the wall clock, the record is virtual and carries no measured times;
  // on a simulated clock it carries its simulated seconds.
  void iteration(IterationRecord record);

  // Hands a membership change to every hook; on a simulated clock its total
  // is the simulated cost.
  void regroup(RegroupRecord record);
  // Hands this rank's end of the run to every hook.
  void runEnd(RunEndRecord record);
  // Hands a decision of the adaptive controller to every hook (rank 0).
  void decision(DecisionRecord record);
  // Sets the rank, world size and generation of the records from now on.
  void setMembership(int rank, int worldSize, int generation);
  // Reads them from `view` at every record instead: the group that owns them
  // (an elastic run's, whose membership changes) stays their one owner.
  // `view` must stay callable while this recorder records.
  void followMembership(std::function<GroupPlace()> view) { view_ = std::move(view); }
  GroupPlace place() const;
  // The index of the next step record (an elastic run resumes from its last
  // committed step after a failure).
  void setNextStep(std::int64_t step) { nextStep_ = step; }

  // Opens the scope of one step. A step left by an exception is not recorded
  // (an elastic run redoes it). Rethrows an error a hook raised in the
  // previous step (a destructor cannot throw it).
  Step step(std::int64_t samples = 0);

  // Called by the communication layer for the step in progress.
  void addCommunication(double commMs, double exposedCommMs);

  // The run's clock (nullptr or unset: the wall clock).
  void setClock(std::shared_ptr<const RunClock> clock) { clock_ = std::move(clock); }
  RunClock::Kind clockKind() const { return clock_ ? clock_->kind() : RunClock::Kind::kWall; }

  void setEnabled(bool enabled) { options_.enabled = enabled; }
  bool enabled() const { return options_.enabled; }
  std::int64_t stepsRecorded() const { return nextStep_; }
  const RecorderOptions& options() const { return options_; }

 private:
  void finish(const Step& step) noexcept;

  RecorderOptions options_;
  std::vector<std::shared_ptr<StepHook>> hooks_;
  std::int64_t nextStep_ = 0;
  double pendingCommMs_ = 0;
  double pendingExposedMs_ = 0;
  std::exception_ptr deferredError_;
  std::shared_ptr<const RunClock> clock_;
  std::function<GroupPlace()> view_;
};

// Milliseconds between two steady-clock time points.
inline double elapsedMs(StepRecorder::Clock::time_point from, StepRecorder::Clock::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

// Unix time in seconds, with sub-second precision.
double unixSeconds();

}  // namespace hemingway::hooks
