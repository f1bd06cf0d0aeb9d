// The seam between deciding and rescaling: what a controller needs of a run
// whose machine count can change. Elastic runs implement it with
// hemingway-run's membership (hemingway::elastic::Elastic::scaler()), a
// simulated cluster with its virtual workers; the controller asks through it
// (hemingway::adaptive::ControllerHook::steer).
#pragma once

namespace hemingway::hooks {

class Scaler {
 public:
  virtual ~Scaler() = default;
  // The machine count now.
  virtual int worldSize() const = 0;
  // Asks for `worldSize` machines on the controller's behalf; the change
  // happens at a step boundary (at once or later, as the run can).
  virtual void requestScale(int worldSize) = 0;
};

}  // namespace hemingway::hooks
