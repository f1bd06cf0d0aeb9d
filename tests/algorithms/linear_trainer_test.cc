#include "hemingway/plugin/algorithms/linear_trainer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <mutex>
#include <random>

#include "hemingway/hooks/error.h"
#include "hemingway/plugin/process_group.h"
#include "support/ranks.h"

namespace hemingway::plugin {
namespace {

// A separable-ish random problem: n examples, d features, ~half nonzero.
data::SparseSet makeData(int n, int d, std::uint64_t seed, bool regression = false) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal;
  std::vector<double> truth(d);
  for (auto& t : truth) t = normal(rng);
  data::SparseSet set;
  set.features = d;
  set.rowStart.push_back(0);
  for (int i = 0; i < n; ++i) {
    double z = 0;
    for (int j = 0; j < d; ++j) {
      if (rng() % 2 == 0) continue;
      const double v = normal(rng);
      set.index.push_back(j);
      set.value.push_back(static_cast<float>(v));
      z += v * truth[j];
    }
    set.rowStart.push_back(static_cast<std::int64_t>(set.index.size()));
    const double noise = 0.3 * normal(rng);
    set.labels.push_back(regression ? z + noise : (z + noise >= 0 ? 1.0 : -1.0));
  }
  return set;
}

// The same rows repeated `copies` times, so that with `copies` workers every
// worker holds identical data (maximally correlated partitions).
data::SparseSet repeatRows(const data::SparseSet& base, int copies) {
  data::SparseSet out;
  out.features = base.features;
  out.rowStart.push_back(0);
  for (int c = 0; c < copies; ++c) {
    for (std::int64_t r = 0; r < base.rows(); ++r) {
      for (auto k = base.rowStart[r]; k < base.rowStart[r + 1]; ++k) {
        out.index.push_back(base.index[k]);
        out.value.push_back(base.value[k]);
      }
      out.rowStart.push_back(static_cast<std::int64_t>(out.index.size()));
      out.labels.push_back(base.labels[r]);
    }
  }
  return out;
}

AlgorithmOptions optionsFor(Algorithm a) {
  AlgorithmOptions o;
  o.algorithm = a;
  o.seed = 7;
  return o;
}

class DualityGapTest : public ::testing::TestWithParam<std::tuple<Loss, Algorithm>> {};

TEST_P(DualityGapTest, GapIsNonNegativeAtEveryIterationAndShrinks) {
  const auto [loss, algorithm] = GetParam();
  LinearProblem problem(makeData(400, 20, 1, loss == Loss::kSquared), loss, 1e-2);
  auto workers = WorkerSet::virtualWorkers(4);
  LinearTrainer trainer(problem, workers, optionsFor(algorithm));
  double first = 0, last = 0;
  for (int it = 0; it < 30; ++it) {
    trainer.iterate();
    const auto e = trainer.evaluate();
    ASSERT_TRUE(e.gap.has_value());
    EXPECT_GE(*e.gap, -1e-12) << "iteration " << it;
    EXPECT_NEAR(*e.gap, e.primal - *e.dual, 1e-12);
    if (it == 0) first = *e.gap;
    last = *e.gap;
  }
  EXPECT_LT(last, first / 10) << "the gap should fall by an order of magnitude";
}

INSTANTIATE_TEST_SUITE_P(
    LossesAndAlgorithms, DualityGapTest,
    ::testing::Combine(::testing::Values(Loss::kHinge, Loss::kLogistic, Loss::kSquared),
                       ::testing::Values(Algorithm::kCocoa, Algorithm::kCocoaPlus)));

TEST(CocoaTest, AddingWithoutSafeSigmaOvershootsOnCorrelatedPartitions) {
  const int k = 4;
  LinearProblem problem(repeatRows(makeData(100, 10, 3), k), Loss::kHinge, 1e-2);
  auto run = [&](double sigma) {
    auto workers = WorkerSet::virtualWorkers(k);
    auto o = optionsFor(Algorithm::kCocoaPlus);
    o.gamma = 1.0;  // adding
    o.sigma = sigma;
    LinearTrainer trainer(problem, workers, o);
    std::vector<double> gaps;
    for (int it = 0; it < 40; ++it) {
      trainer.iterate();
      gaps.push_back(*trainer.evaluate().gap);
    }
    return gaps;
  };
  const auto unsafe = run(1.0);      // sigma' = 1: the K identical updates add up K-fold
  const auto safe = run(double(k));  // CoCoA+: sigma' = K
  EXPECT_LT(safe.back(), 1e-3);
  EXPECT_GT(unsafe.back(), 100 * safe.back()) << "adding with sigma' = 1 should not converge";
  double worst = 0;
  for (std::size_t i = 1; i < unsafe.size(); ++i)
    worst = std::max(worst, unsafe[i] - unsafe[i - 1]);
  EXPECT_GT(worst, 0) << "the unsafe run's gap should go up at some iteration (overshoot)";
}

TEST(CocoaTest, CocoaPlusOnOneWorkerIsSequentialSdca) {
  LinearProblem problem(makeData(200, 15, 5), Loss::kHinge, 1e-2);
  auto workers = WorkerSet::virtualWorkers(1);
  auto o = optionsFor(Algorithm::kCocoaPlus);
  LinearTrainer trainer(problem, workers, o);
  for (int it = 0; it < 5; ++it) trainer.iterate();

  // Textbook SDCA for the hinge loss (Shalev-Shwartz & Zhang), with the same
  // coordinate choices: w = 1/(lambda n) sum alpha_i y_i x_i.
  const int n = 200;
  const double lambdaN = 1e-2 * n;
  std::vector<double> alpha(n, 0.0), w(problem.features(), 0.0);
  for (int it = 0; it < 5; ++it) {
    std::mt19937_64 rng(workerSeed(o.seed, 0, it));
    std::uniform_int_distribution<std::int64_t> pick(0, n - 1);
    for (int h = 0; h < n; ++h) {
      const auto i = pick(rng);
      const double y = problem.label(i);
      const double norm2 = problem.rowSquaredNorm(i);
      if (norm2 == 0) continue;
      const double margin = y * problem.dot(i, w.data());
      const double next = std::clamp(alpha[i] + lambdaN * (1 - margin) / norm2, 0.0, 1.0);
      problem.axpy(i, (next - alpha[i]) * y / lambdaN, w.data());
      alpha[i] = next;
    }
  }
  for (std::size_t j = 0; j < w.size(); ++j) EXPECT_NEAR(trainer.weights()[j], w[j], 1e-12) << j;
}

class VirtualEqualsRealTest : public ::testing::TestWithParam<std::tuple<int, Algorithm>> {};

TEST_P(VirtualEqualsRealTest, IteratesMatchAMultiProcessRun) {
  const auto [m, algorithm] = GetParam();
  LinearProblem problem(makeData(300, 12, 9), Loss::kHinge, 1e-2);
  auto o = optionsFor(algorithm);
  o.batchSize = 4;
  o.localIters = algorithm == Algorithm::kLocalSgd ? 3 : 0;
  auto virt = WorkerSet::virtualWorkers(m);
  LinearTrainer reference(problem, virt, o);
  std::vector<double> referenceGaps;
  for (int it = 0; it < 6; ++it) {
    reference.iterate();
    referenceGaps.push_back(reference.evaluate().primal);
  }
  std::mutex mutex;
  std::map<int, std::vector<double>> weights;
  std::map<int, std::vector<double>> primals;
  testing::runRanks(m, [&](ProcessGroup& group) {
    auto real = WorkerSet::real(group);
    LinearTrainer trainer(problem, real, o);
    std::vector<double> p;
    for (int it = 0; it < 6; ++it) {
      trainer.iterate();
      p.push_back(trainer.evaluate().primal);
    }
    std::lock_guard<std::mutex> lock(mutex);
    weights[group.rank()] = trainer.weights();
    primals[group.rank()] = p;
  });
  for (int r = 0; r < m; ++r) {
    ASSERT_EQ(weights[r].size(), reference.weights().size());
    for (std::size_t j = 0; j < weights[r].size(); ++j) {
      EXPECT_NEAR(weights[r][j], reference.weights()[j], 1e-10)
          << "rank " << r << " w[" << j << "]";
    }
    for (std::size_t i = 0; i < referenceGaps.size(); ++i) {
      EXPECT_NEAR(primals[r][i], referenceGaps[i], 1e-10);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    TwoAndThree, VirtualEqualsRealTest,
    ::testing::Combine(::testing::Values(2, 3),
                       ::testing::Values(Algorithm::kCocoa, Algorithm::kCocoaPlus, Algorithm::kSgd,
                                         Algorithm::kLocalSgd, Algorithm::kGd)));

class PrimalDecreasesTest : public ::testing::TestWithParam<Algorithm> {};

TEST_P(PrimalDecreasesTest, ObjectiveFallsFromTheStart) {
  LinearProblem problem(makeData(500, 20, 11), Loss::kLogistic, 1e-3);
  auto workers = WorkerSet::virtualWorkers(4);
  auto o = optionsFor(GetParam());
  o.batchSize = 8;
  o.localIters = 5;
  o.lr = 0.5;
  LinearTrainer trainer(problem, workers, o);
  const double initial = trainer.evaluate().primal;  // log 2 at w = 0
  EXPECT_NEAR(initial, std::log(2.0), 1e-12);
  double last = initial;
  for (int it = 0; it < 40; ++it) {
    trainer.iterate();
    last = trainer.evaluate().primal;
  }
  EXPECT_LT(last, 0.8 * initial);
  EXPECT_FALSE(trainer.evaluate().gap.has_value()) << "SGD methods have no dual";
}

INSTANTIATE_TEST_SUITE_P(SgdFamily, PrimalDecreasesTest,
                         ::testing::Values(Algorithm::kGd, Algorithm::kSgd, Algorithm::kLocalSgd));

TEST(LinearProblemTest, BadInputIsNamed) {
  auto data = makeData(10, 3, 1, /*regression=*/true);
  EXPECT_THROW(LinearProblem(data, Loss::kHinge, 1e-2), ConfigError);  // labels not +-1
  EXPECT_THROW(LinearProblem(makeData(10, 3, 1), Loss::kHinge, 0.0), ConfigError);
  EXPECT_THROW(parseLoss("hingeloss"), ConfigError);
  EXPECT_THROW(parseAlgorithm("cocoa++"), ConfigError);
  LinearProblem small(makeData(3, 3, 1), Loss::kHinge, 1e-2);
  auto workers = WorkerSet::virtualWorkers(4);
  EXPECT_THROW(LinearTrainer(small, workers, optionsFor(Algorithm::kCocoa)), ConfigError);
}

TEST(WorkerPartitionTest, WorkersCoverEveryExampleOnce) {
  for (int m : {1, 2, 3, 16, 128}) {
    std::vector<int> seen(1000, 0);
    for (int k = 0; k < m; ++k) {
      auto r = data::shardRange(1000, k, m);
      for (auto i = r.begin; i < r.end; ++i) seen[i]++;
    }
    for (int c : seen) ASSERT_EQ(c, 1) << "m=" << m;
  }
}

}  // namespace
}  // namespace hemingway::plugin
