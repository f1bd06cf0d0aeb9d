// A plain LibTorch MLP on Fashion-MNIST, made data-parallel by Hemingway.
// Run:  hemingway-run --nproc-per-node 2 -- fmnist_mlp --log run.jsonl
// The lines marked "Hemingway" are all it takes.
#include <fmt/format.h>
#include <torch/torch.h>
#include <CLI/CLI.hpp>
#include <cstdio>

#include "hemingway/hooks/jsonl_sink.h"
#include "hemingway/hooks/step_recorder.h"
#include "hemingway/hooks/step_stats.h"
#include "hemingway/plugin/algorithms/parameter_averaging.h"
#include "hemingway/plugin/data/datasets.h"
#include "hemingway/plugin/data_parallel.h"
#include "hemingway/plugin/process_group.h"

namespace hw = hemingway;

// Images as float rows in [0, 1] and labels as int64, copied out of `set`.
std::pair<torch::Tensor, torch::Tensor> toTensors(hw::data::ImageSet& set) {
  auto x = torch::from_blob(set.pixels.data(), {set.count, set.features()}, torch::kUInt8);
  auto y = torch::from_blob(set.labels.data(), {set.count}, torch::kUInt8);
  return {x.to(torch::kFloat32).div_(255), y.to(torch::kInt64)};
}

int run(int argc, char** argv) {
  CLI::App app{"Fashion-MNIST MLP, data-parallel with Hemingway"};
  int hidden = 512, batchSize = 64, steps = 500, threads = 1;
  double lr = 0.05;
  std::string log, algorithm = "sgd", dataDir = hw::data::kFashionMnistDir;
  int localIters = 8;
  app.add_option("--hidden", hidden, "hidden units per layer")->check(CLI::Range(1, 1 << 16));
  app.add_option("--batch-size", batchSize, "examples per worker per step")
      ->check(CLI::Range(1, 1 << 20));
  app.add_option("--lr", lr, "SGD learning rate")->check(CLI::PositiveNumber);
  app.add_option("--steps", steps, "training steps")->check(CLI::Range(1, 1 << 30));
  app.add_option("--threads", threads, "intra-op threads per worker")->check(CLI::Range(1, 256));
  app.add_option("--log", log, "append JSON Lines step records to this file");
  app.add_option("--data", dataDir, "directory of the Fashion-MNIST gzip IDX files");
  app.add_option("--algorithm", algorithm, "sgd (gradients averaged every step) or local-sgd")
      ->check(CLI::IsMember({"sgd", "local-sgd"}));
  app.add_option("--local-iters", localIters, "local-sgd: steps between parameter averagings")
      ->check(CLI::Range(1, 1 << 20));
  CLI11_PARSE(app, argc, argv);
  torch::set_num_threads(threads);

  hw::plugin::ProcessGroup group(hw::plugin::GroupOptions::fromEnv());  // Hemingway
  auto all = hw::data::loadFashionMnist(hw::data::Split::kTrain, dataDir);
  auto mine = hw::data::shard(all, group.rank(), group.worldSize());  // Hemingway
  auto [x, y] = toTensors(mine);

  torch::manual_seed(0);
  torch::nn::Sequential model(torch::nn::Linear(784, hidden), torch::nn::ReLU(),
                              torch::nn::Linear(hidden, hidden), torch::nn::ReLU(),
                              torch::nn::Linear(hidden, 10));
  hw::hooks::StepRecorder recorder({group.runId(), group.rank(), group.worldSize()});  // Hemingway
  auto stats = std::make_shared<hw::hooks::StepStats>();
  recorder.addHook(stats);
  if (!log.empty()) recorder.addHook(std::make_shared<hw::hooks::JsonlSink>(log));
  // Hemingway: minibatch SGD averages gradients every step; local SGD averages
  // parameters every --local-iters steps.
  std::unique_ptr<hw::plugin::DataParallel> dp;
  std::unique_ptr<hw::plugin::ParameterAveraging> averaging;
  if (algorithm == "sgd") {
    dp = std::make_unique<hw::plugin::DataParallel>(group, model.ptr(),
                                                    hw::plugin::DataParallelOptions{}, &recorder);
  } else {
    averaging =
        std::make_unique<hw::plugin::ParameterAveraging>(group, model.ptr(), localIters, &recorder);
  }
  auto info = hw::plugin::describeRun(group, model.ptr(), algorithm, all.count);
  recorder.runStart(info);

  torch::optim::SGD optimizer(model->parameters(), torch::optim::SGDOptions(lr).momentum(0.9));
  torch::manual_seed(1 + group.rank());  // each worker draws its own batches
  for (int s = 0; s < steps; ++s) {
    auto step = recorder.step(batchSize);  // Hemingway
    auto idx = torch::randint(x.size(0), {batchSize}, torch::kInt64);
    optimizer.zero_grad();
    auto loss = torch::nn::functional::cross_entropy(model->forward(x.index_select(0, idx)),
                                                     y.index_select(0, idx));
    loss.backward();  // gradients are averaged across workers here
    optimizer.step();
    if (averaging) averaging->afterStep();
    step.setLoss(loss.item<double>());
    if (group.rank() == 0 && (s + 1) % 50 == 0) {
      fmt::print(stderr, "step {}/{} loss {:.4f}\n", s + 1, steps, loss.item<double>());
    }
  }

  if (group.rank() == 0) {
    auto test = hw::data::loadFashionMnist(hw::data::Split::kTest, dataDir);
    auto [tx, ty] = toTensors(test);
    torch::NoGradGuard noGrad;
    const double accuracy =
        model->forward(tx).argmax(1).eq(ty).to(torch::kFloat64).mean().item<double>();
    const auto sum = stats->summary(std::min(steps / 10, 20));
    fmt::print(
        "{} | workers {} | steps {} | final loss {:.4f} | test accuracy {:.2f}% | "
        "median step {:.2f} ms (compute {:.2f}, comm {:.2f}, exposed comm {:.2f}) | "
        "throughput {:.0f} samples/s{}\n",
        algorithm, group.worldSize(), steps, sum.meanRecentLoss, 100 * accuracy, sum.medianStepMs,
        sum.medianComputeMs, sum.medianCommMs, sum.medianExposedCommMs,
        group.worldSize() * batchSize / (sum.medianStepMs / 1000),
        log.empty() ? "" : " | log " + log);
  }
  group.barrier();
  return 0;
}

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fmnist_mlp: %s\n", e.what());
    return 1;
  }
}
