#include "hemingway/plugin/elastic/membership.h"

#include <algorithm>

#include <torch/csrc/distributed/c10d/Store.hpp>

#include "hemingway/hooks/error.h"
#include "hemingway/plugin/elastic/detail/board.h"
#include "hemingway/plugin/elastic/run_channel.h"
#include "hemingway/plugin/env.h"

namespace hemingway::elastic {

struct ElasticMembership::Impl {
  int boardFd = -1;
  std::optional<detail::Board> board;
  c10::intrusive_ptr<c10d::Store> control;  // a second client (control traffic)
  std::unique_ptr<RunChannel> channel;
  std::chrono::steady_clock::time_point lastCheck{};
};

ElasticMembership::ElasticMembership(int workerId, int boardFd)
    : impl_(std::make_unique<Impl>()), workerId_(workerId) {
  impl_->boardFd = boardFd;
}

ElasticMembership::~ElasticMembership() = default;

RunChannel& ElasticMembership::channel() {
  HEMINGWAY_CHECK(impl_->channel != nullptr, "the elastic membership has not started");
  return *impl_->channel;
}

// This worker's place in the newest generation. A worker that starts later
// than generation 0 (a replacement, or one slower to start than a rescale)
// begins parked and joins as every joiner does, through Elastic::run, which
// moves the training state to it.
plugin::Placement ElasticMembership::start(c10d::Store&, const plugin::StoreConnector& connect) {
  impl_->control = connect();
  impl_->channel = std::make_unique<RunChannel>(impl_->control);
  if (impl_->boardFd >= 0) impl_->board = detail::Board::attach(impl_->boardFd);
  const int latest = impl_->channel->latest();
  const auto members = impl_->channel->members(latest);
  const auto it = std::find(members.begin(), members.end(), workerId_);
  if (it == members.end() || latest > 0) return {latest, -1, 0};
  return {latest, static_cast<int>(it - members.begin()), static_cast<int>(members.size())};
}

bool ElasticMembership::broken(int generation) {
  if (impl_->board) return impl_->board->aborted() >= generation;
  const auto now = std::chrono::steady_clock::now();
  if (now - impl_->lastCheck < std::chrono::milliseconds(2)) return false;
  impl_->lastCheck = now;
  return channel().aborted(generation);
}

std::optional<int> ElasticMembership::publishedGeneration() const {
  if (!impl_->board) return std::nullopt;
  return static_cast<int>(impl_->board->published());
}

c10d::Store* ElasticMembership::controlStore() { return impl_->control.get(); }

plugin::GroupOptions groupOptionsFromEnv() {
  using plugin::envInt;
  using plugin::envString;
  if (envInt("HEMINGWAY_ELASTIC", 0, 1).value_or(0) == 0) return plugin::GroupOptions::fromEnv();
  for (const char* name : {"MASTER_ADDR", "MASTER_PORT", "HEMINGWAY_WORKER_ID"}) {
    HEMINGWAY_CHECK_AS(ConfigError, envString(name).has_value(),
                       "{} is not set (HEMINGWAY_ELASTIC=1 is for workers that hemingway-run "
                       "--max-workers starts)",
                       name);
  }
  plugin::GroupOptions o;
  if (auto t = plugin::envSeconds("HEMINGWAY_TIMEOUT_SECONDS")) {
    o.timeout = std::chrono::milliseconds(static_cast<long long>(*t * 1000));
  }
  if (auto id = envString("HEMINGWAY_RUN_ID")) o.runId = *id;
  o.rank0HostsStore = false;  // hemingway-run hosts the store
  o.masterAddr = *envString("MASTER_ADDR");
  o.masterPort = static_cast<int>(*envInt("MASTER_PORT", 1, 65535));
  o.rank = -1;  // placed by the membership
  o.worldSize = 0;
  if (auto secret = envString("HEMINGWAY_RUN_SECRET")) o.runSecret = *secret;
  if (auto ifname = envString("GLOO_SOCKET_IFNAME")) o.interface = *ifname;
  const int workerId = static_cast<int>(*envInt("HEMINGWAY_WORKER_ID", 0, 1 << 16));
  const int boardFd = static_cast<int>(envInt("HEMINGWAY_ABORT_FD", 0, 1 << 20).value_or(-1));
  o.membership = std::make_shared<ElasticMembership>(workerId, boardFd);
  return o;
}

ElasticMembership* elasticMembership(const plugin::ProcessGroup& group) {
  return dynamic_cast<ElasticMembership*>(group.options().membership.get());
}

}  // namespace hemingway::elastic
