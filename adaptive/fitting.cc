#include "hemingway/adaptive/fitting.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <sstream>

#include "hemingway/adaptive/statistics.h"

namespace hemingway::adaptive {
namespace {

std::string joinMachines(const std::set<double>& ms) {
  std::ostringstream o;
  bool first = true;
  for (double m : ms) {
    o << (first ? "" : ", ") << m;
    first = false;
  }
  return o.str();
}

const std::map<std::string, std::string>& configOf(const JobConfigs& configs,
                                                   const std::string& job) {
  static const std::map<std::string, std::string> none;
  const auto it = configs.find(job);
  return it == configs.end() ? none : it->second;
}

FittedModel fitOne(const std::string& job, const std::string& algorithm,
                   const std::vector<const TraceRow*>& rows, const FitOptions& options) {
  FittedModel out;
  out.job = job;
  out.model.algorithm = algorithm;
  std::vector<TimingPoint> times;
  std::vector<LossPoint> losses;
  std::map<double, std::vector<double>> secondsByM;
  out.smallestLoss = INFINITY;
  for (const TraceRow* r : rows) {
    const std::optional<double> value =
        options.metric == Metric::kGap ? r->gap : std::optional<double>(r->loss);
    if (value) {
      losses.push_back({r->machines, r->iteration, *value});
      out.machines.insert(r->machines);
      out.smallestLoss = std::min(out.smallestLoss, *value);
      auto& longest = out.longestTrace[r->machines];
      longest = std::max(longest, r->iteration);
    }
    out.model.size = r->size;
    if (r->iterSeconds) {
      times.push_back({r->machines, r->size, *r->iterSeconds});
      secondsByM[r->machines].push_back(*r->iterSeconds);
    }
  }
  const std::string name = "algorithm " + algorithm;
  if (losses.empty()) {
    throw FitError(name +
                   ": no duality gap in its records (--metric gap needs cocoa or cocoa+ "
                   "iteration records)");
  }
  for (auto& [m, seconds] : secondsByM) out.model.measuredSeconds[m] = median(seconds);
  out.model.system = SystemModel::fit(times);
  out.systemIdentifiable = out.model.system.status() != FitStatus::kTooFewPoints;
  if (!out.systemIdentifiable && secondsByM.size() != 1) {
    std::set<double> timed;
    for (const auto& [m, s] : secondsByM) timed.insert(m);
    throw FitError(
        name + ": " + out.model.system.problem() + ". Measured machine counts with " + "times: " +
        (timed.empty() ? std::string("none (virtual runs carry no times)") : joinMachines(timed)));
  }
  ConvergenceOptions co;
  co.pStar = options.metric == Metric::kGap ? std::optional<double>(0.0) : options.pStar;
  co.algorithm = algorithmFromName(algorithm);
  out.model.convergence = ConvergenceModel::fit(losses, co);
  if (out.model.convergence.status() == FitStatus::kTooFewPoints) {
    throw FitError(name + ": " + out.model.convergence.problem() +
                   ". Runs at m = " + joinMachines(out.machines));
  }
  return out;
}

}  // namespace

std::vector<Probe> nextProbes(const FittedModel& fitted) {
  // Three machine counts make g's held-out error measurable and f's terms
  // separable: add the doubling and the halving of what was measured (or
  // 2 and 4 from m = 1), each long enough to show the curve's shape and a
  // stable median time, but no longer than the runs so far.
  std::vector<Probe> probes;
  if (fitted.machines.size() >= 3 && fitted.systemIdentifiable) return probes;
  const double lo = *fitted.machines.begin(), hi = *fitted.machines.rbegin();
  double longest = 0;
  for (const auto& [m, i] : fitted.longestTrace) longest = std::max(longest, i);
  const double iterations = std::clamp(std::ceil(longest / 2), 30.0, std::max(30.0, longest));
  std::vector<double> wanted;
  if (lo >= 2) wanted.push_back(std::floor(lo / 2));
  wanted.push_back(hi * 2);
  if (lo < 2) wanted.push_back(hi * 4);
  for (double m : wanted) {
    if (fitted.machines.count(m) == 0 && probes.size() + fitted.machines.size() < 3) {
      probes.push_back({m, iterations});
    }
  }
  return probes;
}

std::string differingKeys(const std::map<std::string, std::string>& a,
                          const std::map<std::string, std::string>& b, bool bothUsed) {
  std::set<std::string> keys;
  for (const auto& [k, v] : a) keys.insert(k);
  for (const auto& [k, v] : b) keys.insert(k);
  std::ostringstream out;
  bool first = true;
  for (const auto& k : keys) {
    const auto ia = a.find(k), ib = b.find(k);
    const std::string va = ia == a.end() ? "-" : ia->second;
    const std::string vb = ib == b.end() ? "-" : ib->second;
    if (va == vb || (bothUsed && (va == "-" || vb == "-"))) continue;
    out << (first ? "" : ", ") << k << " (" << va << " vs " << vb << ")";
    first = false;
  }
  return out.str();
}

std::vector<FittedModel> fitModels(const std::vector<TraceRow>& rows, const JobConfigs& configs,
                                   const FitOptions& options) {
  // algorithm -> job -> rows
  std::map<std::string, std::map<std::string, std::vector<const TraceRow*>>> groups;
  for (const auto& r : rows) groups[r.algorithm][options.pool ? "" : r.job].push_back(&r);
  if (!options.pool) {
    for (const auto& [algorithm, jobs] : groups) {
      if (jobs.size() < 2) continue;
      const auto& first = jobs.begin()->first;
      const auto& second = std::next(jobs.begin())->first;
      std::string keys = differingKeys(configOf(configs, first), configOf(configs, second), false);
      throw FitError("algorithm " + algorithm + " has runs of " + std::to_string(jobs.size()) +
                     " different jobs" + (keys.empty() ? "" : " that differ in " + keys) +
                     ": report on one job's logs at a time, or pass --pool to fit them as one");
    }
    // Two algorithms are compared only on the same problem: the settings both
    // use must agree (a dual method's unused lr is "-").
    for (auto a = groups.begin(); a != groups.end(); ++a) {
      for (auto b = std::next(a); b != groups.end(); ++b) {
        const auto keys = differingKeys(configOf(configs, a->second.begin()->first),
                                        configOf(configs, b->second.begin()->first), true);
        if (!keys.empty()) {
          throw FitError("algorithms " + a->first + " and " + b->first +
                         " ran different problems: " + keys +
                         "; their curves are not comparable (pass --pool to compare anyway)");
        }
      }
    }
  }
  std::vector<FittedModel> out;
  for (const auto& [algorithm, jobs] : groups) {
    for (const auto& [job, part] : jobs) out.push_back(fitOne(job, algorithm, part, options));
  }
  return out;
}

}  // namespace hemingway::adaptive
