#include "hemingway/adaptive/solvers.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <random>

namespace hemingway::adaptive {

const char* statusName(FitStatus status) {
  switch (status) {
    case FitStatus::kConverged:
      return "converged";
    case FitStatus::kNotConverged:
      return "not converged";
    case FitStatus::kTooFewPoints:
      return "too few points";
  }
  return "?";
}

namespace {

NnlsResult nnlsScaled(const Eigen::MatrixXd& a, const Eigen::VectorXd& b, int maxIterations);

}  // namespace

NnlsResult nnls(const Eigen::MatrixXd& a, const Eigen::VectorXd& b, int maxIterations) {
  const Eigen::Index n = a.cols();
  NnlsResult r;
  r.x = Eigen::VectorXd::Zero(n);
  if (a.rows() == 0 || n == 0 || a.rows() != b.size() || !a.allFinite() || !b.allFinite()) {
    r.status = FitStatus::kTooFewPoints;
    r.residualNorm = b.allFinite() ? b.norm() : std::numeric_limits<double>::infinity();
    return r;
  }
  // Columns of unit norm: the solution for x = D y is the same (D > 0 keeps
  // x >= 0), and features of very different scales (size/m with a size of
  // 10^6 beside log m) no longer defeat the tolerance.
  Eigen::VectorXd d = a.colwise().norm().transpose();
  for (Eigen::Index j = 0; j < n; ++j) d[j] = d[j] > 0 ? d[j] : 1.0;
  r = nnlsScaled(a * d.cwiseInverse().asDiagonal(), b, maxIterations);
  r.x = r.x.cwiseQuotient(d);
  r.residualNorm = (a * r.x - b).norm();
  return r;
}

namespace {

NnlsResult nnlsScaled(const Eigen::MatrixXd& a, const Eigen::VectorXd& b, int maxIterations) {
  const Eigen::Index n = a.cols();
  NnlsResult r;
  r.x = Eigen::VectorXd::Zero(n);
  if (maxIterations <= 0) maxIterations = static_cast<int>(3 * n);
  const double tol = 10 * std::numeric_limits<double>::epsilon() *
                     a.cwiseAbs().colwise().sum().maxCoeff() *
                     static_cast<double>(std::max(a.rows(), n));
  std::vector<bool> passive(static_cast<std::size_t>(n), false);
  Eigen::VectorXd w = a.transpose() * (b - a * r.x);
  auto solvePassive = [&](Eigen::VectorXd& s) {
    std::vector<Eigen::Index> idx;
    for (Eigen::Index j = 0; j < n; ++j) {
      if (passive[j]) idx.push_back(j);
    }
    s = Eigen::VectorXd::Zero(n);
    if (idx.empty()) return;  // nothing passive: the zero vector
    Eigen::MatrixXd ap(a.rows(), static_cast<Eigen::Index>(idx.size()));
    for (std::size_t k = 0; k < idx.size(); ++k)
      ap.col(static_cast<Eigen::Index>(k)) = a.col(idx[k]);
    const Eigen::VectorXd sp = ap.colPivHouseholderQr().solve(b);
    for (std::size_t k = 0; k < idx.size(); ++k) s[idx[k]] = sp[static_cast<Eigen::Index>(k)];
  };
  r.status = FitStatus::kConverged;
  for (;;) {
    Eigen::Index t = -1;
    double best = tol;
    for (Eigen::Index j = 0; j < n; ++j) {
      if (!passive[j] && w[j] > best) {
        best = w[j];
        t = j;
      }
    }
    if (t < 0) break;  // KKT conditions hold
    if (r.iterations++ >= maxIterations) {
      r.status = FitStatus::kNotConverged;
      break;
    }
    passive[t] = true;
    Eigen::VectorXd s;
    for (int inner = 0; inner < 3 * n + 3; ++inner) {
      solvePassive(s);
      double alpha = 1;
      bool feasible = true;
      for (Eigen::Index j = 0; j < n; ++j) {
        if (passive[j] && s[j] <= tol) {
          feasible = false;
          alpha = std::min(alpha, r.x[j] / (r.x[j] - s[j]));
        }
      }
      if (feasible) break;
      r.x += alpha * (s - r.x);
      for (Eigen::Index j = 0; j < n; ++j) {
        if (passive[j] && r.x[j] <= tol) {
          passive[j] = false;
          r.x[j] = 0;
        }
      }
    }
    r.x = s.cwiseMax(0.0);
    w = a.transpose() * (b - a * r.x);
  }
  r.residualNorm = (a * r.x - b).norm();
  return r;
}

}  // namespace

Eigen::VectorXd LassoFit::predict(const Eigen::MatrixXd& x) const {
  return (x * beta).array() + intercept;
}

Lasso::Lasso(const Eigen::MatrixXd& x, const Eigen::VectorXd& y, LassoOptions options)
    : options_(options), n_(x.rows()) {
  const double n = static_cast<double>(std::max<Eigen::Index>(n_, 1));
  mean_ = x.colwise().mean();
  Eigen::MatrixXd z = x.rowwise() - mean_.transpose();
  scale_ = (z.colwise().squaredNorm() / n).cwiseSqrt();
  for (Eigen::Index j = 0; j < z.cols(); ++j) {
    if (scale_[j] > 1e-12) {
      z.col(j) /= scale_[j];
    } else {
      z.col(j).setZero();  // a constant feature carries no information
      scale_[j] = 0;
    }
  }
  yMean_ = y.size() ? y.mean() : 0.0;
  const Eigen::VectorXd centered = y.array() - yMean_;
  gram_ = z.transpose() * z / n;
  zty_ = z.transpose() * centered / n;
  lambdaMax_ = n_ ? zty_.cwiseAbs().maxCoeff() : 0.0;
}

std::vector<double> Lasso::path() const {
  std::vector<double> lambdas;
  const int k = std::max(1, options_.pathLength);
  for (int i = 0; i < k; ++i) {
    const double f = k == 1 ? 0.0 : static_cast<double>(i) / (k - 1);
    lambdas.push_back(lambdaMax_ * std::pow(options_.pathRatio, f));
  }
  return lambdas;
}

LassoFit Lasso::toOriginalUnits(double lambda, const Eigen::VectorXd& b, FitStatus status) const {
  LassoFit f;
  f.lambda = lambda;
  f.status = status;
  f.beta = Eigen::VectorXd::Zero(b.size());
  for (Eigen::Index j = 0; j < b.size(); ++j) {
    if (scale_[j] > 0) f.beta[j] = b[j] / scale_[j];
  }
  f.intercept = yMean_ - mean_.dot(f.beta);
  return f;
}

std::vector<LassoFit> Lasso::fitPath(const std::vector<double>& lambdas) const {
  const Eigen::Index p = gram_.cols();
  Eigen::VectorXd b = Eigen::VectorXd::Zero(p);
  Eigen::VectorXd gb = Eigen::VectorXd::Zero(p);  // gram_ * b, kept up to date
  std::vector<LassoFit> fits;
  for (double lambda : lambdas) {
    FitStatus status = n_ == 0 ? FitStatus::kTooFewPoints : FitStatus::kNotConverged;
    for (int sweep = 0; sweep < options_.maxSweeps && n_ > 0; ++sweep) {
      double maxChange = 0, maxCoef = 0;
      for (Eigen::Index j = 0; j < p; ++j) {
        if (scale_[j] == 0) continue;
        // rho = z_j . (y - Z b) / n + b_j, with z_j . z_j / n = 1
        const double rho = zty_[j] - gb[j] + b[j];
        const double next = std::copysign(std::max(std::abs(rho) - lambda, 0.0), rho);
        const double change = next - b[j];
        if (change != 0) {
          gb += change * gram_.col(j);
          b[j] = next;
          maxChange = std::max(maxChange, std::abs(change));
        }
        maxCoef = std::max(maxCoef, std::abs(b[j]));
      }
      if (maxChange <= options_.tolerance * std::max(1.0, maxCoef)) {
        status = FitStatus::kConverged;
        break;
      }
    }
    fits.push_back(toOriginalUnits(lambda, b, status));
  }
  return fits;
}

std::vector<int> kFolds(int n, int k, std::uint64_t seed) {
  std::vector<int> order(static_cast<std::size_t>(std::max(n, 0)));
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(seed);
  for (int i = n - 1; i > 0; --i) {  // Fisher-Yates with our own draws: same on every platform
    const int j = static_cast<int>(rng() % static_cast<std::uint64_t>(i + 1));
    std::swap(order[i], order[j]);
  }
  std::vector<int> fold(order.size());
  for (int i = 0; i < n; ++i) fold[order[i]] = i % std::max(k, 1);
  return fold;
}

std::vector<int> groupFolds(const std::vector<double>& groups) {
  std::map<double, int> index;
  for (double g : groups) index.emplace(g, 0);
  int next = 0;
  for (auto& [g, i] : index) i = next++;
  std::vector<int> fold;
  for (double g : groups) fold.push_back(index[g]);
  return fold;
}

LassoCvResult lassoCv(const Eigen::MatrixXd& x, const Eigen::VectorXd& y,
                      const std::vector<int>& folds, LassoOptions options) {
  LassoCvResult result;
  const int k = folds.empty() ? 0 : *std::max_element(folds.begin(), folds.end()) + 1;
  Lasso all(x, y, options);
  result.lambdas = all.path();
  if (k < 2 || x.rows() < 2 || static_cast<Eigen::Index>(folds.size()) != x.rows()) {
    result.fit.status = FitStatus::kTooFewPoints;
    result.fit.beta = Eigen::VectorXd::Zero(x.cols());
    return result;
  }
  result.meanError.assign(result.lambdas.size(), 0.0);
  for (int f = 0; f < k; ++f) {
    std::vector<Eigen::Index> train, test;
    for (Eigen::Index i = 0; i < x.rows(); ++i) (folds[i] == f ? test : train).push_back(i);
    if (train.empty() || test.empty()) continue;
    const Eigen::MatrixXd xTrain = x(train, Eigen::all), xTest = x(test, Eigen::all);
    const Eigen::VectorXd yTrain = y(train), yTest = y(test);
    const auto fits = Lasso(xTrain, yTrain, options).fitPath(result.lambdas);
    for (std::size_t l = 0; l < fits.size(); ++l) {
      result.meanError[l] += (fits[l].predict(xTest) - yTest).squaredNorm() / y.size();
    }
  }
  result.chosen =
      static_cast<int>(std::min_element(result.meanError.begin(), result.meanError.end()) -
                       result.meanError.begin());
  // Refit on all points along the path down to the chosen lambda (warm starts).
  std::vector<double> prefix(result.lambdas.begin(), result.lambdas.begin() + result.chosen + 1);
  result.fit = all.fitPath(prefix).back();
  return result;
}

LeastSquaresResult levenbergMarquardt(const ResidualFunction& residuals, Eigen::VectorXd x0,
                                      LeastSquaresOptions options) {
  LeastSquaresResult out;
  out.x = std::move(x0);
  Eigen::VectorXd r;
  Eigen::MatrixXd j;
  if (!residuals(out.x, r, j) || r.size() < out.x.size() || !r.allFinite() || !j.allFinite()) {
    out.status = FitStatus::kTooFewPoints;
    out.sumOfSquares = std::numeric_limits<double>::infinity();
    return out;
  }
  out.sumOfSquares = r.squaredNorm();
  double mu = 1e-3;
  Eigen::VectorXd rTry;
  Eigen::MatrixXd jTry;
  for (out.iterations = 0; out.iterations < options.maxIterations; ++out.iterations) {
    const Eigen::MatrixXd jtj = j.transpose() * j;
    const Eigen::VectorXd jtr = j.transpose() * r;
    const Eigen::VectorXd d = jtj.diagonal().cwiseMax(1e-12);
    bool accepted = false;
    while (mu < 1e12) {
      Eigen::MatrixXd a = jtj;
      a.diagonal() += mu * d;
      const Eigen::VectorXd step = a.ldlt().solve(-jtr);
      const Eigen::VectorXd x = out.x + step;
      if (step.allFinite() && residuals(x, rTry, jTry) && rTry.allFinite() && jTry.allFinite()) {
        const double ss = rTry.squaredNorm();
        if (ss < out.sumOfSquares) {
          const double fall = (out.sumOfSquares - ss) / std::max(out.sumOfSquares, 1e-300);
          out.x = x;
          out.sumOfSquares = ss;
          r.swap(rTry);
          j.swap(jTry);
          mu = std::max(mu / 3, 1e-12);
          accepted = true;
          // Converged: the sum of squares or the step has stopped moving.
          if (fall < options.tolerance ||
              step.norm() <= options.tolerance * (out.x.norm() + options.tolerance)) {
            out.status = FitStatus::kConverged;
            return out;
          }
          break;
        }
      }
      mu *= 4;
    }
    if (!accepted) {  // no step lowers the sum: a minimum (up to rounding)
      out.status = FitStatus::kConverged;
      return out;
    }
  }
  return out;
}

}  // namespace hemingway::adaptive
