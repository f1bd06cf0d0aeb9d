#include "hemingway/adaptive/controller_hook.h"

#include <utility>

namespace hemingway::adaptive {

ControllerHook::ControllerHook(ControllerOptions options, hooks::StepRecorder* recorder)
    : controller_(std::move(options)),
      recorder_(recorder),
      simulated_(recorder != nullptr &&
                 recorder->clockKind() == hooks::RunClock::Kind::kSimulated) {}

void ControllerHook::onStep(const hooks::StepRecord& r) {
  if (!r.loss || r.rank != 0) return;
  controller_.observeIteration(r.worldSize, r.step, *r.loss, r.stepMs / 1000);
}

void ControllerHook::onIteration(const hooks::IterationRecord& r) {
  const bool gap = controller_.options().metric == Metric::kGap;
  if (gap && !r.gap) return;
  double seconds = 0;
  if (r.simulatedS) {
    simulated_ = true;
    simulatedNow_ = *r.simulatedS;
    seconds = *r.simulatedS - lastSimulated_.value_or(0.0);
    lastSimulated_ = r.simulatedS;
  } else if (r.iterMs) {
    seconds = *r.iterMs / 1000;
  }
  controller_.observeIteration(r.worldSize, r.iteration, gap ? *r.gap : r.primal, seconds);
  // The target reached: the decision table ends with its stop row now, at
  // the iteration that reached it.
  judge(r.iteration + 1, r.worldSize, gap ? *r.gap : r.primal);
}

bool ControllerHook::judge(std::int64_t nextStep, int machines, double smoothedMetric) {
  if (controller_.reached() || !controller_.judge(smoothedMetric)) return controller_.reached();
  decide(nextStep, machines);
  return true;
}

void ControllerHook::observePrior(const std::vector<TraceRow>& rows,
                                  const std::vector<double>& rescaleSeconds) {
  const bool gap = controller_.options().metric == Metric::kGap;
  for (const auto& r : rows) {
    if (gap && !r.gap) continue;
    controller_.observePriorIteration(static_cast<int>(r.machines),
                                      static_cast<std::int64_t>(r.iteration) - 1,
                                      gap ? *r.gap : r.loss, r.iterSeconds.value_or(0.0));
  }
  for (double s : rescaleSeconds) controller_.observePriorRescale(s);
}

void ControllerHook::onRegroup(const hooks::RegroupRecord& r) {
  controller_.observeRescale(r.totalMs / 1000);
  if (simulated_) lastSimulated_ = lastSimulated_.value_or(0.0) + r.totalMs / 1000;
}

std::optional<Decision> ControllerHook::decide(std::int64_t nextStep, int machines) {
  auto d = controller_.decide(nextStep, machines);
  if (d && recorder_ != nullptr) {
    auto record = toRecord(*d);
    if (simulated_) record.simulatedS = simulatedNow_;
    recorder_->decision(std::move(record));
  }
  return d;
}

std::optional<Decision> ControllerHook::steer(std::int64_t nextStep, hooks::Scaler& scaler) {
  const int now = scaler.worldSize();
  auto d = decide(nextStep, now);
  if (d && d->toWorldSize != now) scaler.requestScale(d->toWorldSize);
  return d;
}

hooks::DecisionRecord toRecord(const Decision& d) {
  hooks::DecisionRecord r;
  r.step = d.step;
  r.worldSize = d.worldSize;
  r.action = actionName(d.action);
  r.toWorldSize = d.toWorldSize;
  r.reason = d.reason;
  r.rescaleCostS = d.rescaleCostSeconds;
  for (const auto& c : d.candidates) {
    hooks::DecisionCandidate out;
    out.machines = c.machines;
    out.predictedRemainingS = c.remainingSeconds;
    if (c.interval) {
      out.low = c.interval->first;
      out.high = c.interval->second;
    }
    out.log10AtBudget = c.log10AtBudget;
    r.candidates.push_back(out);
  }
  return r;
}

}  // namespace hemingway::adaptive
