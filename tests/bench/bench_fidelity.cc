// Fidelity of the convergence model g on measured traces, always on machine
// counts the fit did not see (issue: recommendations a user can trust).
//   bench_fidelity METRIC P_STAR [--targets E,E,...] [--window W] LOG...
// METRIC: gap (the duality gap; P* ignored, 0), primal (P - P*) or loss (a
// step loss - P*). Each LOG holds one algorithm's records at several m.
// --targets: the targets eps (default 1e-2,1e-3,1e-4); --window W: each
// curve is first replaced by its running median over W iterations (noisy
// step losses; the truth is read off the smoothed curve too). Several runs
// at one m (seeds) become one curve: their median at each iteration.
// Cases, per log and target needing 5+ iterations:
//   interior: every m strictly between the smallest and the largest measured,
//     held out, fitted on every other m;
//   one doubling: the largest m M and M / 2, each from the counts <= half of
//     it (at least two of them): 128 from m <= 64 and 64 from m <= 32 on
//     m = 1..128, 4 from m <= 2 on m = 1..4.
// Printed: relative error of iterations to eps (median, 80th percentile, max),
// the held-out curve error (mean |log10 predicted - log10 true|), coverage of
// the 80% intervals, and the choice of m under a simulated clock
// f(m) = 0.02 + 1.5/m + 0.01 ln m + 0.002 m s (issue: the adaptive controller):
// how often the predicted-fastest m is the truly fastest, and the regret.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "hemingway/adaptive/convergence_model.h"
#include "hemingway/adaptive/report/traces.h"
#include "hemingway/adaptive/statistics.h"

namespace ad = hemingway::adaptive;

namespace {

using Curves = std::map<double, std::vector<ad::LossPoint>>;  // m -> (m, i, P - P*)

double clock(double m) { return 0.02 + 1.5 / m + 0.01 * std::log(m) + 0.002 * m; }

// The first iteration of a measured curve at or below eps.
std::optional<double> firstBelow(const std::vector<ad::LossPoint>& curve, double eps) {
  for (const auto& p : curve) {
    if (p.loss <= eps) return p.iteration;
  }
  return std::nullopt;
}

struct Tally {
  std::vector<double> errors;       // relative, iterations to eps
  std::vector<double> curveErrors;  // log10, per held-out curve
  int covered = 0, intervals = 0;
  int kneeCovered = 0, kneeIntervals = 0;  // the cases flagged `knee`
  int lossCovered = 0, lossIntervals = 0;  // the loss after the true iterations to eps
  int rightM = 0, choices = 0;
  std::vector<double> regrets;
  std::map<std::string, int> forms;
};

// How a true 80% coverage reads on n cases 8 times in 10: the 10% and 90%
// quantiles of Binomial(n, 0.8) / n, in percent ("67-92%" on 12 cases).
std::string samplingRange(int n) {
  if (n <= 0) return "no cases";
  std::vector<double> pmf(static_cast<std::size_t>(n) + 1);
  for (int k = 0; k <= n; ++k) {
    pmf[static_cast<std::size_t>(k)] =
        std::exp(std::lgamma(n + 1.0) - std::lgamma(k + 1.0) - std::lgamma(n - k + 1.0) +
                 k * std::log(0.8) + (n - k) * std::log(0.2));
  }
  auto quantileOf = [&pmf, n](double q) {  // the first k with P(X <= k) >= q
    double below = 0;
    for (int k = 0; k <= n; ++k) {
      below += pmf[static_cast<std::size_t>(k)];
      if (below >= q) return k;
    }
    return n;
  };
  const int lo = quantileOf(0.1), hi = quantileOf(0.9);
  char buf[80];
  std::snprintf(buf, sizeof buf, "a true 80%% reads %.0f-%.0f%% on %d cases", 100.0 * lo / n,
                100.0 * hi / n, n);
  return buf;
}

// A relative error that stands for "never reached".
constexpr double kNeverError = 1e9;

// "median 1.6%, p80 9.3%, max 54.4%" of relative errors.
std::string errorSummary(const std::vector<double>& errors) {
  char buf[96];
  std::snprintf(buf, sizeof buf, "median %.1f%%, p80 %.1f%%, max %.1f%%",
                errors.empty() ? 0.0 : 100 * ad::median(errors),
                errors.empty() ? 0.0 : 100 * ad::quantile(errors, 0.8),
                errors.empty() ? 0.0 : 100 * *std::max_element(errors.begin(), errors.end()));
  return buf;
}

void printTally(const char* name, const Tally& t) {
  std::printf(
      "%s: iterations to eps over %zu cases: %s; curve error "
      "%.3f log10 (median of %zu curves); 80%% intervals cover %d of %d (%.0f%%); chosen m = "
      "oracle's %d of %d, max regret %.1f%%; forms chosen:",
      name, t.errors.size(), errorSummary(t.errors).c_str(), ad::median(t.curveErrors),
      t.curveErrors.size(), t.covered, t.intervals,
      t.intervals ? 100.0 * t.covered / t.intervals : 0.0, t.rightM, t.choices,
      t.regrets.empty() ? 0.0 : 100 * *std::max_element(t.regrets.begin(), t.regrets.end()));
  for (const auto& [form, n] : t.forms) std::printf(" %s %d", form.c_str(), n);
  std::printf("\n    coverage at a knee %d of %d, elsewhere %d of %d (%s, 8 times in 10)\n",
              t.kneeCovered, t.kneeIntervals, t.covered - t.kneeCovered,
              t.intervals - t.kneeIntervals, samplingRange(t.intervals).c_str());
  std::printf(
      "    80%% intervals of the loss after a budget (the true iterations to eps) cover %d "
      "of %d (%.0f%%)\n",
      t.lossCovered, t.lossIntervals,
      t.lossIntervals ? 100.0 * t.lossCovered / t.lossIntervals : 0.0);
}

// Fits on `train` curves, predicts the held-out m, and tallies.
void evaluate(const Curves& all, const std::vector<double>& trainMs, double held,
              const std::string& algorithm, const std::vector<double>& targets, Tally& t) {
  std::vector<ad::LossPoint> train;
  for (double m : trainMs) train.insert(train.end(), all.at(m).begin(), all.at(m).end());
  ad::ConvergenceOptions o;
  o.pStar = 0;
  o.algorithm = ad::algorithmFromName(algorithm);
  const auto g = ad::ConvergenceModel::fit(train, o);
  if (g.status() == ad::FitStatus::kTooFewPoints) return;
  t.forms[ad::formName(g.form())]++;
  const auto& truth = all.at(held);
  double curveError = 0;
  for (const auto& p : truth)
    curveError += std::abs(g.predictLog10(p.iteration, held) - std::log10(p.loss));
  t.curveErrors.push_back(curveError / static_cast<double>(truth.size()));
  for (double eps : targets) {
    const auto real = firstBelow(truth, eps);
    if (!real || *real < 5) continue;
    const auto predicted = g.iterationsTo(eps, held);
    t.errors.push_back(predicted ? std::abs(*predicted / *real - 1) : kNeverError);
    if (const auto interval = g.iterationsInterval(eps, held)) {
      const bool in = interval->first <= *real && *real <= interval->second;
      t.intervals++;
      t.covered += in;
      if (g.kneeAt(eps, held)) {
        t.kneeIntervals++;
        t.kneeCovered += in;
      }
    }
    // The loss after a budget of the true iterations to eps.
    if (const auto band = g.lossInterval(*real, held)) {
      double truthLoss = NAN;
      for (const auto& p : truth) {
        if (p.iteration == *real) truthLoss = p.loss;
      }
      if (std::isfinite(truthLoss)) {
        t.lossIntervals++;
        t.lossCovered += band->first <= truthLoss && truthLoss <= band->second;
      }
    }
    // Choosing m: the held-out m predicted, the others as measured.
    double bestPredicted = INFINITY, bestTrue = INFINITY, chosen = 0, oracle = 0;
    std::map<double, double> trueTime;
    for (const auto& [m, curve] : all) {
      const auto it = firstBelow(curve, eps);
      if (!it) continue;
      trueTime[m] = *it * clock(m);
      const double predictedTime =
          m == held ? (predicted ? *predicted * clock(m) : INFINITY) : trueTime[m];
      if (predictedTime < bestPredicted) bestPredicted = predictedTime, chosen = m;
      if (trueTime[m] < bestTrue) bestTrue = trueTime[m], oracle = m;
    }
    if (chosen > 0 && trueTime.count(chosen)) {
      t.choices++;
      t.rightM += chosen == oracle;
      t.regrets.push_back(trueTime[chosen] / bestTrue - 1);
    }
  }
}

// Fits on every curve cut short (`cut`) and predicts, at each measured m,
// the targets its whole curve reaches only after the cut (extrapolated
// iterations, the paper's forward prediction).
void evaluateForward(const Curves& all, const Curves& cut, const std::string& algorithm,
                     const std::vector<double>& targets, Tally& t) {
  std::vector<ad::LossPoint> train;
  for (const auto& [m, c] : cut) train.insert(train.end(), c.begin(), c.end());
  ad::ConvergenceOptions o;
  o.pStar = 0;
  o.algorithm = ad::algorithmFromName(algorithm);
  const auto g = ad::ConvergenceModel::fit(train, o);
  if (g.status() == ad::FitStatus::kTooFewPoints) return;
  for (const auto& [m, truth] : all) {
    if (!cut.count(m) || cut.at(m).empty()) continue;
    const double end = cut.at(m).back().iteration;
    for (double eps : targets) {
      const auto real = firstBelow(truth, eps);
      if (!real || *real <= end || *real < 5) continue;
      const auto predicted = g.iterationsTo(eps, m);
      t.errors.push_back(predicted ? std::abs(*predicted / *real - 1) : kNeverError);
      if (const auto interval = g.iterationsInterval(eps, m)) {
        t.intervals++;
        t.covered += interval->first <= *real && *real <= interval->second;
      }
    }
  }
}

void printForward(const Tally& t) {
  std::vector<double> reached;
  for (double e : t.errors) {
    if (e < kNeverError) reached.push_back(e);
  }
  std::printf(
      "RESULT forward in i (every curve cut at half its length, targets reached only after "
      "the cut, at each m): iterations to eps over %zu cases, %zu predicted never; the others: "
      "%s; 80%% intervals cover %d of %d (%.0f%%)\n",
      t.errors.size(), t.errors.size() - reached.size(), errorSummary(reached).c_str(), t.covered,
      t.intervals, t.intervals ? 100.0 * t.covered / t.intervals : 0.0);
}

// The running median of a curve over `window` iterations (centred).
std::vector<ad::LossPoint> smoothed(const std::vector<ad::LossPoint>& curve, int window) {
  if (window <= 1) return curve;
  std::vector<ad::LossPoint> out = curve;
  const auto n = static_cast<std::ptrdiff_t>(curve.size());
  for (std::ptrdiff_t k = 0; k < n; ++k) {
    std::vector<double> v;
    for (std::ptrdiff_t j = std::max<std::ptrdiff_t>(0, k - window / 2);
         j <= std::min(n - 1, k + window / 2); ++j) {
      v.push_back(curve[static_cast<std::size_t>(j)].loss);
    }
    out[static_cast<std::size_t>(k)].loss = ad::median(v);
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  const char* usage =
      "usage: bench_fidelity gap|primal|loss P_STAR [--targets E,...] [--window W] LOG...\n";
  if (argc < 4) {
    std::fprintf(stderr, "%s", usage);
    return 2;
  }
  const std::string metric = argv[1];
  if (metric != "gap" && metric != "primal" && metric != "loss") {
    std::fprintf(stderr, "bench_fidelity: unknown metric '%s'\n%s", metric.c_str(), usage);
    return 2;
  }
  const double pStar = metric == "gap" ? 0.0 : std::stod(argv[2]);
  std::vector<double> targets{1e-2, 1e-3, 1e-4};
  int window = 1;
  std::vector<std::string> logs;
  for (int k = 3; k < argc; ++k) {
    const std::string a = argv[k];
    if ((a == "--targets" || a == "--window") && k + 1 >= argc) {
      std::fprintf(stderr, "bench_fidelity: %s needs a value\n", a.c_str());
      return 2;
    }
    try {
      if (a == "--targets") {
        targets.clear();
        std::stringstream in(argv[++k]);
        std::string item;
        while (std::getline(in, item, ',')) targets.push_back(std::stod(item));
        if (targets.empty()) throw std::invalid_argument("empty");
        continue;
      }
      if (a == "--window") {
        window = std::stoi(argv[++k]);
        if (window < 1) throw std::invalid_argument("below 1");
        continue;
      }
    } catch (const std::exception&) {
      std::fprintf(stderr, "bench_fidelity: %s: '%s' is not valid (%s)\n", a.c_str(), argv[k],
                   a == "--targets" ? "numbers separated by commas" : "a whole number >= 1");
      return 2;
    }
    logs.push_back(a);
  }
  Tally interior, doubling, forward;
  for (const auto& log : logs) {
    Curves curves;
    std::string algorithm;
    std::vector<ad::TraceRow> rows;
    try {
      rows = ad::readJsonlTraces(log);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "bench_fidelity: %s\n", e.what());
      return 1;
    }
    // Several runs at one m (seeds): the median over them at each iteration.
    std::map<double, std::map<double, std::vector<double>>> values;  // m -> i -> values
    for (const auto& r : rows) {
      algorithm = r.algorithm;
      const double v = metric == "gap" ? r.gap.value_or(NAN) : r.loss - pStar;
      if (v > 0) values[r.machines][r.iteration].push_back(v);
    }
    for (const auto& [m, byIteration] : values) {
      for (const auto& [i, v] : byIteration) curves[m].push_back({m, i, ad::median(v)});
    }
    for (auto& [m, c] : curves) c = smoothed(c, window);
    std::vector<double> ms;
    for (const auto& [m, c] : curves) ms.push_back(m);
    if (ms.size() < 3) continue;
    for (double held : ms) {
      if (held <= ms.front() || held >= ms.back()) continue;
      std::vector<double> train;
      for (double m : ms) {
        if (m != held) train.push_back(m);
      }
      evaluate(curves, train, held, algorithm, targets, interior);
    }
    for (double held : {ms.back(), ms.back() / 2}) {
      if (!curves.count(held)) continue;
      std::vector<double> train;
      for (double m : ms) {
        if (m <= held / 2) train.push_back(m);
      }
      if (train.size() >= 2) evaluate(curves, train, held, algorithm, targets, doubling);
    }
    // Forward in i: every curve cut at half its length, each m predicted on.
    Curves cut;
    for (const auto& [m, c] : curves) {
      const double half = c.back().iteration / 2;
      for (const auto& p : c) {
        if (p.iteration <= half) cut[m].push_back(p);
      }
    }
    evaluateForward(curves, cut, algorithm, targets, forward);
  }
  std::printf("== metric %s (P* %g) ==\n", metric.c_str(), pStar);
  printTally(
      "RESULT interior m (goals: median <= 5%, p80 <= 15%, max <= 50%; oracle m >= 95%, "
      "regret <= 20%; curve <= 0.10; coverage 75-85%)",
      interior);
  printTally("RESULT one doubling (goals: median <= 10%, p80 <= 25%, max <= 40%; curve <= 0.10)",
             doubling);
  printForward(forward);
  return 0;
}
