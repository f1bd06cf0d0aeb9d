// ControllerHook::steer: the one call between the controller's decision and
// the run's Scaler.
#include "hemingway/adaptive/controller_hook.h"
#include "hemingway/adaptive/exploration.h"

#include <gtest/gtest.h>

#include <vector>

namespace hemingway::adaptive {
namespace {

class RecordingScaler final : public hooks::Scaler {
 public:
  explicit RecordingScaler(int worldSize) : worldSize_(worldSize) {}
  int worldSize() const override { return worldSize_; }
  void requestScale(int worldSize) override { requests.push_back(worldSize); }
  std::vector<int> requests;

 private:
  int worldSize_;
};

ControllerOptions options(int maxWorkers) {
  ControllerOptions o;
  o.targetLoss = 0.5;
  o.minWorkers = 1;
  o.maxWorkers = maxWorkers;
  return o;
}

TEST(ControllerHookTest, SteerAsksTheScalerForTheCountADecisionWants) {
  ControllerHook hook(options(16), nullptr);
  RecordingScaler scaler(1);
  const auto d = hook.steer(0, scaler);
  ASSERT_TRUE(d.has_value()) << "a cold start decides at its first step";
  const int first = firstCountFromBounds(1, 16, slopeBoundsFor(Algorithm::kSgd));
  ASSERT_NE(first, 1) << "the test needs a first count other than the start";
  EXPECT_EQ(d->action, Action::kRescale);
  EXPECT_EQ(d->worldSize, 1);
  EXPECT_EQ(d->toWorldSize, first);
  EXPECT_EQ(scaler.requests, std::vector<int>{d->toWorldSize});
}

TEST(ControllerHookTest, SteerAsksNothingWhenTheDecisionKeepsTheCount) {
  ControllerHook hook(options(1), nullptr);
  RecordingScaler scaler(1);
  for (std::int64_t step = 0; step < 30; ++step) {
    const auto d = hook.steer(step, scaler);
    if (d) EXPECT_EQ(d->toWorldSize, 1);
  }
  EXPECT_TRUE(scaler.requests.empty());
}

}  // namespace
}  // namespace hemingway::adaptive
