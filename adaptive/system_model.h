// Ernest's system model: the time of one iteration on m machines,
//   f(m, size) = theta0 + theta1 size/m + theta2 log m + theta3 m,  theta >= 0,
// fitted by NNLS. Extra terms (a straggler term, say) plug in through the
// feature list. Noisy steps are aggregated to the median per (m, size)
// configuration before the fit; a residual bootstrap gives intervals.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <Eigen/Dense>

#include "hemingway/adaptive/solvers.h"

namespace hemingway::adaptive {

// One measured iteration: its wall time on `machines` machines for a job of
// `size` (examples, or any unit of work; 1 when constant).
struct TimingPoint {
  double machines = 1;
  double size = 1;
  double seconds = 0;
};

struct SystemFeature {
  std::string name;
  std::function<double(double machines, double size)> value;
};

// 1, size/m, log m, m.
std::vector<SystemFeature> ernestFeatures();

struct SystemModelOptions {
  std::vector<SystemFeature> features = ernestFeatures();
  int bootstrapSamples = 200;
  double intervalLevel = 0.9;  // central interval of the bootstrap predictions
  std::uint64_t seed = 1;
};

struct Interval {
  double value = 0;
  double low = 0;
  double high = 0;
  bool extrapolated = false;  // outside the observed machine counts or sizes
};

class SystemModel {
 public:
  static SystemModel fit(const std::vector<TimingPoint>& points, SystemModelOptions options = {});

  FitStatus status() const { return status_; }
  // Why the model is not usable, in the user's terms ("" when it is).
  const std::string& problem() const { return problem_; }
  const Eigen::VectorXd& theta() const { return theta_; }
  const std::vector<SystemFeature>& features() const { return options_.features; }
  // R^2 of the fit on the aggregated configurations.
  double rSquared() const { return rSquared_; }
  std::size_t configurations() const { return configs_.size(); }

  // Seconds per iteration with a bootstrap interval.
  Interval predict(double machines, double size = 1) const;
  double predictSeconds(double machines, double size = 1) const;

 private:
  Eigen::RowVectorXd featureRow(double machines, double size) const;
  SystemModelOptions options_;
  FitStatus status_ = FitStatus::kTooFewPoints;
  std::string problem_;
  Eigen::VectorXd theta_;
  std::vector<Eigen::VectorXd> bootstrap_;
  std::vector<TimingPoint> configs_;  // medians per configuration
  double rSquared_ = 0;
  double minMachines_ = 0, maxMachines_ = 0, minSize_ = 0, maxSize_ = 0;
};

}  // namespace hemingway::adaptive
