// Noisy decreasing traces for the tests that no form of g rises with i or
// predicts more than the observed start.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "hemingway/adaptive/convergence_model.h"

namespace hemingway::adaptive::testing {

struct DecreasingTraces {
  std::vector<LossPoint> points;
  double startLog10 = -INFINITY;  // the highest first value, log10
};

// y = 0.001 + exp(-rate i / sqrt m) 10^N(0, 0.05) at m = 1, 2, 4, 16 for
// i = 1..150, the rate set by `trial`.
inline DecreasingTraces decreasingTraces(int trial, std::mt19937_64& rng) {
  std::normal_distribution<double> noise(0, 0.05);
  DecreasingTraces out;
  const double rate = 0.02 + 0.01 * (trial % 5);
  for (double m : {1.0, 2.0, 4.0, 16.0}) {
    for (int i = 1; i <= 150; ++i) {
      const double y = 0.001 + std::exp(-rate * i / std::sqrt(m)) * std::pow(10.0, noise(rng));
      out.points.push_back({m, double(i), y});
      if (i == 1) out.startLog10 = std::max(out.startLog10, std::log10(y));
    }
  }
  return out;
}

// log10At(i, m) never rises with i and never exceeds `start`, at measured,
// interpolated and extrapolated m, for i up to maxIteration.
template <typename F>
void expectNeverRisesNorAboveStart(const F& log10At, double start, double maxIteration) {
  for (double m : {1.0, 3.0, 4.0, 9.0, 32.0, 128.0}) {
    double previous = INFINITY;
    for (double i = 1; i <= maxIteration; i *= 1.3) {
      const double v = log10At(i, m);
      ASSERT_TRUE(std::isfinite(v)) << "i = " << i << ", m = " << m;
      EXPECT_LE(v, previous + 1e-9) << "rises at i = " << i << ", m = " << m;
      EXPECT_LE(v, start + 1e-9) << "above the observed start at i = " << i << ", m = " << m;
      previous = v;
    }
  }
}

}  // namespace hemingway::adaptive::testing
