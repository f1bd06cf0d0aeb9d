#include "hemingway/adaptive/exploration.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace hemingway::adaptive {
namespace {

constexpr double kZ80 = 1.2815515655446004;  // the 90th percentile of N(0, 1)

double normalCdf(double z) { return 0.5 * std::erfc(-z / std::sqrt(2.0)); }
double normalPdf(double z) { return std::exp(-0.5 * z * z) / std::sqrt(2 * M_PI); }

// Candidates: every count from min to max when there are few, else steps of
// about a tenth, the ends included.
std::vector<int> countsBetween(int minWorkers, int maxWorkers) {
  std::vector<int> out;
  for (double m = minWorkers; m < maxWorkers; m = std::max(m + 1, std::floor(m * 1.1))) {
    out.push_back(static_cast<int>(m));
  }
  out.push_back(maxWorkers);
  return out;
}

// The standard deviation of log X from its 80% interval.
double logSigma(const Lognormal& x) {
  const double low = x.low > 0 ? std::min(x.low, x.value) : x.value;
  return std::max(1e-9, std::log(std::max(x.high, x.value) / low) / (2 * kZ80));
}

}  // namespace

int firstCountFromBounds(int minWorkers, int maxWorkers, SlopeBounds bounds) {
  const std::vector<int> counts = countsBetween(minWorkers, maxWorkers);
  std::vector<double> worst(counts.size(), 0.0);
  const double lo = std::log(minWorkers / 4.0), hi = std::log(maxWorkers * 4.0);
  constexpr int kBalances = 24;
  for (int k = 0; k <= kBalances; ++k) {
    const double b = std::exp(lo + (hi - lo) * k / kBalances);
    for (const double s : {bounds.low, (bounds.low + bounds.high) / 2, bounds.high}) {
      std::vector<double> time(counts.size());
      for (std::size_t j = 0; j < counts.size(); ++j) {
        const double m = counts[j];
        time[j] = std::pow(m, s) * (1 / m + m / (b * b));
      }
      const double best = *std::min_element(time.begin(), time.end());
      for (std::size_t j = 0; j < counts.size(); ++j) {
        worst[j] = std::max(worst[j], time[j] / best);
      }
    }
  }
  return counts[static_cast<std::size_t>(std::min_element(worst.begin(), worst.end()) -
                                         worst.begin())];
}

SecondsBounds secondsBoundsFrom(double measuredSeconds, double measuredAt, double m) {
  const double r = std::max(m / measuredAt, measuredAt / m);
  // t2 ln m grows faster than m / m0 only where ln m0 is small: widen there.
  const double lnSlack = measuredAt < 3 ? std::max(1.0, std::log(std::max(m, 3.0))) : 1.0;
  return {measuredSeconds / r, measuredSeconds * r * lnSlack};
}

double expectedImprovement(double best, const Lognormal& x) {
  if (!(x.value > 0) || !(best > 0)) return 0;
  const double s = logSigma(x);
  const double mu = std::log(x.value);
  const double d1 = (mu - std::log(best) + s * s) / s;
  const double d2 = d1 - s;
  return std::max(0.0, best * normalCdf(-d2) - std::exp(mu + s * s / 2) * normalCdf(-d1));
}

double chanceWorse(double best, const Lognormal& x) {
  if (!(x.value > 0) || !(best > 0)) return 1;
  const double s = logSigma(x);
  return normalCdf((std::log(x.value) - std::log(best)) / s);
}

double expectedImprovementNormal(double best, const Lognormal& x) {
  const double s = std::max(1e-12, (x.high - x.low) / (2 * kZ80));
  const double z = (best - x.value) / s;
  return std::max(0.0, (best - x.value) * normalCdf(z) + s * normalPdf(z));
}

double chanceWorseNormal(double best, const Lognormal& x) {
  const double s = std::max(1e-12, (x.high - x.low) / (2 * kZ80));
  return normalCdf((x.value - best) / s);
}

}  // namespace hemingway::adaptive
