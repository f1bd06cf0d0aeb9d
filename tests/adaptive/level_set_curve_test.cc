#include "hemingway/adaptive/level_set_curve.h"

#include <gtest/gtest.h>

#include "decreasing_traces.h"

#include <cmath>
#include <random>

namespace {

namespace ad = hemingway::adaptive;

// y(i, m) = 10^(-i / (c m^s)): iterations to a level L are -L c m^s.
std::vector<ad::LossPoint> powerLawTraces(const std::vector<double>& machines, double c, double s,
                                          int iterations) {
  std::vector<ad::LossPoint> points;
  for (double m : machines) {
    for (int i = 1; i <= iterations; ++i) {
      points.push_back({m, double(i), std::pow(10.0, -i / (c * std::pow(m, s)))});
    }
  }
  return points;
}

TEST(AlgorithmTest, NamesRoundTripAndOthersAreOther) {
  for (const char* name : {"gd", "sgd", "local-sgd", "cocoa", "cocoa+"}) {
    EXPECT_STREQ(ad::algorithmName(ad::algorithmFromName(name)), name);
  }
  EXPECT_EQ(ad::algorithmFromName("adam"), ad::Algorithm::kOther);
  EXPECT_EQ(ad::algorithmFromName("Cocoa"), ad::Algorithm::kOther);
  const auto other = ad::slopeBoundsFor(ad::Algorithm::kOther);
  EXPECT_EQ(other.low, -1);
  EXPECT_EQ(other.high, 1);
}

TEST(LevelSetCurveTest, ExactAtMeasuredMachineCountsAndLogLogBetweenThem) {
  const auto curve = ad::LevelSetCurve::fit(powerLawTraces({2, 8}, 10, 0.5, 200),
                                            ad::slopeBoundsFor(ad::Algorithm::kCocoa));
  ASSERT_TRUE(curve.usable());
  // Level -3 is reached at i = 30 sqrt(m): 42.4 at m = 2, 84.9 at m = 8, 60 at m = 4.
  EXPECT_NEAR(std::pow(10.0, curve.log10IterationsTo(-3, 2)), 30 * std::sqrt(2.0), 0.5);
  EXPECT_NEAR(std::pow(10.0, curve.log10IterationsTo(-3, 8)), 30 * std::sqrt(8.0), 0.5);
  EXPECT_NEAR(std::pow(10.0, curve.log10IterationsTo(-3, 4)), 60, 1.0);
}

TEST(LevelSetCurveTest, ExtrapolationInMachinesIsBoundedPerAlgorithm) {
  // Iterations grow as m^2 here, faster than CoCoA's theory allows (m^1).
  const auto points = powerLawTraces({1, 2}, 10, 2, 400);
  const auto cocoa = ad::LevelSetCurve::fit(points, ad::slopeBoundsFor(ad::Algorithm::kCocoa));
  // From m = 2 (level -2 at i = 80) to m = 8: at most linear, 320, not 1280.
  EXPECT_NEAR(std::pow(10.0, cocoa.log10IterationsTo(-2, 8)), 320, 5);
  const auto gd = ad::LevelSetCurve::fit(points, ad::slopeBoundsFor(ad::Algorithm::kGd));
  EXPECT_NEAR(std::pow(10.0, gd.log10IterationsTo(-2, 8)), 80, 2);
}

TEST(LevelSetCurveTest, NeverRisesAndNeverAboveTheStartForNoisyDecreasingTraces) {
  std::mt19937_64 rng(7);
  for (int trial = 0; trial < 20; ++trial) {
    const auto traces = ad::testing::decreasingTraces(trial, rng);
    const auto curve =
        ad::LevelSetCurve::fit(traces.points, ad::slopeBoundsFor(ad::Algorithm::kCocoaPlus));
    ad::testing::expectNeverRisesNorAboveStart(
        [&](double i, double m) { return curve.predictLog10(i, m); }, traces.startLog10, 2000);
  }
}

TEST(LevelSetCurveTest, ConvergenceModelChoosesItsFormByHeldOutError) {
  // Knee-shaped traces no Lasso term matches well: a fast phase, then a slow
  // tail whose level rises with m.
  std::vector<ad::LossPoint> points;
  for (double m : {1.0, 2.0, 4.0, 8.0, 16.0}) {
    for (int i = 1; i <= 300; ++i) {
      points.push_back(
          {m, double(i), std::exp(-0.3 * i / m) + 1e-3 * std::sqrt(m) * std::pow(i, -0.7)});
    }
  }
  ad::ConvergenceOptions o;
  o.pStar = 0;
  o.algorithm = ad::Algorithm::kCocoaPlus;
  const auto model = ad::ConvergenceModel::fit(points, o);
  ASSERT_NE(model.status(), ad::FitStatus::kTooFewPoints) << model.problem();
  EXPECT_TRUE(model.form() == ad::Form::kLevelSet || model.form() == ad::Form::kLasso ||
              model.form() == ad::Form::kShape);
  ASSERT_TRUE(model.heldOutError().has_value());
  EXPECT_GT(model.heldOutCases(), 0u);
  // The chosen form predicts a measured curve's iterations well.
  const auto it = model.iterationsTo(std::exp(-0.3 * 40 / 4.0), 4);
  ASSERT_TRUE(it.has_value());
  EXPECT_NEAR(*it, 40, 6);
  // The knee: the fast phase is steep in log-log, the tail flat.
  EXPECT_FALSE(model.kneeAt(std::exp(-0.3 * 20 / 4.0), 4));
  EXPECT_TRUE(model.kneeAt(5e-5, 4));
  // Between the measured 4 and 8 (its nearest measured count is 4, whose
  // curve flags the knee).
  EXPECT_TRUE(model.kneeAt(5e-5, 5));
  const auto steep = model.iterationsInterval(std::exp(-0.3 * 20 / 4.0), 5);
  const auto flat = model.iterationsInterval(5e-5, 5);
  ASSERT_TRUE(steep && flat);
  EXPECT_GT(flat->second / flat->first, steep->second / steep->first) << "widened at the knee";
  // At a measured m within its trace: the measured iterations themselves.
  const auto atFour = model.iterationsInterval(5e-5, 4);
  const auto measured = model.iterationsTo(5e-5, 4);
  ASSERT_TRUE(atFour && measured);
  EXPECT_EQ(atFour->first, *measured);
  EXPECT_EQ(atFour->second, *measured);
  o.chooseForm = false;
  EXPECT_EQ(ad::ConvergenceModel::fit(points, o).form(), ad::Form::kLasso);
}

TEST(LevelSetCurveTest, KneeAndSteepTargetsEachTakeTheirOwnHeldOutErrors) {
  // A steep phase exp(-i / m), whose iterations to a level grow exactly as m
  // (interpolated without error in log m), and a flat tail whose level
  // depends on m in no power law (interpolated with error).
  std::vector<ad::LossPoint> points;
  for (double m : {1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0}) {
    for (int i = 1; i <= 2000; ++i) {
      const double tail = 1e-3 * (1 + m * m / 50) * std::pow(i, -0.5);
      points.push_back({m, double(i), std::exp(-double(i) / m) + tail});
    }
  }
  ad::ConvergenceOptions o;
  o.pStar = 0;
  o.algorithm = ad::Algorithm::kCocoaPlus;
  const auto model = ad::ConvergenceModel::fit(points, o);
  ASSERT_TRUE(model.heldOutError().has_value()) << model.problem();
  // Reached at the nearest measured count (16) on the tail, where it is flat.
  const double steepTarget = std::exp(-5.0), flatTarget = 2e-4;
  ASSERT_FALSE(model.kneeAt(steepTarget, 12));
  ASSERT_TRUE(model.kneeAt(flatTarget, 12));
  const auto steep = model.iterationsInterval(steepTarget, 12);
  const auto flat = model.iterationsInterval(flatTarget, 12);
  ASSERT_TRUE(steep && flat);
  // The steep target's interval holds the steep phase's small errors only
  // (from all held-out errors together it was [47, 63] around 62).
  EXPECT_LT(steep->second / steep->first, 1.2);
  EXPECT_GT(flat->second / flat->first, steep->second / steep->first);
  // The loss after i iterations, on the steep phase and on the tail: its
  // interval holds the prediction and the truth at m = 12.
  for (double i : {30.0, 300.0}) {
    const auto band = model.lossInterval(i, 12);
    ASSERT_TRUE(band.has_value());
    const double predicted = model.predictLoss(i, 12);
    EXPECT_LE(band->first, predicted);
    EXPECT_GE(band->second, predicted);
    EXPECT_LT(band->first, band->second) << "i = " << i;
    const double truth = std::exp(-i / 12) + 1e-3 * (1 + 144.0 / 50) * std::pow(i, -0.5);
    EXPECT_LE(band->first, truth) << "i = " << i;
    EXPECT_GE(band->second, truth) << "i = " << i;
  }
}

// Iterations to a level grow exactly as m from m = 4 on, but m = 2 needs a
// fifth of what the trend says. Extrapolating upward (32 from m <= 16, 16
// from m <= 8) is then exact, and downward (2 from m >= 4) is not: the
// interval above the measured counts takes the upward errors alone, the one
// below the downward ones (together, the interval at m = 64 was as wide as
// the one at m = 1).
TEST(LevelSetCurveTest, IntervalsBeyondTheCountsTakeTheErrorsOfTheirOwnSide) {
  std::vector<ad::LossPoint> points;
  for (double m : {2.0, 4.0, 8.0, 16.0, 32.0}) {
    const double scale = m == 2 ? 0.2 * m : m;
    for (int i = 1; i <= 60 * static_cast<int>(m); ++i) {
      points.push_back({m, double(i), std::pow(10.0, -i / (10 * scale))});
    }
  }
  ad::ConvergenceOptions o;
  o.pStar = 0;
  o.algorithm = ad::Algorithm::kCocoa;
  o.chooseForm = true;
  const auto model = ad::ConvergenceModel::fit(points, o);
  ASSERT_TRUE(model.heldOutError().has_value()) << model.problem();
  const auto above = model.iterationsInterval(1e-3, 64);
  const auto below = model.iterationsInterval(1e-3, 1);
  ASSERT_TRUE(above && below);
  EXPECT_LT(above->second / above->first, 1.05) << above->first << " " << above->second;
  EXPECT_GT(below->second / below->first, 1.5) << below->first << " " << below->second;
}

// Held-out errors are made with a measured count missing, across twice the
// gap (or more) between the counts that predict it. Between consecutive
// measured counts (m = 3: gap ln 2) the interval is then narrower than across
// the gap from 16 to 64 (m = 32: ln 4), where a held-out case's own gap was.
TEST(LevelSetCurveTest, IntervalsBetweenCountsScaleWithTheGapAroundM) {
  // Iterations to a level: 10 m^0.5 e^(0.3 sin(2 ln m)), no power of m.
  std::vector<ad::LossPoint> points;
  for (double m : {1.0, 2.0, 4.0, 8.0, 16.0, 64.0}) {
    const double c = 10 * std::sqrt(m) * std::exp(0.3 * std::sin(2 * std::log(m)));
    for (int i = 1; i <= static_cast<int>(6 * c); ++i) {
      points.push_back({m, double(i), std::pow(10.0, -i / c)});
    }
  }
  ad::ConvergenceOptions o;
  o.pStar = 0;
  o.algorithm = ad::Algorithm::kCocoa;
  const auto model = ad::ConvergenceModel::fit(points, o);
  ASSERT_TRUE(model.heldOutError().has_value()) << model.problem();
  ASSERT_FALSE(model.kneeAt(1e-3, 3));
  ASSERT_FALSE(model.kneeAt(1e-3, 32));
  const auto narrow = model.iterationsInterval(1e-3, 3);
  const auto wide = model.iterationsInterval(1e-3, 32);
  ASSERT_TRUE(narrow && wide);
  const double narrowWidth = std::log(narrow->second / narrow->first);
  const double wideWidth = std::log(wide->second / wide->first);
  EXPECT_GT(narrowWidth, 0);
  EXPECT_GT(wideWidth, 1.5 * narrowWidth) << narrowWidth << " " << wideWidth;
}

}  // namespace
