// hemingway-report as a user runs it.
#include <gtest/gtest.h>

#include <cmath>
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
    for (const char* key : {"algorithm", "m", "time_to_target_s", "loss_at_budget"}) {
      EXPECT_TRUE(p.contains(key)) << key;
    }
    EXPECT_EQ(p["extrapolated"].get<bool>(), p["m"].get<double>() == 16);
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
  auto r = runCommand(report(writeCsv(dir) + " " + log + " --target-loss 0.2"));
  ASSERT_EQ(r.exitCode, 0) << r.output;
  EXPECT_NE(r.output.find("f(m) ="), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("log10(P - P*)"), std::string::npos);
  EXPECT_NE(r.output.find("recommendation:"), std::string::npos);
  std::ifstream in(log);
  std::string line, last;
  while (std::getline(in, line)) last = line;
  EXPECT_NE(last.find("\"event\":\"recommendation\""), std::string::npos) << last;
}

TEST(ReportCliTest, PlotsArePngFilesFromGnuplot) {
  if (std::system("command -v gnuplot > /dev/null") != 0)
    GTEST_SKIP() << "gnuplot is not installed";
  TempDir dir;
  auto r = runCommand(report(writeCsv(dir) + " --target-loss 0.11 --plots " + dir.file("plots")));
  ASSERT_EQ(r.exitCode, 0) << r.output;
  for (const char* f : {"cocoa-convergence.png", "cocoa-system.png", "cocoa+-convergence.png"}) {
    std::ifstream png(dir.file(std::string("plots/") + f), std::ios::binary);
    char magic[4] = {};
    png.read(magic, 4);
    EXPECT_EQ(std::string(magic + 1, 3), "PNG") << f;
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
      {"header.csv", "algo,m\n", "--target-loss 1", "the header must be"},
      {"one-m.csv", header + "a,2,1,1.0,0.1\na,2,2,0.5,0.1\n", "--target-loss 0.1",
       "machine count"},
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
