// hemingway-report as a user runs it.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "support/ranks.h"

namespace {

using hemingway::testing::runCommand;
using hemingway::testing::TempDir;

std::string report(const std::string& args) {
  return std::string(HEMINGWAY_REPORT_BIN) + " " + args;
}

// Traces of two algorithms at m = 1, 2, 4, 8: f(m) = 0.01 + 0.1/m + 0.002 m,
// loss = 0.1 + 10^(-rate i / m).
std::string writeCsv(const TempDir& dir, const std::vector<int>& machines = {1, 2, 4, 8}) {
  const auto path = dir.file("traces.csv");
  std::ofstream out(path);
  out << "algorithm,m,iteration,loss,iter_seconds\n";
  for (auto [name, rate] :
       std::vector<std::pair<std::string, double>>{{"cocoa", 0.05}, {"cocoa+", 0.1}}) {
    for (int m : machines) {
      for (int i = 1; i <= 50 * m; ++i) {
        out << name << ',' << m << ',' << i << ',' << 0.1 + std::pow(10.0, -rate * i / m) << ','
            << 0.01 + 0.1 / m + 0.002 * m << '\n';
      }
    }
  }
  return path;
}

TEST(ReportCliTest, JsonOutputHasTheDocumentedFields) {
  TempDir dir;
  auto r = runCommand(report(writeCsv(dir) + " --target-loss 0.101 --time-budget 5 --p-star 0.1 "
                                             "--candidates 1,2,4,8,16 --json 2>/dev/null"));
  ASSERT_EQ(r.exitCode, 0) << r.output;
  auto j = nlohmann::json::parse(r.output);
  ASSERT_TRUE(j.contains("recommendation"));
  EXPECT_EQ(j["recommendation"]["algorithm"], "cocoa+");
  EXPECT_TRUE(j["recommendation"]["m"].is_number());
  EXPECT_GT(j["recommendation"]["predicted_seconds"].get<double>(), 0);
  ASSERT_EQ(j["predictions"].size(), 10u);
  for (const auto& p : j["predictions"]) {
    for (const char* key :
         {"algorithm", "m", "time_to_target_s", "loss_at_budget", "loss_at_budget_interval",
          "iterations_to_target_interval", "time_to_target_interval_s",
          "seconds_per_iteration_measured", "seconds_per_iteration_fit", "extrapolated_m",
          "extrapolated_iterations", "knee"}) {
      EXPECT_TRUE(p.contains(key)) << key;
    }
    EXPECT_EQ(p["extrapolated"].get<bool>(), p["m"].get<double>() == 16);
    EXPECT_EQ(p["extrapolated_m"].get<bool>(), p["m"].get<double>() == 16);
    // Measured where measured: the planner's seconds per iteration is the measurement.
    if (p["m"].get<double>() != 16) {
      EXPECT_DOUBLE_EQ(p["seconds_per_iteration"].get<double>(),
                       p["seconds_per_iteration_measured"].get<double>());
    } else {
      EXPECT_TRUE(p["seconds_per_iteration_measured"].is_null());
    }
    // Four machine counts: the forms were compared, so intervals exist where the target is reached.
    if (!p["iterations_to_target"].is_null()) {
      ASSERT_TRUE(p["iterations_to_target_interval"].is_array());
      EXPECT_LE(p["iterations_to_target_interval"][0].get<double>(),
                p["iterations_to_target"].get<double>());
      EXPECT_GE(p["iterations_to_target_interval"][1].get<double>(),
                p["iterations_to_target"].get<double>());
    }
    // A budget was given: the loss it buys comes with its interval.
    ASSERT_TRUE(p["loss_at_budget_interval"].is_array()) << p;
    EXPECT_LE(p["loss_at_budget_interval"][0].get<double>(), p["loss_at_budget"].get<double>());
    EXPECT_GE(p["loss_at_budget_interval"][1].get<double>(), p["loss_at_budget"].get<double>());
    EXPECT_GT(p["loss_at_budget_interval"][0].get<double>(), 0.1) << "at or below P*";
  }
  ASSERT_EQ(j["models"].size(), 2u);
  for (const auto& m : j["models"]) {
    EXPECT_TRUE(m["form"] == "lasso" || m["form"] == "level-set" || m["form"] == "shape") << m;
    EXPECT_TRUE(m["held_out_error"].is_number()) << m;
    // Every compared form's error; the chosen one's is the smallest.
    ASSERT_TRUE(m["held_out_errors"].is_object()) << m;
    for (const char* form : {"lasso", "level-set", "shape"}) {
      ASSERT_TRUE(m["held_out_errors"].contains(form)) << form << " " << m;
      EXPECT_GE(m["held_out_errors"][form].get<double>(), m["held_out_error"].get<double>());
    }
    EXPECT_EQ(m["form_beyond_measured_m"], "level-set") << m;
  }
}

TEST(ReportCliTest, PrintsModelsTableAndRecommendationAndAppendsToTheLog) {
  TempDir dir;
  const auto log = dir.file("run.jsonl");
  {
    std::ofstream out(log);
    for (int world : {1, 2}) {  // two runs of one job, on 1 and 2 workers
      const std::string run = "r" + std::to_string(world);
      out << R"({"event":"run_start","run":")" << run << R"(","rank":0,"world_size":)" << world
          << R"(,"algorithm":"sgd","dataset_size":100})"
          << "\n";
      for (int s = 0; s < 30; ++s) {
        for (int rank = 0; rank < world; ++rank) {
          out << R"({"event":"step","run":")" << run << R"(","rank":)" << rank
              << R"(,"world_size":)" << world << R"(,"step":)" << s << R"(,"step_ms":)"
              << 10 + 5.0 / world << R"(,"loss":)" << 1.0 / (s + 1) + 0.01 * world << "}\n";
        }
      }
    }
    out << R"({"event":"step","run":"r1","rank":0,"wor)";  // torn by a crash
  }
  auto slurp = [](const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  const std::string before = slurp(log);
  auto r = runCommand(report(writeCsv(dir) + " " + log + " --target-loss 0.2"));
  ASSERT_EQ(r.exitCode, 0) << r.output;
  EXPECT_NE(r.output.find("f(m) ="), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("log10(P - P*)"), std::string::npos);
  EXPECT_NE(r.output.find("recommendation:"), std::string::npos);
  EXPECT_EQ(slurp(log), before) << "the report wrote to its input";
  // Asked to, it appends on a line of its own after the torn line, and the
  // log still reads.
  auto appended =
      runCommand(report(writeCsv(dir) + " " + log + " --target-loss 0.2 --append-to " + log));
  ASSERT_EQ(appended.exitCode, 0) << appended.output;
  std::ifstream in(log);
  std::string line, last;
  while (std::getline(in, line)) last = line;
  EXPECT_EQ(last.rfind("{\"algorithm\"", 0), 0u) << last;
  EXPECT_NE(last.find("\"event\":\"recommendation\""), std::string::npos) << last;
  auto again = runCommand(report(writeCsv(dir) + " " + log + " --target-loss 0.2"));
  EXPECT_EQ(again.exitCode, 0) << again.output;
  // Measured seconds per iteration beside the fit.
  EXPECT_NE(r.output.find("seconds_per_iteration_measured"), std::string::npos) << r.output;
}

TEST(ReportCliTest, PlotsArePngFilesFromGnuplot) {
  if (std::system("command -v gnuplot > /dev/null") != 0)
    GTEST_SKIP() << "gnuplot is not installed";
  TempDir dir;
  auto r = runCommand(report(writeCsv(dir) + " --target-loss 0.11 --plots " + dir.file("plots")));
  ASSERT_EQ(r.exitCode, 0) << r.output;
  for (const char* f : {"cocoa-convergence.png", "cocoa-system.png", "cocoa+-convergence.png",
                        "cocoa-time-to-target.png", "cocoa+-time-to-target.png"}) {
    std::ifstream png(dir.file(std::string("plots/") + f), std::ios::binary);
    char magic[4] = {};
    png.read(magic, 4);
    EXPECT_EQ(std::string(magic + 1, 3), "PNG") << f;
    // A sensible size: more than an empty frame, less than a photograph.
    const auto bytes = std::filesystem::file_size(dir.file(std::string("plots/") + f));
    EXPECT_GT(bytes, 10000u) << f;
    EXPECT_LT(bytes, 2000000u) << f;
  }
  // The folder holds only the images.
  for (const auto& e : std::filesystem::directory_iterator(dir.file("plots"))) {
    EXPECT_EQ(e.path().extension(), ".png") << e.path();
  }
}

TEST(ReportCliTest, BadInputsGetClearMessages) {
  TempDir dir;
  struct Case {
    std::string file, content, flags, needle;
  };
  const std::string header = "algorithm,m,iteration,loss,iter_seconds\n";
  const std::vector<Case> cases = {
      {"empty.jsonl", "", "--target-loss 1", "holds no step or iteration records"},
      {"corrupt.jsonl", "{\"event\":\"step\"\nnot json\n{}\n", "--target-loss 1", "line 1"},
      {"nan.csv", header + "a,1,1,nan,0.1\n", "--target-loss 1", "the loss is not finite"},
      {"bigstep.jsonl",
       "{\"event\":\"step\",\"run\":\"r\",\"step\":1e300,\"world_size\":1,\"step_ms\":1,"
       "\"loss\":1}\n",
       "--target-loss 1", "the step is not a whole number"},
      {"overflow.jsonl", "{\"event\":\"step\",\"run\":\"r\",\"loss\":1e999999}\n",
       "--target-loss 1", "number overflow"},
      {"header.csv", "algo,m\n", "--target-loss 1", "the header must be"},
      {"one-m.csv", header + "a,2,1,1.0,0.1\na,2,2,0.5,0.1\n", "--target-loss 0.1",
       "fewer than 10 loss values"},
  };
  for (const auto& c : cases) {
    std::ofstream(dir.file(c.file)) << c.content;
    auto r = runCommand(report(dir.file(c.file) + " " + c.flags));
    EXPECT_NE(r.exitCode, 0) << c.file;
    EXPECT_NE(r.output.find(c.needle), std::string::npos) << c.file << "\n" << r.output;
  }
  auto never = runCommand(report(writeCsv(dir) + " --target-loss 0.05 --p-star 0.01"));
  EXPECT_NE(never.output.find("never reached in any trace"), std::string::npos) << never.output;
  auto noGoal = runCommand(report(writeCsv(dir)));
  EXPECT_NE(noGoal.exitCode, 0);
  EXPECT_NE(noGoal.output.find("target loss, a time budget"), std::string::npos) << noGoal.output;
}

}  // namespace

namespace {

// A name from the data cannot run anything or write outside the plot folder.
TEST(ReportCliTest, AlgorithmNamesFromDataNeitherRunNorEscape) {
  if (std::system("command -v gnuplot > /dev/null") != 0)
    GTEST_SKIP() << "gnuplot is not installed";
  TempDir dir;
  const std::string marker = dir.file("pwned");
  const std::vector<std::string> names = {"$(touch " + marker + ")", "`touch " + marker + "`",
                                          "a'b\"c", "../escaped",
                                          "x' . system('touch " + marker + "') . '"};
  const auto path = dir.file("evil.csv");
  {
    std::ofstream out(path);
    out << "algorithm,m,iteration,loss,iter_seconds\n";
    for (const auto& name : names) {
      for (int m : {1, 2, 4}) {
        for (int i = 1; i <= 40; ++i) {
          out << name << ',' << m << ',' << i << ',' << 0.1 + std::pow(10.0, -0.05 * i / m) << ','
              << 0.01 + 0.1 / m << '\n';
        }
      }
    }
  }
  const std::string plots = dir.file("plots");
  auto r = runCommand(report(path + " --time-budget 1 --plots " + plots));
  EXPECT_EQ(r.exitCode, 0) << r.output;
  EXPECT_FALSE(std::filesystem::exists(marker)) << "a name from the data ran a command";
  EXPECT_FALSE(std::filesystem::exists(dir.file("escaped-convergence.png")));
  int images = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
    const auto name = e.path().filename().string();
    EXPECT_TRUE(name == "plots" || name == "evil.csv") << "written outside --plots: " << name;
  }
  for (const auto& e : std::filesystem::directory_iterator(plots)) {
    EXPECT_EQ(e.path().extension(), ".png") << e.path();
    ++images;
  }
  EXPECT_EQ(images, 2 * static_cast<int>(names.size()));
  // A quote in the folder itself works too.
  auto quoted = runCommand(report(path + " --time-budget 1 --plots \"" + dir.file("it's") + "\""));
  EXPECT_EQ(quoted.exitCode, 0) << quoted.output;
  EXPECT_FALSE(std::filesystem::exists(marker));
}

// Realistic sizes and machine counts answer; impossible values are refused with the line.
TEST(ReportCliTest, LargeJobsAnswerAndBadNumbersAreRefused) {
  TempDir dir;
  const auto log = dir.file("imagenet.jsonl");
  {
    std::ofstream out(log);
    for (int world : {2, 3}) {
      const std::string run = "r" + std::to_string(world);
      out << R"({"event":"run_start","run":")" << run << R"(","rank":0,"world_size":)" << world
          << R"(,"algorithm":"sgd","dataset_size":1281167})"
          << "\n";
      for (int s = 0; s < 40; ++s) {
        for (int rank = 0; rank < world; ++rank) {
          out << R"({"event":"step","run":")" << run << R"(","rank":)" << rank
              << R"(,"world_size":)" << world << R"(,"step":)" << s << R"(,"step_ms":)"
              << 8 + 12.0 / world + 0.1 * (s % 3) << R"(,"loss":)" << 2.0 / (s + 1) + 0.01 * world
              << "}\n";
        }
      }
    }
  }
  auto big = runCommand(report(log + " --time-budget 60"));
  EXPECT_EQ(big.exitCode, 0) << big.output;
  EXPECT_NE(big.output.find("recommendation"), std::string::npos) << big.output;

  const std::string header = "algorithm,m,iteration,loss,iter_seconds\n";
  std::string huge = header;
  for (double m : {1e7, 2e7}) {
    for (int i = 1; i <= 30; ++i) {
      huge += "a," + std::to_string(static_cast<long long>(m)) + "," + std::to_string(i) + "," +
              std::to_string(1.0 / i) + "," + std::to_string(0.01 + 1e5 / m) + "\n";
    }
  }
  std::ofstream(dir.file("huge.csv")) << huge;
  auto manyMachines = runCommand("timeout 60 " + report(dir.file("huge.csv") + " --time-budget 5"));
  EXPECT_TRUE(manyMachines.exitCode == 0 || manyMachines.exitCode == 2) << manyMachines.output;
  EXPECT_EQ(manyMachines.output.find("nan"), std::string::npos) << manyMachines.output;

  for (const auto& [row, needle] :
       std::vector<std::pair<std::string, std::string>>{{"a,inf,1,1.0,0.1", "machine count"},
                                                        {"a,1e308,1,1.0,0.1", "machine count"},
                                                        {"a,nan,1,1.0,0.1", "machine count"},
                                                        {"a,2,nan,1.0,0.1", "iteration"},
                                                        {"a,2,1,1.0,-0.1", "time per iteration"},
                                                        {"a,2,1,1.0,0", "time per iteration"},
                                                        {"a,2,1,1.0,nan", "time per iteration"}}) {
    std::ofstream(dir.file("bad.csv")) << header << "a,1,1,1.0,0.1\n" << row << "\n";
    auto r = runCommand("timeout 30 " + report(dir.file("bad.csv") + " --time-budget 5"));
    EXPECT_EQ(r.exitCode, 2) << row << "\n" << r.output;
    EXPECT_NE(r.output.find("line 3"), std::string::npos) << row << "\n" << r.output;
    EXPECT_NE(r.output.find(needle), std::string::npos) << row << "\n" << r.output;
  }
  for (const std::string flags :
       {"--time-budget nan", "--price-per-machine-hour nan --time-budget 1", "--target-loss inf",
        "--target-los 0.08", "--candidates 1,1e308"}) {
    auto r = runCommand(report(log + " " + flags));
    EXPECT_EQ(r.exitCode, 2) << flags << "\n" << r.output;
    EXPECT_NE(r.output.find(flags.substr(0, flags.find(' '))), std::string::npos) << r.output;
  }
  // The documented CSV row with an empty trailing iter_seconds (a virtual run).
  std::ofstream(dir.file("empty.csv")) << header << "a,1,1,1.0,\na,1,2,0.5,\n";
  auto empty = runCommand(report(dir.file("empty.csv") + " --time-budget 5"));
  EXPECT_EQ(empty.output.find("expected 5 columns"), std::string::npos) << empty.output;
}

}  // namespace

namespace {

// One job at one m: the forward prediction there, and the probes to run next
// as commands built from the run's own command line (static runs: an adaptive
// run's --adaptive and --target-loss go).
TEST(ReportCliTest, OneRunAtOneMachineCountGetsAnAnswerAndTheProbesToRun) {
  TempDir dir;
  const auto log = dir.file("one.jsonl");
  {
    std::ofstream out(log);
    out << R"({"event":"run_start","run":"r2","rank":0,"world_size":2,"algorithm":"sgd",)"
        << R"("dataset_size":100,"config":{"lr":"0.1"},"job":"j1",)"
        << R"("command":["/bin/train","--lr","0.1","--adaptive","--target-loss","0.3",)"
        << R"("--iterations","80","--log","it's.jsonl"]})"
        << "\n";
    for (int s = 0; s < 80; ++s) {
      for (int rank = 0; rank < 2; ++rank) {
        out << R"({"event":"step","run":"r2","rank":)" << rank << R"(,"world_size":2,"step":)" << s
            << R"(,"step_ms":)" << 12 + (s % 3) << R"(,"loss":)" << 2.0 / (s + 1) + 0.1 << "}\n";
      }
    }
  }
  auto r = runCommand(report(log + " --target-loss 0.2 --time-budget 5"));
  EXPECT_EQ(r.exitCode, 0) << r.output;
  EXPECT_NE(r.output.find("forward prediction at the measured m"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("hemingway-run --nproc-per-node 4 -- /bin/train --lr 0.1 --iterations 40 "
                          "--log 'it'\\''s.jsonl'"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("hemingway-run --nproc-per-node 1 --"), std::string::npos) << r.output;
  auto j = runCommand(report(log + " --target-loss 0.2 --json 2>/dev/null"));
  ASSERT_EQ(j.exitCode, 0) << j.output;
  const auto doc = nlohmann::json::parse(j.output);
  ASSERT_EQ(doc["predictions"].size(), 1u);
  EXPECT_EQ(doc["predictions"][0]["m"], 2);
  EXPECT_NEAR(doc["predictions"][0]["seconds_per_iteration"].get<double>(), 0.013, 1e-9);
  EXPECT_EQ(doc["probes"].size(), 2u);
}

// A virtual run on a simulated cluster (hemingway-train --cluster-model)
// carries simulated_s and no measured time: the report's system model uses
// the simulated seconds of each iteration.
TEST(ReportCliTest, SimulatedSecondsOfAVirtualRunFeedTheSystemModel) {
  TempDir dir;
  const auto path = dir.file("virtual.jsonl");
  {
    std::ofstream out(path);
    for (int m : {1, 2, 4, 8}) {
      const std::string run = "v" + std::to_string(m);
      const double f = 0.02 + 1.5 / m + 0.01 * std::log(m) + 0.002 * m;
      double clock = 0;
      for (int i = 0; i < 40 * m; ++i) {
        clock += f;
        nlohmann::json j = {{"event", "iteration"},
                            {"run", run},
                            {"rank", 0},
                            {"world_size", m},
                            {"iteration", i},
                            {"algorithm", "cocoa+"},
                            {"primal", 0.1 + std::pow(10.0, -0.1 * (i + 1) / m)},
                            {"dual", nullptr},
                            {"gap", nullptr},
                            {"iter_ms", nullptr},
                            {"compute_ms", nullptr},
                            {"comm_ms", nullptr},
                            {"virtual", true},
                            {"simulated_s", clock},
                            {"time", 1.8e9}};
        out << j.dump() << "\n";
      }
    }
  }
  auto r = runCommand(report(path + " --target-loss 0.101 --p-star 0.1 --json 2>/dev/null"));
  ASSERT_EQ(r.exitCode, 0) << r.output;
  auto j = nlohmann::json::parse(r.output);
  bool sawFour = false;
  for (const auto& p : j["predictions"]) {
    if (p["m"].get<double>() != 4) continue;
    sawFour = true;
    EXPECT_NEAR(p["seconds_per_iteration_measured"].get<double>(),
                0.02 + 1.5 / 4 + 0.01 * std::log(4.0) + 0.002 * 4, 1e-9);
    EXPECT_TRUE(p["time_to_target_s"].is_number());
  }
  EXPECT_TRUE(sawFour);
}

// An adaptive run's log: iterations on m = 4 then 2 then 8 (simulated
// clock), a probe, a rescale and a stay decision. The report prints the
// decision table and its JSON carries the timeline.
TEST(ReportCliTest, AnAdaptiveRunsDecisionsAreItsTimeline) {
  TempDir dir;
  const auto log = dir.file("adaptive.jsonl");
  std::ofstream out(log);
  out << R"({"event":"run_start","run":"r1","rank":0,"world_size":1,"algorithm":"cocoa","time":100})"
      << "\n";
  double clock = 0;
  const auto world = [](int i) { return i < 20 ? 4 : i < 40 ? 2 : 8; };
  for (int i = 0; i < 60; ++i) {
    const int m = world(i);
    clock += 0.01 + 0.1 / m;
    if (i == 20 || i == 40) {
      out << R"({"event":"decision","run":"r1","step":)" << i << R"(,"world_size":)" << world(i - 1)
          << R"(,"action":")" << (i == 20 ? "probe" : "rescale") << R"(","to_world_size":)" << m
          << R"(,"reason":"reason )" << i
          << R"(","rescale_cost_s":0.25,"candidates":[],"time":101,)"
          << R"("simulated_s":)" << clock << "}\n";
    }
    out << R"({"event":"iteration","run":"r1","rank":0,"world_size":)" << m << R"(,"iteration":)"
        << i << R"(,"algorithm":"cocoa","primal":)" << 0.1 + std::pow(10.0, -0.05 * i)
        << R"(,"dual":null,"gap":null,"iter_ms":null,)"
        << R"("compute_ms":null,"comm_ms":null,"virtual":true,"time":101,"simulated_s":)" << clock
        << "}\n";
  }
  out << R"({"event":"decision","run":"r1","step":50,"world_size":8,"action":"stay",)"
      << R"("to_world_size":8,"reason":"reason 50","rescale_cost_s":0.25,"candidates":[],)"
      << R"("time":102,"simulated_s":)" << clock << "}\n";
  out.close();
  auto r = runCommand(report(log + " --target-loss 0.11"));
  ASSERT_TRUE(r.exitCode == 0 || r.exitCode == 3) << r.output;
  EXPECT_NE(r.output.find("adaptive run r1 (cocoa): 3 decisions, 2 membership changes, ended on "
                          "m = 8"),
            std::string::npos)
      << r.output;
  for (const char* reason : {"reason 20", "reason 40", "reason 50"}) {
    EXPECT_NE(r.output.find(reason), std::string::npos) << reason << "\n" << r.output;
  }
  auto j = runCommand(report(log + " --target-loss 0.11 --json"));
  const auto doc = nlohmann::json::parse(j.output.substr(j.output.find('{')));
  ASSERT_EQ(doc.at("timelines").size(), 1u);
  const auto& t = doc.at("timelines")[0];
  EXPECT_EQ(t.at("simulated"), true);
  ASSERT_EQ(t.at("decisions").size(), 3u);
  EXPECT_EQ(t.at("decisions")[0].at("action"), "probe");
  EXPECT_EQ(t.at("decisions")[0].at("to_world_size"), 2);
  EXPECT_EQ(t.at("decisions")[1].at("to_world_size"), 8);
  EXPECT_GT(t.at("decisions")[1].at("seconds").get<double>(),
            t.at("decisions")[0].at("seconds").get<double>());
}

}  // namespace

namespace {

// Runs of one job with other seeds are one job (repeated measurements);
// another learning rate is another job, refused with the key named.
TEST(ReportCliTest, SeedsOfOneJobArePooledAndAnotherLearningRateIsNot) {
  TempDir dir;
  auto write = [&](const std::string& name, const std::vector<std::string>& lrs) {
    std::ofstream out(dir.file(name));
    int world = 1;
    for (const auto& lr : lrs) {
      const std::string run = "r" + std::to_string(world);
      out << R"({"event":"run_start","run":")" << run << R"(","rank":0,"world_size":)" << world
          << R"(,"algorithm":"sgd","dataset_size":100,"config":{"lr":")" << lr << R"(","seed":")"
          << world << R"("}})"
          << "\n";
      for (int s = 0; s < 60; ++s) {
        for (int rank = 0; rank < world; ++rank) {
          out << R"({"event":"step","run":")" << run << R"(","rank":)" << rank
              << R"(,"world_size":)" << world << R"(,"step":)" << s << R"(,"step_ms":)"
              << 10 + 10.0 / world << R"(,"loss":)" << 2.0 / (s + 1) + 0.1 << "}\n";
        }
      }
      ++world;
    }
    return dir.file(name);
  };
  const auto seeds = runCommand(report(write("seeds.jsonl", {"0.1", "0.1"}) + " --time-budget 1"));
  EXPECT_EQ(seeds.exitCode, 0) << seeds.output;
  EXPECT_EQ(seeds.output.find("different jobs"), std::string::npos) << seeds.output;
  const auto lrs = runCommand(report(write("lrs.jsonl", {"0.1", "0.2"}) + " --time-budget 1"));
  EXPECT_NE(lrs.exitCode, 0) << lrs.output;
  EXPECT_NE(lrs.output.find("differ in lr ("), std::string::npos) << lrs.output;
  EXPECT_EQ(lrs.output.find("seed"), std::string::npos) << lrs.output;
}

}  // namespace
