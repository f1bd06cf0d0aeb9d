// Distributed optimization algorithms for linear models (linear_problem.h):
// full gradient descent, synchronous minibatch SGD, local SGD, CoCoA and
// CoCoA+, over real Gloo workers or virtual ones (workers.h). Bulk-synchronous:
// the iterates depend only on the arithmetic, so a virtual run at M workers
// reproduces a real one at M processes to floating-point tolerance.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "hemingway/plugin/algorithms/linear_problem.h"
#include "hemingway/plugin/algorithms/workers.h"

namespace hemingway::plugin {

enum class Algorithm { kGd, kSgd, kLocalSgd, kCocoa, kCocoaPlus };

Algorithm parseAlgorithm(const std::string& name);  // gd, sgd, local-sgd, cocoa, cocoa+
std::string algorithmName(Algorithm algorithm);
bool isDual(Algorithm algorithm);

struct AlgorithmOptions {
  Algorithm algorithm = Algorithm::kCocoaPlus;
  // H: local SDCA coordinate steps (CoCoA/CoCoA+; 0 means one pass over the
  // worker's partition) or local SGD steps between averagings (0 means 1).
  std::int64_t localIters = 0;
  int batchSize = 1;  // examples per worker per SGD step
  // sgd with strong scaling: examples per step over all workers (0: weak,
  // batchSize per worker). The step's examples are drawn from the whole data
  // set, the same whatever the worker count; each worker takes its share.
  std::int64_t globalBatch = 0;
  double lr = 0.1;  // GD: constant step; SGD family: lr / sqrt(1 + t), t = steps taken
  // CoCoA aggregation: w += gamma * sum_k dw_k with local subproblems scaled
  // by sigma'. Defaults: CoCoA gamma = 1/K, sigma' = 1; CoCoA+ gamma = 1, sigma' = K.
  std::optional<double> gamma;
  std::optional<double> sigma;
  std::uint64_t seed = 1;
};

struct Evaluation {
  double primal = 0;
  std::optional<double> dual;
  std::optional<double> gap;
};

struct IterationTiming {
  double computeMs = 0;  // local work of this process's workers
  double commMs = 0;     // the allreduce of the iteration
};

class LinearTrainer {
 public:
  LinearTrainer(const LinearProblem& problem, WorkerSet& workers, AlgorithmOptions options);

  // One outer iteration (collective: every process calls it).
  IterationTiming iterate();
  // P(w), and D(alpha) and the gap for dual methods (collective).
  Evaluation evaluate();

  const std::vector<double>& weights() const { return w_; }
  std::int64_t iteration() const { return iteration_; }
  const AlgorithmOptions& options() const { return options_; }

  // Rescaling (elastic runs, virtual runs that change m). Between
  // iterations, on the current workers: the full dual vector, indexed by
  // example (each worker's partition, summed over the processes; collective).
  std::vector<double> gatherDual();
  // Re-cuts the partitions for a new worker set and gives each its slice of
  // `dual` (the full vector; ignored by primal methods). CoCoA's gamma and
  // CoCoA+'s sigma' = K follow the new K. With `recomputeWeights`, w is
  // rebuilt from `dual` (w = A alpha / (lambda n)): after a failure, that
  // makes w consistent with the dual variables that survived.
  void repartition(WorkerSet& workers, const std::vector<double>& dual, bool recomputeWeights);
  // This process's current dual variables scattered into a full vector, and
  // a mask of the examples it holds (1) (for rebuilding after a failure).
  void localDual(std::vector<double>& values, std::vector<double>& mask) const;
  // The state an elastic run moves to joiners.
  std::vector<double>& mutableWeights() { return w_; }
  std::int64_t& mutableIteration() { return iteration_; }

 private:
  struct Local {
    int worker = 0;
    std::int64_t begin = 0, end = 0;
    std::vector<double> alpha;   // dual variables of the partition
    std::vector<double> dAlpha;  // this iteration's local change
  };
  void iterateCocoa(std::vector<double>& contribution);
  void iterateGd(std::vector<double>& contribution);
  void iterateSgd(std::vector<double>& contribution);
  void iterateLocalSgd(std::vector<double>& contribution);
  void addBatchGradient(const Local& local, const double* w, std::int64_t t,
                        std::vector<double>& g) const;

  void cutPartitions();

  const LinearProblem& problem_;
  WorkerSet* workers_;
  AlgorithmOptions options_;
  std::vector<double> w_;
  std::vector<Local> locals_;
  std::int64_t iteration_ = 0;
};

// The seed of worker `worker`'s random numbers in iteration `iteration`: the
// same in virtual and real runs.
std::uint64_t workerSeed(std::uint64_t seed, int worker, std::int64_t iteration);

}  // namespace hemingway::plugin
