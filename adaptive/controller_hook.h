// The adaptive controller fed by Hemingway's records: a StepHook that turns
// step, iteration and regroup records into the controller's observations,
// and its decisions into "decision" records. Register it on rank 0's
// StepRecorder; before each step call steer(), which decides and asks the
// run's Scaler for the machine count the decision wants.
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "hemingway/adaptive/controller.h"
#include "hemingway/hooks/scaler.h"
#include "hemingway/hooks/step_hook.h"
#include "hemingway/hooks/step_recorder.h"

namespace hemingway::adaptive {

class ControllerHook : public hooks::StepHook {
 public:
  // Iteration records give the metric (the duality gap for Metric::kGap, else
  // the primal objective) and their seconds: iter_ms, or the simulated clock's
  // step. Step records give the loss and step_ms. Regroup records give the
  // measured rescale cost. `recorder` receives the decision records; when
  // its clock is a simulated cluster's, they carry simulated_s from the first.
  ControllerHook(ControllerOptions options, hooks::StepRecorder* recorder);

  void onStep(const hooks::StepRecord& record) override;
  void onIteration(const hooks::IterationRecord& record) override;
  void onRegroup(const hooks::RegroupRecord& record) override;

  // The trainer's judgment of its goal on the metric it stops on (iteration
  // records are judged here on their exact metric): at the target the
  // decision table ends with its "stop" row, before step `nextStep`.
  bool judge(std::int64_t nextStep, int machines, double smoothedMetric);

  // Earlier runs of the same job (--prior): their rows (the duality gap for
  // Metric::kGap, else the loss) and measured rescales, before the first
  // live record.
  void observePrior(const std::vector<TraceRow>& rows, const std::vector<double>& rescaleSeconds);

  // Before step `nextStep` on `machines`: the decision when one is due,
  // already written as a "decision" record.
  std::optional<Decision> decide(std::int64_t nextStep, int machines);
  // The one call that makes a training loop adaptive: decide before step
  // `nextStep` on scaler.worldSize() machines and, when the decision wants
  // another count, ask `scaler` for it. Returns the decision, if one was due.
  std::optional<Decision> steer(std::int64_t nextStep, hooks::Scaler& scaler);

  Controller& controller() { return controller_; }

 private:
  Controller controller_;
  hooks::StepRecorder* recorder_;
  std::optional<double> lastSimulated_;
  double simulatedNow_ = 0;
  bool simulated_ = false;
};

// The "decision" record of a decision.
hooks::DecisionRecord toRecord(const Decision& d);

}  // namespace hemingway::adaptive
