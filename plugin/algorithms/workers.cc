#include "hemingway/plugin/algorithms/workers.h"

#include <ATen/ATen.h>
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>

#include "hemingway/hooks/error.h"
#include "hemingway/plugin/process_group.h"

namespace hemingway::plugin {

WorkerSet WorkerSet::virtualWorkers(int m) {
  HEMINGWAY_CHECK_AS(ConfigError, m >= 1 && m <= 1 << 16,
                     "the number of virtual workers must be in [1, 65536], got {}", m);
  WorkerSet w;
  w.worldSize_ = m;
  w.isVirtual_ = true;
  for (int k = 0; k < m; ++k) w.local_.push_back(k);
  return w;
}

WorkerSet WorkerSet::real(ProcessGroup& group) {
  WorkerSet w;
  w.group_ = &group;
  w.generation_ = group.generation();
  w.worldSize_ = group.worldSize();
  if (!group.parked()) w.local_ = {group.rank()};  // parked: no partition
  return w;
}

bool WorkerSet::reports() const { return group_ == nullptr || group_->rank() == 0; }

void WorkerSet::sum(std::vector<double>& values) {
  if (group_ == nullptr) return;
  HEMINGWAY_CHECK_AS(ConfigError, group_->generation() == generation_,
                     "the group changed membership (generation {} -> {}) but the algorithm's "
                     "partitions are still cut for {} workers (LinearTrainer::repartition)",
                     generation_, group_->generation(), worldSize_);
  if (group_->worldSize() == 1 || values.empty()) return;
  std::vector<at::Tensor> tensors{
      at::from_blob(values.data(), {static_cast<std::int64_t>(values.size())}, at::kDouble)};
  group_->wait(*group_->backend().allreduce(tensors), "the algorithm's allreduce");
}

}  // namespace hemingway::plugin
