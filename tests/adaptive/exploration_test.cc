// What trying a machine count is worth (exploration.h), checked against
// numeric integration and against the cost model it bounds.
#include "hemingway/adaptive/exploration.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

namespace hemingway::adaptive {
namespace {

constexpr double kZ80 = 1.2815515655446004;

// E[max(0, best - X)] and P(X > best) by the trapezoid rule over log X ~ N(mu, s).
struct Integrated {
  double gain = 0, worse = 0;
};
Integrated integrate(double best, double median, double s) {
  Integrated out;
  constexpr int kSteps = 200000;
  const double lo = -10, hi = 10, h = (hi - lo) / kSteps;
  for (int k = 0; k <= kSteps; ++k) {
    const double z = lo + k * h;
    const double w =
        (k == 0 || k == kSteps ? 0.5 : 1.0) * h * std::exp(-z * z / 2) / std::sqrt(2 * M_PI);
    const double x = median * std::exp(s * z);
    out.gain += w * std::max(0.0, best - x);
    out.worse += w * (x > best ? 1.0 : 0.0);
  }
  return out;
}

TEST(ExplorationTest, ExpectedImprovementMatchesIntegration) {
  for (const double median : {50.0, 100.0, 200.0}) {
    for (const double ratio : {1.2, 2.0, 10.0}) {  // high / median = median / low
      const double s = std::log(ratio) / kZ80;
      const Lognormal x{median, median / ratio, median * ratio};
      const auto want = integrate(100, median, s);
      EXPECT_NEAR(expectedImprovement(100, x), want.gain, 1e-3 * (1 + want.gain))
          << median << " " << ratio;
      EXPECT_NEAR(chanceWorse(100, x), want.worse, 1e-3) << median << " " << ratio;
    }
  }
  // Certain and worse: nothing to gain; certain and better: the difference.
  EXPECT_NEAR(expectedImprovement(100, {120, 120, 120}), 0.0, 1e-9);
  EXPECT_NEAR(expectedImprovement(100, {80, 80, 80}), 20.0, 1e-6);
  EXPECT_NEAR(chanceWorse(100, {120, 120, 120}), 1.0, 1e-9);
}

TEST(ExplorationTest, NormalImprovementMatchesItsClosedForm) {
  // X ~ N(1, 1 / kZ80^2 * 1): interval [0, 2]; best 1: E[max(0, 1 - X)] = s / sqrt(2 pi).
  const Lognormal x{1, 0, 2};
  const double s = 1 / kZ80;
  EXPECT_NEAR(expectedImprovementNormal(1, x), s / std::sqrt(2 * M_PI), 1e-9);
  EXPECT_NEAR(chanceWorseNormal(1, x), 0.5, 1e-12);
  EXPECT_NEAR(chanceWorseNormal(3, x), 0.5 * std::erfc(2 / s / std::sqrt(2.0)), 1e-12);
}

// For any f = t0 + t1/m + t2 ln m + t3 m with t >= 0, the bounds from one
// measured count hold f at every other count.
TEST(ExplorationTest, SecondsBoundsHoldEveryErnestShapedF) {
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> u(0, 1);
  std::uniform_int_distribution<int> count(1, 128);
  for (int k = 0; k < 20000; ++k) {
    const double t[4] = {u(rng) * u(rng), u(rng), u(rng) * 0.1, u(rng) * u(rng) * 0.01};
    const auto f = [&](double m) { return t[0] + t[1] / m + t[2] * std::log(m) + t[3] * m; };
    const double m0 = count(rng), m = count(rng);
    const auto b = secondsBoundsFrom(f(m0), m0, m);
    EXPECT_LE(b.low, f(m) * (1 + 1e-12)) << m0 << " -> " << m;
    EXPECT_GE(b.high, f(m) * (1 - 1e-12)) << m0 << " -> " << m;
  }
}

TEST(ExplorationTest, TheFirstCountFollowsTheSlopeBounds) {
  for (const int maxWorkers : {2, 16, 128}) {
    const int cocoa = firstCountFromBounds(1, maxWorkers, {0, 1});
    const int gd = firstCountFromBounds(1, maxWorkers, {0, 0});
    const int sgd = firstCountFromBounds(1, maxWorkers, {-1, 0});
    for (int m : {cocoa, gd, sgd}) {
      EXPECT_GE(m, 1);
      EXPECT_LE(m, maxWorkers);
    }
    // Iterations that may grow with m start lower; that may fall, higher.
    EXPECT_LE(cocoa, gd) << maxWorkers;
    EXPECT_LE(gd, sgd) << maxWorkers;
  }
  EXPECT_EQ(firstCountFromBounds(4, 4, {0, 1}), 4);
  const int wide = firstCountFromBounds(1, 128, {0, 0});
  EXPECT_GT(wide, 1);
  EXPECT_LT(wide, 128);
}

}  // namespace
}  // namespace hemingway::adaptive
