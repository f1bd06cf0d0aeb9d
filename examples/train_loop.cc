// The README's training loop as a whole program: run it with
//   hemingway-run --nproc-per-node 2 -- train_loop [LOG]
#include <torch/torch.h>
#include <cstdio>

#include "hemingway/hooks/error.h"
#include "hemingway/hooks/jsonl_sink.h"
#include "hemingway/hooks/step_recorder.h"
#include "hemingway/plugin/data/datasets.h"
#include "hemingway/plugin/data/sampler.h"
#include "hemingway/plugin/data_parallel.h"
#include "hemingway/plugin/process_group.h"
namespace hw = hemingway;

int main(int argc, char** argv) try {
  const int batchSize = 64, iterations = 200;
  const double lr = 0.05;
  hw::plugin::ProcessGroup group(hw::plugin::GroupOptions::fromEnv());
  auto set = hw::data::loadFashionMnist(hw::data::Split::kTrain);
  auto x =
      torch::from_blob(set.pixels.data(), {set.count, 784}, torch::kUInt8).to(torch::kFloat32) /
      255;
  auto y = torch::from_blob(set.labels.data(), {set.count}, torch::kUInt8).to(torch::kInt64);

  torch::nn::Sequential model(torch::nn::Linear(784, 128), torch::nn::ReLU(),
                              torch::nn::Linear(128, 10));
  torch::optim::SGD optimizer(model->parameters(), lr);
  hw::hooks::StepRecorder recorder({group.runId(), group.rank(), group.worldSize()});
  recorder.addHook(std::make_shared<hw::hooks::JsonlSink>(argc > 1 ? argv[1] : "run.jsonl"));
  hw::plugin::DataParallel dp(group, model.ptr(), {}, &recorder);  // rank 0's parameters everywhere

  auto info = hw::plugin::describeRun(group, model.ptr(), "sgd", set.count);
  info.extra = {{"model", "mlp-784-128-10"},
                {"loss", "cross-entropy"},
                {"lr", std::to_string(lr)},
                {"batch_size", std::to_string(batchSize)},
                {"seed", "0"}};
  recorder.runStart(info);  // the job's configuration: the first record of the log

  // Each rank its own examples (a new shuffle every epoch) and its own random stream.
  hw::data::DistributedSampler sampler(set.count, group.rank(), group.worldSize(), {/*seed=*/0});
  torch::manual_seed(1 + group.rank());
  for (int i = 0; i < iterations; ++i) {
    auto idx = torch::tensor(sampler.nextBatch(batchSize));
    auto step = recorder.step(batchSize);
    optimizer.zero_grad();
    auto loss = torch::nn::functional::cross_entropy(model->forward(x.index_select(0, idx)),
                                                     y.index_select(0, idx));
    loss.backward();  // gradients are averaged across ranks here
    optimizer.step();
    step.setLoss(loss.item<double>());
  }
  return 0;
} catch (const hw::Error& e) {  // bad env, unreadable data, a lost or hung peer, a NaN loss
  std::fprintf(stderr, "train_loop: %s\n", e.what());
  return 1;
}
