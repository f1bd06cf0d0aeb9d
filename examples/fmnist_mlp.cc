// A plain LibTorch MLP on Fashion-MNIST, made data-parallel by Hemingway.
// Run:  hemingway-run --nproc-per-node 2 -- fmnist_mlp --log run.jsonl
// Elastic (2 workers at first, up to 3; hemingway-ctl ... scale N):
//        hemingway-run --nproc-per-node 2 --max-workers 3 -- fmnist_mlp --elastic
// Adaptive (the controller picks 1..3 workers to reach the loss fastest):
//        hemingway-run --nproc-per-node 3 --max-workers 3 -- fmnist_mlp --adaptive --target-loss
//        0.5
// The lines marked "Hemingway" are all it takes.
#include <fmt/format.h>
#include <torch/torch.h>
#include <CLI/CLI.hpp>

#include <numeric>

#include "hemingway/adaptive/controller_hook.h"
#include "hemingway/hooks/cli.h"
#include "hemingway/hooks/jsonl_sink.h"
#include "hemingway/hooks/progress.h"
#include "hemingway/hooks/step_recorder.h"
#include "hemingway/hooks/step_stats.h"
#include "hemingway/plugin/algorithms/parameter_averaging.h"
#include "hemingway/plugin/algorithms/workers.h"
#include "hemingway/plugin/data/datasets.h"
#include "hemingway/plugin/data/sampler.h"
#include "hemingway/plugin/data_parallel.h"
#include "hemingway/plugin/elastic/elastic.h"
#include "hemingway/plugin/elastic/membership.h"
#include "hemingway/plugin/elastic/sampler.h"
#include "hemingway/plugin/elastic/training_state.h"
#include "hemingway/plugin/process_group.h"

namespace hw = hemingway;

struct Flags {
  std::vector<std::string> command;
  int hidden = 512, batchSize = 64, iterations = 500, threads = 1, localIters = 8;
  std::uint64_t seed = 0;  // the initial weights and the order of the examples
  double lr = 0.05;
  // The scaling rule (static and elastic runs alike). strong: the global
  // batch is fixed, each worker takes its share, the learning rate is --lr.
  // weak: each worker takes --batch-size, the learning rate is --lr times
  // m (linear; ramped over --warmup-steps after each change) or sqrt(m).
  std::string scaling = "strong", weakLr = "linear";
  int globalBatch = 128, warmupSteps = 10;
  bool elastic = false, adaptive = false;
  double targetLoss = 0;  // when an elastic run stops; the goal of --adaptive
  std::string log, algorithm = "sgd", data = hw::data::kFashionMnistDir;
};

// Images as float rows in [0, 1] and labels as int64, copied out of `set`.
std::pair<torch::Tensor, torch::Tensor> toTensors(hw::data::ImageSet& set) {
  auto x = torch::from_blob(set.pixels.data(), {set.count, set.features()}, torch::kUInt8);
  auto y = torch::from_blob(set.labels.data(), {set.count}, torch::kUInt8);
  return {x.to(torch::kFloat32).div_(255), y.to(torch::kInt64)};
}

// The scaling rule's learning rate at m workers, and its warm-up: after a
// change the rate moves linearly from the old value to the new over
// --warmup-steps steps (weak linear scaling, Goyal et al.).
struct LearningRate {
  const Flags& f;
  double from = 0, to = 0;
  std::int64_t changedAt = 0;  // the step of the last change

  double at(int m) const {
    if (f.scaling == "strong") return f.lr;
    return f.lr * (f.weakLr == "sqrt" ? std::sqrt(double(m)) : double(m));
  }
  void change(int m, std::int64_t step, bool ramp) {
    from = ramp ? now(step) : at(m);
    to = at(m);
    changedAt = step;
  }
  double now(std::int64_t step) const {
    const bool ramps = f.scaling == "weak" && f.weakLr == "linear" && f.warmupSteps > 0;
    if (!ramps || step >= changedAt + f.warmupSteps) return to;
    return from + (to - from) * double(step - changedAt + 1) / f.warmupSteps;
  }
};

void setLr(torch::optim::SGD& optimizer, double lr) {
  for (auto& g : optimizer.param_groups()) {
    static_cast<torch::optim::SGDOptions&>(g.options()).lr(lr);
  }
}

// The model, its optimizer and Hemingway's parts on one worker.
struct Worker {
  const Flags& f;
  hw::plugin::ProcessGroup& group;
  torch::Tensor x, y;
  torch::nn::Sequential model;
  hw::hooks::StepRecorder& recorder;
  torch::optim::SGD optimizer;
  std::unique_ptr<hw::plugin::DataParallel> dp;
  std::unique_ptr<hw::plugin::ParameterAveraging> averaging;
  hw::hooks::Progress progress;
  std::int64_t stepsDone = 0;

  Worker(const Flags& flags, hw::plugin::ProcessGroup& g, hw::hooks::StepRecorder& r,
         torch::nn::Sequential m, std::pair<torch::Tensor, torch::Tensor> data)
      : f(flags),
        group(g),
        x(data.first),
        y(data.second),
        model(m),
        recorder(r),
        optimizer(model->parameters(), torch::optim::SGDOptions(f.lr).momentum(0.9)),
        progress(f.iterations) {
    // Hemingway: minibatch SGD averages gradients every step; local SGD
    // averages parameters every --local-iters steps.
    if (f.algorithm == "sgd") {
      dp = std::make_unique<hw::plugin::DataParallel>(group, model.ptr(),
                                                      hw::plugin::DataParallelOptions{}, &recorder);
    } else {
      averaging = std::make_unique<hw::plugin::ParameterAveraging>(group, model.ptr(), f.localIters,
                                                                   &recorder);
    }
  }

  // One step on `batch`, at learning rate `lr`, of a step of `globalBatch`
  // examples over all ranks; returns this rank's loss.
  double step(std::int64_t i, const std::vector<std::int64_t>& batch, double lr,
              std::int64_t globalBatch) {
    stepsDone = i + 1;
    auto step = recorder.step(static_cast<std::int64_t>(batch.size()));  // Hemingway
    step.setOptimization(lr, globalBatch);
    setLr(optimizer, lr);
    auto idx = torch::tensor(batch);
    optimizer.zero_grad();
    auto loss = torch::nn::functional::cross_entropy(model->forward(x.index_select(0, idx)),
                                                     y.index_select(0, idx));
    // Averaging gradients over ranks gives the step's mean gradient only
    // when every rank's share counts by its size (shares differ by one).
    const double weight = double(batch.size()) * group.worldSize() / double(globalBatch);
    (weight == 1.0 ? loss : loss * weight).backward();  // averaged across workers here
    optimizer.step();
    if (averaging) averaging->afterStep();
    const double value = loss.item<double>();
    step.setLoss(value);
    if (group.rank() == 0 && ((i + 1) % 50 == 0 || i + 1 == f.iterations)) {
      fmt::print(stderr, "{} | loss {:.4f} | workers {}\n", progress.line(i + 1), value,
                 group.worldSize());
    }
    return value;
  }
};

// Hemingway, adaptive: the controller (on rank 0) sees the step records,
// plans every 10 steps and asks for the machine count it prefers.
std::shared_ptr<hw::adaptive::ControllerHook> addController(const Flags& f,
                                                            hw::plugin::ProcessGroup& group,
                                                            hw::hooks::StepRecorder& recorder) {
  hw::adaptive::ControllerOptions co;
  co.algorithm = hw::adaptive::Algorithm::kSgd;
  // Strong scaling is one optimisation on any m: the iterations to a loss do
  // not depend on it.
  if (f.scaling == "strong") co.slopeBounds = hw::adaptive::SlopeBounds{0, 0};
  co.targetLoss = f.targetLoss;
  const auto bounds = hw::elastic::elasticWorkerBounds(group);
  co.minWorkers = bounds.min;
  co.maxWorkers = bounds.max;
  co.probeSteps = 10;  // a minibatch loss is noisy: longer probes
  co.cooldownSteps = 40;
  auto controller = std::make_shared<hw::adaptive::ControllerHook>(co, &recorder);
  recorder.addHook(controller);
  return controller;
}

// Every 10 steps the ranks agree on the mean loss: at the target all stop together.
// Rank 0's controller judges the same mean: its decision table ends with
// the stop row at this step.
bool targetReached(const Flags& f, hw::plugin::ProcessGroup& group, std::int64_t i,
                   std::vector<double>& recent, hw::adaptive::ControllerHook* controller) {
  if (f.targetLoss <= 0 || (i + 1) % 10 != 0) return false;
  std::vector<double> mean = {std::accumulate(recent.begin(), recent.end(), 0.0) /
                              static_cast<double>(recent.size())};
  hw::plugin::WorkerSet::real(group).sum(mean);
  recent.clear();
  if (controller && group.rank() == 0) {
    controller->judge(i + 1, group.worldSize(), mean[0] / group.worldSize());
  }
  if (mean[0] / group.worldSize() > f.targetLoss) return false;
  if (group.rank() == 0) {
    fmt::print(stderr, "target loss {:g} reached at step {} (mean of the last 10: {:.4f})\n",
               f.targetLoss, i + 1, mean[0] / group.worldSize());
  }
  return true;
}

// Hemingway, elastic: the state a joiner needs, a sampler whose global cursor
// survives rescaling, and the learning rate of the scaling rule at every
// world size (with its warm-up). False: parked at the end.
bool trainElastic(const Flags& f, Worker& w, std::int64_t examples) {
  auto& group = w.group;
  auto sampler = f.scaling == "strong"
                     ? hw::elastic::ElasticSampler::globalBatch(examples, f.globalBatch, {f.seed})
                     : hw::elastic::ElasticSampler(examples, f.batchSize, {f.seed});
  LearningRate lr{f};
  lr.change(group.worldSize(), 0, false);
  hw::elastic::TrainingState state;
  state.addModule(w.model.ptr());
  state.addOptimizer(w.optimizer);
  state.addSampler(sampler);
  state.addValue("lr_from", lr.from);
  state.addValue("lr_to", lr.to);
  state.addValue("lr_changed_at", lr.changedAt);
  hw::elastic::Elastic elastic(group, state, &w.recorder);
  const auto controller = f.adaptive ? addController(f, group, w.recorder) : nullptr;
  std::vector<double> recent;  // this rank's losses since the last check
  int keptIn = -1;             // the generation the controller's memory was last kept in
  elastic.onMembershipChange([&](const auto& before, const auto& after) {
    // A new rank 0 decides from where the old one stopped (failover).
    if (controller && after.rank == 0 && before.rank > 0) {
      if (auto memory = elastic.kept("controller")) controller->controller().restore(*memory);
    }
    lr.change(after.worldSize, state.step(), true);
  });
  return elastic.run(f.iterations, [&](std::int64_t i) {
    // The memory a new rank 0 restores: after each decision and each
    // membership change (a measured rescale cost).
    if (controller && group.rank() == 0 &&
        (controller->steer(i, elastic.scaler()) || group.generation() != keptIn)) {
      elastic.keep("controller", controller->controller().memory());
      keptIn = group.generation();
    }
    const int world = group.worldSize();
    recent.push_back(
        w.step(i, sampler.batch(group.rank(), world), lr.now(i), sampler.stepBatch(world)));
    if (targetReached(f, group, i, recent, controller.get())) elastic.stop();
  });
}

void printSummary(const Flags& f, Worker& w, const hw::hooks::StepStats& stats) {
  auto test = hw::data::loadFashionMnist(hw::data::Split::kTest, f.data);
  auto [tx, ty] = toTensors(test);
  torch::NoGradGuard noGrad;
  const double accuracy =
      w.model->forward(tx).argmax(1).eq(ty).to(torch::kFloat64).mean().item<double>();
  const auto sum = stats.summary(std::min(f.iterations / 10, 20));
  const int world = w.group.worldSize();
  fmt::print(
      "{} | workers {} | {} | final loss {:.4f} | test accuracy {:.2f}% | "
      "median step {:.2f} ms (compute {:.2f}, comm {:.2f}, exposed comm {:.2f}) | "
      "throughput {:.0f} samples/s{}\n",
      f.algorithm, world, w.progress.summary(w.stepsDone), sum.meanRecentLoss, 100 * accuracy,
      sum.medianStepMs, sum.medianComputeMs, sum.medianCommMs, sum.medianExposedCommMs,
      world * f.batchSize / (sum.medianStepMs / 1000), f.log.empty() ? "" : " | log " + f.log);
}

int train(const Flags& f) {
  torch::set_num_threads(f.threads);
  hw::plugin::ProcessGroup group(hw::elastic::groupOptionsFromEnv());  // Hemingway
  auto all = hw::data::loadFashionMnist(hw::data::Split::kTrain, f.data);
  auto data = toTensors(all);

  torch::manual_seed(f.seed);
  torch::nn::Sequential model(torch::nn::Linear(784, f.hidden), torch::nn::ReLU(),
                              torch::nn::Linear(f.hidden, f.hidden), torch::nn::ReLU(),
                              torch::nn::Linear(f.hidden, 10));
  hw::hooks::StepRecorder recorder({group.runId(), group.rank(), group.worldSize()});  // Hemingway
  auto stats = std::make_shared<hw::hooks::StepStats>();
  recorder.addHook(stats);
  if (!f.log.empty()) recorder.addHook(std::make_shared<hw::hooks::JsonlSink>(f.log));
  const int most = f.elastic ? hw::elastic::elasticWorkerBounds(group).max : group.worldSize();
  if (f.scaling == "strong" && f.globalBatch < most) {
    throw hw::ConfigError(fmt::format(
        "--global-batch {} is smaller than the {} workers the run may have: every worker needs "
        "an example a step",
        f.globalBatch, most));
  }
  Worker w(f, group, recorder, model, data);
  auto info = hw::plugin::describeRun(group, model.ptr(), f.algorithm, all.count);
  info.extra = {{"model", fmt::format("mlp-784-{0}-{0}-10", f.hidden)},
                {"loss", "cross-entropy"},
                {"lr", fmt::format("{}", f.lr)},
                {"momentum", "0.9"},
                {"scaling", f.scaling},
                {"global_batch", f.scaling == "strong" ? std::to_string(f.globalBatch) : "-"},
                {"batch_size", f.scaling == "weak" ? std::to_string(f.batchSize) : "-"},
                {"weak_lr", f.scaling == "weak" ? f.weakLr : "-"},
                {"warmup_steps", f.scaling == "weak" ? std::to_string(f.warmupSteps) : "-"},
                {"local_iters", f.algorithm == "local-sgd" ? std::to_string(f.localIters) : "-"},
                {"seed", std::to_string(f.seed)},
                {"data", f.data}};
  info.command = f.command;
  if (!group.parked()) recorder.runStart(info);  // a parked worker is nobody's rank yet
  if (f.elastic) {
    if (!trainElastic(f, w, all.count)) return 0;  // parked when the run ended
  } else {
    // Hemingway: each worker its own examples, reshuffled every epoch.
    hw::data::DistributedSampler sampler(all.count, group.rank(), group.worldSize(), {f.seed});
    const int m = group.worldSize(), r = group.rank();
    const bool strong = f.scaling == "strong";
    const std::int64_t share =
        strong ? hw::data::globalBatchShare(f.globalBatch, r, m).count : f.batchSize;
    const std::int64_t step = strong ? f.globalBatch : std::int64_t(f.batchSize) * m;
    const double rate = LearningRate{f}.at(m);
    for (int i = 0; i < f.iterations; ++i) w.step(i, sampler.nextBatch(share), rate, step);
  }
  if (group.rank() == 0) printSummary(f, w, *stats);
  if (!f.elastic) group.barrier();
  return 0;
}

int main(int argc, char** argv) {
  CLI::App app{"Fashion-MNIST MLP, data-parallel with Hemingway"};
  hw::cli::showDefaults(app);
  Flags f;
  f.command.assign(argv, argv + argc);
  app.add_option("--hidden", f.hidden, "hidden units per layer")->check(CLI::Range(1, 1 << 16));
  app.add_option("--scaling", f.scaling,
                 "strong: a fixed --global-batch shared by the workers, --lr as given; weak: "
                 "--batch-size per worker, --lr times the workers (--weak-lr)")
      ->check(CLI::IsMember({"strong", "weak"}));
  app.add_option("--global-batch", f.globalBatch,
                 "--scaling strong: examples per step, all workers")
      ->check(CLI::Range(1, 1 << 24));
  app.add_option("--batch-size", f.batchSize, "--scaling weak: examples per worker per step")
      ->check(CLI::Range(1, 1 << 20));
  app.add_option("--weak-lr", f.weakLr,
                 "--scaling weak: the learning rate is --lr times m (linear) or sqrt(m)")
      ->check(CLI::IsMember({"linear", "sqrt"}));
  app.add_option("--warmup-steps", f.warmupSteps,
                 "--scaling weak, linear: steps over which the rate moves to its new value after "
                 "a change")
      ->check(CLI::Range(0, 1 << 20));
  app.add_option("--lr", f.lr, "SGD learning rate (--scaling weak: for one worker)")
      ->check(hw::cli::kFinitePositive);
  app.add_option("--iterations", f.iterations, "training steps")->check(CLI::Range(1, 1 << 30));
  app.add_option("--seed", f.seed, "initial weights and example order")
      ->check(hw::cli::kFiniteNonNegative);
  app.add_option("--threads", f.threads, "intra-op threads per worker")->check(CLI::Range(1, 256));
  app.add_option("--log", f.log, "append JSON Lines step records to this file");
  app.add_option("--data", f.data, "directory of the Fashion-MNIST gzip IDX files");
  app.add_option("--algorithm", f.algorithm, "sgd (gradients averaged every step) or local-sgd")
      ->check(CLI::IsMember({"sgd", "local-sgd"}));
  app.add_option("--local-iters", f.localIters, "local-sgd: steps between parameter averagings")
      ->check(CLI::Range(1, 1 << 20));
  app.add_option("--target-loss", f.targetLoss,
                 "--elastic: stop when the mean loss of 10 steps over all workers is <= E; "
                 "--adaptive: reach it fastest")
      ->check(hw::cli::kFinitePositive);
  app.add_flag("--adaptive", f.adaptive,
               "let the controller choose the machine count within hemingway-run's "
               "--min-workers..--max-workers (implies --elastic; needs --target-loss)");
  app.add_flag("--elastic", f.elastic,
               "train elastically under hemingway-run --max-workers (sgd only): workers join "
               "and leave at step boundaries, batch and learning rate follow --scaling");
  if (auto code = hw::cli::parse(app, argc, argv, "fmnist_mlp")) return *code;
  if (f.adaptive && f.targetLoss <= 0) {
    std::fprintf(stderr, "fmnist_mlp: --adaptive needs --target-loss E\n");
    return hw::cli::kExitUsage;
  }
  f.elastic = f.elastic || f.adaptive;
  if (f.elastic && f.algorithm != "sgd") {
    std::fprintf(stderr, "fmnist_mlp: --elastic needs --algorithm sgd\n");
    return hw::cli::kExitUsage;
  }
  if (f.targetLoss > 0 && !f.elastic) {
    std::fprintf(stderr, "fmnist_mlp: --target-loss needs --elastic or --adaptive\n");
    return hw::cli::kExitUsage;
  }
  return hw::cli::run("fmnist_mlp", [&] { return train(f); });
}
