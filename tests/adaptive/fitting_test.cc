#include "hemingway/adaptive/fitting.h"

#include <gtest/gtest.h>

#include <cmath>

namespace {

namespace ad = hemingway::adaptive;

// Rows of one job: loss = 10^(-0.1 i / m), f(m) = 0.01 + 0.1 / m (size 1).
std::vector<ad::TraceRow> rowsOf(const std::string& job, const std::string& algorithm,
                                 const std::vector<double>& machines, int iterations = 60) {
  std::vector<ad::TraceRow> rows;
  for (double m : machines) {
    for (int i = 1; i <= iterations * m; ++i) {
      ad::TraceRow r;
      r.job = job;
      r.algorithm = algorithm;
      r.machines = m;
      r.iteration = i;
      r.loss = std::pow(10.0, -0.1 * i / m);
      r.iterSeconds = 0.01 + 0.1 / m;
      rows.push_back(r);
    }
  }
  return rows;
}

TEST(FittingTest, RunsOfTwoJobsOfOneAlgorithmAreNotPooled) {
  auto rows = rowsOf("j1", "sgd", {1, 2});
  auto other = rowsOf("j2", "sgd", {1, 2});
  rows.insert(rows.end(), other.begin(), other.end());
  const ad::JobConfigs configs = {{"j1", {{"lr", "0.05"}, {"batch_size", "64"}, {"loss", "ce"}}},
                                  {"j2", {{"lr", "0.1"}, {"batch_size", "64"}, {"loss", "ce"}}}};
  try {
    ad::fitModels(rows, configs, {});
    ADD_FAILURE() << "two jobs were pooled";
  } catch (const ad::FitError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("lr (0.05 vs 0.1)"), std::string::npos) << what;
    EXPECT_EQ(what.find("batch_size"), std::string::npos) << what;
    EXPECT_NE(what.find("--pool"), std::string::npos) << what;
  }
  ad::FitOptions pool;
  pool.pool = true;
  pool.pStar = 0;
  EXPECT_EQ(ad::fitModels(rows, configs, pool).size(), 1u);
}

TEST(FittingTest, AlgorithmsOfDifferentProblemsAreNotCompared) {
  auto rows = rowsOf("a", "sgd", {1, 2});
  auto other = rowsOf("b", "cocoa", {1, 2});
  rows.insert(rows.end(), other.begin(), other.end());
  // cocoa does not use lr ("-"): only the loss differs in a setting both use.
  const ad::JobConfigs configs = {{"a", {{"lr", "0.1"}, {"loss", "cross-entropy"}}},
                                  {"b", {{"lr", "-"}, {"loss", "hinge"}}}};
  try {
    ad::fitModels(rows, configs, {});
    ADD_FAILURE() << "different problems were compared";
  } catch (const ad::FitError& e) {
    EXPECT_NE(std::string(e.what()).find("loss (hinge vs cross-entropy)"), std::string::npos)
        << e.what();
    EXPECT_EQ(std::string(e.what()).find("lr"), std::string::npos) << e.what();
  }
  const ad::JobConfigs same = {{"a", {{"lr", "0.1"}, {"loss", "hinge"}}},
                               {"b", {{"lr", "-"}, {"loss", "hinge"}}}};
  ad::FitOptions o;
  o.pStar = 0;
  EXPECT_EQ(ad::fitModels(rows, same, o).size(), 2u);
}

TEST(FittingTest, MeasuredSecondsAreTheMedianPerMachineCount) {
  ad::FitOptions o;
  o.pStar = 0;
  const auto fitted = ad::fitModels(rowsOf("", "sgd", {1, 2, 4}), {}, o);
  ASSERT_EQ(fitted.size(), 1u);
  const auto& model = fitted[0].model;
  EXPECT_DOUBLE_EQ(model.measuredSeconds.at(2), 0.06);
  EXPECT_DOUBLE_EQ(model.secondsPerIteration(2).value, 0.06);
  EXPECT_EQ(fitted[0].longestTrace.at(4), 240);
}

}  // namespace
