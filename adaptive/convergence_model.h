// The convergence model: log10(P(i, m) - P*) = sum_j lambda_j phi_j(i, m),
// fitted by Lasso with cross-validation over a library of fractional,
// polynomial and logarithmic terms of the iteration i and machines m and
// their products (convergenceFeatureNames() lists them).
//
// - P* is given (a known optimum or a duality-gap certificate) or estimated
//   by profiling: candidates below the smallest observed value (a log grid of
//   distances), each fitted and scored by its profile likelihood for the
//   observed values (Gaussian noise on log10(P - P*), with the Jacobian of
//   the transform); the most likely is kept.
// - Noisy metrics are smoothed: per m, the median over windows of `window`
//   consecutive iterations, then at most `maxPointsPerMachineCount` points
//   spread log-evenly over the iterations.
// - The metric is any value that falls towards an optimum: training loss,
//   held-out error, a duality gap (with P* = 0).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <Eigen/Dense>

#include "hemingway/adaptive/solvers.h"

namespace hemingway::adaptive {

struct LossPoint {
  double machines = 1;
  double iteration = 1;  // 1 for the first iteration
  double loss = 0;
};

std::vector<std::string> convergenceFeatureNames();
// phi(i, m), in the order of convergenceFeatureNames().
Eigen::RowVectorXd convergenceFeatures(double iteration, double machines);

struct ConvergenceOptions {
  std::optional<double> pStar;  // known optimum; estimated when empty
  int window = 1;
  int maxPointsPerMachineCount = 200;
  int folds = 5;  // k-fold CV over the smoothed points
  std::uint64_t seed = 1;
  LassoOptions lasso;
};

class ConvergenceModel {
 public:
  static ConvergenceModel fit(const std::vector<LossPoint>& points,
                              ConvergenceOptions options = {});

  FitStatus status() const { return status_; }
  const std::string& problem() const { return problem_; }
  double pStar() const { return pStar_; }
  bool pStarEstimated() const { return pStarEstimated_; }
  const LassoFit& lasso() const { return fit_; }
  // R^2 of log10(P - P*) on the smoothed points.
  double rSquared() const { return rSquared_; }
  std::size_t points() const { return points_; }
  double maxObservedIteration() const { return maxIteration_; }
  const std::vector<double>& observedMachines() const { return machines_; }

  double predictLog10(double iteration, double machines) const;
  double predictLoss(double iteration, double machines) const;
  // The first iteration (up to maxIterations) at which the predicted value
  // is <= target; empty when never.
  std::optional<double> iterationsTo(double target, double machines,
                                     double maxIterations = 1e7) const;

 private:
  FitStatus status_ = FitStatus::kTooFewPoints;
  std::string problem_;
  double pStar_ = 0;
  bool pStarEstimated_ = false;
  LassoFit fit_;
  double rSquared_ = 0;
  std::size_t points_ = 0;
  double maxIteration_ = 0;
  std::vector<double> machines_;
};

}  // namespace hemingway::adaptive
