#include "hemingway/adaptive/level_set_curve.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

namespace hemingway::adaptive {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// Least-squares slope of y on x.
double slope(const std::vector<double>& x, const std::vector<double>& y, std::size_t from) {
  const std::size_t n = x.size() - from;
  if (n < 2) return 0;
  double mx = 0, my = 0;
  for (std::size_t k = from; k < x.size(); ++k) {
    mx += x[k];
    my += y[k];
  }
  mx /= static_cast<double>(n);
  my /= static_cast<double>(n);
  double sxy = 0, sxx = 0;
  for (std::size_t k = from; k < x.size(); ++k) {
    sxy += (x[k] - mx) * (y[k] - my);
    sxx += (x[k] - mx) * (x[k] - mx);
  }
  return sxx > 0 ? sxy / sxx : 0;
}

}  // namespace

SlopeBounds slopeBoundsFor(Algorithm algorithm) {
  switch (algorithm) {
    case Algorithm::kGd:
      return {0, 0};
    case Algorithm::kCocoa:
    case Algorithm::kCocoaPlus:
      return {0, 1};
    case Algorithm::kSgd:
      return {-1, 0};
    default:
      return {-1, 1};
  }
}

LevelSetCurve LevelSetCurve::fit(const std::vector<LossPoint>& points, SlopeBounds bounds) {
  LevelSetCurve out;
  out.bounds_ = bounds;
  std::map<double, std::vector<std::pair<double, double>>> byM;
  for (const auto& p : points) {
    if (p.loss > 0 && p.iteration >= 1 && p.machines >= 1) {
      byM[p.machines].push_back({p.iteration, std::log10(p.loss)});
    }
  }
  out.top_ = -kInf;
  out.bottom_ = kInf;
  for (auto& [m, series] : byM) {
    std::sort(series.begin(), series.end());
    Curve c;
    c.logM = std::log10(m);
    double running = kInf;
    for (const auto& [i, level] : series) {
      running = std::min(running, level);  // monotone: the best value so far
      if (!c.logI.empty() && std::log10(i) <= c.logI.back()) continue;
      c.logI.push_back(std::log10(i));
      c.level.push_back(running);
    }
    if (c.logI.size() < 2) continue;
    const std::size_t from = c.logI.size() - std::max<std::size_t>(2, c.logI.size() / 3);
    c.tailSlope = std::min(0.0, slope(c.logI, c.level, from));
    out.top_ = std::max(out.top_, c.level.front());
    out.bottom_ = std::min(out.bottom_, c.level.back());
    out.curves_.push_back(std::move(c));
  }
  auto endSlope = [&out](std::size_t a, std::size_t b) {
    const auto& ca = out.curves_[a];
    const auto& cb = out.curves_[b];
    const double hi = std::min(ca.level.front(), cb.level.front());
    const double lo = std::max(ca.level.back(), cb.level.back());
    std::vector<double> slopes;
    for (int k = 0; k <= 20 && hi > lo; ++k) {
      const double level = hi - (hi - lo) * k / 20.0;
      slopes.push_back((out.log10IterationsOn(cb, level) - out.log10IterationsOn(ca, level)) /
                       (cb.logM - ca.logM));
    }
    if (slopes.empty()) return std::clamp(0.0, out.bounds_.low, out.bounds_.high);
    std::nth_element(slopes.begin(), slopes.begin() + slopes.size() / 2, slopes.end());
    return std::clamp(slopes[slopes.size() / 2], out.bounds_.low, out.bounds_.high);
  };
  const std::size_t n = out.curves_.size();
  if (n >= 2) {
    out.slopeBelow_ = endSlope(0, 1);
    out.slopeAbove_ = endSlope(n - 2, n - 1);
  } else {
    out.slopeBelow_ = bounds.low;  // one curve: the cautious side
    out.slopeAbove_ = bounds.high;
  }
  return out;
}

double LevelSetCurve::log10IterationsOn(const Curve& c, double level) const {
  if (level >= c.level.front()) return c.logI.front();
  if (level < c.level.back()) {  // below the trace: its tail's power law
    if (c.tailSlope >= 0) return kInf;
    return c.logI.back() + (level - c.level.back()) / c.tailSlope;
  }
  // The first point at or below `level`, interpolated from the one before.
  const auto it =
      std::find_if(c.level.begin(), c.level.end(), [&](double v) { return v <= level; });
  const auto k = static_cast<std::size_t>(it - c.level.begin());
  if (k == 0 || c.level[k - 1] == c.level[k]) return c.logI[k];
  const double t = (c.level[k - 1] - level) / (c.level[k - 1] - c.level[k]);
  return c.logI[k - 1] + t * (c.logI[k] - c.logI[k - 1]);
}

double LevelSetCurve::log10IterationsTo(double level, double machines) const {
  if (curves_.empty()) return kInf;
  const double x = std::log10(machines);
  auto at = [&](std::size_t k) { return log10IterationsOn(curves_[k], level); };
  const std::size_t n = curves_.size();
  if (x <= curves_.front().logM) return at(0) + slopeBelow_ * (x - curves_.front().logM);
  if (x >= curves_.back().logM) return at(n - 1) + slopeAbove_ * (x - curves_.back().logM);
  std::size_t b = 1;
  while (curves_[b].logM < x) ++b;
  const double ya = at(b - 1), yb = at(b);
  if (!std::isfinite(ya) || !std::isfinite(yb)) return kInf;
  const double t = (x - curves_[b - 1].logM) / (curves_[b].logM - curves_[b - 1].logM);
  return ya + t * (yb - ya);
}

double LevelSetCurve::predictLog10(double iteration, double machines) const {
  const double target = std::log10(std::max(1.0, iteration));
  // I(L) falls as L rises: bisect for the level reached at `iteration`.
  double hi = top_, lo = bottom_ - 12;
  if (log10IterationsTo(hi, machines) >= target) return hi;
  if (log10IterationsTo(lo, machines) <= target) return lo;
  for (int k = 0; k < 60; ++k) {
    const double mid = 0.5 * (lo + hi);
    (log10IterationsTo(mid, machines) <= target ? hi : lo) = mid;
  }
  return hi;
}

double LevelSetCurve::localSlope(double level, double machines) const {
  const double x = std::log10(machines);
  for (const auto& c : curves_) {
    if (c.logM != x) continue;
    const double at = log10IterationsOn(c, level);
    if (!std::isfinite(at) || at > c.logI.back()) return NAN;
    const double lo = std::max(c.logI.front(), at - 0.1);
    const double hi = std::min(c.logI.back(), at + 0.1);
    if (hi - lo < 1e-9) return NAN;
    auto levelAt = [&c](double logI) {  // the curve's level at log10 i
      const auto it = std::lower_bound(c.logI.begin(), c.logI.end(), logI);
      if (it == c.logI.begin()) return c.level.front();
      if (it == c.logI.end()) return c.level.back();
      const auto k = static_cast<std::size_t>(it - c.logI.begin());
      const double t = (logI - c.logI[k - 1]) / (c.logI[k] - c.logI[k - 1]);
      return c.level[k - 1] + t * (c.level[k] - c.level[k - 1]);
    };
    return (levelAt(hi) - levelAt(lo)) / (hi - lo);
  }
  return NAN;
}

double LevelSetCurve::longestTrace(double machines) const {
  const double x = std::log10(machines);
  for (const auto& c : curves_) {
    if (c.logM == x) return std::pow(10.0, c.logI.back());
  }
  return 0;
}

}  // namespace hemingway::adaptive
