// The extension point users implement to observe training.
#pragma once

#include "hemingway/hooks/step_record.h"

namespace hemingway::hooks {

// Receives every step of every rank it is registered on; never sampled.
// Called on the training thread right after the step ends, so keep it cheap.
class StepHook {
 public:
  virtual ~StepHook() = default;
  virtual void onStep(const StepRecord& record) = 0;
  // Called once per rank with the run's configuration before the first step.
  virtual void onRunStart(const RunInfo& /*info*/) {}
  // Called once per outer iteration by the distributed optimization algorithms.
  virtual void onIteration(const IterationRecord& /*record*/) {}
  // Called on the new rank 0 after each membership change of an elastic run.
  virtual void onRegroup(const RegroupRecord& /*record*/) {}
  // Called on rank 0 for every decision of the adaptive controller.
  virtual void onDecision(const DecisionRecord& /*record*/) {}
  // Called once per rank when its run ends.
  virtual void onRunEnd(const RunEndRecord& /*record*/) {}
};

}  // namespace hemingway::hooks
