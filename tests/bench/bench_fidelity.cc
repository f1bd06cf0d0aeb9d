// Fidelity of the convergence model g on exact CoCoA / CoCoA+ traces, always
// on machine counts the fit did not see (issue: recommendations a user can trust).
//   bench_fidelity METRIC P_STAR LOG...   METRIC: gap (P* ignored, 0) or primal
// Each LOG holds one algorithm's iteration records at m = 1, 2, 4, ..., 128.
// Cases, per log and target eps in {1e-2, 1e-3, 1e-4} needing 5+ iterations:
//   interior: m = 2..64 held out, fitted on every other m;
//   one doubling: 64 from m <= 32, 128 from m <= 64.
// Printed: relative error of iterations to eps (median, 80th percentile, max),
// the held-out curve error (mean |log10 predicted - log10 true|), coverage of
// the 80% intervals, and the choice of m under a simulated clock
// f(m) = 0.02 + 1.5/m + 0.01 ln m + 0.002 m s (issue: the adaptive controller):
// how often the predicted-fastest m is the truly fastest, and the regret.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
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
  int rightM = 0, choices = 0;
  std::vector<double> regrets;
  std::map<std::string, int> forms;
};

void printTally(const char* name, const Tally& t) {
  std::printf(
      "%s: iterations to eps over %zu cases: median %.1f%%, p80 %.1f%%, max %.1f%%; curve error "
      "%.3f log10 (median of %zu curves); 80%% intervals cover %d of %d (%.0f%%); chosen m = "
      "oracle's %d of %d, max regret %.1f%%; forms chosen:",
      name, t.errors.size(), 100 * ad::median(t.errors), 100 * ad::quantile(t.errors, 0.8),
      t.errors.empty() ? 0.0 : 100 * *std::max_element(t.errors.begin(), t.errors.end()),
      ad::median(t.curveErrors), t.curveErrors.size(), t.covered, t.intervals,
      t.intervals ? 100.0 * t.covered / t.intervals : 0.0, t.rightM, t.choices,
      t.regrets.empty() ? 0.0 : 100 * *std::max_element(t.regrets.begin(), t.regrets.end()));
  for (const auto& [form, n] : t.forms) std::printf(" %s %d", form.c_str(), n);
  std::printf("\n");
}

// Fits on `train` curves, predicts the held-out m, and tallies.
void evaluate(const Curves& all, const std::vector<double>& trainMs, double held,
              const std::string& algorithm, Tally& t) {
  std::vector<ad::LossPoint> train;
  for (double m : trainMs) train.insert(train.end(), all.at(m).begin(), all.at(m).end());
  ad::ConvergenceOptions o;
  o.pStar = 0;
  o.algorithm = algorithm;
  const auto g = ad::ConvergenceModel::fit(train, o);
  if (g.status() == ad::FitStatus::kTooFewPoints) return;
  t.forms[g.form()]++;
  const auto& truth = all.at(held);
  double curveError = 0;
  for (const auto& p : truth)
    curveError += std::abs(g.predictLog10(p.iteration, held) - std::log10(p.loss));
  t.curveErrors.push_back(curveError / static_cast<double>(truth.size()));
  for (double eps : {1e-2, 1e-3, 1e-4}) {
    const auto real = firstBelow(truth, eps);
    if (!real || *real < 5) continue;
    const auto predicted = g.iterationsTo(eps, held);
    t.errors.push_back(predicted ? std::abs(*predicted / *real - 1) : 1e9);
    if (const auto interval = g.iterationsInterval(eps, held)) {
      t.intervals++;
      t.covered += interval->first <= *real && *real <= interval->second;
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

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: bench_fidelity gap|primal P_STAR LOG...\n");
    return 2;
  }
  const std::string metric = argv[1];
  const double pStar = metric == "gap" ? 0.0 : std::stod(argv[2]);
  Tally interior, doubling;
  for (int k = 3; k < argc; ++k) {
    Curves curves;
    std::string algorithm;
    for (const auto& r : ad::readJsonlTraces(argv[k])) {
      algorithm = r.algorithm;
      const double v = metric == "gap" ? r.gap.value_or(NAN) : r.loss - pStar;
      if (v > 0) curves[r.machines].push_back({r.machines, r.iteration, v});
    }
    std::vector<double> ms;
    for (const auto& [m, c] : curves) ms.push_back(m);
    for (double held : ms) {
      if (held < 2 || held > 64) continue;
      std::vector<double> train;
      for (double m : ms) {
        if (m != held) train.push_back(m);
      }
      evaluate(curves, train, held, algorithm, interior);
    }
    for (double held : {64.0, 128.0}) {
      if (!curves.count(held)) continue;
      std::vector<double> train;
      for (double m : ms) {
        if (m <= held / 2) train.push_back(m);
      }
      evaluate(curves, train, held, algorithm, doubling);
    }
  }
  std::printf("== metric %s (P* %g) ==\n", metric.c_str(), pStar);
  printTally(
      "RESULT interior m (goals: median <= 5%, p80 <= 15%, max <= 50%; oracle m >= 95%, "
      "regret <= 20%; curve <= 0.10; coverage 75-85%)",
      interior);
  printTally("RESULT one doubling (goals: median <= 10%, p80 <= 25%, max <= 40%; curve <= 0.10)",
             doubling);
  return 0;
}
