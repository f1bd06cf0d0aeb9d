// Local SGD for any torch::nn::Module: every worker takes H optimizer steps on
// its own data, then the parameters are averaged across ranks.
#pragma once

#include <cstdint>
#include <memory>

namespace torch::nn {
class Module;
}  // namespace torch::nn

namespace hemingway::hooks {
class StepRecorder;
}  // namespace hemingway::hooks

namespace hemingway::plugin {

class ProcessGroup;

class ParameterAveraging {
 public:
  // Broadcasts rank 0's parameters and buffers. `localSteps` is H >= 1.
  ParameterAveraging(ProcessGroup& group, std::shared_ptr<torch::nn::Module> module,
                     std::int64_t localSteps, hooks::StepRecorder* recorder = nullptr);

  // Call after each optimizer step: every H-th call averages the parameters
  // (and buffers) and returns true.
  bool afterStep();
  // Averages now.
  void average();

  std::int64_t localSteps() const { return localSteps_; }

 private:
  ProcessGroup& group_;
  std::shared_ptr<torch::nn::Module> module_;
  std::int64_t localSteps_;
  hooks::StepRecorder* recorder_;
  std::int64_t steps_ = 0;
};

}  // namespace hemingway::plugin
