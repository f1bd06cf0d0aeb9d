// The composite model h(t, m) = g(t / f(m), m) per algorithm, and the
// planner that answers: the fastest (algorithm, m) to a target, the lowest
// loss within a time budget, and the cheapest choice that meets the target
// by a deadline at a price per machine-hour.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
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
  // Median measured seconds per iteration by machine count: where a count
  // was measured, the planner uses the measurement rather than the fit.
  std::map<double, double> measuredSeconds;

  // Seconds per iteration on `machines`: the measured median where there is
  // one (an interval of zero width), else f's prediction.
  Interval secondsPerIteration(double machines) const;
  // h(t, m): the predicted loss after `seconds` on `machines`.
  double lossAfter(double seconds, double machines) const;
  // An 80% interval around lossAfter: g's lossInterval at the iterations
  // `seconds` buys at f's fast and slow ends.
  std::optional<std::pair<double, double>> lossAfterInterval(double seconds, double machines) const;
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
  double secondsPerIteration = 0;                     // what the planner uses
  std::optional<double> measuredSecondsPerIteration;  // median of the measured iterations
  double fittedSecondsPerIteration = 0;               // f(m)
  std::optional<Interval> timeToTarget;               // seconds
  std::optional<double> iterationsToTarget;
  // 80% intervals from g's leave-one-m-out errors (and f's bootstrap).
  std::optional<std::pair<double, double>> iterationsToTargetInterval;
  std::optional<std::pair<double, double>> timeToTargetInterval;
  std::optional<double> lossAtBudget;
  // 80% interval: g's (lossInterval) at the budget's iterations under f's interval.
  std::optional<std::pair<double, double>> lossAtBudgetInterval;
  std::optional<double> machineHours;  // to the target
  std::optional<double> cost;          // machineHours * price
  bool extrapolated = false;           // m outside what was measured for f or g
  bool extrapolatedM = false;          // m itself was not measured (g at m is a prediction)
  // The target (or the budget's iterations) lies beyond the longest trace at
  // m (at an unmeasured m: beyond every trace): g's tail is extrapolated.
  bool extrapolatedIterations = false;
  // The target meets a flat part of the curve (ConvergenceModel::kneeAt):
  // every form is least sure there, and the interval is widened.
  bool knee = false;
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
