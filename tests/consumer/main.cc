// Trains one step of a tiny model through the installed Hemingway package.
#include <torch/nn/functional/loss.h>
#include <torch/nn/modules/linear.h>

#include <cstdio>

#include "hemingway/hooks/step_recorder.h"
#include "hemingway/plugin/data_parallel.h"
#include "hemingway/plugin/elastic/membership.h"
#include "hemingway/plugin/process_group.h"

int main() {
  hemingway::plugin::ProcessGroup group(hemingway::elastic::groupOptionsFromEnv());
  torch::nn::Linear model(3, 1);
  hemingway::hooks::StepRecorder recorder({group.runId(), group.rank(), group.worldSize()});
  hemingway::plugin::DataParallel dp(group, model.ptr(), {}, &recorder);
  {
    auto step = recorder.step(2);
    auto loss =
        torch::nn::functional::mse_loss(model->forward(torch::ones({2, 3})), torch::zeros({2, 1}));
    loss.backward();
    step.setLoss(loss.item<double>());
  }
  std::printf("consumer ok: %lld parameters, %lld steps\n",
              static_cast<long long>(dp.parameterCount()),
              static_cast<long long>(recorder.stepsRecorded()));
  return recorder.stepsRecorded() == 1 && dp.parameterCount() == 4 ? 0 : 1;
}
