#include "hemingway/plugin/elastic/elastic.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>
#include <vector>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#include <torch/csrc/distributed/c10d/Store.hpp>

#include "hemingway/hooks/error.h"
#include "hemingway/hooks/log.h"
#include "hemingway/hooks/step_recorder.h"
#include "hemingway/plugin/elastic/detail/failpoint.h"
#include "hemingway/plugin/elastic/membership.h"
#include "hemingway/plugin/elastic/training_state.h"
#include "hemingway/plugin/env.h"
#include "hemingway/plugin/process_group.h"

namespace hemingway::elastic {
namespace {

using Clock = std::chrono::steady_clock;

double msSince(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

// Writes a byte to hemingway-run's heartbeat pipe every interval, so that a
// stopped or frozen process (SIGSTOP) is declared dead long before the
// collective timeout.
class Heartbeat {
 public:
  Heartbeat(int fd, std::chrono::milliseconds every) : fd_(fd) {
    thread_ = std::thread([this, every] {
      std::unique_lock<std::mutex> lock(mutex_);
      while (!stop_) {
        const char beat = 'h';
        [[maybe_unused]] auto n = ::write(fd_, &beat, 1);
        cv_.wait_for(lock, every, [this] { return stop_; });
      }
    });
  }
  ~Heartbeat() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  int fd_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

// An elastic run as the controller sees it.
class ElasticScaler final : public hooks::Scaler {
 public:
  ElasticScaler(Elastic& elastic, const plugin::ProcessGroup& group)
      : elastic_(elastic), group_(group) {}
  int worldSize() const override { return group_.worldSize(); }
  void requestScale(int worldSize) override {
    elastic_.requestScale(worldSize, Cause::kController);
  }

 private:
  Elastic& elastic_;
  const plugin::ProcessGroup& group_;
};

}  // namespace

struct Elastic::Impl {
  plugin::ProcessGroup& group;
  ElasticMembership* elastic;  // nullptr: a fixed membership
  TrainingState& state;
  hooks::StepRecorder* recorder;
  std::vector<Listener> listeners;
  std::vector<std::function<void()>> beforeChange;
  bool stopRequested = false;
  std::unique_ptr<Heartbeat> heartbeat;
  std::optional<std::int64_t> switchAt;  // the boundary where this generation ends
  Clock::time_point lastStepPublished{};
  int lastSeenGeneration = -1;
  // This rank's state is a committed one: false while parked (stale) and
  // while a transfer into it is incomplete.
  bool trusted = true;
  std::unique_ptr<ElasticScaler> scaler;

  Impl(plugin::ProcessGroup& g, TrainingState& s, hooks::StepRecorder* r)
      : group(g), elastic(elasticMembership(g)), state(s), recorder(r) {}

  RunChannel& channel() { return elastic->channel(); }

  Membership membership() const {
    return {group.generation(), group.rank(), group.worldSize(), Cause::kStart};
  }

  void follow() {
    if (recorder != nullptr) recorder->setNextStep(state.step());
  }

  // Sum of (committed step + 1) in each rank's slot (0 for a rank without a
  // trusted state): the lowest rank with the newest committed step, and the
  // ranks that must take its state (-1: nobody).
  std::pair<int, std::vector<int>> agreeOnStep() {
    auto slots = at::zeros({group.worldSize()}, at::kLong);
    slots.data_ptr<std::int64_t>()[group.rank()] = trusted ? state.step() + 1 : 0;
    std::vector<at::Tensor> tensors{slots};
    auto work = group.backend().allreduce(tensors);
    group.wait(*work, "agreeing on the committed step");
    const auto* s = slots.data_ptr<std::int64_t>();
    int source = 0;
    for (int r = 0; r < group.worldSize(); ++r) {
      if (s[r] > s[source]) source = r;
    }
    HEMINGWAY_CHECK_AS(PeerLostError, s[source] > 0,
                       "no member of generation {} holds a committed state (the members that "
                       "held it are gone)",
                       group.generation());
    std::vector<int> takers;
    for (int r = 0; r < group.worldSize(); ++r) {
      if (s[r] != s[source]) takers.push_back(r);
    }
    return {takers.empty() ? -1 : source, takers};
  }

  // After forming a new generation: agree on the step, move the state, tell
  // the listeners and the recorder, and (new rank 0) write the record.
  void settle(const Membership& before, Cause cause, Clock::time_point t0, double agreeMs,
              double formMs, bool sameState) {
    const auto tState = Clock::now();
    const auto [source, takers] =
        sameState ? std::pair<int, std::vector<int>>{-1, {}} : agreeOnStep();
    std::int64_t moved = 0;
    if (source >= 0) {
      const bool take = std::find(takers.begin(), takers.end(), group.rank()) != takers.end();
      if (take) trusted = false;
      moved = state.transfer(group, source, takers, elastic->workerId());
      trusted = true;
    }
    const double stateMs = msSince(tState);
    switchAt.reset();
    lastSeenGeneration = group.generation();
    follow();
    auto after = membership();
    after.cause = cause;
    for (auto& l : listeners) l(before, after);
    if (group.rank() == 0) {
      channel().markFormed(group.generation());
      if (recorder != nullptr) {
        hooks::RegroupRecord r;
        r.generation = group.generation();
        r.fromWorldSize = before.worldSize;
        r.toWorldSize = after.worldSize;
        r.step = state.step();
        r.cause = causeName(cause);
        r.agreeMs = agreeMs;
        r.formMs = formMs;
        r.stateMs = stateMs;
        r.totalMs = msSince(t0);
        r.stateBytes = moved;
        recorder->regroup(r);
      }
    }
    HEMINGWAY_LOG(kInfo, "generation {}: rank {} of {} from step {} ({}; {:.1f} ms)",
                  group.generation(), group.rank(), group.worldSize(), state.step(),
                  causeName(cause), msSince(t0));
  }

  // Moves to generation `g` (published by hemingway-run): join it, or park.
  // Returns false when this worker is not a member of it.
  bool enter(int g, Clock::time_point t0) {
    const auto before = membership();
    const auto members = channel().members(g);
    const Cause cause = channel().cause(g);
    const double agreeMs = msSince(t0);
    const auto it = std::find(members.begin(), members.end(), elastic->workerId());
    if (it == members.end()) {
      group.park();
      trusted = false;
      switchAt.reset();
      lastSeenGeneration = g;
      HEMINGWAY_LOG(kInfo, "parked at generation {} (step {})", g, state.step());
      return false;
    }
    // A planned change without joiners: every member switched at the agreed
    // step and holds the same state, so nothing needs agreeing or moving.
    bool sameState = cause != Cause::kFailure && g > 0;
    if (sameState) {
      const auto previous = channel().members(g - 1);
      for (int m : members) {
        sameState = sameState && std::find(previous.begin(), previous.end(), m) != previous.end();
      }
    }
    const auto tForm = Clock::now();
    detail::failpoint("form", elastic->workerId(), g);
    group.adopt(g, static_cast<int>(it - members.begin()), static_cast<int>(members.size()));
    settle(before, cause, t0, agreeMs, msSince(tForm), sameState);
    return true;
  }

  // A parked worker polls for a generation that admits it. False: run over.
  bool waitForAdmission() {
    for (;;) {
      if (channel().ended()) return false;
      const int g = channel().latest();
      if (g > lastSeenGeneration) {
        const auto t0 = Clock::now();
        const auto members = channel().members(g);
        if (std::find(members.begin(), members.end(), elastic->workerId()) != members.end()) {
          try {
            if (enter(g, t0)) return true;
          } catch (const PeerLostError& e) {
            HEMINGWAY_LOG(kWarn, "joining generation {} failed: {}", g, e.what());
            group.park();
          } catch (const TimeoutError& e) {
            HEMINGWAY_LOG(kWarn, "joining generation {} failed: {}", g, e.what());
            group.park();
          }
        }
        lastSeenGeneration = g;
      }
      awaitNewerGeneration();
    }
  }

  // Between a parked worker's looks at the store: 1 ms, or with hemingway-run's
  // board until it shows a generation newer than the last one seen, watched
  // every 1 ms by a memory load; the store is then asked at most every 20 ms
  // (for the end of the run, which only the store shows).
  void awaitNewerGeneration() {
    const auto until = Clock::now() + std::chrono::milliseconds(20);
    do {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      const auto published = group.publishedGeneration();
      if (!published || *published > lastSeenGeneration) return;
    } while (Clock::now() < until);
  }

  // At a step boundary: a planned change of membership? Returns true when
  // this boundary moved to a new generation (or parked).
  bool boundary() {
    const std::int64_t s = state.step();
    const int g = group.generation();
    // With the board, a step in which it shows no newer generation asks the
    // store nothing: switch_at follows g + 1, which the board shows first.
    const auto published = group.publishedGeneration();
    if (!switchAt && (!published || *published > g)) {
      if (group.rank() == 0) {
        if (channel().published(g + 1)) {
          if (channel().cause(g + 1) == Cause::kFailure) {
            HEMINGWAY_FAIL_AS(PeerLostError, "generation {} lost a member", g);
          }
          switchAt = s + 1;
          // Visible before this rank's part of step s leaves: a member that
          // finishes step s then finds it at its next boundary. A plain set
          // could still be unapplied then, and that member would run step
          // s + 1 while the others change membership.
          channel().setSwitchAt(g, s + 1);
        }
      } else {
        switchAt = channel().switchAt(g);
      }
    }
    if (group.rank() == 0 && Clock::now() - lastStepPublished > std::chrono::seconds(1)) {
      channel().publishStep(s);
      lastStepPublished = Clock::now();
    }
    if (!switchAt || s < *switchAt) return false;
    HEMINGWAY_CHECK(s == *switchAt, "missed the agreed switch step {} (at step {})", *switchAt, s);
    const auto t0 = Clock::now();
    for (auto& f : beforeChange) f();
    enter(g + 1, t0);
    return true;
  }

  // After a failed step: wait for hemingway-run's next generation and enter
  // it (again for a newer one if forming that fails too).
  void recover(const std::exception& error, Clock::time_point t0) {
    int floor = group.generation();
    HEMINGWAY_LOG(kWarn, "step {} failed: {}; waiting for the next generation", state.step(),
                  error.what());
    for (;;) {
      const auto deadline = Clock::now() + group.timeout();
      while (channel().latest() <= floor) {
        if (Clock::now() > deadline) {
          HEMINGWAY_FAIL_AS(PeerLostError,
                            "step {} failed and hemingway-run published no new membership "
                            "within {} ms: {}",
                            state.step(), group.timeout().count(), error.what());
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      const int next = channel().latest();
      try {
        enter(next, t0);
        return;
      } catch (const PeerLostError& e) {
        HEMINGWAY_LOG(kWarn, "generation {} failed too: {}", next, e.what());
      } catch (const TimeoutError& e) {
        HEMINGWAY_LOG(kWarn, "generation {} failed too: {}", next, e.what());
      }
      floor = next;
    }
  }

  void finish() {
    if (recorder != nullptr) {
      hooks::RunEndRecord r;
      r.steps = state.step();
      r.paramChecksum = state.checksum();
      recorder->runEnd(r);
    }
    if (elastic != nullptr && group.rank() == 0) channel().end();
  }
};

Elastic::Elastic(plugin::ProcessGroup& group, TrainingState& state, hooks::StepRecorder* recorder)
    : impl_(std::make_unique<Impl>(group, state, recorder)) {
  if (impl_->elastic == nullptr) return;
  // A parked worker considers the newest generation too: it may list it.
  impl_->lastSeenGeneration = group.parked() ? -1 : group.generation();
  impl_->trusted = !group.parked();
  impl_->channel().announceElasticApi();
  if (auto fd = plugin::envInt("HEMINGWAY_HEARTBEAT_FD", 0, 1 << 20)) {
    const auto every = plugin::envInt("HEMINGWAY_HEARTBEAT_MS", 1, 1 << 30).value_or(1000);
    impl_->heartbeat =
        std::make_unique<Heartbeat>(static_cast<int>(*fd), std::chrono::milliseconds(every));
  }
  if (recorder != nullptr) {  // the group owns the rank, world size and generation
    recorder->followMembership([&group] {
      return hooks::GroupPlace{group.rank(), group.worldSize(), group.generation()};
    });
  }
}

Elastic::~Elastic() = default;

void Elastic::onMembershipChange(Listener listener) {
  impl_->listeners.push_back(std::move(listener));
}

Membership Elastic::membership() const { return impl_->membership(); }

void Elastic::beforeMembershipChange(std::function<void()> callback) {
  impl_->beforeChange.push_back(std::move(callback));
}

void Elastic::stop() { impl_->stopRequested = true; }

hooks::Scaler& Elastic::scaler() {
  if (!impl_->scaler) impl_->scaler = std::make_unique<ElasticScaler>(*this, impl_->group);
  return *impl_->scaler;
}

void Elastic::requestScale(int worldSize, Cause cause) {
  HEMINGWAY_CHECK_AS(ConfigError, impl_->elastic != nullptr,
                     "requestScale needs an elastic run (hemingway-run --max-workers)");
  impl_->channel().requestScale({worldSize, cause});
}

void Elastic::keep(const std::string& name, const std::vector<double>& values) {
  if (impl_->elastic == nullptr) return;
  std::string bytes(values.size() * sizeof(double), '\0');
  if (!values.empty()) std::memcpy(bytes.data(), values.data(), bytes.size());
  impl_->channel().keep(name, bytes);
}

std::optional<std::vector<double>> Elastic::kept(const std::string& name) {
  if (impl_->elastic == nullptr) return std::nullopt;
  const auto bytes = impl_->channel().kept(name);
  if (!bytes || bytes->size() % sizeof(double) != 0) return std::nullopt;
  std::vector<double> values(bytes->size() / sizeof(double));
  if (!values.empty()) std::memcpy(values.data(), bytes->data(), bytes->size());
  return values;
}

bool Elastic::run(std::int64_t steps, const std::function<void(std::int64_t)>& body) {
  auto& im = *impl_;
  auto& group = im.group;
  if (im.elastic == nullptr) {
    while (im.state.step() < steps && !im.stopRequested) {
      im.follow();
      body(im.state.step());
      im.state.commit(group.worldSize());
    }
    im.finish();
    return true;
  }
  for (;;) {
    if (group.parked()) {
      if (!im.waitForAdmission()) return false;
      continue;
    }
    if (im.state.step() >= steps || im.stopRequested) {
      im.finish();
      return true;
    }
    try {
      if (im.boundary()) continue;
      im.follow();
      detail::failpoint("step", im.elastic->workerId(), static_cast<int>(im.state.step()));
      body(im.state.step());
      im.state.commit(group.worldSize());
    } catch (const PeerLostError& e) {
      im.recover(e, Clock::now());
    } catch (const TimeoutError& e) {
      im.recover(e, Clock::now());
    }
  }
}

WorkerBounds elasticWorkerBounds(const plugin::ProcessGroup& group) {
  WorkerBounds b;
  b.min = static_cast<int>(plugin::envInt("HEMINGWAY_MIN_WORKERS", 1, 1024).value_or(1));
  b.max = static_cast<int>(
      plugin::envInt("HEMINGWAY_MAX_WORKERS", 1, 1024).value_or(group.worldSize()));
  return b;
}

}  // namespace hemingway::elastic
