// A form of the convergence model g with the shape of CoCoA-type traces: a
// fast phase that ends at a knee, then a slow power-law tail,
//   P(i, m) - P* = A(m) exp(-(r(m) i)^q) + B(m) i^(-p(m)),
// with ln A, ln B and ln p linear in ln m, ln r quadratic in ln m and one q
// for all m: ten parameters, fitted jointly to every measured curve (at most
// 25 points each, log-evenly spread) by least squares on ln(P - P*)
// (Levenberg-Marquardt: eight starts screened by a few steps each, the best
// run to convergence). A, B, r, p and q are positive, so the curve never rises with i; it
// is also capped at the highest observed start. Its tail beyond the longest
// trace is the fitted power law, so the form is chosen, like the others, by
// held-out error (convergence_model.h).
#pragma once

#include <vector>

#include <Eigen/Dense>

#include "hemingway/adaptive/convergence_model.h"

namespace hemingway::adaptive {

class ShapeCurve {
 public:
  static constexpr int kParameters = 10;
  // `points`: smoothed (m, i, y) with y = P - P* > 0.
  static ShapeCurve fit(const std::vector<LossPoint>& points);

  bool usable() const { return usable_; }
  // log10(P - P*) after `iteration` iterations on `machines`.
  double predictLog10(double iteration, double machines) const;
  // log10 of the iterations to reach log10(P - P*) = level on `machines`
  // (searched up to 1e12 iterations); +infinity when never.
  double log10IterationsTo(double level, double machines) const;
  // Root mean square error of the fit in log10 units.
  double rmsLog10() const { return rms_; }

 private:
  double lnValue(double lnI, double x) const;  // ln(P - P*) at ln i, x = ln m

  bool usable_ = false;
  Eigen::VectorXd theta_ = Eigen::VectorXd::Zero(kParameters);
  double top_ = 0;  // the highest observed start, ln
  double rms_ = 0;
};

}  // namespace hemingway::adaptive
