#include "hemingway/hooks/step_recorder.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <thread>

#include "hemingway/hooks/error.h"
#include "hemingway/hooks/jsonl_sink.h"
#include "support/ranks.h"

namespace hemingway::hooks {
namespace {

std::vector<nlohmann::json> readJsonl(const std::string& path) {
  std::ifstream in(path);
  std::vector<nlohmann::json> out;
  std::string line;
  while (std::getline(in, line)) out.push_back(nlohmann::json::parse(line));
  return out;
}

TEST(StepRecorderTest, WritesTheDocumentedSchema) {
  testing::TempDir dir;
  const auto path = dir.file("log.jsonl");
  StepRecorder recorder({"run-1", 1, 2, true});
  recorder.addHook(std::make_shared<JsonlSink>(path));
  RunInfo info;
  info.algorithm = "sgd";
  info.parameterCount = 10;
  info.parameterBytes = 40;
  info.datasetSize = 100;
  info.host = "h";
  recorder.runStart(info);
  for (int i = 0; i < 3; ++i) {
    auto step = recorder.step(64);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    recorder.addCommunication(1.5, 0.5);
    step.setLoss(0.25 * (i + 1));
  }
  const auto lines = readJsonl(path);
  ASSERT_EQ(lines.size(), 4u);
  const auto& start = lines[0];
  EXPECT_EQ(start["event"], "run_start");
  EXPECT_EQ(start["run"], "run-1");
  EXPECT_EQ(start["parameter_count"], 10);
  EXPECT_EQ(start["parameter_bytes"], 40);
  EXPECT_EQ(start["dataset_size"], 100);
  EXPECT_EQ(start["algorithm"], "sgd");
  EXPECT_EQ(start["world_size"], 2);
  EXPECT_EQ(start["host"], "h");
  for (int i = 0; i < 3; ++i) {
    const auto& s = lines[i + 1];
    for (const char* key : {"event", "run", "rank", "world_size", "step", "step_ms", "compute_ms",
                            "comm_ms", "exposed_comm_ms", "loss", "samples", "time"}) {
      EXPECT_TRUE(s.contains(key)) << "missing " << key;
    }
    EXPECT_EQ(s["event"], "step");
    EXPECT_EQ(s["rank"], 1);
    EXPECT_EQ(s["world_size"], 2);
    EXPECT_EQ(s["step"], i);
    EXPECT_EQ(s["samples"], 64);
    EXPECT_DOUBLE_EQ(s["loss"].get<double>(), 0.25 * (i + 1));
    EXPECT_DOUBLE_EQ(s["comm_ms"].get<double>(), 1.5);
    EXPECT_DOUBLE_EQ(s["exposed_comm_ms"].get<double>(), 0.5);
    EXPECT_GE(s["step_ms"].get<double>(), 2.0);
    EXPECT_NEAR(s["compute_ms"].get<double>() + 0.5, s["step_ms"].get<double>(), 1e-9);
    EXPECT_GT(s["time"].get<double>(), 1.6e9);  // unix seconds, not a monotonic clock
  }
}

TEST(StepRecorderTest, StepWithoutLossWritesNull) {
  testing::TempDir dir;
  StepRecorder recorder({"r", 0, 1, true});
  recorder.addHook(std::make_shared<JsonlSink>(dir.file("l.jsonl")));
  { auto step = recorder.step(1); }
  const auto lines = readJsonl(dir.file("l.jsonl"));
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_TRUE(lines[0]["loss"].is_null());
  EXPECT_FALSE(lines[0].contains("lr")) << "a trainer that states no rule writes none";
  EXPECT_FALSE(lines[0].contains("global_batch"));
}

TEST(StepRecorderTest, TheStatedLearningRateAndGlobalBatchAreWritten) {
  testing::TempDir dir;
  StepRecorder recorder({"r", 0, 3, true});
  recorder.addHook(std::make_shared<JsonlSink>(dir.file("l.jsonl")));
  {
    auto step = recorder.step(43);
    step.setOptimization(0.0125, 128);
    auto moved = std::move(step);  // a step scope handed on keeps what was set
  }
  const auto lines = readJsonl(dir.file("l.jsonl"));
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_DOUBLE_EQ(lines[0]["lr"].get<double>(), 0.0125);
  EXPECT_EQ(lines[0]["global_batch"], 128);
  EXPECT_EQ(lines[0]["samples"], 43);
}

TEST(StepRecorderTest, EveryStepIsRecordedAndFlushedAtOnce) {
  testing::TempDir dir;
  const auto path = dir.file("l.jsonl");
  StepRecorder recorder({"r", 0, 1, true});
  recorder.addHook(std::make_shared<JsonlSink>(path));
  for (int i = 0; i < 100; ++i) {
    { auto step = recorder.step(1); }
    // Visible to a reader as soon as the step ends, with no buffering.
    ASSERT_EQ(readJsonl(path).size(), static_cast<size_t>(i + 1));
  }
}

TEST(StepRecorderTest, NanLossIsAClearError) {
  StepRecorder recorder({"r", 0, 1, true});
  auto step = recorder.step(1);
  try {
    step.setLoss(std::numeric_limits<double>::quiet_NaN());
    FAIL() << "NaN loss must throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("loss is nan at step 0"), std::string::npos) << e.what();
  }
  EXPECT_THROW(step.setLoss(std::numeric_limits<double>::infinity()), Error);
}

TEST(StepRecorderTest, DisabledRecorderCallsNoHook) {
  struct Count : StepHook {
    int n = 0;
    void onStep(const StepRecord&) override { ++n; }
  };
  auto count = std::make_shared<Count>();
  StepRecorder recorder({"r", 0, 1, false});
  recorder.addHook(count);
  { auto s = recorder.step(1); }
  EXPECT_EQ(count->n, 0);
  recorder.setEnabled(true);
  { auto s = recorder.step(1); }
  EXPECT_EQ(count->n, 1);
}

TEST(StepRecorderTest, HookErrorSurfacesAtTheNextStep) {
  struct Fails : StepHook {
    void onStep(const StepRecord&) override { throw Error("disk full"); }
  };
  StepRecorder recorder({"r", 0, 1, true});
  recorder.addHook(std::make_shared<Fails>());
  { auto s = recorder.step(1); }
  EXPECT_THROW(recorder.step(1), Error);
}

TEST(JsonlSinkTest, UnwritablePathIsNamed) {
  try {
    JsonlSink sink("/nonexistent-dir/log.jsonl");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent-dir/log.jsonl"), std::string::npos);
  }
}

TEST(StepRecorderTest, BadMembershipIsRejected) {
  EXPECT_THROW(StepRecorder({"r", 2, 2, true}), ConfigError);
  EXPECT_THROW(StepRecorder({"r", 0, 0, true}), ConfigError);
}

TEST(StepRecorderTest, ElasticRecordsFollowTheMembership) {
  testing::TempDir dir;
  const auto path = dir.file("log.jsonl");
  StepRecorder recorder({"run-e", 0, 2, true});
  recorder.addHook(std::make_shared<JsonlSink>(path));
  { auto s = recorder.step(4); }
  // A step left by an exception is not recorded: an elastic run redoes it.
  try {
    auto s = recorder.step(4);
    throw Error("peer lost");
  } catch (const Error&) {
  }
  recorder.setMembership(1, 3, 2);
  recorder.setNextStep(1);
  { auto s = recorder.step(4); }
  RegroupRecord r;
  r.generation = 2;
  r.fromWorldSize = 2;
  r.toWorldSize = 3;
  r.step = 1;
  r.cause = "request";
  r.agreeMs = 0.5;
  r.formMs = 10;
  r.stateMs = 20;
  r.totalMs = 31;
  r.stateBytes = 4096;
  recorder.regroup(r);
  RunEndRecord end;
  end.steps = 2;
  end.paramChecksum = "00ff";
  recorder.runEnd(end);
  const auto lines = readJsonl(path);
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0]["step"], 0);
  EXPECT_EQ(lines[0]["generation"], 0);
  EXPECT_EQ(lines[1]["step"], 1);
  EXPECT_EQ(lines[1]["rank"], 1);
  EXPECT_EQ(lines[1]["world_size"], 3);
  EXPECT_EQ(lines[1]["generation"], 2);
  const auto& g = lines[2];
  EXPECT_EQ(g["event"], "regroup");
  EXPECT_EQ(g["run"], "run-e");
  EXPECT_EQ(g["generation"], 2);
  EXPECT_EQ(g["from_world_size"], 2);
  EXPECT_EQ(g["to_world_size"], 3);
  EXPECT_EQ(g["step"], 1);
  EXPECT_EQ(g["cause"], "request");
  EXPECT_DOUBLE_EQ(g["agree_ms"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(g["form_ms"].get<double>(), 10);
  EXPECT_DOUBLE_EQ(g["state_ms"].get<double>(), 20);
  EXPECT_DOUBLE_EQ(g["total_ms"].get<double>(), 31);
  EXPECT_EQ(g["state_bytes"], 4096);
  const auto& e = lines[3];
  EXPECT_EQ(e["event"], "run_end");
  EXPECT_EQ(e["rank"], 1);
  EXPECT_EQ(e["world_size"], 3);
  EXPECT_EQ(e["steps"], 2);
  EXPECT_EQ(e["param_checksum"], "00ff");
}

TEST(StepRecorderTest, ParkedRecorderRecordsNothing) {
  struct Count : StepHook {
    int n = 0;
    void onStep(const StepRecord&) override { ++n; }
  };
  auto count = std::make_shared<Count>();
  StepRecorder recorder({"r", -1, 0, true});
  recorder.addHook(count);
  { auto s = recorder.step(1); }
  EXPECT_EQ(count->n, 0);
  EXPECT_THROW(recorder.setMembership(-1, 2, 0), ConfigError);
}

// With followMembership the group owns the rank, world size and generation:
// every record reads them as they are now; a parked place records nothing.
TEST(StepRecorderTest, FollowedMembershipIsReadAtEveryRecord) {
  struct Steps : StepHook {
    std::vector<StepRecord> seen;
    void onStep(const StepRecord& r) override { seen.push_back(r); }
  };
  auto steps = std::make_shared<Steps>();
  StepRecorder recorder({"run-f", 0, 1, true});
  recorder.addHook(steps);
  GroupPlace now{0, 2, 0};
  recorder.followMembership([&now] { return now; });
  { auto s = recorder.step(1); }
  now = {1, 3, 4};
  { auto s = recorder.step(1); }
  now = {-1, 0, 5};  // parked
  { auto s = recorder.step(1); }
  ASSERT_EQ(steps->seen.size(), 2u);
  EXPECT_EQ(steps->seen[0].worldSize, 2);
  EXPECT_EQ(steps->seen[1].rank, 1);
  EXPECT_EQ(steps->seen[1].worldSize, 3);
  EXPECT_EQ(steps->seen[1].generation, 4);
}

}  // namespace
}  // namespace hemingway::hooks
