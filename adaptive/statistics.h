// Order statistics of samples, shared by the models and their benchmarks.
#pragma once

#include <vector>

namespace hemingway::adaptive {

// The q-quantile (0 <= q <= 1) with linear interpolation; NaN when empty.
double quantile(std::vector<double> values, double q);
// The median (the mean of the middle two for an even count); NaN when empty.
inline double median(std::vector<double> values) { return quantile(std::move(values), 0.5); }

}  // namespace hemingway::adaptive
