// Elastic runs as a user starts them: hemingway-run --max-workers with the
// elastic_worker job, rescaled by requests and by dead or stopped workers.
// Every run is compared with a reference replay of the same data order.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/ranks.h"

namespace {

using hemingway::testing::TempDir;
namespace testing = hemingway::testing;

struct Run {
  testing::CommandResult result;
  std::vector<nlohmann::json> regroups, ends, steps;
};

std::vector<nlohmann::json> records(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << "torn line in the log: " << line;
    if (!j.is_discarded()) out.push_back(j);
  }
  return out;
}

Run launch(const TempDir& dir, const std::string& launcherFlags, const std::string& workerFlags,
           const std::string& env = "") {
  Run run;
  run.result =
      testing::runCommand(env + " " + HEMINGWAY_RUN_BIN + " --timeout 20 " + launcherFlags +
                          " -- " + ELASTIC_WORKER_BIN + " --log " + dir.file("log.jsonl") +
                          " --dump " + dir.file("params.txt") + " " + workerFlags);
  for (auto& j : records(dir.file("log.jsonl"))) {
    if (j["event"] == "regroup") run.regroups.push_back(j);
    if (j["event"] == "run_end") run.ends.push_back(j);
    if (j["event"] == "step") run.steps.push_back(j);
  }
  return run;
}

std::vector<double> numbers(const std::string& path) {
  std::vector<double> out;
  std::ifstream in(path);
  double v = 0;
  while (in >> v) out.push_back(v);
  return out;
}

// The run's parameters equal a single-process replay of its world sizes.
void expectEqualsReference(const TempDir& dir, int steps) {
  auto ref = testing::runCommand(std::string(ELASTIC_WORKER_BIN) + " --steps " +
                                 std::to_string(steps) + " --reference " + dir.file("log.jsonl") +
                                 " --dump " + dir.file("reference.txt"));
  ASSERT_EQ(ref.exitCode, 0) << ref.output;
  const auto got = numbers(dir.file("params.txt"));
  const auto want = numbers(dir.file("reference.txt"));
  ASSERT_FALSE(want.empty());
  ASSERT_EQ(got.size(), want.size());
  double worst = 0;
  for (std::size_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::abs(got[i] - want[i]));
  EXPECT_LT(worst, 1e-4) << "largest parameter difference from the reference";
}

// Every rank ended at the same committed step with the same parameters.
void expectCleanEnd(const Run& run, int steps, int world) {
  ASSERT_EQ(static_cast<int>(run.ends.size()), world) << run.result.output;
  for (const auto& e : run.ends) {
    EXPECT_EQ(e["steps"], steps);
    EXPECT_EQ(e["param_checksum"], run.ends[0]["param_checksum"]);
  }
}

// A worker stops itself (SIGSTOP) at step 10 of 30 in a world of `world`:
// the heartbeat declares it dead and the others finish without it.
void expectStoppedWorkerDeclaredDead(int world, const std::string& workerFlags) {
  TempDir dir;
  const auto n = std::to_string(world);
  auto run = launch(dir,
                    "--nproc-per-node " + n + " --max-workers " + n +
                        " --on-failure shrink --heartbeat-timeout 1",
                    "--steps 30 " + workerFlags);
  ASSERT_EQ(run.result.exitCode, 0) << run.result.output;
  EXPECT_NE(run.result.output.find("sent no heartbeat"), std::string::npos) << run.result.output;
  EXPECT_LT(run.result.seconds, 15) << "no wait for the 20 s timeout";
  ASSERT_EQ(run.regroups.size(), 1u) << run.result.output;
  // The stall is the heartbeat timeout, not the 20 s collective timeout.
  EXPECT_LT(run.regroups[0]["total_ms"].get<double>(), 5000);
  expectCleanEnd(run, 30, world - 1);
  expectEqualsReference(dir, 30);
}

TEST(ElasticTest, ScalesTwoThreeOneTwoAndEqualsTheReference) {
  TempDir dir;
  auto run =
      launch(dir, "--nproc-per-node 2 --max-workers 3",
             "--steps 48 --request 6:3,16:1,28:2 --sleep-ms 10 --seen " + dir.file("seen.txt"));
  ASSERT_EQ(run.result.exitCode, 0) << run.result.output;
  std::vector<int> worlds;
  for (const auto& r : run.regroups) {
    worlds.push_back(r["to_world_size"]);
    EXPECT_EQ(r["cause"], "request");
    for (const char* field : {"agree_ms", "form_ms", "state_ms", "total_ms", "state_bytes",
                              "generation", "from_world_size", "step", "run"}) {
      EXPECT_TRUE(r.contains(field)) << field;
    }
  }
  EXPECT_EQ(worlds, (std::vector<int>{3, 1, 2})) << run.result.output;
  expectCleanEnd(run, 48, 2);
  expectEqualsReference(dir, 48);
  // Step records: each committed step once per rank of its generation.
  std::map<std::int64_t, std::set<int>> ranksAt;
  for (const auto& s : run.steps) {
    EXPECT_TRUE(ranksAt[s["step"]].insert(s["rank"].get<int>()).second)
        << "step " << s["step"] << " recorded twice on rank " << s["rank"];
    EXPECT_TRUE(s.contains("generation"));
  }
  EXPECT_EQ(ranksAt.size(), 48u);
  // Every example once per epoch across the rescales.
  std::map<long, std::multiset<long>> seen;
  std::ifstream in(dir.file("seen.txt"));
  long epoch = 0, index = 0;
  while (in >> epoch >> index) seen[epoch].insert(index);
  ASSERT_GE(seen.size(), 2u) << "the run should cross an epoch";
  for (const auto& [e, indices] : seen) {
    for (long i : indices) EXPECT_EQ(indices.count(i), 1u) << "example " << i << " epoch " << e;
    if (e == 0) EXPECT_EQ(indices.size(), 240u);
  }
}

TEST(ElasticTest, KillMinus9MidStepShrinksAndLosesNoCommittedStep) {
  TempDir dir;
  auto run = launch(dir, "--nproc-per-node 3 --max-workers 3 --on-failure shrink",
                    "--steps 30 --kill-at 10:1:step");
  ASSERT_EQ(run.result.exitCode, 0) << run.result.output;
  ASSERT_EQ(run.regroups.size(), 1u) << run.result.output;
  EXPECT_EQ(run.regroups[0]["cause"], "failure");
  EXPECT_EQ(run.regroups[0]["to_world_size"], 2);
  expectCleanEnd(run, 30, 2);
  expectEqualsReference(dir, 30);
}

TEST(ElasticTest, KillMinus9MidAllreduceShrinksAndLosesNoCommittedStep) {
  TempDir dir;
  auto run = launch(dir, "--nproc-per-node 3 --max-workers 3 --on-failure shrink",
                    "--steps 30 --kill-at 12:2:allreduce");
  ASSERT_EQ(run.result.exitCode, 0) << run.result.output;
  ASSERT_EQ(run.regroups.size(), 1u) << run.result.output;
  EXPECT_EQ(run.regroups[0]["cause"], "failure");
  expectCleanEnd(run, 30, 2);
  expectEqualsReference(dir, 30);
}

// The ring average (every bucket) blocked on a dead member's messages. At
// world 4 rank 0 is no neighbour of worker 2 in the ring: its wait ends by
// the abort board or as its neighbours tear the old group down, never at the
// 20 s timeout, and the ring of the next generation works.
TEST(ElasticTest, KillMinus9MidRingAverageShrinksWithoutWaitingForTheTimeout) {
  TempDir dir;
  auto run = launch(dir, "--nproc-per-node 4 --max-workers 4 --on-failure shrink",
                    "--steps 30 --kill-at 12:2:allreduce --ring-min-bytes 0");
  ASSERT_EQ(run.result.exitCode, 0) << run.result.output;
  EXPECT_LT(run.result.seconds, 15) << "no wait for the 20 s timeout";
  ASSERT_EQ(run.regroups.size(), 1u) << run.result.output;
  EXPECT_EQ(run.regroups[0]["cause"], "failure");
  EXPECT_LT(run.regroups[0]["total_ms"].get<double>(), 5000);
  expectCleanEnd(run, 30, 3);
  expectEqualsReference(dir, 30);
}

TEST(ElasticTest, StoppedWorkerInTheRingIsDeclaredDeadByTheHeartbeat) {
  expectStoppedWorkerDeclaredDead(4, "--kill-at 10:0:stop --ring-min-bytes 0");
}

TEST(ElasticTest, JoinerKilledWhileFormingLeavesTheOthersTraining) {
  TempDir dir;
  // Worker 3 joins generation 1 and dies before forming it: hemingway-run
  // aborts generation 1 and the others form generation 2 without it.
  auto run = launch(dir, "--nproc-per-node 3 --max-workers 4 --on-failure shrink",
                    "--steps 30 --request 6:4 --sleep-ms 5", "HEMINGWAY_FAILPOINT=form:3:1");
  ASSERT_EQ(run.result.exitCode, 0) << run.result.output;
  EXPECT_LT(run.result.seconds, 15) << "no wait for the 20 s timeout";
  ASSERT_EQ(run.regroups.size(), 1u) << run.result.output;
  EXPECT_EQ(run.regroups[0]["generation"], 2);
  EXPECT_EQ(run.regroups[0]["to_world_size"], 3);
  expectCleanEnd(run, 30, 3);
  expectEqualsReference(dir, 30);
}

TEST(ElasticTest, SourceKilledDuringTheStateTransferAnotherMemberServes) {
  TempDir dir;
  // Worker 0 (rank 0, the source) dies in the middle of sending the state to
  // the joiner: workers 1 and 2 still hold the committed state.
  auto run = launch(dir, "--nproc-per-node 3 --max-workers 4 --on-failure shrink",
                    "--steps 30 --request 6:4 --sleep-ms 5", "HEMINGWAY_FAILPOINT=state:0:1");
  ASSERT_EQ(run.result.exitCode, 0) << run.result.output;
  EXPECT_LT(run.result.seconds, 15) << "no wait for the 20 s timeout";
  ASSERT_GE(run.regroups.size(), 1u) << run.result.output;
  EXPECT_EQ(run.regroups.back()["cause"], "failure");
  EXPECT_EQ(run.regroups.back()["to_world_size"], 3);
  expectCleanEnd(run, 30, 3);
  expectEqualsReference(dir, 30);
}

TEST(ElasticTest, LauncherDeathLeavesNoProcess) {
  TempDir dir;
  const std::string cmd = std::string(HEMINGWAY_RUN_BIN) +
                          " --timeout 20 --nproc-per-node 2 --max-workers 3 -- " +
                          ELASTIC_WORKER_BIN + " --steps 100000 --sleep-ms 5 --log " +
                          dir.file("log.jsonl") + " --pid-dir " + dir.path();
  const pid_t launcher = ::fork();
  ASSERT_GE(launcher, 0);
  if (launcher == 0) {
    ::execl("/bin/sh", "sh", "-c", ("exec " + cmd + " >/dev/null 2>&1").c_str(), nullptr);
    ::_exit(127);
  }
  std::vector<pid_t> pids;
  for (int i = 0; i < 300 && pids.size() < 3; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    pids.clear();
    for (int w = 0; w < 3; ++w) {
      std::ifstream in(dir.file(std::to_string(w) + ".pid"));
      pid_t p = 0;
      if (in >> p) pids.push_back(p);
    }
  }
  ASSERT_EQ(pids.size(), 3u) << "two members and a parked worker started";
  ::kill(launcher, SIGKILL);
  ::waitpid(launcher, nullptr, 0);
  // Gone: no such process, or a zombie waiting for init to reap it.
  const auto gone = [](pid_t p) {
    if (::kill(p, 0) != 0) return true;
    std::ifstream stat("/proc/" + std::to_string(p) + "/stat");
    std::string line;
    std::getline(stat, line);
    const auto close = line.rfind(')');
    return close == std::string::npos || line.substr(close + 2, 1) == "Z";
  };
  for (pid_t p : pids) {
    bool dead = false;
    for (int i = 0; i < 100 && !dead; ++i) {
      dead = gone(p);
      if (!dead) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    EXPECT_TRUE(dead) << "worker " << p << " outlived the launcher";
  }
}

TEST(ElasticTest, ReplaceBringsAParkedWorkerInAndStartsANewOne) {
  TempDir dir;
  auto run = launch(dir, "--nproc-per-node 2 --max-workers 3 --on-failure replace",
                    "--steps 30 --kill-at 8:1:step --sleep-ms 5");
  ASSERT_EQ(run.result.exitCode, 0) << run.result.output;
  ASSERT_EQ(run.regroups.size(), 1u) << run.result.output;
  EXPECT_EQ(run.regroups[0]["to_world_size"], 2);
  expectCleanEnd(run, 30, 2);
  expectEqualsReference(dir, 30);
  // The replacement parked worker (id 3) started and left when the run ended.
  EXPECT_NE(run.result.output.find("4 workers on node 0 | exit codes 0 137 0 0"), std::string::npos)
      << run.result.output;
}

TEST(ElasticTest, StoppedWorkerIsDeclaredDeadByTheHeartbeat) {
  expectStoppedWorkerDeclaredDead(3, "--kill-at 10:1:stop");
}

TEST(ElasticTest, MoreFailuresThanMinWorkersAllowEndTheRunClearly) {
  TempDir dir;
  auto run = launch(dir, "--nproc-per-node 2 --max-workers 2 --min-workers 2 --on-failure shrink",
                    "--steps 30 --kill-at 5:1:step");
  EXPECT_NE(run.result.exitCode, 0);
  EXPECT_NE(run.result.output.find("fewer than --min-workers 2"), std::string::npos)
      << run.result.output;
  EXPECT_LT(run.result.seconds, 15);
}

int freePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

TEST(ElasticTest, CtlScalesARunningJobAndShowsItsStatus) {
  TempDir dir;
  const int port = freePort();
  std::thread job([&] {
    launch(dir, "--master-port " + std::to_string(port) + " --nproc-per-node 1 --max-workers 2",
           "--steps 300 --sleep-ms 20");
  });
  const std::string ctl = std::string(HEMINGWAY_CTL_BIN) + " --master-port " + std::to_string(port);
  // Until the second worker has started and parked (a loaded machine starts it late).
  testing::CommandResult status;
  for (int i = 0; i < 100; ++i) {
    status = testing::runCommand(ctl + " status");
    if (status.exitCode == 0 && status.output.find("parked [1]") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(status.exitCode, 0) << status.output;
  EXPECT_NE(status.output.find("world size 1"), std::string::npos) << status.output;
  EXPECT_NE(status.output.find("parked [1]"), std::string::npos) << status.output;
  auto scale = testing::runCommand(ctl + " scale 2");
  EXPECT_EQ(scale.exitCode, 0) << scale.output;
  job.join();
  std::vector<int> worlds;
  for (auto& j : records(dir.file("log.jsonl"))) {
    if (j["event"] == "regroup") worlds.push_back(j["to_world_size"]);
  }
  EXPECT_EQ(worlds, std::vector<int>{2});
  auto gone = testing::runCommand(ctl + " status");
  EXPECT_NE(gone.exitCode, 0) << "the secret file must go with the run";
}

TEST(ElasticTest, LauncherFlagsAreChecked) {
  auto r = testing::runCommand(std::string(HEMINGWAY_RUN_BIN) +
                               " --nproc-per-node 3 --max-workers 2 -- true");
  EXPECT_EQ(r.exitCode, 2);
  EXPECT_NE(r.output.find("--max-workers 2 is smaller than --nproc-per-node 3"), std::string::npos)
      << r.output;
  r = testing::runCommand(std::string(HEMINGWAY_RUN_BIN) +
                          " --nproc-per-node 2 --on-failure "
                          "shrink -- true");
  EXPECT_EQ(r.exitCode, 2);
  EXPECT_NE(r.output.find("give --max-workers"), std::string::npos) << r.output;
  r = testing::runCommand(std::string(HEMINGWAY_RUN_BIN) +
                          " --nproc-per-node 2 --max-workers 2 --on-failure retry -- true");
  EXPECT_EQ(r.exitCode, 2);
  EXPECT_NE(r.output.find("--on-failure must be stop, shrink or replace"), std::string::npos);
}

}  // namespace
