#include "hemingway/adaptive/shape_curve.h"

#include <gtest/gtest.h>

#include "decreasing_traces.h"

#include <cmath>
#include <functional>
#include <random>
#include <vector>

namespace {

namespace ad = hemingway::adaptive;

// The shape family itself: a fast phase exp(-(r i)^q) with r falling faster
// than 1/m (ln r quadratic in ln m), then a tail 1e-3 sqrt(m) i^-0.7.
double family(double i, double m) {
  const double lm = std::log(m);
  const double r = 0.3 * std::exp(-lm - 0.1 * lm * lm);
  return std::exp(-std::pow(r * i, 0.9)) + 1e-3 * std::sqrt(m) * std::pow(i, -0.7);
}

std::vector<ad::LossPoint> familyTraces(const std::vector<double>& machines, int iterations) {
  std::vector<ad::LossPoint> points;
  for (double m : machines) {
    for (int i = 1; i <= iterations; ++i) points.push_back({m, double(i), family(i, m)});
  }
  return points;
}

TEST(ShapeCurveTest, RecoversItsFamilyAtAnUnseenMachineCount) {
  const auto curve = ad::ShapeCurve::fit(familyTraces({1, 2, 4, 16, 32}, 400));
  ASSERT_TRUE(curve.usable());
  EXPECT_LT(curve.rmsLog10(), 0.01);
  // m = 8 was not seen. Stated tolerance: 0.05 log10 along the curve, 5% in
  // the iterations to a level on the fast phase and on the tail.
  for (double i : {1.0, 10.0, 40.0, 100.0, 400.0}) {
    EXPECT_NEAR(curve.predictLog10(i, 8), std::log10(family(i, 8)), 0.05) << "i = " << i;
  }
  for (double i : {30.0, 300.0}) {
    const double level = std::log10(family(i, 8));
    EXPECT_NEAR(std::pow(10.0, curve.log10IterationsTo(level, 8)), i, 0.05 * i) << "i = " << i;
  }
}

TEST(ShapeCurveTest, NeverRisesAndNeverAboveTheStartForNoisyDecreasingTraces) {
  std::mt19937_64 rng(11);
  for (int trial = 0; trial < 10; ++trial) {
    const auto traces = ad::testing::decreasingTraces(trial, rng);
    const auto curve = ad::ShapeCurve::fit(traces.points);
    ASSERT_TRUE(curve.usable()) << "trial " << trial;
    ad::testing::expectNeverRisesNorAboveStart(
        [&](double i, double m) { return curve.predictLog10(i, m); }, traces.startLog10, 1e5);
  }
}

TEST(ShapeCurveTest, TooFewPointsIsNotUsable) {
  EXPECT_FALSE(ad::ShapeCurve::fit(familyTraces({1, 2}, 5)).usable());
}

// Sparse machine counts whose iterations to a level are not a power of m:
// interpolating the measured curves in log m errs, the shape form does not.
// It serves between the measured counts; at a measured count its own curve
// and beyond the counts the bounded extrapolation (level-set) serve.
TEST(ShapeCurveTest, ConvergenceModelChoosesTheShapeFormWhereItPredictsHeldOutCountsBest) {
  ad::ConvergenceOptions o;
  o.pStar = 0;
  o.algorithm = ad::Algorithm::kCocoaPlus;
  const auto model = ad::ConvergenceModel::fit(familyTraces({1, 4, 16, 64, 256}, 3000), o);
  ASSERT_NE(model.status(), ad::FitStatus::kTooFewPoints) << model.problem();
  const auto& errors = model.heldOutErrors();
  using ad::Form;
  ASSERT_TRUE(errors.count(Form::kShape) && errors.count(Form::kLevelSet) &&
              errors.count(Form::kLasso));
  EXPECT_LT(errors.at(Form::kShape), errors.at(Form::kLevelSet));
  EXPECT_LT(errors.at(Form::kShape), errors.at(Form::kLasso));
  EXPECT_EQ(model.form(), Form::kShape);
  EXPECT_EQ(model.formAt(8), Form::kShape);
  EXPECT_EQ(model.formAt(16), Form::kLevelSet);
  EXPECT_EQ(model.formAt(512), Form::kLevelSet);
  // At m = 8, never measured: within 5% of the truth's iterations to 1e-2.
  double truth = 1;
  while (family(truth, 8) > 1e-2) ++truth;
  const auto predicted = model.iterationsTo(1e-2, 8);
  ASSERT_TRUE(predicted.has_value());
  EXPECT_NEAR(*predicted, truth, 0.05 * truth);
}

// Curves no fast phase and no tail describe (flat, rising, a cliff to 1e-12)
// give a usable fit or none, and never a non-finite prediction.
TEST(ShapeCurveTest, CurvesOfNoShapeGiveFinitePredictionsOrNoFit) {
  const std::vector<std::function<double(double, double)>> shapes = {
      [](double, double) { return 0.5; },
      [](double i, double m) { return 0.1 + 1e-3 * i * m; },
      [](double i, double) { return i < 20 ? 1.0 : 1e-12; },
  };
  for (std::size_t k = 0; k < shapes.size(); ++k) {
    std::vector<ad::LossPoint> points;
    for (double m : {1.0, 2.0, 4.0, 8.0}) {
      for (int i = 1; i <= 100; ++i) points.push_back({m, double(i), shapes[k](i, m)});
    }
    const auto curve = ad::ShapeCurve::fit(points);
    if (!curve.usable()) continue;
    for (double m : {1.0, 3.0, 16.0}) {
      for (double i : {1.0, 10.0, 1e3, 1e6}) {
        EXPECT_TRUE(std::isfinite(curve.predictLog10(i, m))) << "shape " << k << " i " << i;
      }
      const double to = curve.log10IterationsTo(-3, m);
      EXPECT_FALSE(std::isnan(to)) << "shape " << k;
    }
  }
}

}  // namespace
