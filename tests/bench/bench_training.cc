// Benchmarks of the reference workload under hemingway-run.
//   --mode steps:     median step time of Hemingway's DataParallel (printed by
//                     rank 0 as "median_step_ms X"), for the PyTorch DDP comparison.
//   --mode recording: hook overhead, recording on vs off, interleaved step by
//                     step in the same processes; prints the ratio.
#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <chrono>

#include "hemingway/hooks/jsonl_sink.h"
#include "hemingway/hooks/step_recorder.h"
#include "hemingway/hooks/step_stats.h"
#include "hemingway/plugin/data_parallel.h"
#include "hemingway/plugin/process_group.h"
#include "reference_workload.h"

namespace hw = hemingway;
using Clock = std::chrono::steady_clock;

double timedStepMs(hw::bench::ReferenceWorkload& w) {
  const auto t0 = Clock::now();
  w.step();
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// Median over ranks-agnostic local step times; every rank runs the same count.
int runSteps(hw::plugin::ProcessGroup& group, int warmup, int steps,
             const hw::plugin::DataParallelOptions& options) {
  hw::bench::ReferenceWorkload w(group.rank());
  hw::plugin::DataParallel dp(group, w.model.ptr(), options);
  w.makeOptimizer();
  for (int i = 0; i < warmup; ++i) w.step();
  std::vector<double> ms;
  for (int i = 0; i < steps; ++i) ms.push_back(timedStepMs(w));
  if (group.rank() == 0) fmt::print("median_step_ms {:.4f}\n", hw::hooks::median(ms));
  return 0;
}

// Recording on and off alternate step by step in an A B B A pattern (so
// neither gets the even or the odd steps), in the same processes.
int runRecording(hw::plugin::ProcessGroup& group, int steps, const std::string& log) {
  hw::bench::ReferenceWorkload w(group.rank());
  hw::hooks::StepRecorder recorder({group.runId(), group.rank(), group.worldSize(), true});
  recorder.addHook(std::make_shared<hw::hooks::JsonlSink>(log));
  recorder.addHook(std::make_shared<hw::hooks::StepStats>());
  hw::plugin::DataParallel dp(group, w.model.ptr(), {}, &recorder);
  w.makeOptimizer();
  for (int i = 0; i < 50; ++i) w.step();  // warm-up
  std::vector<double> on, off, closeOn, closeOff;
  for (int i = 0; i < 2 * steps; ++i) {
    const bool recording = (i % 4 == 0) || (i % 4 == 3);
    recorder.setEnabled(recording);
    const auto t0 = Clock::now();
    Clock::time_point beforeClose;
    {
      auto step = recorder.step(64);
      step.setLoss(w.step());
      beforeClose = Clock::now();
    }  // the record is built and written here
    const auto t1 = Clock::now();
    (recording ? on : off).push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    (recording ? closeOn : closeOff)
        .push_back(std::chrono::duration<double, std::milli>(t1 - beforeClose).count());
  }
  if (group.rank() == 0) {
    // Adjacent A/B steps form pairs; the median of their ratios is robust to
    // the slow drift and the outliers of a shared machine.
    std::vector<double> ratios;
    for (std::size_t i = 0; i < on.size(); ++i) ratios.push_back(on[i] / off[i]);
    const double a = hw::hooks::median(on), b = hw::hooks::median(off);
    const double cost = hw::hooks::median(closeOn) - hw::hooks::median(closeOff);
    fmt::print(
        "hook overhead: recording on {:.4f} ms/step, off {:.4f} ms/step (medians of {} "
        "steps each, interleaved A B B A, {} workers); writing a record costs {:.1f} us\n",
        a, b, steps, group.worldSize(), cost * 1000);
    fmt::print("RATIO hook_overhead on/off = {:.4f} (median of paired step ratios; goal <= 1.01)\n",
               hw::hooks::median(ratios));
    fmt::print("RATIO hook_overhead_direct (step + record cost)/step = {:.4f}\n", 1 + cost / b);
  }
  return 0;
}

int main(int argc, char** argv) {
  CLI::App app{"Hemingway reference-workload benchmarks"};
  std::string mode = "steps", log = "/tmp/hemingway-bench.jsonl";
  int warmup = 50, steps = 300;
  app.add_option("--mode", mode)->check(CLI::IsMember({"steps", "recording"}));
  app.add_option("--warmup", warmup);
  app.add_option("--iterations", steps, "measured steps");
  app.add_option("--log", log);
  hw::plugin::DataParallelOptions options;
  app.add_option("--bucket-cap-bytes", options.bucketCapBytes);
  app.add_option("--first-bucket-cap-bytes", options.firstBucketCapBytes);
  app.add_option("--ring-min-bytes", options.ringMinBytes, "default: the wrapper's")
      ->check(CLI::NonNegativeNumber);
  CLI11_PARSE(app, argc, argv);
  torch::set_num_threads(1);
  try {
    hw::plugin::ProcessGroup group(hw::plugin::GroupOptions::fromEnv());
    const int rc =
        mode == "steps" ? runSteps(group, warmup, steps, options) : runRecording(group, steps, log);
    group.barrier();
    return rc;
  } catch (const std::exception& e) {
    fmt::print(stderr, "bench_training: {}\n", e.what());
    return 1;
  }
}
