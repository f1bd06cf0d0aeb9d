#include "hemingway/hooks/step_stats.h"

#include <algorithm>

namespace hemingway::hooks {

double median(std::vector<double> values) {
  if (values.empty()) return 0;
  const auto mid = values.size() / 2;
  std::nth_element(values.begin(), values.begin() + mid, values.end());
  if (values.size() % 2 == 1) return values[mid];
  const double upper = values[mid];
  const double lower = *std::max_element(values.begin(), values.begin() + mid);
  return (lower + upper) / 2;
}

StepSummary StepStats::summary(std::size_t skip, std::size_t recentSteps) const {
  StepSummary s;
  std::vector<double> step, compute, comm, exposed, losses;
  for (std::size_t i = std::min(skip, records_.size()); i < records_.size(); ++i) {
    const auto& r = records_[i];
    step.push_back(r.stepMs);
    compute.push_back(r.computeMs);
    comm.push_back(r.commMs);
    exposed.push_back(r.exposedCommMs);
    if (r.loss) losses.push_back(*r.loss);
    s.totalSeconds += r.stepMs / 1000;
    s.samples += r.samples;
  }
  s.steps = step.size();
  s.medianStepMs = median(step);
  s.medianComputeMs = median(compute);
  s.medianCommMs = median(comm);
  s.medianExposedCommMs = median(exposed);
  const std::size_t n = std::min(recentSteps, losses.size());
  for (std::size_t i = losses.size() - n; i < losses.size(); ++i) s.meanRecentLoss += losses[i] / n;
  return s;
}

}  // namespace hemingway::hooks
