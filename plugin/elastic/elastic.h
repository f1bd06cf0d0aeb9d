// Elastic training for any LibTorch loop: the number of workers changes at a
// step boundary without restarting the survivors, as Horovod Elastic does.
//
//   hw::plugin::ProcessGroup group(hw::elastic::groupOptionsFromEnv());
//   ... model, optimizer, hw::elastic::ElasticSampler sampler(size, batch) ...
//   hw::elastic::TrainingState state;
//   state.addModule(model); state.addOptimizer(optimizer); state.addSampler(sampler);
//   hw::plugin::DataParallel ddp(group, model);
//   hw::elastic::Elastic elastic(group, state, &recorder);
//   elastic.run(iterations, [&](std::int64_t step) {
//     auto batch = sampler.batch(group.rank(), group.worldSize());
//     ... forward, backward, optimizer.step() ...
//   });
//
// hemingway-run --max-workers B decides every membership: a rescale request
// (hemingway-ctl scale N, or requestScale()) or a dead or silent worker gives
// a new generation. At a step boundary all members agree on the step where
// they move to it (a store check per step, no extra collective), form the
// new Gloo group, and the new members receive the committed training state.
// A step interrupted by a failure is not committed: survivors resume from the
// newest step that some member committed, so no committed step is lost or
// applied twice. Workers outside the membership wait parked, warm.
//
// The body must not commit anything itself: run() commits after it returns.
// Everything the body changes must be registered in the TrainingState.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "hemingway/hooks/scaler.h"
#include "hemingway/hooks/step_recorder.h"
#include "hemingway/plugin/elastic/run_channel.h"
#include "hemingway/plugin/elastic/training_state.h"
#include "hemingway/plugin/process_group.h"

namespace hemingway::elastic {

struct Membership {
  int generation = 0;
  int rank = -1;                // -1: parked
  int worldSize = 0;            // 0: parked
  Cause cause = Cause::kStart;  // of the change that made it
};

// The machine counts an adaptive controller may choose among: hemingway-run
// --min-workers..--max-workers (HEMINGWAY_MIN_WORKERS, HEMINGWAY_MAX_WORKERS),
// or the group's world size alone outside an elastic launch.
struct WorkerBounds {
  int min = 1;
  int max = 1;
};
WorkerBounds elasticWorkerBounds(const plugin::ProcessGroup& group);

class Elastic {
 public:
  using Listener = std::function<void(const Membership& before, const Membership& after)>;

  // `recorder` (optional) gets the new membership, the "regroup" records (on
  // the new rank 0) and this rank's "run_end". Outside an elastic run (no
  // hemingway-run --max-workers) run() simply runs the steps.
  Elastic(plugin::ProcessGroup& group, TrainingState& state,
          hooks::StepRecorder* recorder = nullptr);
  ~Elastic();
  Elastic(const Elastic&) = delete;
  Elastic& operator=(const Elastic&) = delete;

  // Called on every member after each membership change, once the state is
  // in place, before the next step: e.g. to scale the learning rate with the
  // global batch (see the README's rule).
  void onMembershipChange(Listener listener);
  // Called on every member of the old membership at the step boundary of a
  // planned change, before it happens: the old group still works (e.g. to
  // gather state that is spread over the ranks). Not called after a failure.
  void beforeMembershipChange(std::function<void()> callback);

  // Ends run() after the current step (every rank must call it in the same
  // step, e.g. when a target is reached).
  void stop();

  // Runs `body(step)` until `steps` steps are committed. Returns true on a
  // member that took part to the end (it wrote run_end), false on a worker
  // that was parked when the run ended.
  bool run(std::int64_t steps, const std::function<void(std::int64_t step)>& body);

  // Asks hemingway-run for `worldSize` workers; `cause` is kRequest or
  // kController (the adaptive controller). Returns at once: the change
  // happens at a later step boundary.
  void requestScale(int worldSize, Cause cause = Cause::kController);
  // This run as the controller sees it (ControllerHook::steer): the group's
  // world size, and requestScale(n, Cause::kController).
  hooks::Scaler& scaler();

  // What only rank 0 holds, such as an adaptive controller's memory
  // (Controller::memory): kept in the run's store under `name` by rank 0,
  // and read back by the rank 0 of a later membership (after a failover).
  // Outside an elastic run keep() does nothing and kept() is empty.
  void keep(const std::string& name, const std::vector<double>& values);
  std::optional<std::vector<double>> kept(const std::string& name);

  Membership membership() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hemingway::elastic
