// One local SDCA pass over Fashion-MNIST (60,000 x 784, class 5 vs rest,
// unit-norm rows, hinge, lambda = 1e-4), timed: the inner loop of CoCoA and
// CoCoA+ on one worker. run_benchmarks.sh compares it with liblinear's dual
// coordinate descent (-s 3) per pass over the data.
//   bench_sdca --write-libsvm PATH   writes the same data for liblinear
//   bench_sdca --passes N            prints "seconds_per_pass X"
#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <chrono>
#include <fstream>

#include "hemingway/hooks/step_stats.h"
#include "hemingway/plugin/algorithms/linear_trainer.h"

namespace hw = hemingway;

int main(int argc, char** argv) {
  CLI::App app{"SDCA pass benchmark"};
  std::string writePath;
  int passes = 10;
  app.add_option("--write-libsvm", writePath);
  app.add_option("--passes", passes);
  CLI11_PARSE(app, argc, argv);
  auto images = hw::data::loadFashionMnist(hw::data::Split::kTrain);
  auto set = hw::data::oneVsRest(images, 5, hw::data::Normalize::kUnitNorm);
  if (!writePath.empty()) {
    std::ofstream out(writePath);
    for (std::int64_t r = 0; r < set.rows(); ++r) {
      out << (set.labels[r] > 0 ? "+1" : "-1");
      for (auto k = set.rowStart[r]; k < set.rowStart[r + 1]; ++k) {
        out << ' ' << set.index[k] + 1 << ':' << fmt::format("{}", set.value[k]);
      }
      out << '\n';
    }
    fmt::print("wrote {} examples, C = 1/(lambda n) = {}\n", set.rows(), 1.0 / (1e-4 * set.rows()));
    return 0;
  }
  hw::plugin::LinearProblem problem(std::move(set), hw::plugin::Loss::kHinge, 1e-4);
  auto workers = hw::plugin::WorkerSet::virtualWorkers(1);
  hw::plugin::AlgorithmOptions options;
  options.algorithm = hw::plugin::Algorithm::kCocoaPlus;  // m = 1: sequential SDCA
  hw::plugin::LinearTrainer trainer(problem, workers, options);
  std::vector<double> seconds;
  for (int p = 0; p < passes; ++p) {
    const auto t0 = std::chrono::steady_clock::now();
    trainer.iterate();
    seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  const auto e = trainer.evaluate();
  fmt::print("seconds_per_pass {:.6f} (median of {} passes; gap after them {:.3g})\n",
             hw::hooks::median(seconds), passes, *e.gap);
  return 0;
}
