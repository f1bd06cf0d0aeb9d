#include "hemingway/adaptive/system_model.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

namespace hemingway::adaptive {
namespace {

// Iteration times of f(m) = 2 + 40/m + 1.5 log m + 0.3 m (ms, size 1) with 3%
// noise and 10% stragglers that take 3x as long.
std::vector<TimingPoint> synthetic(const std::vector<int>& machines, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> noise(1.0, 0.03);
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<TimingPoint> points;
  for (int m : machines) {
    const double truth = 2 + 40.0 / m + 1.5 * std::log(m) + 0.3 * m;
    for (int s = 0; s < 41; ++s) {
      const double straggle = u(rng) < 0.1 ? 3.0 : 1.0;
      points.push_back({double(m), 1.0, truth * noise(rng) * straggle});
    }
  }
  return points;
}

TEST(SystemModelTest, RecoversKnownParametersDespiteStragglers) {
  auto model = SystemModel::fit(synthetic({1, 2, 3, 4, 6, 8, 12, 16, 24, 32}, 1));
  ASSERT_EQ(model.status(), FitStatus::kConverged) << model.problem();
  const Eigen::Vector4d truth(2, 40, 1.5, 0.3);
  // Stated tolerance: each parameter within 15% of its scale (medians of 41 samples, 3% noise).
  EXPECT_NEAR(model.theta()[1], truth[1], 0.15 * truth[1]);
  EXPECT_NEAR(model.theta()[3], truth[3], 0.15 * truth[3]);
  for (int m : {1, 5, 20}) {
    const double want = 2 + 40.0 / m + 1.5 * std::log(m) + 0.3 * m;
    EXPECT_NEAR(model.predictSeconds(m), want, 0.05 * want) << "m = " << m;
  }
  EXPECT_GT(model.rSquared(), 0.99);
}

TEST(SystemModelTest, ThetaIsNonNegative) {
  // Times that grow with m would need a negative 1/m term: NNLS clamps it.
  std::vector<TimingPoint> points;
  for (int m = 1; m <= 8; ++m) points.push_back({double(m), 1, 1.0 + 0.5 * m});
  auto model = SystemModel::fit(points);
  EXPECT_GE(model.theta().minCoeff(), 0.0);
  EXPECT_NEAR(model.predictSeconds(4), 3.0, 1e-6);
}

TEST(SystemModelTest, IntervalCoversTheTruthAndFlagsExtrapolation) {
  auto model = SystemModel::fit(synthetic({1, 2, 4, 8}, 2));
  const auto inside = model.predict(4);
  const double truth = 2 + 10 + 1.5 * std::log(4) + 1.2;
  EXPECT_LE(inside.low, truth * 1.03);
  EXPECT_GE(inside.high, truth * 0.97);
  EXPECT_FALSE(inside.extrapolated);
  const auto outside = model.predict(64);
  EXPECT_TRUE(outside.extrapolated);
  EXPECT_LE(outside.low, outside.value);
  EXPECT_GE(outside.high, outside.value);
}

TEST(SystemModelTest, SingleMachineCountCannotIdentifyTheModel) {
  auto model = SystemModel::fit(synthetic({4}, 3));
  EXPECT_EQ(model.status(), FitStatus::kTooFewPoints);
  EXPECT_NE(model.problem().find("machine count"), std::string::npos) << model.problem();
  EXPECT_EQ(SystemModel::fit({}).status(), FitStatus::kTooFewPoints);
}

TEST(SystemModelTest, ExtraTermsPlugInThroughTheFeatureList) {
  SystemModelOptions options;
  options.features = ernestFeatures();
  options.features.push_back({"m log m", [](double m, double) { return m * std::log(m); }});
  std::vector<TimingPoint> points;
  for (int m = 1; m <= 12; ++m) points.push_back({double(m), 1, 5 + 0.2 * m * std::log(m)});
  auto model = SystemModel::fit(points, options);
  ASSERT_EQ(model.theta().size(), 5);
  EXPECT_NEAR(model.theta()[4], 0.2, 0.02);
  EXPECT_NEAR(model.predictSeconds(10), 5 + 2 * std::log(10), 0.05);
}

}  // namespace
}  // namespace hemingway::adaptive
