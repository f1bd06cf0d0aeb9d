#include "hemingway/adaptive/convergence_model.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <sstream>
#include <tuple>

#include "hemingway/adaptive/level_set_curve.h"
#include "hemingway/adaptive/shape_curve.h"
#include "hemingway/adaptive/statistics.h"

namespace hemingway::adaptive {
namespace {

constexpr double kNever = std::numeric_limits<double>::infinity();
// ln(predicted / true iterations) of a held-out case predicted never.
constexpr double kNeverLogRatio = 30;

// Terms of i and of m; the library is every product of one of each, less the
// constant (the Lasso intercept).
constexpr int kITerms = 5;  // 1, i, sqrt i, log i, 1/i
constexpr int kMTerms = 5;  // 1, m, sqrt m, log m, 1/m

double iTerm(int k, double i) {
  switch (k) {
    case 0:
      return 1;
    case 1:
      return i;
    case 2:
      return std::sqrt(i);
    case 3:
      return std::log(i);
    default:
      return 1 / i;
  }
}

double mTerm(int k, double m) {
  switch (k) {
    case 0:
      return 1;
    case 1:
      return m;
    case 2:
      return std::sqrt(m);
    case 3:
      return std::log(m);
    default:
      return 1 / m;
  }
}

const char* iName(int k) {
  static const char* names[] = {"", "i", "sqrt(i)", "log(i)", "1/i"};
  return names[k];
}
const char* mName(int k) {
  static const char* names[] = {"", "m", "sqrt(m)", "log(m)", "1/m"};
  return names[k];
}

// Median over windows of `window` iterations, then at most `maxPoints`
// points log-evenly spread over the iterations of each machine count.
std::vector<LossPoint> smooth(const std::vector<LossPoint>& points, int window, int maxPoints) {
  std::map<double, std::vector<LossPoint>> byM;
  for (const auto& p : points) byM[p.machines].push_back(p);
  std::vector<LossPoint> out;
  for (auto& [m, series] : byM) {
    std::sort(series.begin(), series.end(),
              [](const LossPoint& a, const LossPoint& b) { return a.iteration < b.iteration; });
    std::vector<LossPoint> windows;
    for (std::size_t s = 0; s < series.size(); s += static_cast<std::size_t>(window)) {
      const auto e = std::min(series.size(), s + static_cast<std::size_t>(window));
      std::vector<double> losses, its;
      for (auto k = s; k < e; ++k) {
        losses.push_back(series[k].loss);
        its.push_back(series[k].iteration);
      }
      windows.push_back({m, median(its), median(losses)});
    }
    if (static_cast<int>(windows.size()) <= maxPoints) {
      out.insert(out.end(), windows.begin(), windows.end());
      continue;
    }
    // Keep points whose log-iteration is nearest to an even grid.
    const double lo = std::log(windows.front().iteration), hi = std::log(windows.back().iteration);
    std::size_t k = 0;
    for (int g = 0; g < maxPoints; ++g) {
      const double target = lo + (hi - lo) * g / (maxPoints - 1);
      while (k + 1 < windows.size() && std::log(windows[k].iteration) < target) ++k;
      if (out.empty() || out.back().machines != m || out.back().iteration != windows[k].iteration) {
        out.push_back(windows[k]);
      }
    }
  }
  return out;
}

struct Design {
  Eigen::MatrixXd x;
  Eigen::VectorXd y;
};

Design design(const std::vector<LossPoint>& points, double pStar) {
  Design d;
  std::vector<Eigen::Index> keep;
  for (std::size_t i = 0; i < points.size(); ++i) {
    if (points[i].loss - pStar > 0) keep.push_back(static_cast<Eigen::Index>(i));
  }
  const Eigen::Index n = static_cast<Eigen::Index>(keep.size());
  d.x.resize(n, kITerms * kMTerms - 1);
  d.y.resize(n);
  for (Eigen::Index r = 0; r < n; ++r) {
    const auto& p = points[static_cast<std::size_t>(keep[r])];
    d.x.row(r) = convergenceFeatures(p.iteration, p.machines);
    d.y[r] = std::log10(p.loss - pStar);
  }
  return d;
}

// The first iteration (scanned geometrically, then bisected) at which
// `log10At(i)` is <= goal; empty when none up to maxIterations.
template <typename F>
std::optional<double> firstIterationBelow(const F& log10At, double goal, double maxIterations) {
  double prev = 1;
  if (log10At(1.0) <= goal) return 1.0;
  for (double i = 2; i <= maxIterations; i = std::ceil(i * 1.25)) {
    if (log10At(i) <= goal) {
      double a = prev, b = i;
      while (b - a > 1) {
        const double mid = std::floor((a + b) / 2);
        (log10At(mid) <= goal ? b : a) = mid;
      }
      return b;
    }
    prev = i;
  }
  return std::nullopt;
}

// Points above P*, as P - P*.
std::vector<LossPoint> aboveOptimum(const std::vector<LossPoint>& points, double pStar) {
  std::vector<LossPoint> out;
  for (const auto& p : points) {
    if (p.loss > pStar) out.push_back({p.machines, p.iteration, p.loss - pStar});
  }
  return out;
}

}  // namespace

std::vector<std::string> convergenceFeatureNames() {
  std::vector<std::string> names;
  for (int a = 0; a < kITerms; ++a) {
    for (int b = 0; b < kMTerms; ++b) {
      if (a == 0 && b == 0) continue;
      std::string n = iName(a);
      if (a && b) n += "*";
      n += mName(b);
      names.push_back(n);
    }
  }
  return names;
}

Eigen::RowVectorXd convergenceFeatures(double iteration, double machines) {
  Eigen::RowVectorXd row(kITerms * kMTerms - 1);
  Eigen::Index c = 0;
  for (int a = 0; a < kITerms; ++a) {
    for (int b = 0; b < kMTerms; ++b) {
      if (a == 0 && b == 0) continue;
      row[c++] = iTerm(a, iteration) * mTerm(b, machines);
    }
  }
  return row;
}

namespace {

// The profile likelihood of P*, fitted with a short path, 3 folds and a
// looser tolerance: Gaussian noise on log10(P - P*) seen from the observed
// values, i.e. n/2 ln(RSS/n) plus the Jacobian sum ln(P - P*); comparable
// across candidates, unlike the RSS alone. Infinite when too few points.
double pStarScore(const std::vector<LossPoint>& points, double pStar,
                  const ConvergenceOptions& options) {
  LassoOptions quick = options.lasso;
  quick.pathLength = std::min(quick.pathLength, 20);
  quick.tolerance = std::max(quick.tolerance, 1e-4);
  quick.maxSweeps = std::min(quick.maxSweeps, 300);
  const int quickFolds = std::min(options.folds, 3);
  const auto d = design(points, pStar);
  auto cv =
      lassoCv(d.x, d.y, kFolds(static_cast<int>(d.y.size()), quickFolds, options.seed), quick);
  if (cv.fit.status == FitStatus::kTooFewPoints) return std::numeric_limits<double>::infinity();
  const Eigen::VectorXd predicted = cv.fit.predict(d.x);
  const double n = static_cast<double>(d.y.size());
  const double rss = std::max((predicted - d.y).squaredNorm(), 1e-300);
  double score = 0.5 * n * std::log(rss / n);
  for (Eigen::Index r = 0; r < d.y.size(); ++r) score += d.y[r] * std::log(10.0);
  return score;
}

// P* estimated: candidates lo - spread 10^-e every half decade of e from 0.5
// to 6, then the quarter decades either side of the best of those. Returns
// the best and its score (infinite: none could be fitted).
std::pair<double, double> searchPStar(const std::vector<LossPoint>& points, double lo, double hi,
                                      const ConvergenceOptions& options) {
  const double spread = hi > lo ? hi - lo : std::max(std::abs(lo), 1.0);
  auto atDistance = [&](double e) { return lo - spread * std::pow(10.0, -e); };
  double bestScore = std::numeric_limits<double>::infinity();
  double bestPStar = atDistance(0.5);
  auto consider = [&](double pStar) {
    const double score = pStarScore(points, pStar, options);
    if (score < bestScore) {
      bestScore = score;
      bestPStar = pStar;
    }
  };
  for (double e = 0.5; e <= 6.0; e += 0.5) consider(atDistance(e));
  if (std::isfinite(bestScore)) {
    const double e = -std::log10((lo - bestPStar) / spread);
    consider(atDistance(e - 0.25));
    consider(atDistance(e + 0.25));
  }
  return {bestPStar, bestScore};
}

}  // namespace

std::vector<LossPoint> ConvergenceModel::prepare(const std::vector<LossPoint>& raw,
                                                 const ConvergenceOptions& options) {
  std::vector<LossPoint> clean;
  for (const auto& p : raw) {
    if (std::isfinite(p.loss) && p.iteration >= 1 && p.machines >= 1) clean.push_back(p);
  }
  auto points =
      smooth(clean, std::max(1, options.window), std::max(2, options.maxPointsPerMachineCount));
  for (const auto& p : points) {
    if (std::find(machines_.begin(), machines_.end(), p.machines) == machines_.end()) {
      machines_.push_back(p.machines);
    }
    maxIteration_ = std::max(maxIteration_, p.iteration);
    longest_[p.machines] = std::max(longest_[p.machines], p.iteration);
  }
  std::sort(machines_.begin(), machines_.end());
  return points;
}

bool ConvergenceModel::fitAt(const std::vector<LossPoint>& points, double pStar,
                             const ConvergenceOptions& options) {
  const auto d = design(points, pStar);
  auto cv = lassoCv(d.x, d.y, kFolds(static_cast<int>(d.y.size()), options.folds, options.seed),
                    options.lasso);
  if (cv.fit.status == FitStatus::kTooFewPoints) return false;
  const Eigen::VectorXd predicted = cv.fit.predict(d.x);
  pStar_ = pStar;
  fit_ = cv.fit;
  status_ = cv.fit.status;
  const double total = (d.y.array() - d.y.mean()).square().sum();
  rSquared_ = total > 0 ? 1 - (predicted - d.y).squaredNorm() / total : 1.0;
  points_ = static_cast<std::size_t>(d.y.size());
  return true;
}

// The highest observed start: each machine count's first point.
void ConvergenceModel::findTop(const std::vector<LossPoint>& points) {
  topLog10_ = -std::numeric_limits<double>::infinity();
  std::map<double, LossPoint> first;
  for (const auto& p : points) {
    auto it = first.find(p.machines);
    if (it == first.end() || p.iteration < it->second.iteration) first[p.machines] = p;
  }
  for (const auto& [m, p] : first) {
    if (p.loss > pStar_) topLog10_ = std::max(topLog10_, std::log10(p.loss - pStar_));
  }
}

ConvergenceModel ConvergenceModel::fit(const std::vector<LossPoint>& raw,
                                       ConvergenceOptions options) {
  ConvergenceModel model;
  const auto points = model.prepare(raw, options);
  if (points.size() < 10) {
    model.problem_ = "fewer than 10 loss values to fit the convergence model: run longer";
    return model;
  }
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (const auto& p : points) {
    lo = std::min(lo, p.loss);
    hi = std::max(hi, p.loss);
  }
  // The chosen P* is fitted with the full options.
  std::pair<double, double> choice;
  if (options.pStar) {
    if (!(*options.pStar < lo)) {
      std::ostringstream why;
      why << "P* = " << *options.pStar << " is not below the smallest observed value " << lo;
      model.problem_ = why.str();
      return model;
    }
    choice = {*options.pStar, 0.0};
  } else {
    choice = searchPStar(points, lo, hi, options);
    model.pStarEstimated_ = true;
  }
  if (!std::isfinite(choice.second) || !model.fitAt(points, choice.first, options)) {
    model.status_ = FitStatus::kTooFewPoints;
    model.problem_ = "too few points above P* for cross-validation: run longer or at more m";
    return model;
  }
  model.findTop(points);
  model.chooseForm(points, options);
  return model;
}

double ConvergenceModel::predictLog10(double iteration, double machines) const {
  const Form form = formAt(machines);
  if (levelSet_ && form == Form::kLevelSet) return levelSet_->predictLog10(iteration, machines);
  if (shape_ && form == Form::kShape) return shape_->predictLog10(iteration, machines);
  // The Lasso form is a sum of terms that may turn up with i: its running
  // minimum over a fixed grid of iterations (every iteration to 50, then 2%
  // apart), linear in log i between grid points, never above the highest
  // observed start.
  const double at = std::max(1.0, iteration);
  double previous = 1, envelope = std::min(topLog10_, lassoLog10(1, machines));
  for (;;) {
    const double next = previous < 50 ? previous + 1 : previous * 1.02;
    const double nextEnvelope = std::min(envelope, lassoLog10(next, machines));
    if (next >= at) {
      const double t = std::log(at / previous) / std::log(next / previous);
      return envelope + t * (nextEnvelope - envelope);
    }
    previous = next;
    envelope = nextEnvelope;
  }
}

double ConvergenceModel::lassoLog10(double iteration, double machines) const {
  return fit_.intercept + convergenceFeatures(iteration, machines).dot(fit_.beta);
}

double ConvergenceModel::predictLoss(double iteration, double machines) const {
  return pStar_ + std::pow(10.0, predictLog10(iteration, machines));
}

std::optional<double> ConvergenceModel::iterationsTo(double target, double machines,
                                                     double maxIterations) const {
  if (!(target > pStar_)) return std::nullopt;
  const double goal = std::log10(target - pStar_);
  const auto fromLevelSet = [&]() -> std::optional<double> {
    const double logI = levelSet_->log10IterationsTo(goal, machines);
    if (!std::isfinite(logI)) return std::nullopt;
    const double i = std::max(1.0, std::ceil(std::pow(10.0, logI) - 1e-9));
    if (i > maxIterations) return std::nullopt;
    return i;
  };
  const Form form = formAt(machines);
  if (levelSet_ && form == Form::kLevelSet) return fromLevelSet();
  std::optional<double> lasso;  // or the shape form's answer
  if (shape_ && form == Form::kShape) {
    const double logI = shape_->log10IterationsTo(goal, machines);
    const double i = std::max(1.0, std::ceil(std::pow(10.0, logI) - 1e-9));
    if (std::isfinite(logI) && i <= maxIterations) lasso = i;
  } else {
    // The Lasso sum itself: it first reaches the goal where its running
    // minimum (predictLog10) does; at or above the observed start, at once.
    if (goal >= topLog10_) return 1.0;
    lasso =
        firstIterationBelow([&](double i) { return lassoLog10(i, machines); }, goal, maxIterations);
  }
  // Inside the measured counts, "never" from a smooth form where the
  // measured curves around m do get there (the level-set form says when) is
  // the form's artefact, not a prediction: the level-set form answers.
  if (!lasso && levelSet_ && !machines_.empty() && !outsideMeasured(machines)) {
    return fromLevelSet();
  }
  return lasso;
}

const char* formName(Form form) {
  switch (form) {
    case Form::kLasso:
      return "lasso";
    case Form::kLevelSet:
      return "level-set";
    case Form::kShape:
      return "shape";
  }
  return "lasso";
}

Form ConvergenceModel::formBeyondMeasured() const {
  return formsCompared_ ? Form::kLevelSet : form_;
}

Form ConvergenceModel::formAt(double machines) const {
  return outsideMeasured(machines) || measured(machines) ? formBeyondMeasured() : form_;
}

bool ConvergenceModel::measured(double machines) const {
  return std::find(machines_.begin(), machines_.end(), machines) != machines_.end();
}

bool ConvergenceModel::outsideMeasured(double machines) const {
  return !machines_.empty() && (machines < machines_.front() || machines > machines_.back());
}

double ConvergenceModel::longestTraceAt(double machines) const {
  const auto it = longest_.find(machines);
  return it != longest_.end() ? it->second : maxIteration_;
}

bool ConvergenceModel::kneeAt(double target, double machines) const {
  if (!levelSet_ || !(target > pStar_) || machines_.empty()) return false;
  // The measured count nearest to m in log scale.
  double nearest = machines_.front();
  for (double m : machines_) {
    if (std::abs(std::log(m / machines)) < std::abs(std::log(nearest / machines))) nearest = m;
  }
  const double slope = levelSet_->localSlope(std::log10(target - pStar_), nearest);
  return std::isfinite(slope) && slope > kKneeSlope;
}

std::optional<std::pair<double, double>> ConvergenceModel::logRatioBounds(double target,
                                                                          double machines,
                                                                          double predicted) const {
  const auto reads = measured(machines) ? std::vector<std::pair<double, double>>{}
                                        : neighbourReads(target, machines);
  // Forward in i: how far (in ln i) the curves the prediction is read from
  // (its own, or the measured neighbours') are taken beyond their traces.
  const double reach = forwardReach(reads, machines, predicted);
  double rLow = 0, rHigh = 0;  // in m: none at a measured count (its own curve)
  if (!measured(machines)) {
    std::tie(rLow, rHigh) = intervalsFromBounds_ ? slopeBoundRatios(reads, machines, predicted)
                                                 : mBounds(target, machines);
  }
  if (!(reach > 1e-9)) return std::make_pair(rLow, rHigh);
  // Forward errors change sign between a curve's phases (a tail that
  // flattens, or steepens into linear convergence): the interval is
  // symmetric, the 80% quantile of their sizes.
  std::vector<double> scaled;
  for (const auto& c : forwardCases_) scaled.push_back(std::abs(c.logRatio) * reach / c.reach);
  if (scaled.size() < 3) return std::nullopt;
  const double fHigh = quantile(scaled, 0.8), fLow = -fHigh;
  // Errors in m and in i, side by side: the root of the sum of squares.
  return std::make_pair(-std::hypot(std::min(rLow, 0.0), std::min(fLow, 0.0)),
                        std::hypot(std::max(rHigh, 0.0), std::max(fHigh, 0.0)));
}

std::vector<std::pair<double, double>> ConvergenceModel::neighbourReads(double target,
                                                                        double machines) const {
  const double goal = std::log10(target - pStar_);
  const auto above = std::upper_bound(machines_.begin(), machines_.end(), machines);
  std::vector<std::pair<double, double>> out;
  if (above != machines_.end()) out.push_back({*above, 0});
  if (above != machines_.begin()) out.push_back({*(above - 1), 0});
  for (auto& [a, logI] : out) logI = levelSet_->log10IterationsTo(goal, a);
  return out;
}

double ConvergenceModel::forwardReach(const std::vector<std::pair<double, double>>& reads,
                                      double machines, double predicted) const {
  if (measured(machines)) return std::max(0.0, std::log(predicted / longestTraceAt(machines)));
  double reach = 0;
  for (const auto& [a, logI] : reads) {
    if (!std::isfinite(logI)) return kNever;
    reach = std::max(reach, logI * std::log(10.0) - std::log(longestTraceAt(a)));
  }
  return reach;
}

std::pair<double, double> ConvergenceModel::slopeBoundRatios(
    const std::vector<std::pair<double, double>>& reads, double machines, double predicted) const {
  // log10 I(m) lies within I(a) (m / a)^[low, high] for each measured
  // neighbour a.
  const auto& bounds = levelSet_->bounds();
  double lo = -kNever, hi = kNever;
  for (const auto& [a, logI] : reads) {
    if (!std::isfinite(logI)) continue;
    const double d = std::log10(machines / a);
    lo = std::max(lo, logI + std::min(bounds.low * d, bounds.high * d));
    hi = std::min(hi, logI + std::max(bounds.low * d, bounds.high * d));
  }
  const double logPredicted = std::log10(predicted);
  if (!std::isfinite(lo) || !std::isfinite(hi) || lo > hi) return {0.0, 0.0};
  // ln(predicted / truth) for the truth at either end.
  const double ln10 = std::log(10.0);
  return {std::min(0.0, (logPredicted - hi) * ln10), std::max(0.0, (logPredicted - lo) * ln10)};
}

std::pair<double, double> ConvergenceModel::mBounds(double target, double machines) const {
  const bool outside = outsideMeasured(machines);
  const bool below = machines < machines_.front();
  double rLow = outside ? (below ? belowLow_ : aboveLow_) : residualLow_;
  double rHigh = outside ? (below ? belowHigh_ : aboveHigh_) : residualHigh_;
  const bool knee = kneeAt(target, machines);
  // Between two measured counts a and b, each held-out error is scaled by
  // ln(b / a) over the gap it was made across (its own m and, when a
  // neighbour was held out too, more were missing), when that was wider:
  // interpolation errors grow with the gap.
  const bool between = !outside && !measured(machines) && !interiorCases_.empty();
  if (between) {
    const auto above = std::upper_bound(machines_.begin(), machines_.end(), machines);
    const double gap = std::log(*above / *(above - 1));
    const bool ownKind = knee ? kneeCalibrated_ : elsewhereCalibrated_;
    std::vector<double> scaled;
    for (const auto& c : interiorCases_) {
      if (!ownKind || c.knee == knee) scaled.push_back(c.logRatio * std::min(1.0, gap / c.gap));
    }
    rLow = quantile(scaled, 0.1);
    rHigh = quantile(scaled, 0.9);
  }
  if (knee) {  // a flat part: small errors in level, large in iterations
    if (kneeCalibrated_ && !outside) {
      if (!between) {
        rLow = kneeLow_;
        rHigh = kneeHigh_;
      }
    } else {
      rLow = std::min(rLow, 0.0) - kKneeWidening;
      rHigh = std::max(rHigh, 0.0) + kKneeWidening;
    }
  }
  return {rLow, rHigh};
}

std::optional<std::pair<double, double>> ConvergenceModel::iterationsInterval(
    double target, double machines, double maxIterations) const {
  const auto i = iterationsTo(target, machines, maxIterations);
  if (!i || !(heldOutError_ || intervalsFromBounds_)) return std::nullopt;
  // A prediction that is `r` (log ratio) off the truth: truth = i / e^r.
  const auto bounds = logRatioBounds(target, machines, *i);
  if (!bounds) return std::nullopt;
  const auto [rLow, rHigh] = *bounds;
  // The quantiles' own bounds, not rounded outwards to whole iterations:
  // rounding covered every truth within one iteration of the prediction
  // (92-100% coverage of 80% intervals on the fidelity traces).
  const double lo = std::max(1.0, *i / std::exp(rHigh));
  const double hi = *i / std::exp(rLow);
  return std::make_pair(std::min(lo, *i), std::max(hi, *i));
}

std::optional<std::pair<double, double>> ConvergenceModel::lossInterval(double iteration,
                                                                        double machines) const {
  if (!(heldOutError_ || intervalsFromBounds_)) return std::nullopt;
  const double at = std::max(1.0, iteration);
  const double loss = predictLoss(at, machines);
  // If g reaches each level e^r times later than the truth, the truth's
  // value after `at` iterations is g's after at e^r.
  const auto bounds = logRatioBounds(loss, machines, at);
  if (!bounds) return std::nullopt;
  const auto [rLow, rHigh] = *bounds;
  const double lo = predictLoss(at * std::exp(std::max(rHigh, 0.0)), machines);
  const double hi = predictLoss(std::max(1.0, at * std::exp(std::min(rLow, 0.0))), machines);
  return std::make_pair(std::min(lo, loss), std::max(hi, loss));
}

void ConvergenceModel::calibrateForward(const std::vector<LossPoint>& above) {
  forwardCases_.clear();
  std::map<double, std::vector<LossPoint>> byM;
  for (const auto& p : above) byM[p.machines].push_back(p);
  for (const auto& [m, curve] : byM) {
    const auto truth = LevelSetCurve::fit(curve, {0, 0});
    if (!truth.usable()) continue;
    const double longest = truth.longestTrace(m);
    const double bottom = truth.predictLog10(longest, m);
    for (double fraction : {0.5, 0.25}) {
      const double cut = longest * fraction;
      if (cut < 10) continue;
      std::vector<LossPoint> early;
      for (const auto& p : curve) {
        if (p.iteration <= cut) early.push_back(p);
      }
      const auto byEarly = LevelSetCurve::fit(early, {0, 0});
      if (!byEarly.usable()) continue;
      // Levels a quarter, half, three quarters and all the way from where
      // the cut curve ends to where the whole curve does.
      const double reached = byEarly.predictLog10(cut, m);
      if (!(reached - bottom > 0.01)) continue;
      for (double q : {0.25, 0.5, 0.75, 1.0}) {
        const double goal = reached - (reached - bottom) * q;
        const double real = std::pow(10.0, truth.log10IterationsTo(goal, m));
        if (!(real > cut)) continue;
        const double predicted = std::pow(10.0, byEarly.log10IterationsTo(goal, m));
        const double r = std::isfinite(predicted) ? std::log(predicted / real) : kNeverLogRatio;
        forwardCases_.push_back({std::min(r, kNeverLogRatio), std::log(real / cut)});
      }
    }
  }
}

namespace {

// A form of g fitted on the training counts, as the held-out comparison asks
// it: the iterations at which it predicts the curve at `machines` to reach
// `goal` (log10 above P*), kNever when never.
class HeldOutForm {
 public:
  virtual ~HeldOutForm() = default;
  virtual Form form() const = 0;
  virtual double iterationsTo(double goal, double machines) const = 0;
};

class LevelSetHeldOut final : public HeldOutForm {
 public:
  explicit LevelSetHeldOut(const LevelSetCurve& curve) : curve_(curve) {}
  Form form() const override { return Form::kLevelSet; }
  double iterationsTo(double goal, double machines) const override {
    return std::pow(10.0, curve_.log10IterationsTo(goal, machines));
  }

 private:
  const LevelSetCurve& curve_;
};

class LassoHeldOut final : public HeldOutForm {
 public:
  explicit LassoHeldOut(const LassoFit& fit) : fit_(fit) {}
  Form form() const override { return Form::kLasso; }
  double iterationsTo(double goal, double machines) const override {
    const auto i = firstIterationBelow(
        [&](double it) {
          return fit_.intercept + convergenceFeatures(it, machines).dot(fit_.beta);
        },
        goal, 1e7);
    return i ? *i : kNever;
  }

 private:
  const LassoFit& fit_;
};

class ShapeHeldOut final : public HeldOutForm {
 public:
  explicit ShapeHeldOut(ShapeCurve curve) : curve_(std::move(curve)) {}
  Form form() const override { return Form::kShape; }
  double iterationsTo(double goal, double machines) const override {
    return curve_.usable() ? std::pow(10.0, curve_.log10IterationsTo(goal, machines)) : kNever;
  }

 private:
  ShapeCurve curve_;
};

}  // namespace

void ConvergenceModel::holdOut(const std::vector<LossPoint>& train,
                               const std::vector<LossPoint>& test, double mh, bool smoothForms,
                               const ConvergenceOptions& options, HeldOutSet& out) const {
  const auto bounds = slopeBoundsFor(options.algorithm);
  const auto truth = LevelSetCurve::fit(aboveOptimum(test, pStar_), bounds);
  const auto trainAbove = aboveOptimum(train, pStar_);
  const auto byLevelCurve = LevelSetCurve::fit(trainAbove, bounds);
  LassoCvResult cv;
  if (smoothForms) {
    LassoOptions quick = options.lasso;
    quick.pathLength = std::min(quick.pathLength, 20);
    const auto d = design(train, pStar_);
    cv = lassoCv(d.x, d.y, kFolds(static_cast<int>(d.y.size()), 3, options.seed), quick);
  }
  if (!truth.usable() || !byLevelCurve.usable() ||
      (smoothForms && cv.fit.status == FitStatus::kTooFewPoints)) {
    return;
  }
  // The forms compared: the level-set form always, the smooth ones inside the counts.
  std::vector<std::unique_ptr<HeldOutForm>> forms;
  forms.push_back(std::make_unique<LevelSetHeldOut>(byLevelCurve));
  if (smoothForms) forms.push_back(std::make_unique<LassoHeldOut>(cv.fit));
  if (shape_ && smoothForms)
    forms.push_back(std::make_unique<ShapeHeldOut>(ShapeCurve::fit(trainAbove)));
  // The knee flag as kneeAt() would set it for mh, from the training curves,
  // and the gap ln(above / below) between the training counts around mh (0
  // beyond them).
  double nearest = 0, below = 0, above = 0;
  for (const auto& p : train) {
    if (nearest == 0 || std::abs(std::log(p.machines / mh)) < std::abs(std::log(nearest / mh))) {
      nearest = p.machines;
    }
    if (p.machines < mh) below = std::max(below, p.machines);
    if (p.machines > mh && (above == 0 || p.machines < above)) above = p.machines;
  }
  const double gap = below > 0 && above > 0 ? std::log(above / below) : 0;
  const double top = truth.predictLog10(1, mh);
  const double bottom = truth.predictLog10(truth.longestTrace(mh), mh);
  auto logRatio = [](double predicted, double real) {
    return std::isfinite(predicted) ? std::log(predicted / real) : kNeverLogRatio;
  };
  for (double q : {0.25, 0.5, 0.75, 1.0}) {
    const double goal = top - (top - bottom) * q;
    const double real = std::pow(10.0, truth.log10IterationsTo(goal, mh));
    if (!(real >= 5)) continue;
    for (const auto& form : forms) {
      out.errors[form->form()].push_back(logRatio(form->iterationsTo(goal, mh), real));
    }
    if (smoothForms) {
      const double slope = byLevelCurve.localSlope(goal, nearest);
      out.knees.push_back(std::isfinite(slope) && slope > kKneeSlope);
      out.gaps.push_back(gap);
    }
  }
}

void ConvergenceModel::pickForm(const HeldOutSet& interior) {
  // Median relative error |pred / true - 1| of each form; ties go to the
  // measured curves (level-set), then to the Lasso form. Every form is
  // named in heldOutErrors(), one without cases too.
  FormErrors all = interior.errors;
  all[Form::kLasso];
  all[Form::kShape];
  auto relative = [](const std::vector<double>& logRatios) {
    std::vector<double> e;
    for (double r : logRatios) e.push_back(std::abs(std::exp(std::min(r, kNeverLogRatio)) - 1));
    return median(e);
  };
  form_ = Form::kLevelSet;
  heldOutError_ = relative(interior.errors.at(Form::kLevelSet));
  for (const Form form : {Form::kLasso, Form::kShape}) {
    if (all[form].empty()) continue;
    const double e = relative(all[form]);
    if (e < *heldOutError_) {
      form_ = form;
      heldOutError_ = e;
    }
  }
  const auto& chosen = interior.errors.at(form_);
  heldOutCases_ = chosen.size();
  for (const auto& [form, errors] : all) heldOutErrors_[form] = relative(errors);
  residualLow_ = quantile(chosen, 0.1);
  residualHigh_ = quantile(chosen, 0.9);
  // Knee and other cases err differently: where each kind has cases enough,
  // its interval comes from its own errors (else from all, and a knee's is
  // widened by kKneeWidening).
  std::vector<double> atKnee, elsewhere;
  for (std::size_t k = 0; k < chosen.size(); ++k)
    (interior.knees[k] ? atKnee : elsewhere).push_back(chosen[k]);
  interiorCases_.clear();
  for (std::size_t k = 0; k < chosen.size(); ++k) {
    if (interior.gaps[k] > 0)
      interiorCases_.push_back({chosen[k], interior.gaps[k], interior.knees[k] != 0});
  }
  elsewhereCalibrated_ = elsewhere.size() >= kMinCasesPerKind;
  if (elsewhere.size() >= kMinCasesPerKind) {
    residualLow_ = quantile(elsewhere, 0.1);
    residualHigh_ = quantile(elsewhere, 0.9);
  }
  kneeCalibrated_ = atKnee.size() >= kMinCasesPerKind;
  if (kneeCalibrated_) {
    kneeLow_ = quantile(atKnee, 0.1);
    kneeHigh_ = quantile(atKnee, 0.9);
  }
}

// Extrapolation, for intervals beyond the measured counts: upward, the
// largest and the second largest m each from the counts below it; downward,
// the smallest and the second smallest each from the counts above it (the
// level-set form only: it alone serves there; no knee split, at most 8
// cases, and no gap).
void ConvergenceModel::calibrateBeyond(const std::vector<LossPoint>& points,
                                       const ConvergenceOptions& options) {
  HeldOutSet up, down;
  const std::size_t n = machines_.size();
  for (std::size_t k = 0; k < n; ++k) {
    const bool upward = k + 2 >= n && k >= 2, downward = k <= 1 && k + 3 <= n;
    for (const bool isUp : {true, false}) {
      if (isUp ? !upward : !downward) continue;
      const double mh = machines_[k];
      std::vector<LossPoint> train, test;
      for (const auto& p : points) {
        if (p.machines == mh) test.push_back(p);
        if (isUp ? p.machines < mh : p.machines > mh) train.push_back(p);
      }
      holdOut(train, test, mh, false, options, isUp ? up : down);
    }
  }
  // Beyond the measured counts the level-set form serves (formAt): its
  // extrapolation in m is held within the algorithm's slope bounds, which the
  // smooth forms' is not (on the fidelity traces the shape form chosen inside
  // was up to 3x off one doubling out).
  auto beyond = [&](FormErrors& errors, double& low, double& high) {
    const auto& e = errors[Form::kLevelSet];
    low = e.size() >= 3 ? quantile(e, 0.1) : residualLow_;
    high = e.size() >= 3 ? quantile(e, 0.9) : residualHigh_;
  };
  beyond(up.errors, aboveLow_, aboveHigh_);
  beyond(down.errors, belowLow_, belowHigh_);
}

void ConvergenceModel::chooseForm(const std::vector<LossPoint>& points,
                                  const ConvergenceOptions& options) {
  const auto bounds = slopeBoundsFor(options.algorithm);
  const auto above = aboveOptimum(points, pStar_);
  auto levelSet = std::make_shared<LevelSetCurve>(LevelSetCurve::fit(above, bounds));
  if (!levelSet->usable()) return;
  levelSet_ = levelSet;
  if (!options.chooseForm) return;
  calibrateForward(above);
  if (machines_.size() < 3) {  // nothing to hold out: the measured curves themselves
    form_ = Form::kLevelSet;
    intervalsFromBounds_ = true;
    return;
  }
  auto shape = std::make_shared<ShapeCurve>(ShapeCurve::fit(above));
  if (shape->usable()) shape_ = shape;
  // Each interior count held out in turn, predicted from the others.
  HeldOutSet interior;
  for (std::size_t h = 1; h + 1 < machines_.size(); ++h) {
    const double mh = machines_[h];
    std::vector<LossPoint> train, test;
    for (const auto& p : points) (p.machines == mh ? test : train).push_back(p);
    holdOut(train, test, mh, true, options, interior);
  }
  if (interior.errors[Form::kLevelSet].empty()) {
    form_ = Form::kLevelSet;
    intervalsFromBounds_ = true;
    return;
  }
  pickForm(interior);
  formsCompared_ = true;
  calibrateBeyond(points, options);
}

}  // namespace hemingway::adaptive
