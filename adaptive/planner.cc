#include "hemingway/adaptive/planner.h"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <stdexcept>

namespace hemingway::adaptive {

Interval CompositeModel::secondsPerIteration(double machines) const {
  if (const auto it = measuredSeconds.find(machines); it != measuredSeconds.end()) {
    Interval measured;
    measured.value = measured.low = measured.high = it->second;
    return measured;
  }
  return system.predict(machines, size);
}

double CompositeModel::lossAfter(double seconds, double machines) const {
  const double perIteration = secondsPerIteration(machines).value;
  const double iterations = perIteration > 0 ? std::max(1.0, seconds / perIteration) : 1.0;
  return convergence.predictLoss(iterations, machines);
}

std::optional<std::pair<double, double>> CompositeModel::lossAfterInterval(double seconds,
                                                                           double machines) const {
  const auto f = secondsPerIteration(machines);
  if (!(f.low > 0) || !(f.high > 0)) return std::nullopt;
  const auto fast = convergence.lossInterval(std::max(1.0, seconds / f.low), machines);
  const auto slow = convergence.lossInterval(std::max(1.0, seconds / f.high), machines);
  if (!fast || !slow) return std::nullopt;
  return std::make_pair(fast->first, slow->second);
}

std::optional<Interval> CompositeModel::timeTo(double target, double machines) const {
  const auto iterations = convergence.iterationsTo(target, machines);
  if (!iterations) return std::nullopt;
  auto f = secondsPerIteration(machines);
  Interval t;
  t.value = *iterations * f.value;
  t.low = *iterations * f.low;
  t.high = *iterations * f.high;
  t.extrapolated = f.extrapolated;
  return t;
}

namespace {

// What `model` predicts on `m` machines for the query.
CandidatePrediction predictAt(const CompositeModel& model, double m, const PlanQuery& query) {
  const auto& seen = model.convergence.observedMachines();
  CandidatePrediction p;
  p.algorithm = model.algorithm;
  p.machines = m;
  const auto f = model.secondsPerIteration(m);
  p.secondsPerIteration = f.value;
  p.fittedSecondsPerIteration = model.system.predictSeconds(m, model.size);
  if (const auto it = model.measuredSeconds.find(m); it != model.measuredSeconds.end()) {
    p.measuredSecondsPerIteration = it->second;
  }
  p.extrapolated = f.extrapolated || seen.empty() || m < seen.front() || m > seen.back();
  p.extrapolatedM = std::find(seen.begin(), seen.end(), m) == seen.end();
  const double longest = model.convergence.longestTraceAt(m);
  if (query.targetLoss) {
    p.iterationsToTarget = model.convergence.iterationsTo(*query.targetLoss, m);
    p.timeToTarget = model.timeTo(*query.targetLoss, m);
    p.iterationsToTargetInterval = model.convergence.iterationsInterval(*query.targetLoss, m);
    p.knee = model.convergence.kneeAt(*query.targetLoss, m);
    if (p.iterationsToTargetInterval) {
      p.timeToTargetInterval = std::make_pair(p.iterationsToTargetInterval->first * f.low,
                                              p.iterationsToTargetInterval->second * f.high);
    }
    if (p.timeToTarget) {
      p.machineHours = p.timeToTarget->value * m / 3600;
      if (query.pricePerMachineHour) p.cost = *p.machineHours * *query.pricePerMachineHour;
    }
  }
  if (query.timeBudgetSeconds) {
    p.lossAtBudget = model.lossAfter(*query.timeBudgetSeconds, m);
    p.lossAtBudgetInterval = model.lossAfterInterval(*query.timeBudgetSeconds, m);
    if (f.value > 0 && *query.timeBudgetSeconds / f.value > longest) {
      p.extrapolatedIterations = true;
    }
  }
  if (p.iterationsToTarget && *p.iterationsToTarget > longest) p.extrapolatedIterations = true;
  return p;
}

// The best prediction for the query's goal (nullptr: none qualifies), and
// why, into `reason`.
const CandidatePrediction* bestFor(const std::vector<CandidatePrediction>& predictions,
                                   const PlanQuery& query, std::ostringstream& reason) {
  const CandidatePrediction* best = nullptr;
  auto meetsDeadline = [&](const CandidatePrediction& p) {
    return !query.timeBudgetSeconds ||
           (p.timeToTarget && p.timeToTarget->value <= *query.timeBudgetSeconds);
  };
  if (query.targetLoss && query.pricePerMachineHour) {
    for (const auto& p : predictions) {
      if (p.cost && meetsDeadline(p) && (!best || *p.cost < *best->cost)) best = &p;
    }
    if (best) {
      reason << "cheapest choice reaching loss " << *query.targetLoss
             << (query.timeBudgetSeconds ? " within the time budget" : "") << ": "
             << *best->machineHours << " machine-hours, cost " << *best->cost;
    }
  } else if (query.targetLoss) {
    for (const auto& p : predictions) {
      if (p.timeToTarget && meetsDeadline(p) &&
          (!best || p.timeToTarget->value < best->timeToTarget->value)) {
        best = &p;
      }
    }
    if (best) {
      reason << "fastest to loss " << *query.targetLoss << ": " << *best->iterationsToTarget
             << " iterations of " << best->secondsPerIteration << " s";
    }
  } else {
    for (const auto& p : predictions) {
      if (!best || *p.lossAtBudget < *best->lossAtBudget) best = &p;
    }
    reason << "lowest predicted loss after " << *query.timeBudgetSeconds << " s";
  }
  return best;
}

}  // namespace

Plan plan(const std::vector<CompositeModel>& models, const PlanQuery& query) {
  if (!query.targetLoss && !query.timeBudgetSeconds) {
    throw std::invalid_argument("give a target loss, a time budget or both");
  }
  if (query.pricePerMachineHour && !query.targetLoss) {
    throw std::invalid_argument("a price per machine-hour needs a target loss to meet");
  }
  if (query.candidates.empty()) throw std::invalid_argument("no candidate machine counts");
  Plan out;
  for (const auto& model : models) {
    for (double m : query.candidates) out.predictions.push_back(predictAt(model, m, query));
  }
  auto& r = out.recommendation;
  std::ostringstream reason;
  const CandidatePrediction* best = bestFor(out.predictions, query, reason);
  if (best == nullptr) {
    r.reason = query.targetLoss ? "no candidate is predicted to reach loss " +
                                      std::to_string(*query.targetLoss) +
                                      (query.timeBudgetSeconds ? " within the time budget" : "") +
                                      ": raise the target, the budget or the candidates"
                                : "no candidate";
    return out;
  }
  r.found = true;
  r.algorithm = best->algorithm;
  r.machines = best->machines;
  r.predictedSeconds = best->timeToTarget ? best->timeToTarget->value : *query.timeBudgetSeconds;
  r.predictedLoss = best->lossAtBudget;
  if (best->extrapolated)
    reason << " (extrapolated: m = " << best->machines << " was not measured)";
  r.reason = reason.str();
  return out;
}

}  // namespace hemingway::adaptive
