#include "hemingway/adaptive/solvers.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

namespace hemingway::adaptive {
namespace {

Eigen::MatrixXd randomMatrix(int rows, int cols, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal;
  Eigen::MatrixXd m(rows, cols);
  for (int i = 0; i < rows; ++i) {
    for (int j = 0; j < cols; ++j) m(i, j) = normal(rng);
  }
  return m;
}

TEST(NnlsTest, ClampsNegativeCoefficientToZero) {
  // Hand-computed: A = I, b = (1, -2) -> x = (1, 0).
  auto r = nnls(Eigen::MatrixXd::Identity(2, 2), Eigen::Vector2d(1, -2));
  EXPECT_EQ(r.status, FitStatus::kConverged);
  EXPECT_NEAR(r.x[0], 1, 1e-12);
  EXPECT_EQ(r.x[1], 0);
  EXPECT_NEAR(r.residualNorm, 2, 1e-12);
}

TEST(NnlsTest, SatisfiesKktConditions) {
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    const auto a = randomMatrix(30, 6, seed);
    // Not auto: that would be a block of the destroyed temporary.
    const Eigen::VectorXd b = randomMatrix(30, 1, seed + 100).col(0);
    auto r = nnls(a, b);
    ASSERT_EQ(r.status, FitStatus::kConverged) << "seed " << seed;
    const Eigen::VectorXd gradient = a.transpose() * (a * r.x - b);
    for (int j = 0; j < 6; ++j) {
      EXPECT_GE(r.x[j], 0.0);
      EXPECT_GE(gradient[j], -1e-9) << "seed " << seed << " j " << j;  // no descent direction
      if (r.x[j] > 0) EXPECT_NEAR(gradient[j], 0.0, 1e-9);             // complementary slackness
    }
  }
}

TEST(NnlsTest, EqualsLeastSquaresWhenThatIsNonNegative) {
  const auto a = randomMatrix(40, 4, 3);
  const Eigen::Vector4d truth(1, 2, 0.5, 3);
  const Eigen::VectorXd b = a * truth;
  auto r = nnls(a, b);
  EXPECT_EQ(r.status, FitStatus::kConverged);
  EXPECT_TRUE(r.x.isApprox(truth, 1e-10)) << r.x.transpose();
}

TEST(NnlsTest, NoRowsIsTooFewPoints) {
  auto r = nnls(Eigen::MatrixXd(0, 3), Eigen::VectorXd(0));
  EXPECT_EQ(r.status, FitStatus::kTooFewPoints);
}

TEST(LassoTest, LambdaAtOrAboveLambdaMaxGivesAllZeros) {
  const auto x = randomMatrix(50, 5, 4);
  const Eigen::VectorXd y = x.col(0) * 2 + x.col(3) + randomMatrix(50, 1, 5).col(0) * 0.1;
  Lasso lasso(x, y);
  for (double f : {1.0, 1.5, 10.0}) {
    auto fit = lasso.fit(lasso.lambdaMax() * f);
    EXPECT_EQ(fit.status, FitStatus::kConverged);
    EXPECT_EQ(fit.beta.cwiseAbs().maxCoeff(), 0.0) << "lambda = " << f << " lambda_max";
    EXPECT_NEAR(fit.intercept, y.mean(), 1e-12);
  }
  // Just below lambda_max one coefficient is active.
  EXPECT_GT(lasso.fit(lasso.lambdaMax() * 0.99).beta.cwiseAbs().maxCoeff(), 0.0);
}

TEST(LassoTest, LambdaZeroIsLeastSquares) {
  const auto x = randomMatrix(60, 4, 6);
  const Eigen::VectorXd y = randomMatrix(60, 1, 7).col(0);
  auto fit = Lasso(x, y).fit(0.0);
  EXPECT_EQ(fit.status, FitStatus::kConverged);
  Eigen::MatrixXd withIntercept(60, 5);
  withIntercept << Eigen::VectorXd::Ones(60), x;
  const Eigen::VectorXd ls = withIntercept.colPivHouseholderQr().solve(y);
  EXPECT_NEAR(fit.intercept, ls[0], 1e-6);
  for (int j = 0; j < 4; ++j) EXPECT_NEAR(fit.beta[j], ls[j + 1], 1e-6);
}

TEST(LassoTest, PathIsLogSpacedLikeScikitLearn) {
  const auto x = randomMatrix(20, 3, 8);
  Lasso lasso(x, x.col(1));
  const auto path = lasso.path();
  ASSERT_EQ(path.size(), 100u);
  EXPECT_DOUBLE_EQ(path.front(), lasso.lambdaMax());
  EXPECT_NEAR(path.back(), 1e-3 * lasso.lambdaMax(), 1e-15);
  EXPECT_NEAR(path[1] / path[0], path[50] / path[49], 1e-12);
}

TEST(CrossValidationTest, FoldsAreReproducibleFromTheSeed) {
  const auto a = kFolds(103, 5, 42), b = kFolds(103, 5, 42), c = kFolds(103, 5, 43);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  std::vector<int> sizes(5, 0);
  for (int f : a) sizes[f]++;
  for (int s : sizes) EXPECT_TRUE(s == 20 || s == 21) << s;
}

TEST(CrossValidationTest, GroupFoldsLeaveOneGroupOut) {
  const auto folds = groupFolds({4, 1, 2, 1, 4, 8});
  EXPECT_EQ(folds, (std::vector<int>{2, 0, 1, 0, 2, 3}));
}

TEST(LassoCvTest, RecoversSparseCoefficientsFromNoisyData) {
  // y = 3 + 2 x0 - 1.5 x2 + noise(0.05) with 8 candidate features.
  const auto x = randomMatrix(200, 8, 9);
  std::mt19937_64 rng(10);
  std::normal_distribution<double> noise(0, 0.05);
  Eigen::VectorXd y(200);
  for (int i = 0; i < 200; ++i) y[i] = 3 + 2 * x(i, 0) - 1.5 * x(i, 2) + noise(rng);
  auto cv = lassoCv(x, y, kFolds(200, 5, 1));
  ASSERT_EQ(cv.fit.status, FitStatus::kConverged);
  // Stated tolerance: 0.05 on each true coefficient, 0.05 on each absent one.
  EXPECT_NEAR(cv.fit.intercept, 3, 0.05);
  EXPECT_NEAR(cv.fit.beta[0], 2, 0.05);
  EXPECT_NEAR(cv.fit.beta[2], -1.5, 0.05);
  for (int j : {1, 3, 4, 5, 6, 7}) EXPECT_LT(std::abs(cv.fit.beta[j]), 0.05) << j;
}

TEST(LassoCvTest, OneFoldIsTooFewPoints) {
  const auto x = randomMatrix(10, 2, 11);
  auto cv = lassoCv(x, x.col(0), std::vector<int>(10, 0));
  EXPECT_EQ(cv.fit.status, FitStatus::kTooFewPoints);
}

// y = a exp(b x) + c from noiseless samples, started well away from the truth.
TEST(LevenbergMarquardtTest, RecoversANonlinearModel) {
  const double a = 2.5, b = -0.7, c = 0.3;
  std::vector<double> xs, ys;
  for (int k = 0; k < 40; ++k) {
    xs.push_back(0.1 * k);
    ys.push_back(a * std::exp(b * xs.back()) + c);
  }
  const ResidualFunction f = [&](const Eigen::VectorXd& t, Eigen::VectorXd& r, Eigen::MatrixXd& j) {
    r.resize(40);
    j.resize(40, 3);
    for (int k = 0; k < 40; ++k) {
      const double e = std::exp(t[1] * xs[k]);
      r[k] = t[0] * e + t[2] - ys[k];
      j.row(k) << e, t[0] * xs[k] * e, 1;
    }
    return true;
  };
  const auto result = levenbergMarquardt(f, Eigen::Vector3d(1, -0.2, 0));
  ASSERT_EQ(result.status, FitStatus::kConverged)
      << result.iterations << " " << result.sumOfSquares << " " << result.x.transpose();
  EXPECT_NEAR(result.x[0], a, 1e-4);
  EXPECT_NEAR(result.x[1], b, 1e-4);
  EXPECT_NEAR(result.x[2], c, 1e-4);
  EXPECT_LT(result.sumOfSquares, 1e-10);
}

TEST(LevenbergMarquardtTest, AStartOutsideTheDomainOrTooFewResidualsIsTooFewPoints) {
  const ResidualFunction outside = [](const Eigen::VectorXd&, Eigen::VectorXd&, Eigen::MatrixXd&) {
    return false;
  };
  EXPECT_EQ(levenbergMarquardt(outside, Eigen::Vector2d(1, 1)).status, FitStatus::kTooFewPoints);
  const ResidualFunction one = [](const Eigen::VectorXd& t, Eigen::VectorXd& r,
                                  Eigen::MatrixXd& j) {
    r = Eigen::VectorXd::Constant(1, t[0] + t[1]);
    j = Eigen::MatrixXd::Ones(1, 2);
    return true;
  };
  EXPECT_EQ(levenbergMarquardt(one, Eigen::Vector2d(1, 1)).status, FitStatus::kTooFewPoints);
}

}  // namespace
}  // namespace hemingway::adaptive
