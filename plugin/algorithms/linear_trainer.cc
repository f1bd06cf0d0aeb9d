#include "hemingway/plugin/algorithms/linear_trainer.h"

#include "hemingway/plugin/data/sampler.h"

#include <chrono>
#include <cmath>
#include <random>

#include "hemingway/hooks/error.h"

namespace hemingway::plugin {
namespace {

using Clock = std::chrono::steady_clock;

double msSince(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

double squaredNorm(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x * x;
  return s;
}

std::uint64_t splitMix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace

std::uint64_t workerSeed(std::uint64_t seed, int worker, std::int64_t iteration) {
  return splitMix(splitMix(splitMix(seed) ^ static_cast<std::uint64_t>(worker)) ^
                  static_cast<std::uint64_t>(iteration));
}

Algorithm parseAlgorithm(const std::string& name) {
  if (name == "gd") return Algorithm::kGd;
  if (name == "sgd") return Algorithm::kSgd;
  if (name == "local-sgd") return Algorithm::kLocalSgd;
  if (name == "cocoa") return Algorithm::kCocoa;
  if (name == "cocoa+") return Algorithm::kCocoaPlus;
  HEMINGWAY_FAIL_AS(ConfigError,
                    "unknown algorithm '{}' (expected gd, sgd, local-sgd, cocoa or cocoa+)", name);
}

std::string algorithmName(Algorithm a) {
  switch (a) {
    case Algorithm::kGd:
      return "gd";
    case Algorithm::kSgd:
      return "sgd";
    case Algorithm::kLocalSgd:
      return "local-sgd";
    case Algorithm::kCocoa:
      return "cocoa";
    case Algorithm::kCocoaPlus:
      return "cocoa+";
  }
  return "?";
}

bool isDual(Algorithm a) { return a == Algorithm::kCocoa || a == Algorithm::kCocoaPlus; }

LinearTrainer::LinearTrainer(const LinearProblem& problem, WorkerSet& workers,
                             AlgorithmOptions options)
    : problem_(problem), workers_(&workers), options_(options) {
  HEMINGWAY_CHECK_AS(ConfigError, options_.localIters >= 0, "--local-iters must be >= 0, got {}",
                     options_.localIters);
  HEMINGWAY_CHECK_AS(ConfigError, options_.batchSize >= 1, "--batch-size must be >= 1, got {}",
                     options_.batchSize);
  HEMINGWAY_CHECK_AS(ConfigError,
                     options_.globalBatch == 0 || options_.algorithm == Algorithm::kSgd,
                     "--scaling strong shares a global batch of sgd steps, not {}",
                     algorithmName(options_.algorithm));
  HEMINGWAY_CHECK_AS(ConfigError, std::isfinite(options_.lr) && options_.lr > 0,
                     "--lr must be a positive number, got {}", options_.lr);
  HEMINGWAY_CHECK_AS(ConfigError, problem.examples() >= workers.worldSize(),
                     "{} workers need at least as many examples, the data has {}",
                     workers.worldSize(), problem.examples());
  w_.assign(static_cast<std::size_t>(problem.features()), 0.0);
  cutPartitions();
}

void LinearTrainer::cutPartitions() {
  locals_.clear();
  for (int k : workers_->local()) {
    Local local;
    local.worker = k;
    const auto range = data::shardRange(problem_.examples(), k, workers_->worldSize());
    local.begin = range.begin;
    local.end = range.end;
    if (isDual(options_.algorithm)) {
      local.alpha.assign(static_cast<std::size_t>(range.size()), 0.0);
      local.dAlpha.assign(static_cast<std::size_t>(range.size()), 0.0);
    }
    locals_.push_back(std::move(local));
  }
}

void LinearTrainer::localDual(std::vector<double>& values, std::vector<double>& mask) const {
  values.assign(static_cast<std::size_t>(problem_.examples()), 0.0);
  mask.assign(values.size(), 0.0);
  for (const auto& local : locals_) {
    for (std::size_t i = 0; i < local.alpha.size(); ++i) {
      values[local.begin + i] = local.alpha[i];
      mask[local.begin + i] = 1.0;
    }
  }
}

std::vector<double> LinearTrainer::gatherDual() {
  std::vector<double> values, mask;
  if (!isDual(options_.algorithm)) return values;
  localDual(values, mask);
  workers_->sum(values);
  return values;
}

void LinearTrainer::repartition(WorkerSet& workers, const std::vector<double>& dual,
                                bool recomputeWeights) {
  HEMINGWAY_CHECK_AS(ConfigError, problem_.examples() >= workers.worldSize(),
                     "{} workers need at least as many examples, the data has {}",
                     workers.worldSize(), problem_.examples());
  const bool isDualMethod = isDual(options_.algorithm);
  HEMINGWAY_CHECK(!isDualMethod || static_cast<std::int64_t>(dual.size()) == problem_.examples(),
                  "repartition needs the full dual vector ({} values), got {}", problem_.examples(),
                  dual.size());
  workers_ = &workers;
  cutPartitions();
  if (!isDualMethod) return;
  for (auto& local : locals_) {
    for (std::size_t i = 0; i < local.alpha.size(); ++i) local.alpha[i] = dual[local.begin + i];
  }
  if (recomputeWeights) {
    const double lambdaN = problem_.lambda() * static_cast<double>(problem_.examples());
    std::fill(w_.begin(), w_.end(), 0.0);
    for (std::int64_t i = 0; i < problem_.examples(); ++i) {
      const double a = dual[static_cast<std::size_t>(i)];
      if (a != 0) problem_.axpy(i, problem_.coefficient(a, problem_.label(i)) / lambdaN, w_.data());
    }
  }
}

IterationTiming LinearTrainer::iterate() {
  IterationTiming timing;
  std::vector<double> contribution(w_.size(), 0.0);
  const auto t0 = Clock::now();
  switch (options_.algorithm) {
    case Algorithm::kCocoa:
    case Algorithm::kCocoaPlus:
      iterateCocoa(contribution);
      break;
    case Algorithm::kGd:
      iterateGd(contribution);
      break;
    case Algorithm::kSgd:
      iterateSgd(contribution);
      break;
    case Algorithm::kLocalSgd:
      iterateLocalSgd(contribution);
      break;
  }
  timing.computeMs = msSince(t0);
  const auto t1 = Clock::now();
  workers_->sum(contribution);
  timing.commMs = msSince(t1);

  const double m = workers_->worldSize();
  const double n = static_cast<double>(problem_.examples());
  const double lambda = problem_.lambda();
  const auto t2 = Clock::now();
  switch (options_.algorithm) {
    case Algorithm::kCocoa:
    case Algorithm::kCocoaPlus: {
      const double gamma =
          options_.gamma.value_or(options_.algorithm == Algorithm::kCocoa ? 1.0 / m : 1.0);
      for (std::size_t j = 0; j < w_.size(); ++j) w_[j] += gamma * contribution[j];
      for (auto& local : locals_) {
        for (std::size_t i = 0; i < local.alpha.size(); ++i) {
          local.alpha[i] += gamma * local.dAlpha[i];
        }
      }
      break;
    }
    case Algorithm::kGd: {
      for (std::size_t j = 0; j < w_.size(); ++j) {
        w_[j] -= options_.lr * (lambda * w_[j] + contribution[j] / n);
      }
      break;
    }
    case Algorithm::kSgd: {
      const double lr = options_.lr / std::sqrt(1.0 + iteration_);
      const double batch =
          options_.globalBatch > 0 ? double(options_.globalBatch) : m * options_.batchSize;
      for (std::size_t j = 0; j < w_.size(); ++j) {
        w_[j] -= lr * (lambda * w_[j] + contribution[j] / batch);
      }
      break;
    }
    case Algorithm::kLocalSgd: {
      for (std::size_t j = 0; j < w_.size(); ++j) w_[j] = contribution[j] / m;
      break;
    }
  }
  timing.computeMs += msSince(t2);
  ++iteration_;
  return timing;
}

void LinearTrainer::iterateCocoa(std::vector<double>& contribution) {
  const double m = workers_->worldSize();
  const double lambdaN = problem_.lambda() * static_cast<double>(problem_.examples());
  const double sigma = options_.sigma.value_or(options_.algorithm == Algorithm::kCocoa ? 1.0 : m);
  HEMINGWAY_CHECK_AS(ConfigError, sigma > 0, "sigma' must be > 0, got {}", sigma);
  std::vector<double> u(w_.size());
  for (auto& local : locals_) {
    const std::int64_t size = local.end - local.begin;
    const std::int64_t steps = options_.localIters > 0 ? options_.localIters : size;
    std::fill(local.dAlpha.begin(), local.dAlpha.end(), 0.0);
    u = w_;  // the worker's w + sigma' * dw_k
    std::mt19937_64 rng(workerSeed(options_.seed, local.worker, iteration_));
    std::uniform_int_distribution<std::int64_t> pick(0, size - 1);
    std::int64_t next = pick(rng);
    for (std::int64_t h = 0; h < steps; ++h) {
      const std::int64_t j = next;
      const std::int64_t i = local.begin + j;
      if (h + 1 < steps) {
        next = pick(rng);
        problem_.prefetchRow(local.begin + next);
      }
      const double q = sigma * problem_.rowSquaredNorm(i) / lambdaN;
      const double y = problem_.label(i);
      const double delta =
          problem_.sdcaDelta(local.alpha[j] + local.dAlpha[j], y, problem_.dot(i, u.data()), q);
      if (delta == 0) continue;
      local.dAlpha[j] += delta;
      problem_.axpy(i, sigma * problem_.coefficient(delta, y) / lambdaN, u.data());
    }
    for (std::size_t f = 0; f < u.size(); ++f) contribution[f] += (u[f] - w_[f]) / sigma;
  }
}

void LinearTrainer::iterateGd(std::vector<double>& contribution) {
  for (const auto& local : locals_) {
    for (auto i = local.begin; i < local.end; ++i) {
      const double g = problem_.lossDerivative(problem_.dot(i, w_.data()), problem_.label(i));
      if (g != 0) problem_.axpy(i, g, contribution.data());
    }
  }
}

void LinearTrainer::addBatchGradient(const Local& local, const double* w, std::int64_t t,
                                     std::vector<double>& g) const {
  std::mt19937_64 rng(workerSeed(options_.seed, local.worker, t));
  std::uniform_int_distribution<std::int64_t> pick(local.begin, local.end - 1);
  for (int b = 0; b < options_.batchSize; ++b) {
    const std::int64_t i = pick(rng);
    const double d = problem_.lossDerivative(problem_.dot(i, w), problem_.label(i));
    if (d != 0) problem_.axpy(i, d, g.data());
  }
}

void LinearTrainer::iterateSgd(std::vector<double>& contribution) {
  if (options_.globalBatch == 0) {
    for (const auto& local : locals_) addBatchGradient(local, w_.data(), iteration_, contribution);
    return;
  }
  // Strong scaling: one draw of the step's examples (worker -1's seed),
  // G / m to each worker and one more to the first G % m.
  const std::int64_t g = options_.globalBatch, m = workers_->worldSize();
  std::mt19937_64 rng(workerSeed(options_.seed, -1, iteration_));
  std::uniform_int_distribution<std::int64_t> pick(0, problem_.examples() - 1);
  std::vector<std::int64_t> draw(static_cast<std::size_t>(g));
  for (auto& i : draw) i = pick(rng);
  for (const auto& local : locals_) {
    const auto share = data::globalBatchShare(g, local.worker, m);
    for (std::int64_t p = share.offset; p < share.offset + share.count; ++p) {
      const std::int64_t i = draw[static_cast<std::size_t>(p)];
      const double d = problem_.lossDerivative(problem_.dot(i, w_.data()), problem_.label(i));
      if (d != 0) problem_.axpy(i, d, contribution.data());
    }
  }
}

void LinearTrainer::iterateLocalSgd(std::vector<double>& contribution) {
  const std::int64_t steps = options_.localIters > 0 ? options_.localIters : 1;
  const double lambda = problem_.lambda();
  std::vector<double> u(w_.size()), g(w_.size());
  for (const auto& local : locals_) {
    u = w_;
    for (std::int64_t h = 0; h < steps; ++h) {
      const std::int64_t t = iteration_ * steps + h;
      std::fill(g.begin(), g.end(), 0.0);
      addBatchGradient(local, u.data(), t, g);
      const double lr = options_.lr / std::sqrt(1.0 + t);
      for (std::size_t f = 0; f < u.size(); ++f) {
        u[f] -= lr * (lambda * u[f] + g[f] / options_.batchSize);
      }
    }
    for (std::size_t f = 0; f < u.size(); ++f) contribution[f] += u[f];
  }
}

Evaluation LinearTrainer::evaluate() {
  std::vector<double> sums(2, 0.0);
  for (const auto& local : locals_) {
    sums[0] += problem_.lossSum(local.begin, local.end, w_.data());
    if (isDual(options_.algorithm)) {
      sums[1] += problem_.dualTermSum(local.begin, local.end, local.alpha.data());
    }
  }
  workers_->sum(sums);
  const double n = static_cast<double>(problem_.examples());
  const double reg = 0.5 * problem_.lambda() * squaredNorm(w_);
  Evaluation e;
  e.primal = reg + sums[0] / n;
  if (isDual(options_.algorithm)) {
    e.dual = sums[1] / n - reg;
    e.gap = e.primal - *e.dual;
  }
  return e;
}

}  // namespace hemingway::plugin
