// The logical workers of a distributed optimization algorithm: one per
// process over Gloo (real), or all M of them in this process (virtual: the
// same partitioning and arithmetic, run one after another).
#pragma once

#include <vector>

namespace hemingway::plugin {

class ProcessGroup;

class WorkerSet {
 public:
  // M logical workers in this process; nothing is communicated.
  static WorkerSet virtualWorkers(int m);
  // One worker per rank of `group` at its current generation (none while
  // parked). After a membership change, make a new one and repartition.
  static WorkerSet real(ProcessGroup& group);

  int worldSize() const { return worldSize_; }
  // The workers this process runs, in increasing order.
  const std::vector<int>& local() const { return local_; }
  bool isVirtual() const { return isVirtual_; }
  // True on the process that writes iteration records (rank 0).
  bool reports() const;
  // Sums `values` elementwise over all processes (allreduce); a no-op when
  // this process holds every worker. Throws PeerLostError on a dead peer.
  void sum(std::vector<double>& values);

 private:
  WorkerSet() = default;
  ProcessGroup* group_ = nullptr;
  int generation_ = 0;  // the group's generation the partitions were cut for
  int worldSize_ = 1;
  std::vector<int> local_;
  bool isVirtual_ = false;
};

}  // namespace hemingway::plugin
