#include "hemingway/adaptive/system_model.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <sstream>

#include "hemingway/adaptive/statistics.h"

namespace hemingway::adaptive {

std::vector<SystemFeature> ernestFeatures() {
  return {{"1", [](double, double) { return 1.0; }},
          {"size/m", [](double m, double size) { return size / m; }},
          {"log m", [](double m, double) { return std::log(m); }},
          {"m", [](double m, double) { return m; }}};
}

Eigen::RowVectorXd SystemModel::featureRow(double machines, double size) const {
  Eigen::RowVectorXd row(static_cast<Eigen::Index>(options_.features.size()));
  for (std::size_t j = 0; j < options_.features.size(); ++j) {
    row[static_cast<Eigen::Index>(j)] = options_.features[j].value(machines, size);
  }
  return row;
}

SystemModel SystemModel::fit(const std::vector<TimingPoint>& points, SystemModelOptions options) {
  SystemModel model;
  model.options_ = std::move(options);
  const auto k = static_cast<Eigen::Index>(model.options_.features.size());
  model.theta_ = Eigen::VectorXd::Zero(k);
  std::map<std::pair<double, double>, std::vector<double>> groups;
  for (const auto& p : points) {
    if (p.machines >= 1 && std::isfinite(p.seconds) && p.seconds >= 0 && p.size > 0) {
      groups[{p.machines, p.size}].push_back(p.seconds);
    }
  }
  std::map<double, int> machineCounts;
  for (const auto& [key, times] : groups) {
    model.configs_.push_back({key.first, key.second, median(times)});
    machineCounts[key.first]++;
  }
  if (machineCounts.size() < 2) {
    std::ostringstream why;
    why << "iteration times at " << machineCounts.size()
        << " machine count(s) cannot separate computation from communication: add runs at "
           "two or more machine counts (for example m = 1, 2 and 4)";
    model.problem_ = why.str();
    model.status_ = FitStatus::kTooFewPoints;
    return model;
  }
  model.minMachines_ = machineCounts.begin()->first;
  model.maxMachines_ = machineCounts.rbegin()->first;
  model.minSize_ = model.maxSize_ = model.configs_.front().size;
  for (const auto& c : model.configs_) {
    model.minSize_ = std::min(model.minSize_, c.size);
    model.maxSize_ = std::max(model.maxSize_, c.size);
  }
  const auto n = static_cast<Eigen::Index>(model.configs_.size());
  Eigen::MatrixXd a(n, k);
  Eigen::VectorXd b(n);
  for (Eigen::Index i = 0; i < n; ++i) {
    a.row(i) = model.featureRow(model.configs_[i].machines, model.configs_[i].size);
    b[i] = model.configs_[i].seconds;
  }
  auto result = nnls(a, b);
  model.status_ = result.status;
  model.theta_ = result.x;
  const Eigen::VectorXd fitted = a * model.theta_;
  const double total = (b.array() - b.mean()).square().sum();
  model.rSquared_ = total > 0 ? 1 - (b - fitted).squaredNorm() / total : 1.0;
  // Residual bootstrap: refit on fitted + resampled residuals.
  const Eigen::VectorXd residuals = b - fitted;
  std::mt19937_64 rng(model.options_.seed);
  for (int s = 0; s < model.options_.bootstrapSamples; ++s) {
    Eigen::VectorXd bs(n);
    for (Eigen::Index i = 0; i < n; ++i) {
      bs[i] =
          fitted[i] + residuals[static_cast<Eigen::Index>(rng() % static_cast<std::uint64_t>(n))];
    }
    model.bootstrap_.push_back(nnls(a, bs).x);
  }
  return model;
}

double SystemModel::predictSeconds(double machines, double size) const {
  return featureRow(machines, size).dot(theta_);
}

Interval SystemModel::predict(double machines, double size) const {
  Interval out;
  const auto row = featureRow(machines, size);
  out.value = row.dot(theta_);
  out.low = out.high = out.value;
  if (!bootstrap_.empty()) {
    std::vector<double> values;
    for (const auto& t : bootstrap_) values.push_back(row.dot(t));
    const double tail = (1 - options_.intervalLevel) / 2;
    out.low = std::min(out.value, quantile(values, tail));
    out.high = std::max(out.value, quantile(values, 1 - tail));
  }
  out.extrapolated =
      machines < minMachines_ || machines > maxMachines_ || size < minSize_ || size > maxSize_;
  return out;
}

}  // namespace hemingway::adaptive
