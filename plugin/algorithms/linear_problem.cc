#include "hemingway/plugin/algorithms/linear_problem.h"

#include <algorithm>
#include <cmath>

#include "hemingway/hooks/error.h"

namespace hemingway::plugin {
namespace {
constexpr double kLogisticEdge = 1e-12;  // alpha stays inside (0, 1) for the entropy
}

Loss parseLoss(const std::string& name) {
  if (name == "hinge") return Loss::kHinge;
  if (name == "logistic") return Loss::kLogistic;
  if (name == "squared") return Loss::kSquared;
  HEMINGWAY_FAIL_AS(ConfigError, "unknown loss '{}' (expected hinge, logistic or squared)", name);
}

std::string lossName(Loss loss) {
  switch (loss) {
    case Loss::kHinge:
      return "hinge";
    case Loss::kLogistic:
      return "logistic";
    case Loss::kSquared:
      return "squared";
  }
  return "?";
}

LinearProblem::LinearProblem(data::SparseSet data, Loss loss, double lambda)
    : data_(std::move(data)), loss_(loss), lambda_(lambda) {
  HEMINGWAY_CHECK_AS(ConfigError, std::isfinite(lambda) && lambda > 0,
                     "lambda must be a positive number, got {}", lambda);
  HEMINGWAY_CHECK_AS(ConfigError, data_.rows() > 0, "the data set holds no examples");
  if (loss != Loss::kSquared) {
    for (std::int64_t i = 0; i < data_.rows(); ++i) {
      HEMINGWAY_CHECK_AS(ConfigError, data_.labels[i] == 1.0 || data_.labels[i] == -1.0,
                         "{} loss needs labels +1 or -1; example {} has label {}", lossName(loss),
                         i, data_.labels[i]);
    }
  }
  sqNorm_.resize(data_.rows());
  for (std::int64_t i = 0; i < data_.rows(); ++i) {
    double s = 0;
    for (auto k = data_.rowStart[i]; k < data_.rowStart[i + 1]; ++k) {
      s += double(data_.value[k]) * data_.value[k];
    }
    sqNorm_[i] = s;
  }
}

double LinearProblem::lossAt(double z, double y) const {
  switch (loss_) {
    case Loss::kHinge:
      return std::max(0.0, 1.0 - y * z);
    case Loss::kLogistic: {
      const double m = -y * z;  // log(1 + e^m), stable for large |m|
      return m > 0 ? m + std::log1p(std::exp(-m)) : std::log1p(std::exp(m));
    }
    case Loss::kSquared:
      return 0.5 * (z - y) * (z - y);
  }
  return 0;
}

double LinearProblem::lossDerivative(double z, double y) const {
  switch (loss_) {
    case Loss::kHinge:
      return y * z < 1.0 ? -y : 0.0;
    case Loss::kLogistic:
      return -y / (1.0 + std::exp(y * z));
    case Loss::kSquared:
      return z - y;
  }
  return 0;
}

double LinearProblem::dualTerm(double alpha, double y) const {
  switch (loss_) {
    case Loss::kHinge:
      return alpha;
    case Loss::kLogistic: {
      const double a = std::clamp(alpha, 0.0, 1.0);
      double h = 0;
      if (a > 0) h -= a * std::log(a);
      if (a < 1) h -= (1 - a) * std::log(1 - a);
      return h;
    }
    case Loss::kSquared:
      return alpha * y - 0.5 * alpha * alpha;
  }
  return 0;
}

double LinearProblem::sdcaDelta(double alpha, double y, double z, double q) const {
  switch (loss_) {
    case Loss::kHinge: {
      if (q <= 0) return 0;
      const double margin = y * z;
      return std::clamp(alpha + (1.0 - margin) / q, 0.0, 1.0) - alpha;
    }
    case Loss::kSquared:
      return (y - z - alpha) / (1.0 + q);
    case Loss::kLogistic: {
      // Newton on f'(d) = log((1-a)/a) - y z - q d, a = alpha + d in (0, 1).
      const double m = y * z;
      double a = std::clamp(alpha, kLogisticEdge, 1 - kLogisticEdge);
      for (int it = 0; it < 6; ++it) {
        const double d = a - alpha;
        const double g = std::log((1 - a) / a) - m - q * d;
        const double h = -1.0 / (a * (1 - a)) - q;
        a = std::clamp(a - g / h, kLogisticEdge, 1 - kLogisticEdge);
      }
      return a - alpha;
    }
  }
  return 0;
}

double LinearProblem::lossSum(std::int64_t begin, std::int64_t end, const double* w) const {
  double s = 0;
  for (auto i = begin; i < end; ++i) s += lossAt(dot(i, w), label(i));
  return s;
}

double LinearProblem::dualTermSum(std::int64_t begin, std::int64_t end, const double* alpha) const {
  double s = 0;
  for (auto i = begin; i < end; ++i) s += dualTerm(alpha[i - begin], label(i));
  return s;
}

}  // namespace hemingway::plugin
