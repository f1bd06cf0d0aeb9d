// Gradient sync cost: DataParallel::syncGradients() (bucketed, averaged, left
// in param.grad()) vs one raw ProcessGroupGloo allreduce of the same total
// bytes, interleaved A B A B in the same processes. Run under hemingway-run.
#include <fmt/format.h>
#include <torch/torch.h>
#include <CLI/CLI.hpp>
#include <chrono>
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>

#include "hemingway/hooks/step_stats.h"
#include "hemingway/plugin/data_parallel.h"
#include "hemingway/plugin/process_group.h"

namespace hw = hemingway;
using Clock = std::chrono::steady_clock;

// A module whose parameters total `bytes` bytes of float, split like a
// network's layers (a few matrices and their biases).
struct Blob : torch::nn::Module {
  explicit Blob(std::int64_t bytes) {
    const std::int64_t elements = bytes / 4;
    const std::int64_t parts = 4;
    const std::int64_t bias = 512;
    std::int64_t left = elements;
    for (int i = 0; i < parts; ++i) {
      const std::int64_t w = i + 1 == parts ? left - bias : elements / parts - bias;
      register_parameter(fmt::format("w{}", i), torch::zeros({w}));
      register_parameter(fmt::format("b{}", i), torch::zeros({bias}));
      left -= w + bias;
    }
  }
};

double msSince(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// Each repetition times `inner` back-to-back syncs of each kind (after a
// barrier), so that a rank's wake-up skew weighs less than one operation.
void compare(hw::plugin::ProcessGroup& group, std::int64_t bytes, int reps, int inner,
             const hw::plugin::DataParallelOptions& options) {
  auto blob = std::make_shared<Blob>(bytes);
  hw::plugin::DataParallel dp(group, blob, options);
  std::vector<at::Tensor> flat{torch::ones({bytes / 4})};
  for (auto& p : blob->parameters()) p.mutable_grad() = torch::ones_like(p);
  std::vector<double> wrapper, raw;
  for (int r = 0; r < reps + 3; ++r) {
    for (auto& p : blob->parameters()) p.mutable_grad().fill_(1);
    flat[0].fill_(1);
    group.barrier();
    auto t0 = Clock::now();
    for (int i = 0; i < inner; ++i) dp.syncGradients();
    const double a = msSince(t0) / inner;
    group.barrier();
    t0 = Clock::now();
    for (int i = 0; i < inner; ++i) group.backend().allreduce(flat)->wait(group.timeout());
    const double b = msSince(t0) / inner;
    if (r >= 3) {  // warm-up excluded
      wrapper.push_back(a);
      raw.push_back(b);
    }
  }
  if (group.rank() == 0) {
    const double a = hw::hooks::median(wrapper), b = hw::hooks::median(raw);
    std::vector<double> ratios;  // pairs of adjacent reps: robust to drift
    for (std::size_t i = 0; i < wrapper.size(); ++i) ratios.push_back(wrapper[i] / raw[i]);
    fmt::print(
        "grad sync {:.2f} MiB ({} buckets): wrapper {:.3f} ms, raw allreduce {:.3f} ms "
        "(median of {} interleaved reps of {} syncs, {} workers)\n",
        bytes / 1048576.0, dp.bucketCount(), a, b, reps, inner, group.worldSize());
    fmt::print(
        "RATIO grad_sync_{}MiB wrapper/raw = {:.4f} (median of paired ratios; ratio of medians "
        "{:.4f}; goal <= 1.05)\n",
        bytes / 1048576, hw::hooks::median(ratios), a / b);
  }
}

int main(int argc, char** argv) {
  CLI::App app{"Hemingway gradient-sync benchmark"};
  int reps = 30;
  app.add_option("--reps", reps);
  hw::plugin::DataParallelOptions options;
  app.add_option("--ring-min-bytes", options.ringMinBytes, "default: the wrapper's")
      ->check(CLI::NonNegativeNumber);
  CLI11_PARSE(app, argc, argv);
  torch::set_num_threads(1);
  try {
    hw::plugin::ProcessGroup group(hw::plugin::GroupOptions::fromEnv());
    compare(group, 1 << 20, 2 * reps, 10, options);
    compare(group, 25 << 20, reps, 2, options);
    group.barrier();
    return 0;
  } catch (const std::exception& e) {
    fmt::print(stderr, "bench_grad_sync: {}\n", e.what());
    return 1;
  }
}
