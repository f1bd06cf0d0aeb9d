#include "hemingway/plugin/algorithms/parameter_averaging.h"

#include <chrono>

#include <torch/nn/module.h>

#include "hemingway/hooks/error.h"
#include "hemingway/hooks/step_recorder.h"
#include "hemingway/plugin/detail/collectives.h"
#include "hemingway/plugin/process_group.h"

namespace hemingway::plugin {
namespace {
std::vector<at::Tensor> stateOf(torch::nn::Module& module) {
  std::vector<at::Tensor> state;
  for (auto& p : module.parameters(true)) state.push_back(p);
  for (auto& b : module.buffers(true)) state.push_back(b);
  return state;
}
}  // namespace

ParameterAveraging::ParameterAveraging(ProcessGroup& group,
                                       std::shared_ptr<torch::nn::Module> module,
                                       std::int64_t localSteps, hooks::StepRecorder* recorder)
    : group_(group), module_(std::move(module)), localSteps_(localSteps), recorder_(recorder) {
  HEMINGWAY_CHECK_AS(ConfigError, module_ != nullptr, "ParameterAveraging needs a module");
  HEMINGWAY_CHECK_AS(ConfigError, localSteps >= 1, "local steps H must be >= 1, got {}",
                     localSteps);
  detail::broadcastFromRank0(group_, stateOf(*module_));
}

bool ParameterAveraging::afterStep() {
  if (++steps_ % localSteps_ != 0) return false;
  average();
  return true;
}

void ParameterAveraging::average() {
  const auto t0 = std::chrono::steady_clock::now();
  detail::averageAcrossRanks(group_, stateOf(*module_));
  if (recorder_ != nullptr && group_.worldSize() > 1) {
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    recorder_->addCommunication(ms, ms);  // synchronous: all of it is exposed
  }
}

}  // namespace hemingway::plugin
