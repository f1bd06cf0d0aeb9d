#include "hemingway/plugin/process_group.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <string>

#include "hemingway/hooks/error.h"
#include "hemingway/plugin/launcher/launcher.h"
#include "support/ranks.h"

namespace hemingway::plugin {
namespace {

// Sets the torchrun variables for one test and clears them afterwards.
class EnvTest : public ::testing::Test {
 protected:
  void SetUp() override { clear(); }
  void TearDown() override { clear(); }
  static void clear() {
    for (const char* v :
         {"MASTER_ADDR", "MASTER_PORT", "RANK", "WORLD_SIZE", "LOCAL_RANK",
          "HEMINGWAY_TIMEOUT_SECONDS", "HEMINGWAY_AGENT_STORE", "HEMINGWAY_RUN_ID"}) {
      ::unsetenv(v);
    }
  }
  static void setValid() {
    ::setenv("MASTER_ADDR", "127.0.0.1", 1);
    ::setenv("MASTER_PORT", "29511", 1);
    ::setenv("RANK", "1", 1);
    ::setenv("WORLD_SIZE", "2", 1);
    ::setenv("LOCAL_RANK", "1", 1);
  }
};

// Expects fromEnv() to throw a ConfigError whose message contains `needle`.
void expectConfigError(const std::string& needle) {
  try {
    GroupOptions::fromEnv();
    ADD_FAILURE() << "expected a ConfigError mentioning " << needle;
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST_F(EnvTest, ReadsTorchrunVariables) {
  setValid();
  ::setenv("HEMINGWAY_TIMEOUT_SECONDS", "2.5", 1);
  ::setenv("HEMINGWAY_AGENT_STORE", "1", 1);
  auto o = GroupOptions::fromEnv();
  EXPECT_EQ(o.masterAddr, "127.0.0.1");
  EXPECT_EQ(o.masterPort, 29511);
  EXPECT_EQ(o.rank, 1);
  EXPECT_EQ(o.worldSize, 2);
  EXPECT_EQ(o.localRank, 1);
  EXPECT_EQ(o.timeout.count(), 2500);
  EXPECT_FALSE(o.rank0HostsStore);
}

TEST_F(EnvTest, NoVariablesMeansSingleProcess) {
  auto o = GroupOptions::fromEnv();
  EXPECT_EQ(o.worldSize, 1);
  EXPECT_EQ(o.rank, 0);
}

TEST_F(EnvTest, MissingVariableIsNamed) {
  setValid();
  ::unsetenv("MASTER_PORT");
  expectConfigError("MASTER_PORT is not set");
}

TEST_F(EnvTest, GarbageRankIsNamed) {
  setValid();
  ::setenv("RANK", "one", 1);
  expectConfigError("RANK='one' is not an integer");
}

TEST_F(EnvTest, RankOutOfRangeIsNamed) {
  setValid();
  ::setenv("RANK", "2", 1);
  expectConfigError("RANK=2 is out of range for WORLD_SIZE=2");
}

TEST_F(EnvTest, PortOutOfRangeIsNamed) {
  setValid();
  ::setenv("MASTER_PORT", "70000", 1);
  expectConfigError("MASTER_PORT=70000 is out of range");
}

TEST_F(EnvTest, ZeroWorldSizeIsNamed) {
  setValid();
  ::setenv("WORLD_SIZE", "0", 1);
  expectConfigError("WORLD_SIZE=0 is out of range");
}

TEST_F(EnvTest, EmptyValueIsNamed) {
  setValid();
  ::setenv("LOCAL_RANK", "", 1);
  expectConfigError("LOCAL_RANK is empty");
}

TEST_F(EnvTest, BadTimeoutIsNamed) {
  ::setenv("HEMINGWAY_TIMEOUT_SECONDS", "-3", 1);
  expectConfigError("HEMINGWAY_TIMEOUT_SECONDS='-3'");
}

TEST(ProcessGroupTest, UnreachableStoreFailsWithinTimeout) {
  GroupOptions o;
  o.masterPort = 1;  // nothing listens there
  o.rank = 1;
  o.worldSize = 2;
  o.timeout = std::chrono::milliseconds(1500);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_THROW(ProcessGroup group(o), PeerLostError);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
}

TEST(ProcessGroupTest, RegroupFormsANewGenerationWithFewerRanks) {
  std::atomic<int> done{0};
  testing::runRanks(3, [&](ProcessGroup& group) {
    group.barrier();
    EXPECT_EQ(group.generation(), 0);
    if (group.rank() == 2) return;  // leaves at the step boundary
    EXPECT_EQ(group.newChannel(), 0);
    EXPECT_EQ(group.newChannel(), 1);
    group.regroup(group.rank(), 2);
    EXPECT_EQ(group.generation(), 1);
    EXPECT_EQ(group.worldSize(), 2);
    // A new generation numbers its channels afresh, as a joiner does.
    EXPECT_EQ(group.newChannel(), 0);
    group.barrier();
    done++;
  });
  EXPECT_EQ(done.load(), 2);
}

TEST(ProcessGroupTest, MissingPeerTimesOutWithNamedError) {
  GroupOptions o;
  o.rank = 0;
  o.worldSize = 2;  // rank 1 never comes
  o.masterPort = 0;
  o.timeout = std::chrono::milliseconds(1000);
  try {
    ProcessGroup group(o);
    FAIL() << "forming a group without its peer must fail";
  } catch (const TimeoutError& e) {
    EXPECT_NE(std::string(e.what()).find("could not form the Gloo group"), std::string::npos)
        << e.what();
  }
}

TEST(LaunchOptionsTest, ParsesTorchrunShapedFlags) {
  const char* argv[] = {
      "hemingway-run", "--nproc-per-node", "3", "--master-port=29600", "--", "prog", "--x", "1"};
  LaunchOptions o;
  std::string help;
  ASSERT_TRUE(LaunchOptions::parse(8, argv, o, help));
  EXPECT_EQ(o.nprocPerNode, 3);
  EXPECT_EQ(o.masterPort, 29600);
  EXPECT_EQ(o.command, (std::vector<std::string>{"prog", "--x", "1"}));
}

TEST(LaunchOptionsTest, BadFlagsAreNamed) {
  struct Case {
    std::vector<const char*> argv;
    std::string needle;
  };
  const std::vector<Case> cases = {
      {{"hemingway-run", "--", "prog"}, "--nproc-per-node is required"},
      {{"hemingway-run", "--nproc-per-node", "two", "--", "prog"}, "--nproc-per-node='two'"},
      {{"hemingway-run", "--nproc-per-node", "2"}, "no program given"},
      {{"hemingway-run", "--nproc-per-node", "2", "--bogus", "1", "--", "p"},
       "unknown flag --bogus"},
      {{"hemingway-run", "--nproc-per-node", "2", "--nnodes", "2", "--", "p"},
       "--master-port is required"},
      {{"hemingway-run", "--nproc-per-node", "2", "--nnodes", "2", "--node-rank", "2",
        "--master-port", "5", "--", "p"},
       "--node-rank 2 is out of range"},
  };
  for (const auto& c : cases) {
    LaunchOptions o;
    std::string help;
    try {
      LaunchOptions::parse(static_cast<int>(c.argv.size()), c.argv.data(), o, help);
      ADD_FAILURE() << "expected an error mentioning " << c.needle;
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(c.needle), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace hemingway::plugin
