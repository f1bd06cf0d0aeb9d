// The launcher's verdict: which rank failed first, and why.
#include "hemingway/plugin/launcher/verdict.h"

#include <signal.h>

#include <fstream>

#include <gtest/gtest.h>

#include "support/ranks.h"

namespace hemingway::plugin {
namespace {

using Clock = std::chrono::steady_clock;

int exited(int code) { return code << 8; }  // a waitpid status
int killedBy(int sig) { return sig; }

WorkerOutcome outcome(int rank, int status, int msAfter, std::optional<WorkerError> error = {},
                      bool stoppedByUs = false) {
  static const auto t0 = Clock::now();
  return {rank, status, stoppedByUs, t0 + std::chrono::milliseconds(msAfter), std::move(error)};
}

WorkerError lostPeer() { return {"peer gone", "peer_lost"}; }

TEST(VerdictTest, AllSucceededIsNoCulprit) {
  const auto v = judge({outcome(0, exited(0), 1), outcome(1, exited(0), 2)});
  EXPECT_FALSE(v.culprit.has_value());
  EXPECT_EQ(v.exitCode, 0);
}

TEST(VerdictTest, TheRankThatFailedOfItsOwnIsBlamedNotTheOneThatLostAPeerEarlier) {
  const auto v = judge({outcome(0, exited(1), 5, lostPeer()),
                        outcome(1, exited(3), 9, WorkerError{"bad data", "error"})});
  ASSERT_TRUE(v.culprit.has_value());
  EXPECT_EQ(*v.culprit, 1);
  EXPECT_EQ(v.exitCode, 3);
  EXPECT_NE(v.message.find("rank 1 failed first"), std::string::npos) << v.message;
  EXPECT_NE(v.message.find("rank 0 exited earlier only because it lost a peer"), std::string::npos)
      << v.message;
}

TEST(VerdictTest, ASignalIsTheCauseWhenNobodyReportedAnError) {
  const auto v = judge({outcome(0, killedBy(SIGKILL), 3), outcome(1, exited(1), 7, lostPeer())});
  ASSERT_TRUE(v.culprit.has_value());
  EXPECT_EQ(*v.culprit, 0);
  EXPECT_EQ(v.exitCode, 128 + SIGKILL);
  EXPECT_NE(v.message.find("killed by signal 9"), std::string::npos) << v.message;
}

TEST(VerdictTest, WhenEveryFailureIsALostPeerTheRanksStillRunningAreBlamed) {
  const auto v = judge({outcome(0, exited(1), 5, lostPeer()),
                        outcome(1, killedBy(SIGTERM), 9, {}, /*stoppedByUs=*/true)});
  ASSERT_TRUE(v.culprit.has_value());
  EXPECT_EQ(*v.culprit, 1);
  EXPECT_NE(v.message.find("stopped responding"), std::string::npos) << v.message;
}

TEST(VerdictTest, AWorkerStoppedByTheLauncherIsNotACauseUnlessItReportedOne) {
  const auto v = judge({outcome(0, exited(2), 4, WorkerError{"config", "config"}),
                        outcome(1, killedBy(SIGTERM), 6, {}, true)});
  ASSERT_TRUE(v.culprit.has_value());
  EXPECT_EQ(*v.culprit, 0);
  EXPECT_EQ(v.exitCode, 2);
}

TEST(VerdictTest, ErrorFilesKeepTheFirstLineAndTheKind) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/error.json";
  std::ofstream(path)
      << R"({"message": {"message": "boom\ntraceback", "extraInfo": {"kind": "timeout"}}})";
  const auto e = readErrorFile(path);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->message, "boom");
  EXPECT_TRUE(e->consequence());
  std::ofstream(path) << "not json";
  EXPECT_FALSE(readErrorFile(path).has_value());
  EXPECT_FALSE(readErrorFile(dir.path() + "/missing.json").has_value());
}

}  // namespace
}  // namespace hemingway::plugin
