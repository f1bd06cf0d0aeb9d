// A StepHook that keeps every record in memory and summarizes them: the
// built-in recorder behind end-of-run summaries and the benchmarks.
#pragma once

#include <cstddef>
#include <vector>

#include "hemingway/hooks/step_hook.h"

namespace hemingway::hooks {

struct StepSummary {
  std::size_t steps = 0;
  double medianStepMs = 0;
  double medianComputeMs = 0;
  double medianCommMs = 0;
  double medianExposedCommMs = 0;
  double meanRecentLoss = 0;  // mean over the last `recentSteps` steps with a loss
  double totalSeconds = 0;    // sum of step times
  long long samples = 0;
};

class StepStats : public StepHook {
 public:
  void onStep(const StepRecord& record) override { records_.push_back(record); }
  const std::vector<StepRecord>& records() const { return records_; }
  // Summary of the steps from `skip` on (to leave warm-up out of medians).
  StepSummary summary(std::size_t skip = 0, std::size_t recentSteps = 20) const;
  void clear() { records_.clear(); }

 private:
  std::vector<StepRecord> records_;
};

// Median of a sample (the mean of the middle two for an even count); 0 when empty.
double median(std::vector<double> values);

}  // namespace hemingway::hooks
