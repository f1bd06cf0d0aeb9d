// A form of the convergence model g that assumes no shape: each measured m's
// curve, made monotone, gives the iterations I_m(L) at which it reaches every
// level L of log10(P - P*). At another m, log I(L) is interpolated linearly in
// log m between the nearest measured counts, and extrapolated beyond them
// with a slope d log I / d log m held within bounds that theory gives per
// algorithm (GD flat in m; CoCoA and CoCoA+ at most linear; minibatch SGD
// between linear speed-up and none). Below the lowest level a curve reached,
// it goes on with the power law of its tail. The curve never rises with i and
// never predicts more than the observed start.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "hemingway/adaptive/convergence_model.h"

namespace hemingway::adaptive {

// Bounds on d log(iterations to a level) / d log m.
struct SlopeBounds {
  double low = -1;
  double high = 1;
};
// gd: [0, 0]; cocoa, cocoa+: [0, 1]; sgd: [-1, 0]; anything else: [-1, 1].
SlopeBounds slopeBoundsFor(Algorithm algorithm);

class LevelSetCurve {
 public:
  // `points`: smoothed (m, i, y) with y = P - P* > 0.
  static LevelSetCurve fit(const std::vector<LossPoint>& points, SlopeBounds bounds);

  bool usable() const { return !curves_.empty(); }
  const SlopeBounds& bounds() const { return bounds_; }
  // log10(P - P*) after `iteration` iterations on `machines`.
  double predictLog10(double iteration, double machines) const;
  // log10 of the iterations needed to reach log10(P - P*) = level on
  // `machines`; +infinity when never.
  double log10IterationsTo(double level, double machines) const;
  // d level / d log10 i where the curve at the measured count `machines`
  // crosses `level` (over a tenth of a decade of i on each side);
  // NaN when `machines` was not measured or the curve never gets there.
  double localSlope(double level, double machines) const;
  // The longest trace at `machines`, if measured (0 otherwise).
  double longestTrace(double machines) const;

 private:
  struct Curve {
    double logM = 0;
    std::vector<double> logI;   // increasing
    std::vector<double> level;  // non-increasing with logI
    double tailSlope = 0;       // d level / d logI over the last third (< 0), or 0
  };
  double log10IterationsOn(const Curve& c, double level) const;

  std::vector<Curve> curves_;  // by increasing m
  SlopeBounds bounds_;
  // Extrapolation slopes below the smallest and above the largest measured
  // m: one per side (the median over the levels both end curves reach,
  // within the bounds), so that I(L) stays monotone in L.
  double slopeBelow_ = 0, slopeAbove_ = 0;
  double top_ = 0;     // the highest start level
  double bottom_ = 0;  // the lowest level any curve reached
};

}  // namespace hemingway::adaptive
