// Runs the real hemingway-run binary with shell workers.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>

#include "support/ranks.h"

namespace {

using hemingway::testing::TempDir;
namespace testing = hemingway::testing;

testing::CommandResult runLauncher(const std::string& args) {
  return testing::runCommand(std::string(HEMINGWAY_RUN_BIN) + " " + args);
}

bool alive(pid_t pid) { return ::kill(pid, 0) == 0; }

std::vector<pid_t> readPids(const TempDir& dir, int n) {
  std::vector<pid_t> pids;
  for (int r = 0; r < n; ++r) {
    std::ifstream in(dir.file(std::to_string(r) + ".pid"));
    pid_t pid = 0;
    if (in >> pid) pids.push_back(pid);
  }
  return pids;
}

TEST(LauncherTest, SetsTorchrunEnvAndPrefixesOutput) {
  auto r = runLauncher(
      "--nproc-per-node 2 -- sh -c 'echo env $RANK/$WORLD_SIZE/$LOCAL_RANK/$MASTER_ADDR'");
  EXPECT_EQ(r.exitCode, 0) << r.output;
  EXPECT_NE(r.output.find("[rank 0] env 0/2/0/127.0.0.1"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("[rank 1] env 1/2/1/127.0.0.1"), std::string::npos) << r.output;
}

TEST(LauncherTest, FailingWorkerStopsTheOthersAndLeavesNoProcess) {
  TempDir dir;
  // Rank 1 exits 1 once every worker has written its pid; the others would
  // sleep for a minute (and a grandchild too) unless stopped.
  const std::string script = "echo $$ > " + dir.path() + "/$RANK.pid; (sleep 60 & wait) & " +
                             "while [ $(ls " + dir.path() +
                             " | wc -l) -lt 3 ]; do sleep 0.05; done; " +
                             "if [ $RANK = 1 ]; then exit 1; fi; sleep 60";
  auto r = runLauncher("--nproc-per-node 3 --grace 2 -- sh -c '" + script + "'");
  EXPECT_NE(r.exitCode, 0) << r.output;
  EXPECT_LT(r.seconds, 15) << r.output;
  EXPECT_NE(r.output.find("rank 1"), std::string::npos) << r.output;
  const auto pids = readPids(dir, 3);
  ASSERT_EQ(pids.size(), 3u);
  for (pid_t pid : pids) EXPECT_FALSE(alive(pid)) << "worker " << pid << " outlived the launcher";
  // No grandchild 'sleep 60' from these workers may remain either.
  const std::string check = "pgrep -f 'sleep 60' -g " + std::to_string(pids[0]) + "," +
                            std::to_string(pids[1]) + "," + std::to_string(pids[2]) +
                            " > /dev/null";
  EXPECT_NE(std::system(check.c_str()), 0) << "a grandchild of a worker is still running";
}

TEST(LauncherTest, WorkerIgnoringSigtermIsKilledAfterGrace) {
  TempDir dir;
  const std::string script = "echo $$ > " + dir.path() +
                             "/$RANK.pid; trap \"\" TERM; if [ $RANK = 0 ]; then sleep 0.3; "
                             "exit 4; fi; while true; do sleep 0.1; done";
  auto r = runLauncher("--nproc-per-node 2 --grace 1 -- sh -c '" + script + "'");
  EXPECT_EQ(r.exitCode, 4) << r.output;
  EXPECT_LT(r.seconds, 10) << r.output;
  for (pid_t pid : readPids(dir, 2)) EXPECT_FALSE(alive(pid));
}

TEST(LauncherTest, ForwardsSigtermToWorkers) {
  TempDir dir;
  const std::string cmd = std::string(HEMINGWAY_RUN_BIN) +
                          " --nproc-per-node 2 -- sh -c 'echo $$ > " + dir.path() +
                          "/$RANK.pid; exec sleep 60'";
  const pid_t launcher = ::fork();
  ASSERT_GE(launcher, 0);
  if (launcher == 0) {
    ::execl("/bin/sh", "sh", "-c", ("exec " + cmd).c_str(), nullptr);
    ::_exit(127);
  }
  std::vector<pid_t> pids;
  for (int i = 0; i < 200 && pids.size() < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    pids = readPids(dir, 2);
  }
  ASSERT_EQ(pids.size(), 2u);
  ::kill(launcher, SIGTERM);
  int status = 0;
  ASSERT_EQ(::waitpid(launcher, &status, 0), launcher);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_NE(WEXITSTATUS(status), 0);
  for (pid_t pid : pids) EXPECT_FALSE(alive(pid));
}

TEST(LauncherTest, MissingProgramFailsClearly) {
  auto r = runLauncher("--nproc-per-node 2 -- /nonexistent/program");
  EXPECT_NE(r.exitCode, 0);
  EXPECT_NE(r.output.find("cannot execute '/nonexistent/program'"), std::string::npos) << r.output;
}

TEST(LauncherTest, BadFlagExitsWithUsage) {
  auto r = runLauncher("--nproc-per-node 0 -- true");
  EXPECT_EQ(r.exitCode, 2);
  EXPECT_NE(r.output.find("--nproc-per-node=0 is out of range"), std::string::npos) << r.output;
}

TEST(LauncherTest, ExampleTrainsUnderTheLauncher) {
  const std::string example = FMNIST_MLP_BIN;
  if (example.empty()) GTEST_SKIP() << "examples are not built";
  TempDir dir;
  auto r = runLauncher("--nproc-per-node 2 -- " + example + " --steps 20 --hidden 32 --log " +
                       dir.file("run.jsonl"));
  EXPECT_EQ(r.exitCode, 0) << r.output;
  std::ifstream in(dir.file("run.jsonl"));
  int steps = 0, starts = 0;
  std::string line;
  while (std::getline(in, line)) {
    steps += line.find("\"event\":\"step\"") != std::string::npos;
    starts += line.find("\"event\":\"run_start\"") != std::string::npos;
  }
  EXPECT_EQ(steps, 40);  // every step of both ranks
  EXPECT_EQ(starts, 2);
}

}  // namespace
