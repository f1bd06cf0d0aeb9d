// The README's training loop, elastic and adaptive: run it with
//   hemingway-run --nproc-per-node 1 --max-workers 2 -- adaptive_loop [LOG]
#include <torch/torch.h>
#include <cstdio>

#include "hemingway/adaptive/controller_hook.h"
#include "hemingway/hooks/error.h"
#include "hemingway/hooks/jsonl_sink.h"
#include "hemingway/hooks/step_recorder.h"
#include "hemingway/plugin/data/datasets.h"
#include "hemingway/plugin/data_parallel.h"
#include "hemingway/plugin/elastic/elastic.h"
#include "hemingway/plugin/elastic/membership.h"
#include "hemingway/plugin/elastic/sampler.h"
#include "hemingway/plugin/elastic/training_state.h"
namespace hw = hemingway;

int main(int argc, char** argv) try {
  const int batchSize = 64, iterations = 200;
  hw::plugin::ProcessGroup group(
      hw::elastic::groupOptionsFromEnv());  // membership from hemingway-run
  auto set = hw::data::loadFashionMnist(hw::data::Split::kTrain);
  auto x =
      torch::from_blob(set.pixels.data(), {set.count, 784}, torch::kUInt8).to(torch::kFloat32) /
      255;
  auto y = torch::from_blob(set.labels.data(), {set.count}, torch::kUInt8).to(torch::kInt64);
  torch::nn::Sequential model(torch::nn::Linear(784, 128), torch::nn::ReLU(),
                              torch::nn::Linear(128, 10));
  torch::optim::SGD optimizer(model->parameters(), 0.05);
  hw::hooks::StepRecorder recorder({group.runId(), group.rank(), group.worldSize()});
  recorder.addHook(std::make_shared<hw::hooks::JsonlSink>(argc > 1 ? argv[1] : "run.jsonl"));
  hw::plugin::DataParallel dp(group, model.ptr(), {}, &recorder);
  auto info = hw::plugin::describeRun(group, model.ptr(), "sgd", set.count);
  info.extra = {{"model", "mlp-784-128-10"}, {"loss", "cross-entropy"}, {"lr", "0.05"}};
  if (!group.parked()) recorder.runStart(info);  // a parked worker is nobody's rank yet

  // What a joiner needs, and a sampler whose cursor survives a change of world size.
  hw::elastic::ElasticSampler sampler(set.count, batchSize);
  hw::elastic::TrainingState state;
  state.addModule(model.ptr());
  state.addOptimizer(optimizer);
  state.addSampler(sampler);
  hw::elastic::Elastic elastic(group, state, &recorder);
  // The controller sees the step records and plans toward the target loss.
  hw::adaptive::ControllerOptions goal;
  goal.targetLoss = 0.6;
  goal.minWorkers = hw::elastic::elasticWorkerBounds(group).min;
  goal.maxWorkers = hw::elastic::elasticWorkerBounds(group).max;
  auto controller = std::make_shared<hw::adaptive::ControllerHook>(goal, &recorder);
  recorder.addHook(controller);
  elastic.run(iterations, [&](std::int64_t i) {
    if (group.rank() == 0) controller->steer(i, elastic.scaler());  // the one adaptive line
    auto idx = torch::tensor(sampler.batch(group.rank(), group.worldSize()));
    auto step = recorder.step(batchSize);
    optimizer.zero_grad();
    auto loss = torch::nn::functional::cross_entropy(model->forward(x.index_select(0, idx)),
                                                     y.index_select(0, idx));
    loss.backward();
    optimizer.step();
    step.setLoss(loss.item<double>());
  });
  return 0;
} catch (const hw::Error& e) {  // bad env, unreadable data, a lost or hung peer, a NaN loss
  std::fprintf(stderr, "adaptive_loop: %s\n", e.what());
  return 1;
}
