#include "hemingway/adaptive/planner.h"

#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>

namespace hemingway::adaptive {
namespace {

// f(m) = 1 + 10/m seconds (size 1), g: log10(P - 0) = -0.2 i/m (exact).
CompositeModel exactModel(const std::string& name, double rate, std::vector<int> machines) {
  CompositeModel c;
  c.algorithm = name;
  std::vector<TimingPoint> times;
  std::vector<LossPoint> losses;
  for (int m : machines) {
    times.push_back({double(m), 1, 1 + 10.0 / m});
    for (int i = 1; i <= 60 * m; ++i)
      losses.push_back({double(m), double(i), std::pow(10.0, -rate * i / m)});
  }
  c.system = SystemModel::fit(times);
  ConvergenceOptions o;
  o.pStar = 0;
  c.convergence = ConvergenceModel::fit(losses, o);
  return c;
}

TEST(PlannerTest, FastestChoiceMatchesTheHandComputedTimes) {
  auto model = exactModel("a", 0.2, {1, 2, 4, 8});
  ASSERT_EQ(model.convergence.status(), FitStatus::kConverged);
  PlanQuery q;
  q.targetLoss = 1e-4;  // i = 20 m iterations at rate 0.2
  q.candidates = {1, 2, 4, 8};
  auto result = plan({model}, q);
  ASSERT_EQ(result.predictions.size(), 4u);
  for (const auto& p : result.predictions) {
    ASSERT_TRUE(p.timeToTarget.has_value());
    const double want = 20 * p.machines * (1 + 10.0 / p.machines);  // = 20 m + 200
    EXPECT_NEAR(p.timeToTarget->value, want, 0.05 * want) << "m = " << p.machines;
    EXPECT_FALSE(p.extrapolated);
  }
  ASSERT_TRUE(result.recommendation.found);
  EXPECT_EQ(result.recommendation.machines, 1);  // 220 s beats 240, 280, 360
  EXPECT_NEAR(result.recommendation.predictedSeconds, 220, 11);
}

TEST(PlannerTest, BudgetPicksTheLowestLossAndPricePicksTheCheapest) {
  auto slow = exactModel("slow", 0.1, {1, 2, 4});
  auto fast = exactModel("fast", 0.3, {1, 2, 4});
  PlanQuery budget;
  budget.timeBudgetSeconds = 100;
  budget.candidates = {1, 2, 4};
  auto r = plan({slow, fast}, budget);
  ASSERT_TRUE(r.recommendation.found);
  EXPECT_EQ(r.recommendation.algorithm, "fast");
  for (const auto& p : r.predictions) ASSERT_TRUE(p.lossAtBudget.has_value());

  PlanQuery price;
  price.targetLoss = 1e-3;
  price.pricePerMachineHour = 3.6;  // cost = machine-seconds / 1000
  price.candidates = {1, 2, 4};
  auto c = plan({slow, fast}, price);
  ASSERT_TRUE(c.recommendation.found);
  EXPECT_EQ(c.recommendation.algorithm, "fast");
  EXPECT_EQ(c.recommendation.machines, 1);  // fewest machine-hours
  for (const auto& p : c.predictions) {
    ASSERT_TRUE(p.cost.has_value());
    EXPECT_NEAR(*p.cost, p.timeToTarget->value * p.machines / 1000, 1e-9);
  }
}

TEST(PlannerTest, UnobservedCandidatesAreFlaggedAsExtrapolated) {
  auto model = exactModel("a", 0.2, {1, 2, 4});
  PlanQuery q;
  q.targetLoss = 1e-3;
  q.candidates = {2, 16};
  auto r = plan({model}, q);
  EXPECT_FALSE(r.predictions[0].extrapolated);
  EXPECT_TRUE(r.predictions[1].extrapolated);
}

TEST(PlannerTest, ImpossibleQueriesAreRejectedOrUnmet) {
  auto model = exactModel("a", 0.2, {1, 2});
  EXPECT_THROW(plan({model}, PlanQuery{std::nullopt, std::nullopt, std::nullopt, {1}}),
               std::invalid_argument);
  EXPECT_THROW(plan({model}, PlanQuery{std::nullopt, 10.0, 1.0, {1}}), std::invalid_argument);
  PlanQuery deadline;
  deadline.targetLoss = 1e-6;
  deadline.timeBudgetSeconds = 1;  // far too short
  deadline.candidates = {1, 2};
  auto r = plan({model}, deadline);
  EXPECT_FALSE(r.recommendation.found);
  EXPECT_NE(r.recommendation.reason.find("no candidate"), std::string::npos);
}

}  // namespace
}  // namespace hemingway::adaptive
