// hemingway-run's side of an elastic run (--max-workers): it decides every
// membership and publishes it on the run channel as a generation
// (plugin/elastic/run_channel.h). Rescale requests, dead workers and silent
// workers become new generations; the workers move at a step boundary.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "hemingway/plugin/elastic/run_channel.h"

namespace hemingway::elastic {

namespace detail {
class Board;
}  // namespace detail

enum class FailurePolicy { kUnset, kStop, kShrink, kReplace };

struct CoordinatorOptions {
  int initialWorkers = 1;  // --nproc-per-node
  int maxWorkers = 1;      // --max-workers
  int minWorkers = 1;      // --min-workers
  FailurePolicy onFailure = FailurePolicy::kUnset;
  // Shared with the workers (HEMINGWAY_ABORT_FD): the newest aborted and
  // published generations (nullptr: the store alone tells them).
  detail::Board* board = nullptr;
};

class Coordinator {
 public:
  // `channel` speaks to the run's workers; `note` prints one line.
  Coordinator(RunChannel channel, CoordinatorOptions options,
              std::function<void(const std::string&)> note);

  // Worker ids 0..maxWorkers-1: the first initialWorkers are generation 0's
  // members, the rest parked. Publish before starting any worker.
  void publishInitial();

  // A worker exited. Returns the ids of new parked workers to start (policy
  // replace). After a failure the run cannot survive, failed() is set.
  std::vector<int> onExit(int id, bool success);
  // Polls for rescale requests and formed generations (call often).
  void tick();

  // The policy in force: kUnset resolves to shrink for programs that use the
  // elastic API (they say so in the store), stop otherwise.
  FailurePolicy policy();
  bool failed() const { return failed_.has_value(); }
  const std::string& failure() const { return *failed_; }
  // Some member finished the run (exited 0).
  bool finished() const { return finished_; }
  int generation() const { return latest_; }

 private:
  void publish(std::vector<int> members, Cause cause);
  void applyRequest(const ScaleRequest& request);
  void writeStatus();

  RunChannel channel_;
  CoordinatorOptions options_;
  std::function<void(const std::string&)> note_;
  int latest_ = -1;
  int formed_ = 0;            // newest generation known to train
  int abortedBelow_ = 0;      // generations < this one are marked aborted
  std::vector<int> members_;  // of the newest generation, in rank order
  std::set<int> parked_;
  std::set<int> dead_;
  int nextId_ = 0;
  std::optional<ScaleRequest> deferred_;  // a request waiting for a formed generation
  std::optional<std::string> failed_;
  bool finished_ = false;
};

}  // namespace hemingway::elastic
