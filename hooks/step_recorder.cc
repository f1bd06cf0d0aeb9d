#include "hemingway/hooks/step_recorder.h"

#include <cmath>
#include <exception>
#include <utility>

#include "hemingway/hooks/error.h"
#include "hemingway/hooks/log.h"

namespace hemingway::hooks {

double unixSeconds() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

namespace {
void checkMembership(int rank, int worldSize) {
  if (rank == -1 && worldSize == 0) return;  // parked
  HEMINGWAY_CHECK_AS(ConfigError, worldSize >= 1, "world size must be >= 1, got {}", worldSize);
  HEMINGWAY_CHECK_AS(ConfigError, rank >= 0 && rank < worldSize, "rank {} is outside [0, {})", rank,
                     worldSize);
}
}  // namespace

StepRecorder::StepRecorder(RecorderOptions options) : options_(std::move(options)) {
  checkMembership(options_.rank, options_.worldSize);
}

GroupPlace StepRecorder::place() const {
  if (view_) return view_();
  return {options_.rank, options_.worldSize, options_.generation};
}

void StepRecorder::setMembership(int rank, int worldSize, int generation) {
  checkMembership(rank, worldSize);
  options_.rank = rank;
  options_.worldSize = worldSize;
  options_.generation = generation;
}

void StepRecorder::regroup(RegroupRecord record) {
  record.run = options_.run;
  record.simulated = clockKind() == RunClock::Kind::kSimulated;
  record.time = unixSeconds();
  for (auto& hook : hooks_) hook->onRegroup(record);
}

void StepRecorder::runEnd(RunEndRecord record) {
  record.run = options_.run;
  const auto at = place();
  record.rank = at.rank;
  record.worldSize = at.worldSize;
  record.generation = at.generation;
  record.time = unixSeconds();
  for (auto& hook : hooks_) hook->onRunEnd(record);
}

void StepRecorder::decision(DecisionRecord record) {
  record.run = options_.run;
  record.time = unixSeconds();
  for (auto& hook : hooks_) hook->onDecision(record);
}

void StepRecorder::addHook(std::shared_ptr<StepHook> hook) {
  HEMINGWAY_CHECK(hook != nullptr, "addHook needs a hook, got null");
  hooks_.push_back(std::move(hook));
}

void StepRecorder::runStart(RunInfo info) {
  info.run = options_.run;
  const auto at = place();
  info.rank = at.rank;
  info.worldSize = at.worldSize;
  info.time = unixSeconds();
  for (auto& hook : hooks_) hook->onRunStart(info);
}

void StepRecorder::iteration(IterationRecord record) {
  record.run = options_.run;
  record.rank = place().rank;
  const auto kind = clockKind();
  record.isVirtual = kind != RunClock::Kind::kWall;
  if (record.isVirtual) {  // a virtual run's time is not a measurement
    record.iterMs.reset();
    record.computeMs.reset();
    record.commMs.reset();
  }
  if (kind == RunClock::Kind::kSimulated) record.simulatedS = clock_->now();
  record.time = unixSeconds();
  for (auto& hook : hooks_) hook->onIteration(record);
}

StepRecorder::Step StepRecorder::step(std::int64_t samples) {
  if (deferredError_) {
    auto error = std::exchange(deferredError_, nullptr);
    std::rethrow_exception(error);
  }
  pendingCommMs_ = 0;
  pendingExposedMs_ = 0;
  return Step(this, samples);
}

void StepRecorder::addCommunication(double commMs, double exposedCommMs) {
  pendingCommMs_ += commMs;
  pendingExposedMs_ += exposedCommMs;
}

void StepRecorder::finish(const Step& step) noexcept {
  const auto end = Clock::now();
  if (std::uncaught_exceptions() > step.exceptions_) return;  // the step failed
  const std::int64_t index = nextStep_++;
  const auto at = place();
  if (!options_.enabled || at.worldSize == 0) return;
  try {
    StepRecord record;
    record.run = options_.run;
    record.rank = at.rank;
    record.worldSize = at.worldSize;
    record.step = index;
    record.stepMs = elapsedMs(step.start_, end);
    record.exposedCommMs = std::min(pendingExposedMs_, record.stepMs);
    record.commMs = pendingCommMs_;
    record.computeMs = record.stepMs - record.exposedCommMs;
    record.loss = step.loss_;
    record.samples = step.samples_;
    record.lr = step.lr_;
    record.globalBatch = step.globalBatch_;
    record.time = unixSeconds();
    record.generation = at.generation;
    for (auto& hook : hooks_) hook->onStep(record);
  } catch (...) {
    deferredError_ = std::current_exception();
  }
}

StepRecorder::Step::Step(StepRecorder* recorder, std::int64_t samples)
    : recorder_(recorder),
      samples_(samples),
      start_(Clock::now()),
      exceptions_(std::uncaught_exceptions()) {}

StepRecorder::Step::Step(Step&& other) noexcept
    : recorder_(std::exchange(other.recorder_, nullptr)),
      samples_(other.samples_),
      loss_(other.loss_),
      lr_(other.lr_),
      globalBatch_(other.globalBatch_),
      start_(other.start_),
      exceptions_(other.exceptions_) {}

StepRecorder::Step::~Step() {
  if (recorder_ != nullptr) recorder_->finish(*this);
}

void StepRecorder::Step::setLoss(double loss) {
  if (!std::isfinite(loss)) {
    const auto step = recorder_ ? recorder_->nextStep_ : -1;
    const auto rank = recorder_ ? recorder_->place().rank : -1;
    HEMINGWAY_FAIL("loss is {} at step {} on rank {}: training diverged (lower the learning rate)",
                   loss, step, rank);
  }
  loss_ = loss;
}

}  // namespace hemingway::hooks
