// Where a ProcessGroup's membership comes from. A group formed from
// torchrun-style env has a fixed one (rank and world size from GroupOptions);
// an elastic run hands in a source that reads each generation from its
// launcher (hemingway::elastic::ElasticMembership). ProcessGroup asks the
// source and never knows which kind it holds.
#pragma once

#include <functional>
#include <optional>

#include <c10/util/intrusive_ptr.h>

namespace c10d {
class Store;
}  // namespace c10d

namespace hemingway::plugin {

// A process's place in one generation; rank -1 and world size 0: parked
// (alive, outside every group).
struct Placement {
  int generation = 0;
  int rank = 0;
  int worldSize = 1;
  bool parked() const { return rank < 0; }
};

// Opens another client connection to the group's store, under the run's
// prefix: for traffic that must not queue behind a blocking wait.
using StoreConnector = std::function<c10::intrusive_ptr<c10d::Store>()>;

class MembershipSource {
 public:
  virtual ~MembershipSource() = default;

  // Called once, when the group's store is connected (and holds the run):
  // this process's first placement.
  virtual Placement start(c10d::Store& store, const StoreConnector& connect) = 0;

  // True when members can come and go while a collective waits: forming a
  // group and waiting on one then watch broken(), and a process alone does
  // not bind Gloo to loopback (a peer from another host may join it).
  virtual bool changes() const = 0;
  // True once generation `generation` lost a member: a collective on it
  // never finishes. Cheap enough to call every few milliseconds.
  virtual bool broken(int generation) = 0;
  // The newest generation the launcher published, when a memory load tells
  // (nullopt: unknown without asking the store).
  virtual std::optional<int> publishedGeneration() const { return std::nullopt; }
  // A store connection for control traffic that must not queue behind a
  // blocking wait on the group's store; nullptr: the group's store.
  virtual c10d::Store* controlStore() { return nullptr; }
};

}  // namespace hemingway::plugin
