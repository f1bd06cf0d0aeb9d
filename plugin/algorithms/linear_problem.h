// L2-regularized linear models for the distributed optimization algorithms:
//   P(w) = lambda/2 |w|^2 + (1/n) sum_i loss(x_i . w, y_i),  no bias term,
// and the dual D(alpha) = (1/n) sum_i -loss*(-alpha_i) - lambda/2 |w(alpha)|^2
// with w(alpha) = 1/(lambda n) sum_i v_i x_i, where v_i = alpha_i y_i for hinge
// and logistic (alpha_i in [0, 1]) and v_i = alpha_i for squared loss.
// Inner loops run over raw CSR buffers: no per-example tensor dispatch.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "hemingway/plugin/data/datasets.h"

namespace hemingway::plugin {

enum class Loss { kHinge, kLogistic, kSquared };

Loss parseLoss(const std::string& name);  // "hinge", "logistic", "squared"
std::string lossName(Loss loss);

class LinearProblem {
 public:
  // Labels must be +1/-1 for hinge and logistic loss; any value for squared.
  LinearProblem(data::SparseSet data, Loss loss, double lambda);

  std::int64_t examples() const { return data_.rows(); }
  std::int64_t features() const { return data_.features; }
  Loss loss() const { return loss_; }
  double lambda() const { return lambda_; }
  double label(std::int64_t i) const { return data_.labels[i]; }
  double rowSquaredNorm(std::int64_t i) const { return sqNorm_[i]; }

  // x_i . w, with four partial sums so that the additions do not wait on
  // each other (the same order in every run, virtual or real).
  double dot(std::int64_t i, const double* w) const {
    const auto* idx = data_.index.data();
    const auto* val = data_.value.data();
    auto k = data_.rowStart[i];
    const auto end = data_.rowStart[i + 1];
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (; k + 4 <= end; k += 4) {
      s0 += val[k] * w[idx[k]];
      s1 += val[k + 1] * w[idx[k + 1]];
      s2 += val[k + 2] * w[idx[k + 2]];
      s3 += val[k + 3] * w[idx[k + 3]];
    }
    for (; k < end; ++k) s0 += val[k] * w[idx[k]];
    return (s0 + s1) + (s2 + s3);
  }
  // Asks the memory system for the start of row i ahead of its use: the
  // coordinate steps jump between rows at random.
  void prefetchRow(std::int64_t i) const {
    const auto k = data_.rowStart[i];
    __builtin_prefetch(data_.index.data() + k);
    __builtin_prefetch(data_.value.data() + k);
    __builtin_prefetch(data_.index.data() + k + 16);
    __builtin_prefetch(data_.value.data() + k + 16);
  }
  // w += a * x_i
  void axpy(std::int64_t i, double a, double* w) const {
    const auto* idx = data_.index.data();
    const auto* val = data_.value.data();
    for (auto k = data_.rowStart[i]; k < data_.rowStart[i + 1]; ++k) w[idx[k]] += a * val[k];
  }

  // loss(z, y) at the linear output z = x.w.
  double lossAt(double z, double y) const;
  // d loss / dz (a subgradient for hinge).
  double lossDerivative(double z, double y) const;
  // -loss*(-alpha), the dual term of one example.
  double dualTerm(double alpha, double y) const;
  // v_i: the coefficient of x_i in lambda n w(alpha).
  double coefficient(double alpha, double y) const {
    return loss_ == Loss::kSquared ? alpha : alpha * y;
  }
  // The SDCA step of coordinate i: the change of alpha_i maximizing the local
  // dual subproblem, given z = x_i . u (u the worker's local w) and the
  // curvature q = sigma' |x_i|^2 / (lambda n).
  double sdcaDelta(double alpha, double y, double z, double q) const;

  // Sums over examples [begin, end) of the loss at w and of the dual terms.
  double lossSum(std::int64_t begin, std::int64_t end, const double* w) const;
  double dualTermSum(std::int64_t begin, std::int64_t end, const double* alpha) const;

 private:
  data::SparseSet data_;
  Loss loss_;
  double lambda_;
  std::vector<double> sqNorm_;
};

}  // namespace hemingway::plugin
