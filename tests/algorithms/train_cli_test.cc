// hemingway-train as a user runs it.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "support/ranks.h"

namespace {

using hemingway::testing::runCommand;
using hemingway::testing::TempDir;

std::string train(const std::string& args) { return std::string(HEMINGWAY_TRAIN_BIN) + " " + args; }

std::string writeLibsvm(const TempDir& dir) {
  const auto path = dir.file("d.libsvm");
  std::ofstream out(path);
  for (int i = 0; i < 60; ++i) {
    const int y = i % 2 ? 1 : -1;
    out << y << " 1:" << (y * 0.5 + 0.01 * (i % 7)) << " 2:" << (0.1 * (i % 5)) << " 3:1\n";
  }
  return path;
}

std::vector<nlohmann::json> iterations(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line);
    if (j["event"] == "iteration") out.push_back(j);
  }
  return out;
}

TEST(TrainCliTest, VirtualRunLogsIterationsWithoutTimes) {
  TempDir dir;
  const auto data = writeLibsvm(dir);
  auto r = runCommand(train("--algorithm cocoa+ --dataset libsvm:" + data +
                            " --virtual-workers 3 --iterations 5 --lambda 0.01 --log " +
                            dir.file("log.jsonl")));
  ASSERT_EQ(r.exitCode, 0) << r.output;
  const auto its = iterations(dir.file("log.jsonl"));
  ASSERT_EQ(its.size(), 5u);
  for (const auto& j : its) {
    for (const char* key : {"iteration", "world_size", "algorithm", "primal", "dual", "gap",
                            "iter_ms", "compute_ms", "comm_ms", "virtual"}) {
      EXPECT_TRUE(j.contains(key)) << key;
    }
    EXPECT_EQ(j["world_size"], 3);
    EXPECT_EQ(j["algorithm"], "cocoa+");
    EXPECT_TRUE(j["virtual"].get<bool>());
    EXPECT_TRUE(j["iter_ms"].is_null()) << "a virtual time is not a measurement";
    EXPECT_GE(j["gap"].get<double>(), 0.0);
  }
}

TEST(TrainCliTest, RealRunUnderLauncherMeasuresTimes) {
  TempDir dir;
  const auto data = writeLibsvm(dir);
  auto r = runCommand(std::string(HEMINGWAY_RUN_BIN) + " --nproc-per-node 2 -- " +
                      train("--algorithm cocoa --dataset libsvm:" + data +
                            " --iterations 4 --lambda 0.01 --log " + dir.file("log.jsonl")));
  ASSERT_EQ(r.exitCode, 0) << r.output;
  const auto its = iterations(dir.file("log.jsonl"));
  ASSERT_EQ(its.size(), 4u) << "rank 0 writes one record per iteration";
  for (const auto& j : its) {
    EXPECT_FALSE(j["virtual"].get<bool>());
    EXPECT_EQ(j["world_size"], 2);
    EXPECT_GE(j["iter_ms"].get<double>(), 0.0);
    EXPECT_GE(j["comm_ms"].get<double>(), 0.0);
  }
}

TEST(TrainCliTest, SgdRecordsNullDual) {
  TempDir dir;
  auto r = runCommand(train("--algorithm sgd --batch-size 4 --dataset libsvm:" + writeLibsvm(dir) +
                            " --virtual-workers 2 --iterations 3 --log " + dir.file("log.jsonl")));
  ASSERT_EQ(r.exitCode, 0) << r.output;
  for (const auto& j : iterations(dir.file("log.jsonl"))) {
    EXPECT_TRUE(j["dual"].is_null());
    EXPECT_TRUE(j["gap"].is_null());
  }
}

TEST(TrainCliTest, BadFlagsAndDataAreNamed) {
  TempDir dir;
  const auto data = writeLibsvm(dir);
  struct Case {
    std::string args, needle;
  };
  const std::vector<Case> cases = {
      {"--algorithm cocoa++ --dataset libsvm:" + data, "--algorithm: cocoa++ not in"},
      {"--loss hingy --dataset libsvm:" + data, "--loss: hingy not in"},
      {"--dataset mnist:3", "--dataset 'mnist:3'"},
      {"--dataset fashion-mnist:class=12", "--dataset class=12 is out of range"},
      {"--dataset libsvm:/nonexistent/x.libsvm", "/nonexistent/x.libsvm"},
      {"--lambda -1 --dataset libsvm:" + data, "--lambda: '-1' is not a finite number > 0"},
      {"--normalize l1 --dataset libsvm:" + data, "--normalize: l1 not in"},
      {"--algorithm sgd --target-gap 0.1 --dataset libsvm:" + data, "--target-gap needs a dual"},
      {"--iterations 0 --dataset libsvm:" + data, "--iterations"},
  };
  for (const auto& c : cases) {
    auto r = runCommand(train(c.args));
    // A usage error exits 2; a file that cannot be read, 1.
    EXPECT_EQ(r.exitCode, c.args.find("nonexistent") == std::string::npos ? 2 : 1) << c.args;
    EXPECT_NE(r.output.find(c.needle), std::string::npos) << c.args << "\n" << r.output;
  }
}

std::vector<nlohmann::json> events(const std::string& path, const std::string& event) {
  std::vector<nlohmann::json> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_discarded() && j["event"] == event) out.push_back(j);
  }
  return out;
}

// Every algorithm on real workers rescaled 4 -> 2 -> 3 mid-run (partitions
// re-cut; CoCoA's dual variables moved, gamma and sigma' following K) equals
// a virtual run rescaled at the same iterations. A request takes effect at a
// step boundary soon after its iteration, not at it. The second entry comes
// one iteration after the first: it must wait until the first took effect,
// else both reach hemingway-run within one of its ticks and merge into one
// change 4 -> 3. 150 iterations leave a loaded machine time for both.
class RescaleTest : public ::testing::TestWithParam<const char*> {};

TEST_P(RescaleTest, RealWorkersRescaledEqualVirtual) {
  TempDir dir;
  const auto data = dir.file("big.libsvm");
  {
    std::ofstream out(data);
    for (int i = 0; i < 600; ++i) {
      const int y = (i * 7919) % 3 == 0 ? 1 : -1;
      out << y << " 1:" << (y * 0.3 + 0.01 * (i % 13)) << " 2:" << (0.05 * (i % 11))
          << " 3:" << (0.02 * (i % 17)) << " 4:1\n";
    }
  }
  const std::string algorithm = GetParam();
  const bool dual = algorithm.rfind("cocoa", 0) == 0;
  const std::string common = "--algorithm " + algorithm + " --lambda 1e-3 --local-iters " +
                             (dual ? "50" : "3") +
                             " --batch-size 4 --lr 0.5 --iterations 150 --dataset libsvm:" + data;
  auto real = runCommand(std::string(HEMINGWAY_RUN_BIN) +
                         " --timeout 30 --nproc-per-node 4 --max-workers 4 -- " +
                         train(common + " --rescale 6:2,7:3 --log " + dir.file("real.jsonl")));
  ASSERT_EQ(real.exitCode, 0) << real.output;
  const auto regroups = events(dir.file("real.jsonl"), "regroup");
  ASSERT_EQ(regroups.size(), 2u) << real.output;
  std::string schedule;
  for (const auto& r : regroups) {
    schedule += (schedule.empty() ? "" : ",") + std::to_string(r["step"].get<int>()) + ":" +
                std::to_string(r["to_world_size"].get<int>());
  }
  EXPECT_GT(regroups[1]["state_bytes"].get<long>(), 0) << "the joiner gets w (and alpha)";
  auto virt = runCommand(train(common + " --virtual-workers 4 --rescale " + schedule + " --log " +
                               dir.file("virtual.jsonl")));
  ASSERT_EQ(virt.exitCode, 0) << virt.output;
  const auto a = events(dir.file("real.jsonl"), "iteration");
  const auto b = events(dir.file("virtual.jsonl"), "iteration");
  ASSERT_EQ(a.size(), 150u);
  ASSERT_EQ(b.size(), 150u);
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i]["world_size"], b[i]["world_size"]) << "iteration " << i;
    EXPECT_NEAR(a[i]["primal"].get<double>(), b[i]["primal"].get<double>(), 1e-9) << i;
    if (dual) EXPECT_NEAR(a[i]["dual"].get<double>(), b[i]["dual"].get<double>(), 1e-9) << i;
  }
  EXPECT_EQ(a.back()["world_size"], 3);
}

INSTANTIATE_TEST_SUITE_P(Algorithms, RescaleTest,
                         ::testing::Values("cocoa+", "cocoa", "gd", "sgd", "local-sgd"),
                         [](const auto& info) {
                           std::string name;
                           for (const char* c = info.param; *c != 0; ++c) {
                             name += *c == '+' ? std::string("_plus")
                                     : std::isalnum(static_cast<unsigned char>(*c))
                                         ? std::string(1, *c)
                                         : std::string("_");
                           }
                           return name;
                         });

TEST(TrainCliTest, RescaleNeedsVirtualOrElasticWorkers) {
  auto r = runCommand(train("--rescale 3:2 --iterations 5"));
  EXPECT_EQ(r.exitCode, 2) << r.output;
  EXPECT_NE(r.output.find("--rescale needs --virtual-workers"), std::string::npos) << r.output;
}

TEST(TrainCliTest, ClusterModelGivesSimulatedSecondsAndNoMeasuredTime) {
  TempDir dir;
  auto r =
      runCommand(train("--algorithm cocoa+ --iterations 8 --virtual-workers 4 --rescale 5:2 "
                       "--cluster-model 0.02,1.5,0.01,0.002 --dataset libsvm:" +
                       writeLibsvm(dir) + " --log " + dir.file("log.jsonl")));
  ASSERT_EQ(r.exitCode, 0) << r.output;
  const auto its = events(dir.file("log.jsonl"), "iteration");
  ASSERT_EQ(its.size(), 8u);
  const auto f = [](double m) { return 0.02 + 1.5 / m + 0.01 * std::log(m) + 0.002 * m; };
  double clock = 0;
  for (const auto& it : its) {
    const double m = it["world_size"].get<double>();
    EXPECT_EQ(m, it["iteration"].get<int>() < 5 ? 4 : 2);
    if (it["iteration"].get<int>() == 5) clock += 0.25;  // the rescale (--cluster-rescale-s)
    clock += f(m);
    EXPECT_NEAR(it["simulated_s"].get<double>(), clock, 1e-9);
    EXPECT_TRUE(it["iter_ms"].is_null());
    EXPECT_TRUE(it["compute_ms"].is_null());
    EXPECT_TRUE(it["comm_ms"].is_null());
  }
  const auto regroups = events(dir.file("log.jsonl"), "regroup");
  ASSERT_EQ(regroups.size(), 1u);
  EXPECT_EQ(regroups[0]["simulated"], true);
  EXPECT_DOUBLE_EQ(regroups[0]["total_ms"].get<double>(), 250);
  EXPECT_EQ(regroups[0]["step"], 5);
  EXPECT_EQ(regroups[0]["to_world_size"], 2);
  for (const char* bad : {"1,2,3", "0.1,-1,0,0", "0.1,nan,0,0", "a,b,c,d"}) {
    auto b = runCommand(train(std::string("--virtual-workers 2 --iterations 1 --cluster-model ") +
                              bad + " --dataset libsvm:" + writeLibsvm(dir)));
    EXPECT_EQ(b.exitCode, 2) << bad << ": " << b.output;
    EXPECT_NE(b.output.find("--cluster-model"), std::string::npos) << b.output;
  }
  auto real = runCommand(
      train("--iterations 1 --cluster-model 0,1,0,0 --dataset libsvm:" + writeLibsvm(dir)));
  EXPECT_EQ(real.exitCode, 2);
  EXPECT_NE(real.output.find("give --virtual-workers"), std::string::npos) << real.output;
}

TEST(TrainCliTest, AdaptiveVirtualRunProbesDecidesAndLogsEveryDecision) {
  TempDir dir;
  const auto log = dir.file("log.jsonl");
  auto r =
      runCommand(train("--algorithm cocoa+ --iterations 300 --virtual-workers 16 --adaptive "
                       "--target-gap 1e-6 --lambda 0.001 --loss logistic --refit-every 5 "
                       "--cluster-model 0.02,1.5,0.01,0.02 --dataset libsvm:" +
                       writeLibsvm(dir) + " --log " + log));
  ASSERT_EQ(r.exitCode, 0) << r.output;
  const auto decisions = events(log, "decision");
  const auto its = events(log, "iteration");
  const auto regroups = events(log, "regroup");
  ASSERT_GE(decisions.size(), 3u) << r.output;
  // A cold start begins on the count with the smallest worst case for
  // CoCoA+'s slope bounds (1..16: 2), at no cost: no rescale at step 0.
  EXPECT_EQ(its.front()["world_size"], 2);
  EXPECT_EQ(decisions[0]["step"], 0);
  EXPECT_EQ(decisions[0]["action"], "stay");
  // The table ends with the stop row at the iteration that reached the target.
  EXPECT_EQ(decisions.back()["action"], "stop");
  EXPECT_EQ(decisions.back()["step"].get<long long>(),
            its.back()["iteration"].get<long long>() + 1);
  std::map<long long, int> worldAt;  // step -> world size from the decisions
  std::size_t changes = 0;
  for (const auto& d : decisions) {
    for (const char* key : {"step", "world_size", "action", "to_world_size", "reason",
                            "rescale_cost_s", "candidates", "simulated_s"}) {
      EXPECT_TRUE(d.contains(key)) << key << " missing in " << d.dump();
    }
    const std::string action = d["action"];
    EXPECT_TRUE(action == "stay" || action == "rescale" || action == "probe" || action == "stop")
        << action;
    if (action == "stop") EXPECT_EQ(&d, &decisions.back()) << "a decision after the stop row";
    if (action == "stay") EXPECT_EQ(d["to_world_size"], d["world_size"]);
    const int to = d["to_world_size"];
    EXPECT_GE(to, 1);
    EXPECT_LE(to, 16);
    if (to != d["world_size"].get<int>()) ++changes;
    worldAt[d["step"].get<long long>()] = to;
    for (const auto& c : d["candidates"]) {
      EXPECT_TRUE(c.contains("m") && c.contains("predicted_remaining_s") && c.contains("interval"));
    }
  }
  // Every change is a simulated regroup, and iterations run where the decisions said.
  EXPECT_EQ(regroups.size(), changes);
  for (const auto& g : regroups) EXPECT_EQ(g["simulated"], true);
  for (const auto& it : its) {
    const auto at = worldAt.find(it["iteration"].get<long long>());
    if (at != worldAt.end()) EXPECT_EQ(it["world_size"], at->second) << it.dump();
    EXPECT_TRUE(it["iter_ms"].is_null());
    EXPECT_TRUE(it.contains("simulated_s"));
  }
  EXPECT_LE(its.back()["gap"].get<double>(), 1e-6) << r.output;
}

// A second run of the job with --prior the first run's log: it starts on a
// count the first run measured, probes a count the first run measured only
// where those samples lie far up the curve, and assumes the first run's
// measured rescale cost from its first decision.
TEST(TrainCliTest, APriorRunStartsOnAMeasuredCountWithTheMeasuredRescaleCost) {
  TempDir dir;
  const auto data = writeLibsvm(dir);
  const std::string job =
      "--algorithm cocoa+ --iterations 300 --virtual-workers 16 --adaptive "
      "--target-gap 1e-6 --lambda 0.001 --loss logistic "
      "--cluster-model 0.02,1.5,0.01,0.02 --cluster-rescale-s 0.375 "
      "--dataset libsvm:" +
      data;
  const auto first = dir.file("first.jsonl"), second = dir.file("second.jsonl");
  auto r = runCommand(train(job + " --log " + first));
  ASSERT_EQ(r.exitCode, 0) << r.output;
  std::set<int> measured;
  for (const auto& it : events(first, "iteration")) measured.insert(it["world_size"].get<int>());
  ASSERT_FALSE(events(first, "regroup").empty()) << "the first run must rescale at least once";
  r = runCommand(train(job + " --log " + second + " --prior " + first));
  ASSERT_EQ(r.exitCode, 0) << r.output;
  const auto its = events(second, "iteration");
  const auto decisions = events(second, "decision");
  ASSERT_FALSE(its.empty());
  ASSERT_FALSE(decisions.empty());
  EXPECT_TRUE(measured.count(its.front()["world_size"].get<int>())) << its.front().dump();
  EXPECT_DOUBLE_EQ(decisions.front()["rescale_cost_s"].get<double>(), 0.375);
  for (const auto& d : decisions) {
    if (d["action"] == "probe" && measured.count(d["to_world_size"].get<int>())) {
      EXPECT_NE(d["reason"].get<std::string>().find("far up the curve"), std::string::npos)
          << d["reason"];
    }
  }
  EXPECT_EQ(decisions.back()["action"], "stop");
  EXPECT_LE(its.back()["gap"].get<double>(), 1e-6);
}

// Rank 0 dies at step 5 (a failpoint) of an adaptive run on real workers
// under hemingway-run. The new rank 0 restores the old one's memory (kept
// in the run's store at each decision): it does not start cold again (no
// second "first count" decision, which a cold controller on 2 workers
// would make towards 3), and its first decision assumes the rescale cost
// measured before the failure together with the failure's own.
TEST(TrainCliTest, ANewRankZeroAfterAFailoverDecidesFromTheOldOnesMemory) {
  TempDir dir;
  const auto data = dir.file("d600.libsvm");
  {
    std::ofstream out(data);
    for (int i = 0; i < 600; ++i) {
      const int y = i % 2 ? 1 : -1;
      out << y << " 1:" << (y * 0.5 + 0.01 * (i % 7)) << " 2:" << (0.1 * (i % 5))
          << " 3:1 4:" << 0.001 * ((i * 37) % 1000) << "\n";
    }
  }
  const auto log = dir.file("log.jsonl");
  std::vector<double> costs;  // regroup totals up to the failure, seconds
  long long failedAt = -1;
  // The precondition, not the claim: the first count's rescale (asked at
  // step 0) took effect before the failure; it usually does by step 4.
  for (int attempt = 0; attempt < 3 && costs.size() < 2; ++attempt) {
    std::remove(log.c_str());
    auto r = runCommand("HEMINGWAY_FAILPOINT=step:0:7 " + std::string(HEMINGWAY_RUN_BIN) +
                        " --timeout 20 --nproc-per-node 4 --max-workers 4 -- " +
                        train("--algorithm sgd --adaptive --target-loss 0.001 --lambda 0.001 "
                              "--iterations 40 --dataset libsvm:" +
                              data + " --log " + log));
    ASSERT_EQ(r.exitCode, 0) << r.output;
    costs.clear();
    failedAt = -1;
    for (const auto& g : events(log, "regroup")) {
      if (failedAt >= 0) break;
      costs.push_back(g["total_ms"].get<double>() / 1000);
      if (g["cause"] == "failure") failedAt = g["step"].get<long long>();
    }
    ASSERT_GE(failedAt, 0) << "rank 0 did not fail: " << r.output;
  }
  ASSERT_GE(costs.size(), 2u) << "no measured rescale before the failure in three runs";
  std::sort(costs.begin(), costs.end());
  const double median = costs.size() % 2
                            ? costs[costs.size() / 2]
                            : (costs[costs.size() / 2 - 1] + costs[costs.size() / 2]) / 2;
  int firstCounts = 0;
  std::optional<nlohmann::json> afterFailure;
  for (const auto& d : events(log, "decision")) {
    if (d["reason"].get<std::string>().find("the first count") != std::string::npos) ++firstCounts;
    if (!afterFailure && d["step"].get<long long>() >= failedAt) afterFailure = d;
  }
  EXPECT_EQ(firstCounts, 1) << "the new rank 0 started cold";
  ASSERT_TRUE(afterFailure.has_value());
  EXPECT_NEAR((*afterFailure)["rescale_cost_s"].get<double>(), median, 1e-9)
      << afterFailure->dump();
}

// Strong scaling is one optimisation whatever the worker count: sgd on 1, 2
// and 4 virtual workers with one global batch takes the same steps (to float
// tolerance), and its job (run_start's config, fingerprint) does not name m.
// Weak scaling (a batch per worker) is a different optimisation at each m.
TEST(TrainCliTest, StrongScalingGivesTheSameLossesOnAnyWorkerCount) {
  TempDir dir;
  const auto data = writeLibsvm(dir);
  const auto run = [&](const std::string& rule, int m) {
    const auto log = dir.file((rule.find("strong") != std::string::npos ? "strong" : "weak") +
                              std::to_string(m) + ".jsonl");
    auto r = runCommand(train("--algorithm sgd --iterations 30 --lr 0.5 --virtual-workers " +
                              std::to_string(m) + " " + rule + " --dataset libsvm:" + data +
                              " --log " + log));
    EXPECT_EQ(r.exitCode, 0) << r.output;
    std::vector<double> primal;
    for (const auto& it : iterations(log)) primal.push_back(it["primal"].get<double>());
    const auto start = events(log, "run_start");
    EXPECT_EQ(start.size(), 1u);
    return std::make_pair(primal, start.empty() ? nlohmann::json{} : start[0]);
  };
  const std::string strong = "--scaling strong --global-batch 8";
  const auto [one, oneStart] = run(strong, 1);
  ASSERT_EQ(one.size(), 30u);
  EXPECT_EQ(oneStart["config"]["scaling"], "strong");
  EXPECT_EQ(oneStart["config"]["global_batch"], "8");
  for (int m : {2, 4}) {
    const auto [other, otherStart] = run(strong, m);
    ASSERT_EQ(other.size(), one.size());
    for (std::size_t k = 0; k < one.size(); ++k) {
      EXPECT_NEAR(other[k], one[k], 1e-12 * std::abs(one[k])) << "m = " << m << ", iteration " << k;
    }
    EXPECT_EQ(otherStart["job"], oneStart["job"]) << "the job must not name the worker count";
  }
  const auto weakOne = run("--batch-size 4", 1).first, weakTwo = run("--batch-size 4", 2).first;
  ASSERT_EQ(weakOne.size(), weakTwo.size());
  EXPECT_NE(weakOne, weakTwo) << "weak scaling takes more examples a step on more workers";
  auto mixed =
      runCommand(train("--algorithm cocoa --scaling strong --global-batch 8 --dataset "
                       "libsvm:" +
                       data));
  EXPECT_EQ(mixed.exitCode, 2) << mixed.output;
  auto alone = runCommand(train("--scaling strong --algorithm sgd --dataset libsvm:" + data));
  EXPECT_EQ(alone.exitCode, 2) << alone.output;
  EXPECT_NE(alone.output.find("--global-batch"), std::string::npos) << alone.output;
}

TEST(TrainCliTest, APriorOfAnotherJobOrWithoutAdaptiveIsRefused) {
  TempDir dir;
  const auto data = " --dataset libsvm:" + writeLibsvm(dir);
  const auto log = dir.file("other.jsonl");
  ASSERT_EQ(
      runCommand(train("--iterations 3 --lambda 0.01 --virtual-workers 2 --log " + log + data))
          .exitCode,
      0);
  auto other =
      runCommand(train("--iterations 3 --virtual-workers 4 --adaptive --target-gap 1e-3 "
                       "--cluster-model 0,1,0,0 --prior " +
                       log + data));
  EXPECT_EQ(other.exitCode, 2) << other.output;
  EXPECT_NE(other.output.find("holds no cocoa+ run of this job"), std::string::npos)
      << other.output;
  auto notAdaptive = runCommand(train("--iterations 3 --virtual-workers 4 --prior " + log + data));
  EXPECT_EQ(notAdaptive.exitCode, 2) << notAdaptive.output;
  EXPECT_NE(notAdaptive.output.find("--prior warms the controller"), std::string::npos)
      << notAdaptive.output;
  auto missing =
      runCommand(train("--iterations 3 --virtual-workers 4 --adaptive --target-gap "
                       "1e-3 --cluster-model 0,1,0,0 --prior /nonexistent.jsonl" +
                       data));
  EXPECT_EQ(missing.exitCode, 2) << missing.output;
}

TEST(TrainCliTest, AdaptiveRefusesARunWithoutAGoalOrAClock) {
  TempDir dir;
  const auto data = " --dataset libsvm:" + writeLibsvm(dir);
  auto noGoal = runCommand(
      train("--virtual-workers 4 --adaptive --cluster-model 0,1,0,0 --iterations 2" + data));
  EXPECT_EQ(noGoal.exitCode, 2) << noGoal.output;
  EXPECT_NE(noGoal.output.find("needs a goal"), std::string::npos) << noGoal.output;
  auto noClock =
      runCommand(train("--virtual-workers 4 --adaptive --target-gap 1e-3 --iterations 2" + data));
  EXPECT_EQ(noClock.exitCode, 2) << noClock.output;
  EXPECT_NE(noClock.output.find("--cluster-model"), std::string::npos) << noClock.output;
  auto notElastic = runCommand(train("--adaptive --target-gap 1e-3 --iterations 2" + data));
  EXPECT_EQ(notElastic.exitCode, 2) << notElastic.output;
  EXPECT_NE(notElastic.output.find("--max-workers"), std::string::npos) << notElastic.output;
}

// A scheduler takes machines away at simulated second 2 and gives them back
// at 6: a static run shrinks and grows back, an adaptive one never exceeds
// what is offered.
TEST(TrainCliTest, CapacityIsFollowedByStaticAndAdaptiveRuns) {
  TempDir dir;
  const auto data = " --dataset libsvm:" + writeLibsvm(dir);
  const auto capAt = [](double t) { return t < 2 ? 8 : t < 6 ? 2 : 8; };
  for (const std::string mode : {"static", "adaptive"}) {
    const auto log = dir.file(mode + ".jsonl");
    auto r =
        runCommand(train("--algorithm cocoa+ --loss logistic --lambda 0.001 --iterations 60 "
                         "--virtual-workers 8 --cluster-model 0,1,0,0 --capacity 0:8,2:2,6:8" +
                         std::string(mode == "adaptive" ? " --adaptive --target-gap 1e-15" : "") +
                         data + " --log " + log));
    ASSERT_EQ(r.exitCode, 0) << r.output;
    const auto its = events(log, "iteration");
    ASSERT_EQ(its.size(), 60u) << mode;
    double before = 0;  // the clock when the iteration started (after any rescale)
    bool shrank = false, grew = false;
    for (const auto& it : its) {
      const int m = it["world_size"];
      const double end = it["simulated_s"];
      const double start = end - 1.0 / m;
      EXPECT_LE(m, capAt(before)) << mode << ": " << it.dump();
      if (mode == "static") EXPECT_EQ(m, capAt(before)) << it.dump();
      shrank = shrank || (before >= 2 && before < 6 && m <= 2);
      grew = grew || (before >= 6 && m > 2);
      EXPECT_GE(start + 1e-9, before) << it.dump();
      before = end;
    }
    EXPECT_TRUE(shrank) << mode;
    if (mode == "static") EXPECT_TRUE(grew);
  }
  auto bad = runCommand(train("--virtual-workers 4 --iterations 1 --capacity 5:2" + data +
                              " --cluster-model 0,1,0,0"));
  EXPECT_EQ(bad.exitCode, 2) << bad.output;
  EXPECT_NE(bad.output.find("--capacity"), std::string::npos) << bad.output;
}

}  // namespace
