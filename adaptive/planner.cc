#include "hemingway/adaptive/planner.h"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <stdexcept>

namespace hemingway::adaptive {

double CompositeModel::lossAfter(double seconds, double machines) const {
  const double perIteration = system.predictSeconds(machines, size);
  const double iterations = perIteration > 0 ? std::max(1.0, seconds / perIteration) : 1.0;
  return convergence.predictLoss(iterations, machines);
}

std::optional<Interval> CompositeModel::timeTo(double target, double machines) const {
  const auto iterations = convergence.iterationsTo(target, machines);
  if (!iterations) return std::nullopt;
  auto f = system.predict(machines, size);
  Interval t;
  t.value = *iterations * f.value;
  t.low = *iterations * f.low;
  t.high = *iterations * f.high;
  t.extrapolated = f.extrapolated;
  return t;
}

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
    const auto& seen = model.convergence.observedMachines();
    for (double m : query.candidates) {
      CandidatePrediction p;
      p.algorithm = model.algorithm;
      p.machines = m;
      const auto f = model.system.predict(m, model.size);
      p.secondsPerIteration = f.value;
      p.extrapolated = f.extrapolated || seen.empty() || m < seen.front() || m > seen.back();
      if (query.targetLoss) {
        p.iterationsToTarget = model.convergence.iterationsTo(*query.targetLoss, m);
        p.timeToTarget = model.timeTo(*query.targetLoss, m);
        if (p.timeToTarget) {
          p.machineHours = p.timeToTarget->value * m / 3600;
          if (query.pricePerMachineHour) p.cost = *p.machineHours * *query.pricePerMachineHour;
        }
      }
      if (query.timeBudgetSeconds) p.lossAtBudget = model.lossAfter(*query.timeBudgetSeconds, m);
      out.predictions.push_back(p);
    }
  }
  auto& r = out.recommendation;
  const CandidatePrediction* best = nullptr;
  std::ostringstream reason;
  auto meetsDeadline = [&](const CandidatePrediction& p) {
    return !query.timeBudgetSeconds ||
           (p.timeToTarget && p.timeToTarget->value <= *query.timeBudgetSeconds);
  };
  if (query.targetLoss && query.pricePerMachineHour) {
    for (const auto& p : out.predictions) {
      if (p.cost && meetsDeadline(p) && (!best || *p.cost < *best->cost)) best = &p;
    }
    if (best) {
      reason << "cheapest choice reaching loss " << *query.targetLoss
             << (query.timeBudgetSeconds ? " within the time budget" : "") << ": "
             << *best->machineHours << " machine-hours, cost " << *best->cost;
    }
  } else if (query.targetLoss) {
    for (const auto& p : out.predictions) {
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
    for (const auto& p : out.predictions) {
      if (!best || *p.lossAtBudget < *best->lossAtBudget) best = &p;
    }
    reason << "lowest predicted loss after " << *query.timeBudgetSeconds << " s";
  }
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
