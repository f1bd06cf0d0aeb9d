// The membership of an elastic run: hemingway-run --max-workers decides every
// generation and publishes it on the run channel; this process is worker
// `workerId` and is a member of the newest generation or parked.
#pragma once

#include <chrono>
#include <memory>
#include <optional>

#include "hemingway/plugin/membership.h"
#include "hemingway/plugin/process_group.h"

namespace hemingway::elastic {

class RunChannel;

class ElasticMembership final : public plugin::MembershipSource {
 public:
  // `boardFd`: hemingway-run's board (HEMINGWAY_ABORT_FD), -1: ask the store.
  ElasticMembership(int workerId, int boardFd);
  ~ElasticMembership() override;

  int workerId() const { return workerId_; }
  // The run channel over the control connection (valid once the group started).
  RunChannel& channel();

  plugin::Placement start(c10d::Store& store, const plugin::StoreConnector& connect) override;
  bool changes() const override { return true; }
  // Reads the board (a memory load), or asks the store at most every 2 ms.
  bool broken(int generation) override;
  std::optional<int> publishedGeneration() const override;
  c10d::Store* controlStore() override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int workerId_;
};

// This process's group options: with HEMINGWAY_ELASTIC=1 (a worker that
// hemingway-run --max-workers started) MASTER_ADDR, MASTER_PORT,
// HEMINGWAY_WORKER_ID, HEMINGWAY_RUN_SECRET, HEMINGWAY_ABORT_FD,
// GLOO_SOCKET_IFNAME and HEMINGWAY_TIMEOUT_SECONDS with an elastic
// membership; otherwise plugin::GroupOptions::fromEnv(). A missing or
// malformed value throws ConfigError naming the variable.
plugin::GroupOptions groupOptionsFromEnv();

// The elastic membership `group` was formed with, or nullptr (a fixed one).
ElasticMembership* elasticMembership(const plugin::ProcessGroup& group);

}  // namespace hemingway::elastic
