// What trying a machine count is worth before the run has measured it: the
// count to start on, bounds on an unmeasured count's time per iteration, and
// the value of a probe (its expected improvement against what it costs).
// Pure functions, so that the controller's tests can check them by hand.
#pragma once

#include <vector>

#include "hemingway/adaptive/level_set_curve.h"

namespace hemingway::adaptive {

// The count to start on when nothing is measured: the one whose worst ratio
// to the best count is smallest over the jobs the bounds allow. Time per
// iteration is Ernest-shaped, 1/m + m/b^2 (computation that splits,
// communication that grows), balanced at any b from min/4 to 4 max;
// iterations grow as m^s for s within the algorithm's slope bounds.
int firstCountFromBounds(int minWorkers, int maxWorkers, SlopeBounds bounds);

// For f(m) = t0 + t1/m + t2 ln m + t3 m with t >= 0, measured t(m0) bounds
// t(m) within [t(m0) / r, t(m0) * r], r = max(m/m0, m0/m) (for m0 >= 3; a
// little wider below, where ln m0 is small).
struct SecondsBounds {
  double low = 0, high = 0;
};
SecondsBounds secondsBoundsFrom(double measuredSeconds, double measuredAt, double m);

// A forecast as a lognormal variable: median `value`, 80% interval [low, high].
struct Lognormal {
  double value = 0, low = 0, high = 0;
};
// E[max(0, best - X)]: what switching to X gains over `best` on average,
// counting only the cases where X is better.
double expectedImprovement(double best, const Lognormal& x);
// P(X > best): the chance that trying X is wasted.
double chanceWorse(double best, const Lognormal& x);

// The same for a normal variable (a budget goal's log10 metric, in decades):
// median `value`, 80% interval [low, high].
double expectedImprovementNormal(double best, const Lognormal& x);
double chanceWorseNormal(double best, const Lognormal& x);

}  // namespace hemingway::adaptive
