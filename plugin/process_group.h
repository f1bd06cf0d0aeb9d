// A Gloo process group formed from torchrun-style env or explicit options,
// with a generation counter so membership can change at a step boundary.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <c10/util/intrusive_ptr.h>

#include "hemingway/plugin/membership.h"

namespace c10d {
class ProcessGroup;
class Store;
class Work;
}  // namespace c10d

namespace hemingway::plugin {

struct GroupOptions {
  std::string masterAddr = "127.0.0.1";
  int masterPort = 29500;
  int rank = 0;
  int worldSize = 1;
  int localRank = 0;
  // Bounds every rendezvous and collective; Gloo's PyTorch default is 30 min.
  std::chrono::milliseconds timeout{30000};
  // True: rank 0 hosts the TCPStore. False: an agent (hemingway-run) hosts it
  // and every rank connects as a client, so a worker's death keeps the store.
  bool rank0HostsStore = true;
  // Run id shared by all ranks; empty means HEMINGWAY_RUN_ID or one agreed
  // through the store.
  std::string runId;
  int glooThreads = 2;
  // Network interface for Gloo traffic (GLOO_SOCKET_IFNAME); empty: derived
  // from masterAddr: loopback stays on loopback, otherwise the local address
  // of the route to masterAddr.
  std::string interface;
  // The run's secret (HEMINGWAY_RUN_SECRET, set by hemingway-run): the run's
  // keys in the launcher's store lie under it, and a store that does not hold
  // it belongs to another run (see plugin/detail/run_store.h).
  std::string runSecret;
  // Where the membership of every generation comes from; nullptr: fixed,
  // `rank` of `worldSize` (torchrun-style env). An elastic run hands in its
  // own (hemingway::elastic::groupOptionsFromEnv()).
  std::shared_ptr<MembershipSource> membership;

  // Reads MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE, LOCAL_RANK (torchrun's
  // names), HEMINGWAY_TIMEOUT_SECONDS, HEMINGWAY_AGENT_STORE, HEMINGWAY_RUN_ID,
  // HEMINGWAY_RUN_SECRET and GLOO_SOCKET_IFNAME. With none of RANK,
  // WORLD_SIZE, MASTER_ADDR, MASTER_PORT set, it describes a single process.
  // A missing, malformed or out-of-range value throws ConfigError naming the
  // variable, and so does a worker that hemingway-run --max-workers started
  // (its membership is not in the env: hemingway::elastic::groupOptionsFromEnv).
  static GroupOptions fromEnv();
};

// Owns the store connection and the current generation's ProcessGroupGloo.
// With a membership source that changes (an elastic run) a process may be
// parked: alive, connected to the store, outside any group (rank() -1,
// worldSize() 0) until a generation admits it (see plugin/elastic/elastic.h).
class ProcessGroup {
 public:
  explicit ProcessGroup(GroupOptions options);
  ~ProcessGroup();
  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;

  int rank() const;
  int worldSize() const;
  int localRank() const;
  // 0 for the first group, +1 for each regroup(); in an elastic run the
  // generation hemingway-run published.
  int generation() const;
  bool parked() const;
  // True when members can come and go while a collective waits (see
  // MembershipSource::changes): waits then watch abortRequested().
  bool membershipChanges() const;
  const std::string& runId() const;
  std::chrono::milliseconds timeout() const;
  const GroupOptions& options() const;

  // The current generation's c10d group (valid until the next regroup()).
  c10d::ProcessGroup& backend();
  c10::intrusive_ptr<c10d::ProcessGroup> backendPtr();
  // The store shared by all generations (under the run's prefix when
  // hemingway-run hosts it).
  c10d::Store& store();
  // The membership source's connection for control traffic that must not
  // queue behind a blocking wait on store() (elastic runs); else store().
  c10d::Store& controlStore();

  // True when Gloo's traffic stays on this host's loopback interface.
  bool onLoopback() const;

  // Numbers the users of point-to-point messages on this group (0..126, then
  // around again): ranks that ask in the same order get the same numbers, so
  // each user can keep its message tags apart from the others'. The numbers
  // start again at 0 in every generation, so joiners and survivors agree.
  int newChannel();

  // Blocks until every rank arrives; throws TimeoutError after timeout().
  void barrier();

  // Forms the next generation with a new membership, then lets the old Gloo
  // group go (destroyed off the calling thread: ~ProcessGroupGloo waits for
  // its queued work). Every member of the new group must call it with the
  // same newWorldSize at a step boundary; keys of generation g live under the
  // store prefix "hemingway/gen/g". If forming fails, the old group stays.
  void regroup(int newRank, int newWorldSize);
  // The same for an explicit generation number (elastic runs, where
  // hemingway-run numbers the generations). A parked process joins this way.
  void adopt(int generation, int newRank, int newWorldSize);
  // Leaves the current group and parks (a membership that changes).
  void park();

  // The newest generation the membership source knows by a memory load
  // (hemingway-run's board); nullopt when it cannot tell.
  std::optional<int> publishedGeneration() const;
  // True once the membership source marked the current generation broken (a
  // member died): a collective waiting on it will never finish. Always false
  // for a fixed membership.
  bool abortRequested();
  // Waits for `work` in slices, watching abortRequested(); throws
  // PeerLostError naming `what` on a failure, an abort or after timeout().
  void wait(c10d::Work& work, const std::string& what);
  // Calls finished(slice) until it returns true, watching abortRequested()
  // between slices; throws PeerLostError naming `what` on an abort or after
  // timeout(). For waits that are not a c10d::Work (DataParallel's ring).
  void waitWatchingAbort(const std::function<bool(std::chrono::milliseconds)>& finished,
                         const std::string& what);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hemingway::plugin
