// One local SDCA pass over Fashion-MNIST (60,000 x 784, class 5 vs rest,
// unit-norm rows, hinge, lambda = 1e-4), timed: the inner loop of CoCoA and
// CoCoA+ on one worker. run_benchmarks.sh compares it with liblinear's dual
// coordinate descent (-s 3) per pass over the data.
//   bench_sdca --passes N            prints "seconds_per_pass X"
//   bench_sdca --liblinear           interleaves Hemingway passes with liblinear's
//                                    solver (linked in-process, -s 3, C = 1/(lambda n))
//                                    and prints the ratio of speeds
#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstring>
#include <fstream>

#include "hemingway/hooks/step_stats.h"
#include "hemingway/plugin/algorithms/linear_trainer.h"

#ifdef HEMINGWAY_HAVE_LIBLINEAR
#include <linear.h>
#endif

namespace hw = hemingway;

using Clock = std::chrono::steady_clock;

double secondsSince(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

#ifdef HEMINGWAY_HAVE_LIBLINEAR
int liblinearIterations = 0;

// liblinear prints "optimization finished, #iter = N": the number of its outer
// iterations (passes over the not-yet-shrunk variables).
void captureIterations(const char* text) {
  const char* p = std::strstr(text, "#iter = ");
  if (p != nullptr) liblinearIterations = std::atoi(p + 8);
}

// liblinear's dual coordinate descent on the same rows (as its own
// feature_node arrays); returns seconds per iteration of train() at `eps`.
struct Liblinear {
  std::vector<std::vector<feature_node>> rows;
  std::vector<feature_node*> x;
  std::vector<double> y;
  problem prob{};
  explicit Liblinear(const hw::data::SparseSet& set) {
    rows.resize(set.rows());
    for (std::int64_t r = 0; r < set.rows(); ++r) {
      for (auto k = set.rowStart[r]; k < set.rowStart[r + 1]; ++k) {
        rows[r].push_back({set.index[k] + 1, set.value[k]});
      }
      rows[r].push_back({-1, 0});
      x.push_back(rows[r].data());
      y.push_back(set.labels[r]);
    }
    prob.l = static_cast<int>(set.rows());
    prob.n = static_cast<int>(set.features);
    prob.y = y.data();
    prob.x = x.data();
    prob.bias = -1;
    set_print_string_function(captureIterations);
  }
  double secondsPerIteration(double eps) {
    parameter param{};
    param.solver_type = L2R_L1LOSS_SVC_DUAL;  // -s 3: hinge loss, dual CD
    param.C = 1.0 / (1e-4 * prob.l);
    param.eps = eps;
    const auto t0 = Clock::now();
    model* m = train(&prob, &param);
    const double s = secondsSince(t0);
    free_and_destroy_model(&m);
    return s / std::max(1, liblinearIterations);
  }
};
#endif

int main(int argc, char** argv) {
  CLI::App app{"SDCA pass benchmark"};
  int passes = 10, reps = 5;
  bool liblinear = false;
  app.add_option("--passes", passes, "SDCA passes per repetition")->check(CLI::Range(1, 1000));
  app.add_option("--reps", reps, "interleaved repetitions")->check(CLI::Range(1, 1000));
  app.add_flag("--liblinear", liblinear);
  CLI11_PARSE(app, argc, argv);
  auto images = hw::data::loadFashionMnist(hw::data::Split::kTrain);
  auto set = hw::data::oneVsRest(images, 5, hw::data::Normalize::kUnitNorm);
#ifdef HEMINGWAY_HAVE_LIBLINEAR
  std::unique_ptr<Liblinear> peer;
  if (liblinear) peer = std::make_unique<Liblinear>(set);
#else
  if (liblinear) {
    fmt::print(stderr,
               "bench_sdca: this is the build without the liblinear peer; use "
               "bench_sdca_liblinear (third_party/install.sh build data bench, then "
               "re-run cmake)\n");
    return 2;
  }
#endif
  const std::int64_t nnz = static_cast<std::int64_t>(set.index.size());
  hw::plugin::LinearProblem problem(std::move(set), hw::plugin::Loss::kHinge, 1e-4);
  auto workers = hw::plugin::WorkerSet::virtualWorkers(1);
  hw::plugin::AlgorithmOptions options;
  options.algorithm = hw::plugin::Algorithm::kCocoaPlus;  // m = 1: sequential SDCA
  std::vector<double> ours;
  [[maybe_unused]] std::vector<double> theirs;
  for (int r = 0; r < reps; ++r) {  // A B A B ...
    hw::plugin::LinearTrainer trainer(problem, workers, options);
    std::vector<double> seconds;
    for (int p = 0; p < passes; ++p) {
      const auto t0 = Clock::now();
      trainer.iterate();
      seconds.push_back(secondsSince(t0));
    }
    ours.push_back(hw::hooks::median(seconds));
#ifdef HEMINGWAY_HAVE_LIBLINEAR
    if (peer) theirs.push_back(peer->secondsPerIteration(0.1));
#endif
  }
  const double a = hw::hooks::median(ours);
  fmt::print(
      "seconds_per_pass {:.6f} (Hemingway local SDCA, median of {} reps of {} passes; "
      "{} nonzeros)\n",
      a, reps, passes, nnz);
#ifdef HEMINGWAY_HAVE_LIBLINEAR
  if (!theirs.empty()) {
    const double b = hw::hooks::median(theirs);
    fmt::print(
        "liblinear -s 3 seconds per iteration {:.6f} (train() at its default eps 0.1, "
        "{} iterations, setup included; median of {} reps)\n",
        b, liblinearIterations, reps);
    fmt::print("RATIO sdca_speed hemingway/liblinear = {:.4f} (goal >= 0.8)\n", b / a);
  }
#endif
  return 0;
}
