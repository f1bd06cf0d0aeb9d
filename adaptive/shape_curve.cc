#include "hemingway/adaptive/shape_curve.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include "hemingway/adaptive/solvers.h"
#include "hemingway/adaptive/statistics.h"

namespace hemingway::adaptive {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kMaxLnU = 700;  // exp(-(r i)^q) is 0 beyond this
constexpr int kPointsPerCurve = 25;
constexpr int kScreeningSteps = 8;

// ln(e^a + e^b).
double logAddExp(double a, double b) {
  const double hi = std::max(a, b);
  if (!std::isfinite(hi)) return hi;
  return hi + std::log1p(std::exp(std::min(a, b) - hi));
}

struct Terms {
  double lnF = 0;
  double wA = 0, wB = 0;  // shares of the two terms in F
  double wAu = 0;         // wA (r i)^q
  double lnRI = 0;        // ln r + ln i
  double p = 0, q = 0;
};

// theta: ln A = t0 + t1 x, ln B = t2 + t3 x, ln p = t4 + t5 x,
// ln r = t6 + t7 x + t8 x^2, ln q = t9; x = ln m.
Terms terms(const Eigen::VectorXd& t, double lnI, double x) {
  Terms s;
  const double lnA = t[0] + t[1] * x, lnB = t[2] + t[3] * x;
  s.p = std::exp(t[4] + t[5] * x);
  s.q = std::exp(t[9]);
  s.lnRI = t[6] + t[7] * x + t[8] * x * x + lnI;
  const double lnU = std::min(s.q * s.lnRI, kMaxLnU);
  const double a = lnA - std::exp(lnU), b = lnB - s.p * lnI;
  s.lnF = logAddExp(a, b);
  s.wA = std::exp(a - s.lnF);
  s.wB = std::exp(b - s.lnF);
  s.wAu = s.q * s.lnRI < kMaxLnU ? std::exp(a - s.lnF + lnU) : 0.0;
  return s;
}

bool inDomain(const Eigen::VectorXd& t) {
  return t.allFinite() && std::abs(t[9]) <= 3 && t.cwiseAbs().maxCoeff() < 1e3;
}

}  // namespace

namespace {

// The points a fit uses: at most kPointsPerCurve per curve, the nearest to a
// log-even grid of iterations (ten parameters of a smooth curve need no more,
// and the fit's cost is linear in the points), with their indices by m.
struct Sample {
  std::vector<double> lnI, x, lnY;
  std::map<double, std::vector<std::size_t>> byM;
};

Sample sampleCurves(const std::vector<LossPoint>& points, int perCurve) {
  Sample out;
  std::map<double, std::vector<LossPoint>> curves;
  for (const auto& p : points) {
    if (p.loss > 0 && p.iteration >= 1 && p.machines >= 1) curves[p.machines].push_back(p);
  }
  for (auto& [m, curve] : curves) {
    std::sort(curve.begin(), curve.end(),
              [](const LossPoint& a, const LossPoint& b) { return a.iteration < b.iteration; });
    const double lo = std::log(curve.front().iteration), hi = std::log(curve.back().iteration);
    std::size_t k = 0, last = curve.size();
    for (int g = 0; g < perCurve; ++g) {
      const double target = lo + (hi - lo) * g / (perCurve - 1);
      while (k + 1 < curve.size() && std::log(curve[k].iteration) < target) ++k;
      if (k == last) continue;
      last = k;
      out.byM[m].push_back(out.lnI.size());
      out.lnI.push_back(std::log(curve[k].iteration));
      out.x.push_back(std::log(m));
      out.lnY.push_back(std::log(curve[k].loss));
    }
  }
  return out;
}

// The tail: ln y = c0 + c1 x - p ln i by least squares over the last third of
// every curve.
Eigen::Vector3d fitTail(const Sample& s) {
  std::vector<std::size_t> tail;
  for (const auto& [m, idx] : s.byM) {
    for (std::size_t k = idx.size() - std::max<std::size_t>(1, idx.size() / 3); k < idx.size(); ++k)
      tail.push_back(idx[k]);
  }
  Eigen::MatrixXd td(static_cast<Eigen::Index>(tail.size()), 3);
  Eigen::VectorXd ty(static_cast<Eigen::Index>(tail.size()));
  for (std::size_t k = 0; k < tail.size(); ++k) {
    const auto r = static_cast<Eigen::Index>(k);
    td.row(r) << 1, s.x[tail[k]], s.lnI[tail[k]];
    ty[r] = s.lnY[tail[k]];
  }
  Eigen::Vector3d c = td.colPivHouseholderQr().solve(ty);
  if (!c.allFinite()) c = Eigen::Vector3d(median(s.lnY), 0, 0);
  return c;
}

// Every start gets a few steps; the best goes on to convergence.
LeastSquaresResult bestOfStarts(const ResidualFunction& residuals,
                                const std::vector<Eigen::VectorXd>& tries, int screeningSteps) {
  LeastSquaresOptions screen;
  screen.maxIterations = screeningSteps;
  LeastSquaresResult best;
  best.sumOfSquares = std::numeric_limits<double>::infinity();
  for (const auto& t : tries) {
    auto result = levenbergMarquardt(residuals, t, screen);
    if (result.status != FitStatus::kTooFewPoints && result.sumOfSquares < best.sumOfSquares) {
      best = std::move(result);
    }
  }
  if (!std::isfinite(best.sumOfSquares) || best.status == FitStatus::kConverged) return best;
  LeastSquaresOptions full;
  full.maxIterations = 300;
  auto result = levenbergMarquardt(residuals, best.x, full);
  if (result.sumOfSquares <= best.sumOfSquares) best = std::move(result);
  return best;
}

}  // namespace

ShapeCurve ShapeCurve::fit(const std::vector<LossPoint>& points) {
  ShapeCurve out;
  auto sample = sampleCurves(points, kPointsPerCurve);
  const auto& lnI = sample.lnI;
  const auto& x = sample.x;
  const auto& lnY = sample.lnY;
  const auto n = static_cast<Eigen::Index>(lnY.size());
  if (n < 2 * kParameters || sample.byM.empty()) return out;
  out.top_ = -kInf;
  std::vector<double> startLevels;
  double maxLnI = 0;
  for (auto& [m, idx] : sample.byM) {
    std::sort(idx.begin(), idx.end(),
              [&](std::size_t a, std::size_t b) { return lnI[a] < lnI[b]; });
    out.top_ = std::max(out.top_, lnY[idx.front()]);
    startLevels.push_back(lnY[idx.front()]);
    maxLnI = std::max(maxLnI, lnI[idx.back()]);
  }
  const Eigen::Vector3d c = fitTail(sample);
  const double p0 = std::clamp(-c[2], 0.05, 5.0);
  std::vector<Eigen::VectorXd> tries;
  for (double share : {0.2, 0.4, 0.6, 0.8}) {
    for (double slopeInM : {0.0, -1.0}) {
      Eigen::VectorXd t(kParameters);
      t << median(startLevels), 0, c[0], c[1], std::log(p0), 0, -share * maxLnI, slopeInM, 0, 0;
      tries.push_back(t);
    }
  }
  const ResidualFunction residuals = [&](const Eigen::VectorXd& t, Eigen::VectorXd& r,
                                         Eigen::MatrixXd& j) {
    if (!inDomain(t)) return false;
    r.resize(n);
    j.resize(n, kParameters);
    for (Eigen::Index k = 0; k < n; ++k) {
      const auto u = static_cast<std::size_t>(k);
      const Terms s = terms(t, lnI[u], x[u]);
      const double xv = x[u];
      r[k] = s.lnF - lnY[u];
      const double dLnP = -s.wB * s.p * lnI[u];
      const double dLnR = -s.q * s.wAu;
      j.row(k) << s.wA, s.wA * xv, s.wB, s.wB * xv, dLnP, dLnP * xv, dLnR, dLnR * xv,
          dLnR * xv * xv, dLnR * s.lnRI;
    }
    return true;
  };
  const auto best = bestOfStarts(residuals, tries, kScreeningSteps);
  if (!std::isfinite(best.sumOfSquares)) return out;
  out.usable_ = true;
  out.theta_ = best.x;
  out.rms_ = std::sqrt(best.sumOfSquares / static_cast<double>(n)) / std::log(10.0);
  return out;
}

double ShapeCurve::lnValue(double lnI, double x) const {
  return std::min(terms(theta_, lnI, x).lnF, top_);
}

double ShapeCurve::predictLog10(double iteration, double machines) const {
  return lnValue(std::log(std::max(1.0, iteration)), std::log(machines)) / std::log(10.0);
}

double ShapeCurve::log10IterationsTo(double level, double machines) const {
  if (!usable_) return kInf;
  const double goal = level * std::log(10.0), x = std::log(machines);
  double lo = 0, hi = std::log(1e12);
  if (lnValue(lo, x) <= goal) return 0;
  if (lnValue(hi, x) > goal) return kInf;
  for (int k = 0; k < 60; ++k) {  // ln F falls with ln i: bisect
    const double mid = 0.5 * (lo + hi);
    (lnValue(mid, x) <= goal ? hi : lo) = mid;
  }
  return hi / std::log(10.0);
}

}  // namespace hemingway::adaptive
