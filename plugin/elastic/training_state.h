// The training state an elastic run moves to new members: modules,
// optimizers, random generators, a sampler's position and named values, with
// the number of committed steps. Horovod's State, for LibTorch: register
// everything a step changes, and a joiner or a survivor of a failure resumes
// from the same committed step as everyone else.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace torch::nn {
class Module;
}  // namespace torch::nn
namespace torch::optim {
class Optimizer;
}  // namespace torch::optim
namespace at {
class Generator;
}  // namespace at

namespace hemingway::plugin {
class ProcessGroup;
}  // namespace hemingway::plugin

namespace hemingway::elastic {

class ElasticSampler;

class TrainingState {
 public:
  TrainingState();
  ~TrainingState();
  TrainingState(const TrainingState&) = delete;
  TrainingState& operator=(const TrainingState&) = delete;

  // Everything registered must outlive this object. Parameters and buffers
  // move as tensors; optimizers and generators through their serialized form.
  void addModule(std::shared_ptr<torch::nn::Module> module);
  void addOptimizer(torch::optim::Optimizer& optimizer);
  void addGenerator(at::Generator& generator);
  // Its position advances by every committed step (commit()).
  void addSampler(ElasticSampler& sampler);
  void addValue(const std::string& name, double& value);
  void addValue(const std::string& name, std::int64_t& value);
  // A vector of doubles whose size is the same on every rank.
  void addVector(const std::string& name, std::vector<double>& values);

  // Steps committed so far.
  std::int64_t step() const { return step_; }
  void setStep(std::int64_t step) { step_ = step; }
  // Marks the step that `worldSize` ranks just finished as committed: the
  // step count and the sampler's cursor advance.
  void commit(int worldSize);

  // Sends rank `source`'s whole state to the ranks `takers` (point to point,
  // straight into their live tensors; the other ranks return at once). The
  // step count and the values change only once everything arrived; a cut
  // transfer can leave a taker's parameters partly overwritten (the caller
  // then no longer trusts its state). Returns the bytes sent or received.
  // `workerId` names this process to the fault injection (failpoint.h).
  std::int64_t transfer(plugin::ProcessGroup& group, int source, const std::vector<int>& takers,
                        int workerId = -1);
  // FNV-1a over the bytes of every registered module's parameters: equal on
  // every rank of a correct data-parallel run.
  std::string checksum() const;

 private:
  struct Frame;
  Frame frame() const;
  std::int64_t send(plugin::ProcessGroup& group, const std::vector<int>& takers, int workerId);
  std::int64_t take(plugin::ProcessGroup& group, int source, int workerId);

  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::int64_t step_ = 0;
};

}  // namespace hemingway::elastic
