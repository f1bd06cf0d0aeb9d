// The numeric core's solvers: non-negative least squares (Lawson-Hanson),
// Lasso by coordinate descent along a lambda path, cross-validation folds and
// nonlinear least squares (Levenberg-Marquardt).
// Eigen only. A numerical outcome is a value: fits return a status.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include <Eigen/Dense>

namespace hemingway::adaptive {

enum class FitStatus { kConverged, kNotConverged, kTooFewPoints };
const char* statusName(FitStatus status);

struct NnlsResult {
  Eigen::VectorXd x;
  FitStatus status = FitStatus::kNotConverged;
  int iterations = 0;
  double residualNorm = 0;  // |A x - b|
};

// min |A x - b| subject to x >= 0, by the Lawson-Hanson active-set method.
// kTooFewPoints when A has no rows. `maxIterations` 0 means 3 * columns.
NnlsResult nnls(const Eigen::MatrixXd& a, const Eigen::VectorXd& b, int maxIterations = 0);

struct LassoOptions {
  int pathLength = 100;     // lambdas, log-spaced from lambda_max down
  double pathRatio = 1e-3;  // lambda_min = pathRatio * lambda_max (scikit-learn's default)
  int maxSweeps = 10000;    // coordinate-descent sweeps per lambda
  double tolerance = 1e-7;  // stop when no coefficient moves more than this (standardized)
};

// A Lasso fit in the original feature units: y ~ intercept + X beta.
struct LassoFit {
  double lambda = 0;
  double intercept = 0;
  Eigen::VectorXd beta;
  FitStatus status = FitStatus::kNotConverged;
  Eigen::VectorXd predict(const Eigen::MatrixXd& x) const;
};

// Minimizes 1/(2n) |y - b0 - Z beta|^2 + lambda |beta|_1 over standardized
// features Z (centered, unit variance; constant columns get beta = 0).
// Coordinate descent runs on the Gram matrix Z^T Z, so a sweep costs
// O(features^2) whatever the number of points.
class Lasso {
 public:
  Lasso(const Eigen::MatrixXd& x, const Eigen::VectorXd& y, LassoOptions options = {});
  // The smallest lambda with an all-zero solution.
  double lambdaMax() const { return lambdaMax_; }
  // The log-spaced path of options.pathLength lambdas from lambdaMax().
  std::vector<double> path() const;
  // Fits along `lambdas` (decreasing), each warm-started from the previous.
  std::vector<LassoFit> fitPath(const std::vector<double>& lambdas) const;
  LassoFit fit(double lambda) const { return fitPath({lambda}).front(); }

 private:
  LassoFit toOriginalUnits(double lambda, const Eigen::VectorXd& b, FitStatus status) const;
  LassoOptions options_;
  Eigen::Index n_ = 0;
  Eigen::MatrixXd gram_;  // Z^T Z / n of the standardized features Z
  Eigen::VectorXd zty_;   // Z^T y / n of the centered target
  Eigen::VectorXd mean_, scale_;
  double yMean_ = 0;
  double lambdaMax_ = 0;
};

// Fold index (0..k-1) of each of n points: a seeded shuffle dealt round-robin.
std::vector<int> kFolds(int n, int k, std::uint64_t seed);
// One fold per distinct group value (e.g. leave-one-m-out), in increasing order of value.
std::vector<int> groupFolds(const std::vector<double>& groups);

struct LassoCvResult {
  LassoFit fit;                   // refitted on all points at the chosen lambda
  std::vector<double> lambdas;    // the path
  std::vector<double> meanError;  // mean held-out squared error per lambda
  int chosen = 0;                 // index into lambdas
};

// Chooses lambda on the path by the mean held-out squared error over `folds`.
// kTooFewPoints when there are fewer than two folds or points than features + 1.
LassoCvResult lassoCv(const Eigen::MatrixXd& x, const Eigen::VectorXd& y,
                      const std::vector<int>& folds, LassoOptions options = {});

struct LeastSquaresOptions {
  int maxIterations = 200;
  // Stop when the sum of squares falls by less than this (relative), or the
  // step is this small relative to x.
  double tolerance = 1e-10;
};

struct LeastSquaresResult {
  Eigen::VectorXd x;
  double sumOfSquares = 0;
  FitStatus status = FitStatus::kNotConverged;
  int iterations = 0;
};

// Residuals r(x) and their Jacobian J(x) (rows: residuals, columns: x) at x;
// false when x is outside the function's domain (the step is rejected).
using ResidualFunction =
    std::function<bool(const Eigen::VectorXd& x, Eigen::VectorXd& r, Eigen::MatrixXd& j)>;

// min |r(x)|^2 from x0 by Levenberg-Marquardt (Marquardt's scaling by the
// diagonal of J^T J). kTooFewPoints when r(x0) is not defined or has fewer
// residuals than unknowns.
LeastSquaresResult levenbergMarquardt(const ResidualFunction& residuals, Eigen::VectorXd x0,
                                      LeastSquaresOptions options = {});

}  // namespace hemingway::adaptive
