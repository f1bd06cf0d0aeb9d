// The composite model h(t, m) = g(t / f(m), m) per algorithm, and the
// planner that answers: the fastest (algorithm, m) to a target, the lowest
// loss within a time budget, and the cheapest choice that meets the target
// by a deadline at a price per machine-hour.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "hemingway/adaptive/convergence_model.h"
#include "hemingway/adaptive/system_model.h"

namespace hemingway::adaptive {

// f and g of one algorithm.
struct CompositeModel {
  std::string algorithm;
  SystemModel system;
  ConvergenceModel convergence;
  double size = 1;  // the job size f is evaluated at

  // h(t, m): the predicted loss after `seconds` on `machines`.
  double lossAfter(double seconds, double machines) const;
  // Seconds to reach `target` on `machines` (interval from f), if ever.
  std::optional<Interval> timeTo(double target, double machines) const;
};

struct PlanQuery {
  std::optional<double> targetLoss;
  std::optional<double> timeBudgetSeconds;
  std::optional<double> pricePerMachineHour;
  std::vector<double> candidates;  // machine counts; may include unobserved ones
};

struct CandidatePrediction {
  std::string algorithm;
  double machines = 1;
  double secondsPerIteration = 0;
  std::optional<Interval> timeToTarget;  // seconds
  std::optional<double> iterationsToTarget;
  std::optional<double> lossAtBudget;
  std::optional<double> machineHours;  // to the target
  std::optional<double> cost;          // machineHours * price
  bool extrapolated = false;           // m outside what was measured for f or g
};

struct Recommendation {
  bool found = false;
  std::string algorithm;
  double machines = 0;
  double predictedSeconds = 0;  // to the target, or the budget when there is none
  std::optional<double> predictedLoss;
  std::string reason;
};

struct Plan {
  std::vector<CandidatePrediction> predictions;
  Recommendation recommendation;
};

// Needs a target or a budget; a price needs a target. An impossible query
// throws std::invalid_argument (the numeric core depends on Eigen only).
Plan plan(const std::vector<CompositeModel>& models, const PlanQuery& query);

}  // namespace hemingway::adaptive
