#include "hemingway/adaptive/controller.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>

#include "hemingway/adaptive/exploration.h"
#include "hemingway/adaptive/level_set_curve.h"
#include "hemingway/adaptive/planner.h"
#include "hemingway/adaptive/statistics.h"

namespace hemingway::adaptive {
namespace {

const CandidateForecast* find(const std::vector<CandidateForecast>& cs, int m) {
  for (const auto& c : cs) {
    if (c.machines == m) return &c;
  }
  return nullptr;
}

// The value a goal minimizes and its pessimistic / optimistic ends.
struct Score {
  double value = 0, low = 0, high = 0;
};

std::optional<Score> scoreOf(const CandidateForecast& c, const ControllerOptions& o,
                             double elapsed) {
  if (o.targetLoss) {
    if (!c.remainingSeconds || !c.interval) return std::nullopt;
    // A budget with a target: m must meet the target in time, pessimistically.
    if (o.timeBudgetSeconds && elapsed + c.interval->second > *o.timeBudgetSeconds) {
      return std::nullopt;
    }
    if (o.pricePerMachineHour) {  // machine-hours to the target, priced
      const double k = c.machines * *o.pricePerMachineHour / 3600;
      return Score{*c.remainingSeconds * k, c.interval->first * k, c.interval->second * k};
    }
    return Score{*c.remainingSeconds, c.interval->first, c.interval->second};
  }
  if (!c.log10AtBudget || !c.interval) return std::nullopt;
  return Score{*c.log10AtBudget, c.interval->first, c.interval->second};
}

}  // namespace

namespace {

std::string formatted(double v, const std::string& unit) {
  std::ostringstream o;
  o.precision(4);
  o << v << unit;
  return o.str();
}

// At a probe's end: the best point forecast among the measured counts.
void chooseAfterProbe(Decision& d, const std::vector<CandidateForecast>& candidates, int current,
                      const Score& st, const ControllerOptions& options,
                      const std::set<int>& measured, const std::string& unit) {
  const CandidateForecast* pointBest = nullptr;
  double pointValue = st.value;
  for (const auto& c : candidates) {
    const auto s = scoreOf(c, options, 0);
    if (c.machines != current && measured.count(c.machines) && s && s->value < pointValue) {
      pointBest = &c;
      pointValue = s->value;
    }
  }
  std::ostringstream why;
  why.precision(4);
  why << "the probe on m = " << current << " ended: ";
  if (pointBest) {
    d.action = Action::kRescale;
    d.toWorldSize = pointBest->machines;
    why << "m = " << pointBest->machines << " has the best forecast of the measured counts, "
        << formatted(pointValue, unit) << " (rescale cost included), against "
        << formatted(st.value, unit) << " on m = " << current;
  } else {
    why << "it has the best forecast of the measured counts, " << formatted(st.value, unit);
  }
  d.reason = why.str();
}

// Target goals: stay.low - best.high, the candidate's rescale cost included,
// must exceed a margin of what staying takes. Budget goals: the metric in
// decades, margin in decades.
void chooseByMargin(Decision& d, const CandidateForecast& best, const Score& bestScore,
                    const Score& st, int current, bool cooledDown, const ControllerOptions& options,
                    const std::string& unit) {
  const double gain = st.low - bestScore.high;
  const double needed = options.margin * std::abs(st.value);
  std::ostringstream why;
  why.precision(4);
  why << "pessimistic gain of m = " << best.machines << " over m = " << current << ": "
      << formatted(gain, unit) << " (stay " << formatted(st.value, unit) << ", at best "
      << formatted(st.low, unit) << "; m = " << best.machines << " at worst "
      << formatted(bestScore.high, unit) << ", rescale cost included) against a margin of "
      << formatted(needed, unit);
  d.reason = why.str();
  if (gain <= needed) return;
  if (!cooledDown) {
    d.reason += "; cooldown holds";
    return;
  }
  d.action = Action::kRescale;
  d.toWorldSize = best.machines;
}

}  // namespace

const char* actionName(Action action) {
  switch (action) {
    case Action::kStay:
      return "stay";
    case Action::kRescale:
      return "rescale";
    case Action::kProbe:
      return "probe";
    case Action::kStop:
      return "stop";
  }
  return "stay";
}

Decision chooseAction(const std::vector<CandidateForecast>& candidates, int current,
                      double rescaleCostSeconds, bool cooledDown, const ControllerOptions& options,
                      bool afterProbe, const std::set<int>& measured) {
  if (!options.targetLoss && !options.timeBudgetSeconds) {
    throw std::invalid_argument("the controller needs a target loss or a time budget");
  }
  Decision d;
  d.worldSize = current;
  d.toWorldSize = current;
  d.action = Action::kStay;
  d.rescaleCostSeconds = rescaleCostSeconds;
  d.candidates = candidates;
  const CandidateForecast* stay = find(candidates, current);
  Score st;
  bool hasStay = false;
  if (stay) {
    if (const auto s = scoreOf(*stay, options, 0)) {
      st = *s;
      hasStay = true;
    }
  }
  const CandidateForecast* best = nullptr;
  std::optional<Score> bestScore;
  for (const auto& c : candidates) {
    if (c.machines == current) continue;
    const auto s = scoreOf(c, options, 0);
    if (!s) continue;
    // The pessimistic end decides: the candidate that is best even at its worst.
    if (!bestScore || s->high < bestScore->high) {
      best = &c;
      bestScore = s;
    }
  }
  const std::string unit = options.targetLoss ? (options.pricePerMachineHour ? "" : " s") : "";
  if (!best) {
    d.reason = hasStay ? "no other machine count has a forecast"
                       : "no machine count is predicted to reach the goal";
    return d;
  }
  if (!hasStay) {
    if (!cooledDown) {
      d.reason = "m = " + std::to_string(current) + " has no forecast, but the cooldown holds";
      return d;
    }
    d.action = Action::kRescale;
    d.toWorldSize = best->machines;
    d.reason = "m = " + std::to_string(current) +
               " is not predicted to reach the goal; m = " + std::to_string(best->machines) +
               " is (" + formatted(bestScore->high, unit) + " at worst)";
    return d;
  }
  if (afterProbe) {
    chooseAfterProbe(d, candidates, current, st, options, measured, unit);
  } else {
    chooseByMargin(d, *best, *bestScore, st, current, cooledDown, options, unit);
  }
  return d;
}

Controller::Controller(ControllerOptions options, Forecaster forecaster)
    : options_(std::move(options)), forecaster_(std::move(forecaster)) {
  const auto& o = options_;
  if (o.minWorkers < 1 || o.maxWorkers < o.minWorkers) {
    throw std::invalid_argument("the controller's machine counts need 1 <= min <= max");
  }
  if (!o.targetLoss && !o.timeBudgetSeconds) {
    throw std::invalid_argument("the controller needs a target loss or a time budget");
  }
  if (o.pricePerMachineHour && !o.targetLoss) {
    throw std::invalid_argument("a price per machine-hour needs a target loss");
  }
  if (o.refitEverySteps < 1 || o.minProbeSteps < 2 || o.probeSteps < o.minProbeSteps ||
      o.cooldownSteps < 0 || !(o.margin >= 0) || !(o.defaultRescaleCostSeconds >= 0) ||
      o.continuitySteps < 1) {
    throw std::invalid_argument("the controller's step counts and margins are out of range");
  }
  capacity_ = o.maxWorkers;
  for (int m = o.minWorkers; m < o.maxWorkers; m *= 2) ladder_.push_back(m);
  ladder_.push_back(o.maxWorkers);
  if (!forecaster_) {
    forecaster_ = [opts = options_](const std::vector<TraceRow>& rows, int current, double metric,
                                    double elapsed, double cost, const std::vector<int>& cands) {
      return forecastFromRun(opts, rows, current, metric, elapsed, cost, cands);
    };
  }
}

void Controller::observeIteration(int machines, std::int64_t iteration, double metric,
                                  double secondsTaken) {
  if (!std::isfinite(metric)) {
    throw std::invalid_argument("the controller was given a metric of " + std::to_string(metric) +
                                " at iteration " + std::to_string(iteration));
  }
  addRow(machines, iteration, metric, secondsTaken);
  elapsed_ += secondsTaken;
  if (probing_) probeSeconds_ += secondsTaken;
}

bool Controller::judge(double smoothedMetric) {
  if (options_.targetLoss && smoothedMetric <= *options_.targetLoss) {
    reached_ = true;
    reachedMetric_ = smoothedMetric;
  }
  return reached_;
}

void Controller::observePriorIteration(int machines, std::int64_t iteration, double metric,
                                       double secondsTaken) {
  if (seen_.size() > priorRows_) {
    throw std::logic_error("the controller takes earlier runs before the live run's iterations");
  }
  if (!std::isfinite(metric)) return;
  addRow(machines, iteration, metric, secondsTaken);
  priorRows_ = seen_.size();
}

void Controller::addRow(int machines, std::int64_t iteration, double metric, double seconds) {
  seen_.push_back({machines, iteration, metric, seconds});
  auto& recent = recentByMachines_[machines];
  recent.push_back(seen_.size() - 1);
  if (recent.size() > kRowsPerMachineCount) recent.pop_front();
}

void Controller::observePriorRescale(double secondsTaken) {
  if (std::isfinite(secondsTaken) && secondsTaken >= 0) rescales_.push_back(secondsTaken);
}

int Controller::firstCount() const {
  const auto& o = options_;
  if (priorRows_ > 0) {
    // From the start of the earlier runs: their highest metric, no time spent.
    double start = seen_.front().metric;
    for (std::size_t k = 0; k < priorRows_; ++k) start = std::max(start, seen_[k].metric);
    try {
      const auto forecasts =
          forecaster_(fitRows(), 0, start, 0, rescaleCostSeconds(), candidateCounts());
      // A measured count by its point forecast; one the earlier runs did not
      // measure only when even its pessimistic end is better.
      const std::set<int> measured = measuredCounts();
      std::optional<double> bestValue;
      int best = 0;
      for (const auto& c : forecasts) {
        const auto sc = scoreOf(c, o, 0);
        if (!sc) continue;
        const double v = measured.count(c.machines) ? sc->value : sc->high;
        if (!bestValue || v < *bestValue) {
          bestValue = v;
          best = c.machines;
        }
      }
      if (best > 0) return best;
    } catch (const std::exception&) {
      // The earlier runs do not forecast this job: the bounds decide.
    }
  }
  return firstCountFromBounds(o.minWorkers, o.maxWorkers, o.bounds());
}

void Controller::setCapacity(int machines) {
  capacity_ = std::clamp(machines, options_.minWorkers, options_.maxWorkers);
}

void Controller::observeRescale(double secondsTaken) {
  if (!(std::isfinite(secondsTaken) && secondsTaken >= 0)) return;
  rescales_.push_back(secondsTaken);
  elapsed_ += secondsTaken;
  if (probing_) probeSeconds_ += secondsTaken;
}

double Controller::rescaleCostSeconds() const {
  return rescales_.empty() ? options_.defaultRescaleCostSeconds : median(rescales_);
}

// The newest iterations, and the newest of every machine count, in order.
std::vector<std::size_t> Controller::keptRows() const {
  std::vector<std::size_t> picked;
  const std::size_t recentFrom = seen_.size() > kRecentRows ? seen_.size() - kRecentRows : 0;
  for (const auto& [m, indices] : recentByMachines_) {
    for (std::size_t k : indices) {
      if (k < recentFrom) picked.push_back(k);
    }
  }
  std::sort(picked.begin(), picked.end());
  for (std::size_t k = recentFrom; k < seen_.size(); ++k) picked.push_back(k);
  return picked;
}

std::vector<TraceRow> Controller::fitRows() const {
  const auto picked = keptRows();
  std::vector<TraceRow> rows;
  rows.reserve(picked.size());
  for (std::size_t k : picked) {
    const auto& seen = seen_[k];
    TraceRow r;
    r.algorithm = algorithmName(options_.algorithm);
    r.machines = seen.machines;
    r.iteration = static_cast<double>(seen.iteration) + 1;
    r.loss = seen.metric;
    if (options_.metric == Metric::kGap) r.gap = seen.metric;
    if (seen.seconds > 0) r.iterSeconds = seen.seconds;
    rows.push_back(r);
  }
  return rows;
}

namespace {
constexpr double kMemoryVersion = 1;
}  // namespace

std::vector<double> Controller::memory() const {
  std::vector<double> out = {kMemoryVersion,
                             double(lastDecisionStep_),
                             double(lastRescaleStep_),
                             double(probesDone_),
                             probeSeconds_,
                             elapsed_,
                             modelled_ ? 1.0 : 0.0,
                             probing_ ? 1.0 : 0.0,
                             double(probeStartStep_),
                             double(probeEndStep_),
                             double(rescales_.size())};
  out.insert(out.end(), rescales_.begin(), rescales_.end());
  out.push_back(double(excluded_.size()));
  out.insert(out.end(), excluded_.begin(), excluded_.end());
  const auto picked = keptRows();
  out.push_back(double(picked.size()));
  for (std::size_t k : picked) {
    const auto& r = seen_[k];
    out.insert(out.end(), {double(r.machines), double(r.iteration), r.metric, r.seconds,
                           k < priorRows_ ? 1.0 : 0.0});
  }
  return out;
}

void Controller::restore(const std::vector<double>& memory) {
  std::size_t at = 0;
  const auto next = [&]() {
    if (at >= memory.size()) throw std::invalid_argument("the controller's memory is cut short");
    return memory[at++];
  };
  const auto count = [&]() {
    const double n = next();
    if (!(n >= 0 && n <= double(memory.size()))) {
      throw std::invalid_argument("the controller's memory holds a bad count");
    }
    return static_cast<std::size_t>(n);
  };
  if (next() != kMemoryVersion) throw std::invalid_argument("the controller's memory: bad version");
  Controller fresh(options_, forecaster_);
  fresh.lastDecisionStep_ = static_cast<std::int64_t>(next());
  fresh.lastRescaleStep_ = static_cast<std::int64_t>(next());
  fresh.probesDone_ = static_cast<int>(next());
  fresh.probeSeconds_ = next();
  const double elapsed = next();
  fresh.modelled_ = next() != 0;
  const bool probing = next() != 0;
  fresh.probeStartStep_ = static_cast<std::int64_t>(next());
  fresh.probeEndStep_ = static_cast<std::int64_t>(next());
  for (std::size_t n = count(); n > 0; --n) fresh.rescales_.push_back(next());
  for (std::size_t n = count(); n > 0; --n) fresh.excluded_.insert(static_cast<int>(next()));
  for (std::size_t n = count(); n > 0; --n) {
    const int m = static_cast<int>(next());
    const auto iteration = static_cast<std::int64_t>(next());
    const double metric = next(), seconds = next();
    if (next() != 0) {
      fresh.observePriorIteration(m, iteration, metric, seconds);
    } else {
      fresh.observeIteration(m, iteration, metric, seconds);
    }
  }
  fresh.elapsed_ = elapsed;
  fresh.probing_ = probing;
  fresh.capacity_ = capacity_;
  *this = std::move(fresh);
}

std::set<int> Controller::measuredCounts() const {
  std::set<int> out;
  for (const auto& entry : recentByMachines_) out.insert(entry.first);
  return out;
}

std::vector<int> Controller::candidateCounts() const {
  std::set<int> out(ladder_.begin(), ladder_.end());
  // Every count when there are few, else steps of about a quarter.
  for (double m = options_.minWorkers; m <= options_.maxWorkers;
       m = std::max(m + 1, std::floor(m * 1.25))) {
    out.insert(static_cast<int>(m));
  }
  for (int m : measuredCounts()) out.insert(m);
  for (int m : excluded_) out.erase(m);
  out.erase(out.upper_bound(capacity_), out.end());  // machines the cluster has now
  return {out.begin(), out.end()};
}

// Value of information: for every unmeasured count, the expected
// improvement of its forecast over the best measured count's (lognormal over
// its 80% interval; decades, normal, for a budget goal), less the expected
// cost of trying it, paid when it loses: the rescale there and back, and the
// probe's steps less the progress they make. The best positive value wins.
std::optional<Controller::ProbeChoice> Controller::bestProbe(
    int current, const std::vector<CandidateForecast>& forecasts) const {
  const auto& o = options_;
  const std::set<int> measured = measuredCounts();
  const bool budget = !o.targetLoss;
  std::optional<Score> best;
  int bestCount = current;
  for (const auto& c : forecasts) {
    const auto sc = scoreOf(c, o, elapsed_);
    const bool known = measured.count(c.machines) && (!c.stale || c.machines == current);
    if (known && sc && (!best || sc->value < best->value)) {
      best = sc;
      bestCount = c.machines;
    }
  }
  if (!best) return std::nullopt;
  const double cost = rescaleCostSeconds();
  const bool cooled = lastDecisionStep_ - lastRescaleStep_ >= o.cooldownSteps;
  // Seconds in the goal's unit: machine-seconds priced, or decades of the
  // metric at the pace of the best count.
  const double left = o.timeBudgetSeconds ? std::max(1e-9, *o.timeBudgetSeconds - elapsed_) : 1.0;
  const double level =
      std::log10(std::max(seen_.back().metric - find(forecasts, bestCount)->pStar, 1e-300));
  std::optional<ProbeChoice> pick;
  for (const auto& c : forecasts) {
    const auto sc = scoreOf(c, o, elapsed_);
    // Probes measure the ladder's rungs (counts between them are
    // interpolated), and a stale count afresh at most once a cooldown.
    const bool rung = std::binary_search(ladder_.begin(), ladder_.end(), c.machines);
    const bool candidate = measured.count(c.machines) ? c.stale && cooled : rung;
    if (!sc || !candidate || c.machines == current || excluded_.count(c.machines) ||
        c.machines > capacity_ || !(c.secondsPerIteration > 0)) {
      continue;
    }
    const Lognormal x{sc->value, sc->low, sc->high};
    const double lost = budget ? 1.0 : std::max(0.0, 1.0 - best->value / sc->value);
    double seconds = 2 * cost + o.minProbeSteps * c.secondsPerIteration * lost;
    double unit = 1.0;  // seconds to the goal's unit
    if (o.pricePerMachineHour) unit = c.machines * *o.pricePerMachineHour / 3600;
    if (budget) unit = std::max(0.0, level - best->value) / left;
    const double gain =
        budget ? expectedImprovementNormal(best->value, x) : expectedImprovement(best->value, x);
    const double worse = budget ? chanceWorseNormal(best->value, x) : chanceWorse(best->value, x);
    const double value = gain - worse * seconds * unit;
    if (value > 0 && (!pick || value > pick->value)) {
      std::ostringstream why;
      why.precision(3);
      why << (c.stale ? "measured only far up the curve; " : "") << "expected gain " << gain
          << " against an expected cost " << worse * seconds * unit
          << (budget                  ? " decades"
              : o.pricePerMachineHour ? ""
                                      : " s")
          << " (best measured m = " << bestCount << ")";
      pick = ProbeChoice{c.machines, value, why.str()};
    }
  }
  return pick;
}

// A probe may end early: past minProbeSteps, once the timed steps (all but
// the first) agree within 10% of their median.
bool Controller::probeSettled(std::int64_t nextStep) const {
  if (nextStep - probeStartStep_ < options_.minProbeSteps) return false;
  const std::size_t timed = static_cast<std::size_t>(options_.minProbeSteps - 1);
  if (seen_.size() < priorRows_ + timed) return false;
  std::vector<double> times;
  for (std::size_t k = seen_.size() - timed; k < seen_.size(); ++k) {
    times.push_back(seen_[k].seconds);
  }
  const double mid = median(times);
  for (double t : times) {
    if (!(std::abs(t - mid) <= 0.1 * mid)) return false;
  }
  return true;
}

void Controller::startProbe(std::int64_t nextStep) {
  probing_ = true;
  probeStartStep_ = nextStep;
  probeEndStep_ = nextStep + options_.probeSteps;
  ++probesDone_;
}

// Loss continuity: after a rescale the metric must be within the band, else
// the run reverts and the count is not tried again.
std::optional<Decision> Controller::checkContinuity(Decision d, double metric,
                                                    std::int64_t nextStep) {
  const Check c = *check_;
  check_.reset();
  const int machines = d.worldSize;
  const double observed = std::log10(std::max(metric - c.pStar, 1e-300));
  if (!(observed > c.predictedLog10 + c.allowedDecades)) return std::nullopt;
  excluded_.insert(machines);
  d.action = Action::kRescale;
  d.toWorldSize = std::min(c.revertTo, capacity_);
  std::ostringstream why;
  why.precision(4);
  why << "loss continuity: log10 of the metric " << observed << " is above the band "
      << c.predictedLog10 + c.allowedDecades << " predicted " << options_.continuitySteps
      << " steps after the rescale to m = " << machines << "; reverting to m = " << c.revertTo
      << " (m = " << machines << " is not tried again)";
  d.reason = why.str();
  lastRescaleStep_ = nextStep;
  return d;
}

// Experiment design: the probe worth most (bestProbe), within the bound on
// the time spent probing.
std::optional<Decision> Controller::probeIfWorth(Decision d, std::int64_t nextStep,
                                                 const std::vector<CandidateForecast>& forecasts,
                                                 const std::string& fitProblem) {
  const auto& o = options_;
  if (forecasts.empty()) return std::nullopt;
  const auto choice = bestProbe(d.worldSize, forecasts);
  if (!choice) return std::nullopt;
  const int probe = choice->machines;
  double bestRemaining = INFINITY, probeCost = 0;
  for (const auto& c : forecasts) {
    if (c.remainingSeconds) bestRemaining = std::min(bestRemaining, *c.remainingSeconds);
    if (c.machines == probe) probeCost = o.minProbeSteps * c.secondsPerIteration;
  }
  probeCost += d.rescaleCostSeconds;
  if (!o.targetLoss) bestRemaining = std::max(0.0, *o.timeBudgetSeconds - elapsed_);
  const double bound = o.probeBudgetFraction * (elapsed_ + bestRemaining);
  if (probeSeconds_ + probeCost > bound) return std::nullopt;
  d.action = Action::kProbe;
  d.toWorldSize = probe;
  std::ostringstream why;
  why.precision(4);
  why << "probe " << probesDone_ + 1 << ": m = " << probe << " for " << o.minProbeSteps << " to "
      << o.probeSteps << " steps (" << choice->why << (fitProblem.empty() ? "" : "; " + fitProblem)
      << "); probes so far " << probeSeconds_ << " s of a bound of " << bound << " s";
  d.reason = why.str();
  startProbe(nextStep);
  return d;
}

// A rescale chosen: a forecast from a stretch measured long ago (at another
// level of the curve), or from no stretch at all, is checked by a probe first
// when the bound allows, so that on arrival the comparison is between fresh
// stretches; else the continuity check is armed.
Decision Controller::settleRescale(Decision chosen, std::int64_t nextStep, int machines,
                                   const std::vector<CandidateForecast>& forecasts) {
  const auto& o = options_;
  std::optional<std::int64_t> lastSeen;
  if (auto it = recentByMachines_.find(chosen.toWorldSize); it != recentByMachines_.end()) {
    lastSeen = seen_[it->second.back()].iteration;
  }
  const bool stale = !lastSeen || nextStep - *lastSeen > 2 * o.refitEverySteps;
  const auto* target = find(forecasts, chosen.toWorldSize);
  double bestRemaining = INFINITY;
  for (const auto& c : forecasts) {
    if (c.remainingSeconds) bestRemaining = std::min(bestRemaining, *c.remainingSeconds);
  }
  const double probeCost =
      o.minProbeSteps * (target ? target->secondsPerIteration : 0.0) + chosen.rescaleCostSeconds;
  lastRescaleStep_ = nextStep;
  if (stale && probeSeconds_ + probeCost <= o.probeBudgetFraction * (elapsed_ + bestRemaining)) {
    chosen.action = Action::kProbe;
    chosen.reason += "; m = " + std::to_string(chosen.toWorldSize) +
                     (lastSeen ? " was measured long ago" : " was never measured") +
                     ": probing it for " + std::to_string(o.minProbeSteps) + " steps first";
    startProbe(nextStep);
    return chosen;
  }
  if (target && target->log10AfterCheck) {
    const double widen =
        target->interval && target->remainingSeconds && *target->remainingSeconds > 0
            ? std::log10(std::max(1.0, target->interval->second / *target->remainingSeconds))
            : 0.0;
    check_ = Check{nextStep + o.continuitySteps, *target->log10AfterCheck,
                   o.continuityDecades + widen, machines, target->pStar};
  }
  return chosen;
}

// The first decision moves to the first count; once the target is reached,
// one "stop" decision ends them.
std::optional<Decision> Controller::stopOrFirst(Decision d) {
  if (reached_) {
    stopped_ = true;
    d.action = Action::kStop;
    std::ostringstream why;
    why.precision(4);
    why << "the target is reached: the metric is " << reachedMetric_
        << " <= " << *options_.targetLoss;
    d.reason = why.str();
    return d;
  }
  // Only before the run's first iteration: a run that has started chose its count.
  if (lastDecisionStep_ >= 0 || seen_.size() > priorRows_) return std::nullopt;
  const int first = std::min(firstCount(), capacity_);
  if (first == d.worldSize) return std::nullopt;
  d.action = Action::kRescale;
  d.toWorldSize = first;
  d.reason = "the first count: m = " + std::to_string(first) +
             (priorRows_ > 0 ? " has the best forecast from the earlier runs"
                             : " has the smallest worst case over the jobs the algorithm allows");
  lastDecisionStep_ = d.step;
  lastRescaleStep_ = d.step;
  return d;
}

std::optional<Decision> Controller::decide(std::int64_t nextStep, int machines) {
  const auto& o = options_;
  if (stopped_) return std::nullopt;
  Decision d;
  d.step = nextStep;
  d.worldSize = machines;
  d.toWorldSize = machines;
  d.rescaleCostSeconds = rescaleCostSeconds();
  if (auto early = stopOrFirst(d)) return early;
  const bool firstDecision = lastDecisionStep_ < 0;
  const bool probeEnded = probing_ && (nextStep >= probeEndStep_ || probeSettled(nextStep));
  if (probing_ && !probeEnded) return std::nullopt;
  const bool checkDue = check_ && nextStep >= check_->atStep;
  // Until the models forecast, every step: a short job cannot wait for them.
  if (!firstDecision && !probeEnded && !checkDue && modelled_ &&
      nextStep - lastDecisionStep_ < o.refitEverySteps) {
    return std::nullopt;
  }
  lastDecisionStep_ = nextStep;
  probing_ = false;
  const double cost = d.rescaleCostSeconds;
  const bool live = seen_.size() > priorRows_;
  const double metric = live ? seen_.back().metric : INFINITY;
  if (checkDue) {
    if (auto revert = checkContinuity(d, metric, nextStep)) return revert;
  }
  if (o.minWorkers == o.maxWorkers) {
    d.reason = "one machine count allowed";
    return d;
  }
  std::vector<CandidateForecast> forecasts;
  std::string fitProblem;
  if (live) {
    try {
      forecasts = forecaster_(fitRows(), machines, metric, elapsed_, cost, candidateCounts());
    } catch (const std::exception& e) {
      fitProblem = e.what();
    }
  }
  d.candidates = forecasts;
  modelled_ = !forecasts.empty();
  if (auto probe = probeIfWorth(d, nextStep, forecasts, fitProblem)) return probe;
  if (forecasts.empty()) {
    d.reason = "no model: " + (fitProblem.empty() ? std::string("no iterations yet") : fitProblem);
    return d;
  }
  const bool cooled = nextStep - lastRescaleStep_ >= o.cooldownSteps;
  Decision chosen =
      chooseAction(forecasts, machines, cost, cooled, o, probeEnded, measuredCounts());
  chosen.step = nextStep;
  if (chosen.action == Action::kRescale)
    return settleRescale(chosen, nextStep, machines, forecasts);
  return chosen;
}

namespace {

// g for a live run: the rate at which log10(metric - P*) falls per
// iteration, as a function of the machine count and of the level reached,
// log(rate) = a_m + c * level, c >= 0. It holds linear convergence (c = 0)
// and power laws (c = ln 10 / p for y ~ i^-p) alike, and since c is shared,
// stretches on different m measured at different levels of one run are
// compared at the same level.
struct RateModel {
  std::map<double, double> a;   // by measured m
  std::map<double, int> count;  // rate samples per m
  double c = 0;
  double sigma = 0;  // residual standard deviation of log(rate)

  // Iterations from level `from` down to `to` at intercept `am`.
  double iterations(double am, double from, double to) const {
    if (to >= from) return 0;
    if (c < 1e-9) return (from - to) / std::exp(am);
    return std::exp(-am) * (std::exp(-c * to) - std::exp(-c * from)) / c;
  }
  // The level after `n` iterations from `from` at intercept `am`.
  double levelAfter(double am, double from, double n) const {
    if (c < 1e-9) return from - n * std::exp(am);
    const double inner = std::exp(-c * from) + n * c * std::exp(am);
    return -std::log(inner) / c;
  }
};

// Rate samples: the fall of the level per iteration over a window of up to
// kMaxWindow consecutive iterations of one stretch, at the window's middle
// level. A noisy metric rises and falls from one iteration to the next; a
// window long enough averages that out, where single falls alone would
// overstate the rate.
constexpr std::size_t kMaxWindow = 8;
constexpr std::size_t kRateHistory = 400;  // the newest iterations used
static_assert(kRateHistory <= Controller::kRecentRows, "the rows hold the newest iterations");
constexpr std::size_t kSettle = 1;  // iterations skipped after a change
// Rate samples more than this many decades above the current level are not
// used: curves bend, and a count measured far up the curve is probed again.
constexpr double kLevelBand = 1.0;

std::optional<RateModel> fitRates(const std::vector<TraceRow>& rows, double pStar, double now) {
  struct Sample {
    double m, level, logRate;
  };
  std::vector<Sample> samples;
  const std::size_t first = rows.size() > kRateHistory ? rows.size() - kRateHistory : 0;
  std::size_t stretch = first;  // the first row of the current stretch
  for (std::size_t k = first + 1; k < rows.size(); ++k) {
    const auto& b = rows[k];
    if (rows[k - 1].machines != b.machines || b.iteration - rows[k - 1].iteration != 1) {
      stretch = k;
      continue;
    }
    // The first iterations after a rescale settle (a dual method's gap jumps).
    if (k < stretch + kSettle + 1) continue;
    const std::size_t window = std::min(kMaxWindow, k - stretch - kSettle);
    const auto& a = rows[k - window];
    if (!(a.loss > pStar && b.loss > pStar)) continue;
    const double la = std::log10(a.loss - pStar), lb = std::log10(b.loss - pStar);
    if (!(la > lb)) continue;  // no net fall (noise, or a stall)
    if ((la + lb) / 2 > now + kLevelBand) continue;
    samples.push_back({b.machines, (la + lb) / 2, std::log((la - lb) / double(window))});
  }
  if (samples.size() < 3) return std::nullopt;
  // Least squares with one intercept per m and a shared slope c in the
  // level, in closed form: c from the spread of levels within each m (the
  // levels across counts say nothing about c), a_m from each m's means.
  // Where the levels within counts barely spread (short probes), c is 0.
  struct Moments {
    int n = 0;
    double level = 0, rate = 0;
  };
  std::map<double, Moments> byM;
  for (const auto& s : samples) {
    auto& g = byM[s.m];
    g.n++;
    g.level += s.level;
    g.rate += s.logRate;
  }
  for (auto& [m, g] : byM) {
    g.level /= g.n;
    g.rate /= g.n;
  }
  double sxy = 0, sxx = 0;
  for (const auto& s : samples) {
    const auto& g = byM[s.m];
    sxy += (s.level - g.level) * (s.logRate - g.rate);
    sxx += (s.level - g.level) * (s.level - g.level);
  }
  RateModel model;
  constexpr double kMinLevelSpread = 0.25;  // decades^2 within counts to estimate c
  model.c = sxx >= kMinLevelSpread && sxy > 0 ? sxy / sxx : 0.0;  // rates may not rise
  double residuals = 0;
  for (const auto& [m, g] : byM) {
    model.a[m] = g.rate - model.c * g.level;
    model.count[m] = g.n;
  }
  for (const auto& s : samples) {
    const double e = s.logRate - model.a[s.m] - model.c * s.level;
    residuals += e * e;
  }
  const auto n = samples.size(), p = byM.size();
  model.sigma = n > p + 1 ? std::sqrt(residuals / double(n - p - 1)) : 0.5;
  return model;
}

}  // namespace

namespace {

// a_m at any m: measured, else interpolated in log m between the nearest
// measured counts, beyond them extrapolated with the algorithm's bounds on
// d log(iterations) / d log m (rate ~ m^-slope). `spread`: the relative
// width of its interval.
double interceptAt(const RateModel& rates, const SlopeBounds& bounds, const ControllerOptions& o,
                   double m, double& spread) {
  const auto& a = rates.a;
  const auto hi = a.lower_bound(m);
  if (hi != a.end() && hi->first == m) {
    spread = 0.1 + 1.28 * rates.sigma / std::sqrt(double(rates.count.at(m)));
    return hi->second;
  }
  const auto slopeOf = [](auto p, auto q) {  // -d a / d log m
    return -(q->second - p->second) / std::log(q->first / p->first);
  };
  double slope = (bounds.low + bounds.high) / 2;
  auto from = a.begin();
  if (hi == a.end()) {
    from = std::prev(hi);
    if (a.size() >= 2) slope = slopeOf(std::prev(hi, 2), std::prev(hi));
  } else if (hi == a.begin()) {
    from = hi;
    if (a.size() >= 2) slope = slopeOf(hi, std::next(hi));
  } else {
    from = std::prev(hi);
    slope = slopeOf(from, hi);
  }
  slope = std::clamp(slope, bounds.low, bounds.high);
  spread = o.unmeasuredSpread * (1 + std::abs(std::log2(m / from->first)) / 2);
  return from->second - slope * std::log(m / from->first);
}

// f: Ernest's model (NNLS) on every timed iteration, measured medians where measured.
CompositeModel systemOf(const std::vector<TraceRow>& rows) {
  std::vector<TimingPoint> times;
  std::map<double, std::vector<double>> secondsByM;
  for (const auto& r : rows) {
    if (r.iterSeconds) {
      times.push_back({r.machines, 1, *r.iterSeconds});
      secondsByM[r.machines].push_back(*r.iterSeconds);
    }
  }
  CompositeModel model;
  model.system = SystemModel::fit(times);
  for (auto& [m, sec] : secondsByM) model.measuredSeconds[m] = median(sec);
  return model;
}

// f at m: the measured median where measured; elsewhere Ernest's fit, kept
// within what the nearest measured count allows (secondsBoundsFrom), or
// those bounds alone (median in the middle) before two counts are measured.
Interval secondsAt(const CompositeModel& model, bool fKnown, double m) {
  if (model.measuredSeconds.count(m)) return model.secondsPerIteration(m);
  auto nearest = model.measuredSeconds.begin();
  for (auto it = model.measuredSeconds.begin(); it != model.measuredSeconds.end(); ++it) {
    if (std::abs(std::log(it->first / m)) < std::abs(std::log(nearest->first / m))) nearest = it;
  }
  const SecondsBounds b = secondsBoundsFrom(nearest->second, nearest->first, m);
  Interval f;
  if (fKnown) {
    f = model.secondsPerIteration(m);
    f.value = std::clamp(f.value, b.low, b.high);
    f.low = std::clamp(std::min(f.low, f.value), b.low, b.high);
    f.high = std::clamp(std::max(f.high, f.value), b.low, b.high);
    return f;
  }
  f.value = std::sqrt(b.low * b.high);
  f.low = b.low;
  f.high = b.high;
  f.extrapolated = true;
  return f;
}

// What one count would give from level `now`: to the goal (target goals), or
// by the end of the budget.
void forecastAt(CandidateForecast& c, const RateModel& rates, const Interval& f, double am,
                double spread, double now, double goal, double cost, double elapsedSeconds,
                const ControllerOptions& o) {
  c.secondsPerIteration = f.value;
  c.log10AfterCheck = rates.levelAfter(am, now, o.continuitySteps);
  if (o.targetLoss) {
    const double remaining = std::max(1.0, rates.iterations(am, now, goal));
    c.remainingSeconds = remaining * f.value + cost;
    c.interval = std::make_pair(remaining / (1 + spread) * f.low + cost,
                                remaining * (1 + spread) * f.high + cost);
    return;
  }
  const double left = *o.timeBudgetSeconds - elapsedSeconds - cost;
  if (left > 0 && f.value > 0) {
    const double n = left / f.value;
    c.log10AtBudget = rates.levelAfter(am, now, n);
    c.interval = std::make_pair(rates.levelAfter(am, now, n * (1 + spread)),
                                rates.levelAfter(am, now, n / (1 + spread)));
  }
}

}  // namespace

std::vector<CandidateForecast> Controller::forecastFromRun(const ControllerOptions& o,
                                                           const std::vector<TraceRow>& rows,
                                                           int current, double currentMetric,
                                                           double elapsedSeconds,
                                                           double rescaleCostSeconds,
                                                           const std::vector<int>& candidates) {
  const double pStar = o.metric == Metric::kGap ? 0.0 : o.pStar.value_or(0.0);
  if (!(currentMetric > pStar)) throw std::invalid_argument("the metric is at or below P*");
  const double now = std::log10(currentMetric - pStar);
  const CompositeModel model = systemOf(rows);
  const bool fKnown = model.system.status() != FitStatus::kTooFewPoints;
  const auto rates = fitRates(rows, pStar, now);
  if (!rates) throw std::invalid_argument("no machine count's metric is falling yet");
  const SlopeBounds bounds = o.bounds();
  const double goal = o.targetLoss ? std::log10(std::max(*o.targetLoss - pStar, 1e-300)) : now;
  std::vector<CandidateForecast> out;
  for (int mi : candidates) {
    const double m = mi;
    CandidateForecast c;
    c.machines = mi;
    c.pStar = pStar;
    c.stale = model.measuredSeconds.count(m) > 0 && rates->a.count(m) == 0;
    if (!model.measuredSeconds.empty()) {
      double spread = 0;
      const double am = interceptAt(*rates, bounds, o, m, spread);
      forecastAt(c, *rates, secondsAt(model, fKnown, m), am, spread, now, goal,
                 mi == current ? 0.0 : rescaleCostSeconds, elapsedSeconds, o);
    }
    out.push_back(c);
  }
  return out;
}

}  // namespace hemingway::adaptive
