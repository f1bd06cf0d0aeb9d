// Runs the real hemingway-run binary with shell workers.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
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
  for (const char* args : {"--bogus 1 -- true", "--nproc-per-node 1 --timeout nan -- true",
                           "--nproc-per-node 1 --tee 3 -- true",
                           "--nproc-per-node 1 --standalone --master-port 5 -- true"}) {
    auto bad = runLauncher(args);
    EXPECT_EQ(bad.exitCode, 2) << args << "\n" << bad.output;
    const std::string flag = std::string(args).substr(0, std::string(args).find(' ', 20));
    EXPECT_EQ(bad.output.find("launcher.cc"), std::string::npos) << bad.output;
  }
  EXPECT_NE(runLauncher("--bogus 1 -- true").output.find("--bogus"), std::string::npos);
  EXPECT_NE(runLauncher("--nproc-per-node 1 --timeout nan -- true").output.find("--timeout"),
            std::string::npos);
}

TEST(LauncherTest, KeepsTheUsersTimeoutUnlessTimeoutIsGiven) {
  auto kept =
      testing::runCommand("HEMINGWAY_TIMEOUT_SECONDS=7 " + std::string(HEMINGWAY_RUN_BIN) +
                          " --nproc-per-node 1 -- sh -c 'echo T=$HEMINGWAY_TIMEOUT_SECONDS'");
  EXPECT_EQ(kept.exitCode, 0) << kept.output;
  EXPECT_NE(kept.output.find("[rank 0] T=7\n"), std::string::npos) << kept.output;
  auto given = testing::runCommand("HEMINGWAY_TIMEOUT_SECONDS=7 " + std::string(HEMINGWAY_RUN_BIN) +
                                   " --nproc-per-node 1 --timeout 3 -- sh -c 'echo "
                                   "T=$HEMINGWAY_TIMEOUT_SECONDS'");
  EXPECT_NE(given.output.find("[rank 0] T=3\n"), std::string::npos) << given.output;
  auto bad = testing::runCommand("HEMINGWAY_TIMEOUT_SECONDS=1e300 " +
                                 std::string(HEMINGWAY_RUN_BIN) + " --nproc-per-node 1 -- true");
  EXPECT_EQ(bad.exitCode, 2) << bad.output;
  EXPECT_NE(bad.output.find("HEMINGWAY_TIMEOUT_SECONDS='1e300'"), std::string::npos) << bad.output;
}

TEST(LauncherTest, RunsPythonScriptsWithPython) {
  TempDir dir;
  {
    std::ofstream script(dir.file("train.py"));
    script << "import os, sys\nprint('python', os.environ['RANK'], os.environ['WORLD_SIZE'])\n";
  }
  auto r = runLauncher("--nproc-per-node 2 -- " + dir.file("train.py"));
  EXPECT_EQ(r.exitCode, 0) << r.output;
  EXPECT_NE(r.output.find("[rank 0] python 0 2"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("[rank 1] python 1 2"), std::string::npos) << r.output;
}

TEST(LauncherTest, NprocAutoStartsOneWorkerPerCore) {
  auto r = runLauncher("--nproc-per-node auto --standalone -- sh -c 'echo W=$WORLD_SIZE'");
  EXPECT_EQ(r.exitCode, 0) << r.output;
  const long cores = ::sysconf(_SC_NPROCESSORS_ONLN);
  EXPECT_NE(r.output.find("W=" + std::to_string(cores)), std::string::npos) << r.output;
  // One line at the end: workers, exit codes, wall time.
  EXPECT_NE(r.output.find("hemingway-run: " + std::to_string(cores) + " worker"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("| exit codes 0"), std::string::npos) << r.output;
}

TEST(LauncherTest, LogDirWritesPerRankFilesAndTeeChoosesTheConsole) {
  TempDir dir;
  auto quiet = runLauncher("--nproc-per-node 2 --run-id r1 --log-dir " + dir.path() +
                           " -- sh -c 'echo out$RANK; echo err$RANK >&2'");
  EXPECT_EQ(quiet.exitCode, 0) << quiet.output;
  EXPECT_EQ(quiet.output.find("[rank 0] out0"), std::string::npos) << quiet.output;
  for (int r = 0; r < 2; ++r) {
    std::ifstream out(dir.file("r1/rank_" + std::to_string(r) + "/stdout.log"));
    std::ifstream err(dir.file("r1/rank_" + std::to_string(r) + "/stderr.log"));
    std::string o, e;
    std::getline(out, o);
    std::getline(err, e);
    EXPECT_EQ(o, "out" + std::to_string(r));
    EXPECT_EQ(e, "err" + std::to_string(r));
  }
  auto tee = runLauncher("--nproc-per-node 1 --run-id r2 --log-dir " + dir.path() +
                         " --tee 2 -- sh -c 'echo visible-no; echo visible-yes >&2'");
  EXPECT_EQ(tee.output.find("visible-no"), std::string::npos) << tee.output;
  EXPECT_NE(tee.output.find("[rank 0] visible-yes"), std::string::npos) << tee.output;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(LauncherTest, ClosedOutputDoesNotStopTheRun) {
  TempDir dir;
  // `| head -n 1` closes the launcher's stdout after the first line.
  const std::string cmd = "(" + std::string(HEMINGWAY_RUN_BIN) +
                          " --nproc-per-node 2 -- sh -c 'for i in $(seq 1 3000); do echo $i; "
                          "done; touch " +
                          dir.path() + "/$RANK.done' 2> " + dir.file("err") + "; echo $? > " +
                          dir.file("rc") + ") | head -n 1";
  auto r = testing::runCommand(cmd);
  std::ifstream rc(dir.file("rc"));
  int code = -1;
  rc >> code;
  EXPECT_EQ(code, 0) << r.output;
  EXPECT_TRUE(std::ifstream(dir.file("0.done")).good());
  EXPECT_TRUE(std::ifstream(dir.file("1.done")).good());
  EXPECT_NE(slurp(dir.file("err")).find("standard output is closed (EPIPE)"), std::string::npos)
      << slurp(dir.file("err"));
}

// Starts the launcher in the background; returns its pid once `n` workers wrote their pid.
pid_t startLauncher(const std::string& args, const TempDir& dir, int n, std::vector<pid_t>& pids) {
  const pid_t launcher = ::fork();
  if (launcher == 0) {
    const std::string cmd =
        "exec " + std::string(HEMINGWAY_RUN_BIN) + " " + args + " 2>" + dir.file("launcher.err");
    ::execl("/bin/sh", "sh", "-c", cmd.c_str(), nullptr);
    ::_exit(127);
  }
  for (int i = 0; i < 200 && static_cast<int>(pids.size()) < n; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    pids = readPids(dir, n);
  }
  return launcher;
}

TEST(LauncherTest, SighupStopsTheRunLikeSigterm) {
  TempDir dir;
  std::vector<pid_t> pids;
  const pid_t launcher = startLauncher(
      "--nproc-per-node 2 -- sh -c 'echo $$ > " + dir.path() + "/$RANK.pid; exec sleep 60'", dir, 2,
      pids);
  ASSERT_EQ(pids.size(), 2u);
  ::kill(launcher, SIGHUP);
  int status = 0;
  ASSERT_EQ(::waitpid(launcher, &status, 0), launcher);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 128 + SIGHUP);
  for (pid_t pid : pids) EXPECT_FALSE(alive(pid));
  EXPECT_NE(slurp(dir.file("launcher.err")).find("Hangup"), std::string::npos)
      << slurp(dir.file("launcher.err"));
}

TEST(LauncherTest, SecondSigintKillsAtOnce) {
  TempDir dir;
  std::vector<pid_t> pids;
  // The workers ignore SIGINT and SIGTERM; the grace period is long.
  const pid_t launcher =
      startLauncher("--nproc-per-node 2 --grace 60 -- sh -c 'trap \"\" INT TERM; echo $$ > " +
                        dir.path() + "/$RANK.pid; exec sleep 60'",
                    dir, 2, pids);
  ASSERT_EQ(pids.size(), 2u);
  const auto t0 = std::chrono::steady_clock::now();
  ::kill(launcher, SIGINT);
  // Once the launcher said it is stopping, the workers (which ignore the
  // signal it sent) are still there: the first SIGINT is not a kill.
  ASSERT_TRUE(testing::eventually([&] {
    return slurp(dir.file("launcher.err")).find("stopping the workers") != std::string::npos;
  })) << slurp(dir.file("launcher.err"));
  for (pid_t pid : pids) EXPECT_TRUE(alive(pid)) << "the first SIGINT is not a kill";
  ::kill(launcher, SIGINT);
  int status = 0;
  ASSERT_EQ(::waitpid(launcher, &status, 0), launcher);
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 10);
  for (pid_t pid : pids) EXPECT_FALSE(alive(pid));
  EXPECT_NE(slurp(dir.file("launcher.err")).find("second SIGINT"), std::string::npos);
}

TEST(LauncherTest, KillsADaemonAWorkerLeftBehind) {
  TempDir dir;
  // The worker starts a grandchild in a new session (out of its process
  // group) that keeps the output pipe open, then exits 0.
  {
    std::ofstream daemon(dir.file("daemon.sh"));
    daemon << "echo $$ > " << dir.path() << "/0.pid; exec sleep 60\n";
  }
  auto r = runLauncher("--nproc-per-node 1 -- sh -c 'setsid sh " + dir.file("daemon.sh") +
                       " & sleep 0.3; exit 0'");
  EXPECT_EQ(r.exitCode, 0) << r.output;
  EXPECT_LT(r.seconds, 10) << r.output;
  const auto pids = readPids(dir, 1);
  ASSERT_EQ(pids.size(), 1u);
  EXPECT_TRUE(testing::eventually([&] { return !alive(pids[0]); }, std::chrono::seconds(2)))
      << "the setsid grandchild outlived the launcher";
}

// Writes `text` to an executable shell script in `dir`; returns its path.
std::string script(const TempDir& dir, const std::string& name, const std::string& text) {
  {
    std::ofstream out(dir.file(name));
    out << text;
  }
  return dir.file(name);
}

TEST(LauncherTest, NamesTheRankThatStoppedRespondingNotTheOneThatGaveUp) {
  TempDir dir;
  // Rank 1 hangs (stops itself); rank 0 gives up on it, reporting a lost peer
  // through TORCHELASTIC_ERROR_FILE as Hemingway's tools do.
  const auto hang = script(dir, "hang.sh",
                           "if [ $RANK = 1 ]; then kill -STOP $$; fi\nsleep 0.3\n"
                           "echo '{\"message\": {\"message\": \"lost rank 1\", \"extraInfo\": "
                           "{\"kind\": \"timeout\"}}}' > $TORCHELASTIC_ERROR_FILE\nexit 1\n");
  auto r = runLauncher("--nproc-per-node 2 --grace 1 -- sh " + hang);
  EXPECT_EQ(r.exitCode, 1) << r.output;
  EXPECT_NE(r.output.find("rank 1 stopped responding"), std::string::npos) << r.output;
  // A rank failing of its own is named even when a peer's failure came first.
  const auto own =
      script(dir, "own.sh",
             "trap '' TERM\nif [ $RANK = 0 ]; then sleep 0.3; echo '{\"message\": {\"message\": "
             "\"lost\", \"extraInfo\": {\"kind\": \"peer_lost\"}}}' > "
             "$TORCHELASTIC_ERROR_FILE; exit 1; fi\nsleep 0.6\necho '{\"message\": "
             "{\"message\": \"disk full\", \"extraInfo\": {\"kind\": "
             "\"error\"}}}' > $TORCHELASTIC_ERROR_FILE\nexit 5\n");
  auto r2 = runLauncher("--nproc-per-node 2 --grace 2 -- sh " + own);
  EXPECT_NE(r2.output.find("rank 1 failed first: it exited with code 5: disk full"),
            std::string::npos)
      << r2.output;
}

}  // namespace

namespace {

TEST(LauncherTest, WorkerOfAnotherRunIsRefused) {
  const std::string example = FMNIST_MLP_BIN;
  if (example.empty()) GTEST_SKIP() << "examples are not built";
  const std::string run = HEMINGWAY_RUN_BIN;
  const std::string port = std::to_string(20000 + ::getpid() % 20000);
  const std::string nodes = " --nnodes 2 --nproc-per-node 1 --master-port " + port + " --timeout 5";
  // Several nodes need a shared secret.
  auto noSecret =
      testing::runCommand("env -u HEMINGWAY_RUN_SECRET " + run + nodes + " --node-rank 1 -- true");
  EXPECT_EQ(noSecret.exitCode, 2) << noSecret.output;
  EXPECT_NE(noSecret.output.find("HEMINGWAY_RUN_SECRET"), std::string::npos) << noSecret.output;

  // Node 0 of run A hosts the store; a node of run B (another secret) and a
  // bare worker without a secret point at it and are refused.
  TempDir dir;
  const pid_t nodeA = ::fork();
  ASSERT_GE(nodeA, 0);
  if (nodeA == 0) {
    ::setenv("HEMINGWAY_RUN_SECRET", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 1);
    const std::string cmd =
        "exec " + run + nodes + " --node-rank 0 -- sleep 8 > " + dir.file("a.out") + " 2>&1";
    ::execl("/bin/sh", "sh", "-c", cmd.c_str(), nullptr);
    ::_exit(127);
  }
  ASSERT_TRUE(testing::eventually([&] { return testing::listening(std::stoi(port)); }))
      << "node 0 of run A never hosted its store: " << slurp(dir.file("a.out"));
  auto other = testing::runCommand("HEMINGWAY_RUN_SECRET=bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb " + run +
                                   nodes + " --node-rank 1 -- " + example + " --iterations 5");
  EXPECT_NE(other.exitCode, 0) << other.output;
  EXPECT_NE(other.output.find("does not hold this worker's run"), std::string::npos)
      << other.output;
  EXPECT_EQ(other.output.find("aaaaaaaa"), std::string::npos) << "the secret was printed";
  EXPECT_EQ(other.output.find("bbbbbbbb"), std::string::npos) << "the secret was printed";
  auto bare =
      testing::runCommand("env -u HEMINGWAY_RUN_SECRET MASTER_ADDR=127.0.0.1 MASTER_PORT=" + port +
                          " RANK=1 WORLD_SIZE=2 HEMINGWAY_AGENT_STORE=1 " +
                          "HEMINGWAY_TIMEOUT_SECONDS=5 " + example + " --iterations 5");
  EXPECT_EQ(bare.exitCode, 2) << bare.output;
  EXPECT_NE(bare.output.find("belongs to a hemingway-run run"), std::string::npos) << bare.output;
  ::kill(nodeA, SIGTERM);
  ::waitpid(nodeA, nullptr, 0);
}

}  // namespace

namespace {

// The README's training loop: two ranks train on different examples (their
// first losses differ although rank 0's parameters are everywhere), and the
// log starts with run_start carrying the configuration.
TEST(LauncherTest, ReadmeTrainingLoopShardsDataByRank) {
  const std::string program = TRAIN_LOOP_BIN;
  if (program.empty()) GTEST_SKIP() << "examples are not built";
  TempDir dir;
  auto r = runLauncher("--nproc-per-node 2 -- " + program + " " + dir.file("run.jsonl"));
  ASSERT_EQ(r.exitCode, 0) << r.output;
  std::ifstream in(dir.file("run.jsonl"));
  std::string line;
  std::map<int, double> firstLoss;
  int starts = 0, steps = 0;
  while (std::getline(in, line)) {
    if (line.find("\"event\":\"run_start\"") != std::string::npos) {
      ++starts;
      EXPECT_NE(line.find("\"batch_size\":\"64\""), std::string::npos) << line;
      EXPECT_NE(line.find("\"model\":\"mlp-784-128-10\""), std::string::npos) << line;
      EXPECT_EQ(steps, 0) << "run_start comes before the steps";
    }
    if (line.find("\"event\":\"step\"") == std::string::npos) continue;
    ++steps;
    if (line.find("\"step\":0,") == std::string::npos) continue;
    const int rank = line.find("\"rank\":1,") != std::string::npos ? 1 : 0;
    const auto at = line.find("\"loss\":") + 7;
    firstLoss[rank] = std::stod(line.substr(at));
  }
  EXPECT_EQ(starts, 2);
  EXPECT_EQ(steps, 400);
  ASSERT_EQ(firstLoss.size(), 2u);
  EXPECT_NE(firstLoss[0], firstLoss[1]) << "both ranks trained on the same batch";
  // Without the launcher's env, the program fails with one readable line.
  auto bare = testing::runCommand("env RANK=0 " + program);
  EXPECT_EQ(bare.exitCode, 1) << bare.output;
  EXPECT_NE(bare.output.find("train_loop: MASTER_ADDR is not set"), std::string::npos)
      << bare.output;
  EXPECT_EQ(bare.output.find("terminate called"), std::string::npos) << bare.output;
}

// The README's adaptive line works: under --max-workers the controller of
// examples/adaptive_loop.cc decides, and its requests change the membership.
TEST(LauncherTest, ReadmeAdaptiveLoopRescalesByItsController) {
  const std::string program = ADAPTIVE_LOOP_BIN;
  if (program.empty()) GTEST_SKIP() << "examples are not built";
  TempDir dir;
  auto r =
      runLauncher("--nproc-per-node 1 --max-workers 2 -- " + program + " " + dir.file("run.jsonl"));
  ASSERT_EQ(r.exitCode, 0) << r.output;
  const std::string log = slurp(dir.file("run.jsonl"));
  EXPECT_NE(log.find("\"event\":\"decision\""), std::string::npos) << "no decision record";
  EXPECT_NE(log.find("\"cause\":\"controller\""), std::string::npos)
      << "the controller changed no membership: " << r.output;
}

// fmnist_mlp's scaling rule on 2 workers, in every step record: strong keeps
// the global batch (64 a worker of 128) and --lr; weak takes --batch-size a
// worker and --lr times 2 (linear).
TEST(LauncherTest, FmnistMlpRecordsTheLearningRateAndGlobalBatchOfItsRule) {
  const std::string example = FMNIST_MLP_BIN;
  if (example.empty()) GTEST_SKIP() << "examples are not built";
  struct Case {
    std::string scaling, flags;
    double lr;
    int global, samples;
  };
  for (const auto& c : {Case{"strong", "--global-batch 128 --lr 0.05", 0.05, 128, 64},
                        Case{"weak", "--batch-size 32 --lr 0.05", 0.1, 64, 32}}) {
    TempDir dir;
    auto r =
        runLauncher("--nproc-per-node 2 -- " + example + " --iterations 3 --hidden 16 " +
                    "--scaling " + c.scaling + " " + c.flags + " --log " + dir.file("run.jsonl"));
    ASSERT_EQ(r.exitCode, 0) << r.output;
    std::ifstream in(dir.file("run.jsonl"));
    std::string line;
    int steps = 0;
    while (std::getline(in, line)) {
      const auto j = nlohmann::json::parse(line);
      if (j["event"] == "run_start") EXPECT_EQ(j["config"]["scaling"], c.scaling);
      if (j["event"] != "step") continue;
      ++steps;
      EXPECT_DOUBLE_EQ(j["lr"].get<double>(), c.lr) << c.flags;
      EXPECT_EQ(j["global_batch"], c.global) << c.flags;
      EXPECT_EQ(j["samples"], c.samples) << c.flags;
    }
    EXPECT_EQ(steps, 6) << c.flags;
  }
}

// Every tool: a usage error exits 2 and names the flag; --help shows defaults.
TEST(LauncherTest, EveryToolsUsageErrorsExit2NamingTheFlag) {
  const std::string example = FMNIST_MLP_BIN;
  if (example.empty()) GTEST_SKIP() << "examples are not built";
  for (const auto& [args, flag] :
       std::vector<std::pair<std::string, std::string>>{{" --lr nan", "--lr"},
                                                        {" --iterations 0", "--iterations"},
                                                        {" --bogus", "--bogus"},
                                                        {" --algorithm adam", "--algorithm"},
                                                        {" --seed -1", "--seed"}}) {
    auto r = testing::runCommand(example + args);
    EXPECT_EQ(r.exitCode, 2) << args << "\n" << r.output;
    EXPECT_NE(r.output.find(flag), std::string::npos) << r.output;
  }
  auto help = testing::runCommand(example + " --help");
  EXPECT_EQ(help.exitCode, 0);
  EXPECT_NE(help.output.find("=512"), std::string::npos) << help.output;  // --hidden's default
  auto runHelp = runLauncher("--help");
  EXPECT_NE(runHelp.output.find("[5]"), std::string::npos) << runHelp.output;  // --grace
}

}  // namespace
