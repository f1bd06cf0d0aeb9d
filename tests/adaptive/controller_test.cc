#include "hemingway/adaptive/controller.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>

#include "hemingway/adaptive/controller_hook.h"
#include "hemingway/adaptive/exploration.h"
#include "hemingway/hooks/jsonl_sink.h"

namespace hemingway::adaptive {
namespace {

ControllerOptions targetOptions() {
  ControllerOptions o;
  o.targetLoss = 1e-6;
  o.minWorkers = 1;
  o.maxWorkers = 16;
  o.margin = 0.05;
  return o;
}

CandidateForecast forecast(int m, double value, double low, double high) {
  CandidateForecast c;
  c.machines = m;
  c.remainingSeconds = value;
  c.interval = std::make_pair(low, high);
  c.secondsPerIteration = 1;
  return c;
}

// At a probe's end the probe's count has no claim to stay: the best point
// forecast among the measured counts wins, with no margin and no cooldown;
// an unmeasured count's forecast, however good, does not.
TEST(ChooseActionTest, AtAProbesEndTheBestMeasuredPointForecastWins) {
  const auto o = targetOptions();
  const std::vector<CandidateForecast> cs = {forecast(4, 10, 9, 11), forecast(8, 9.8, 5, 14),
                                             forecast(2, 5, 1, 20)};
  EXPECT_EQ(chooseAction(cs, 4, 1.0, true, o).action, Action::kStay);  // the pessimistic rule
  for (const bool cooled : {true, false}) {
    const auto d = chooseAction(cs, 4, 1.0, cooled, o, true, {4, 8});
    EXPECT_EQ(d.action, Action::kRescale);
    EXPECT_EQ(d.toWorldSize, 8) << d.reason;
  }
  EXPECT_EQ(chooseAction(cs, 4, 1.0, true, o, true, {4}).action, Action::kStay);
  const auto d = chooseAction(cs, 8, 1.0, true, o, true, {4, 8});
  EXPECT_EQ(d.action, Action::kStay) << d.reason;  // 8's own forecast (9.8) beats 4's (10)
}

// Staying on 4 takes 10 s, at best 9 s; the margin is 5% of 10 s = 0.5 s:
// m = 8 must be at worst below 9 - 0.5 = 8.5 s (its rescale cost included).
TEST(ChooseActionTest, RescalesExactlyWhenThePessimisticGainBeatsTheMargin) {
  const auto o = targetOptions();
  for (double high : {8.4, 8.49, 8.51, 8.6, 12.0}) {
    const auto d = chooseAction({forecast(4, 10, 9, 11), forecast(8, 6, 5, high)}, 4, 1.0, true, o);
    const bool want = high < 8.5;
    EXPECT_EQ(d.action, want ? Action::kRescale : Action::kStay)
        << "m = 8 at worst " << high << ": " << d.reason;
    EXPECT_EQ(d.toWorldSize, want ? 8 : 4);
    EXPECT_EQ(d.candidates.size(), 2u);
  }
}

TEST(ChooseActionTest, TheOptimisticEndOfACandidateNeverDecides) {
  // m = 8's value and low are far better, but its worst case is not.
  const auto d = chooseAction({forecast(4, 10, 9, 11), forecast(8, 2, 0.5, 9.5)}, 4, 1.0, true,
                              targetOptions());
  EXPECT_EQ(d.action, Action::kStay) << d.reason;
}

TEST(ChooseActionTest, TheCooldownHoldsAnyGain) {
  const auto d = chooseAction({forecast(4, 100, 90, 110), forecast(8, 2, 1, 3)}, 4, 1.0, false,
                              targetOptions());
  EXPECT_EQ(d.action, Action::kStay);
  EXPECT_NE(d.reason.find("cooldown"), std::string::npos) << d.reason;
}

TEST(ChooseActionTest, APriceComparesMachineHours) {
  auto o = targetOptions();
  o.pricePerMachineHour = 3.6;  // 0.001 per machine-second
  // 16 machines are twice as fast as 4 but use twice the machine-hours.
  const auto d =
      chooseAction({forecast(4, 10, 9.5, 10.5), forecast(16, 5, 4.5, 5.5)}, 4, 0.1, true, o);
  EXPECT_EQ(d.action, Action::kStay) << d.reason;
  o.pricePerMachineHour.reset();
  EXPECT_EQ(
      chooseAction({forecast(4, 10, 9.5, 10.5), forecast(16, 5, 4.5, 5.5)}, 4, 0.1, true, o).action,
      Action::kRescale);
}

TEST(ChooseActionTest, ABudgetWithATargetRefusesCandidatesThatMayMissIt) {
  auto o = targetOptions();
  o.timeBudgetSeconds = 7;
  const auto d = chooseAction({forecast(4, 6, 5.5, 6.5), forecast(8, 3, 2, 7.5)}, 4, 0.1, true, o);
  EXPECT_EQ(d.action, Action::kStay) << d.reason;
}

// A budget goal without a target compares log10 of the metric predicted at the
// end of the budget: stay's optimistic end -5.2 minus c's pessimistic end must
// beat 5% of |-5| = 0.25 decades.
TEST(ChooseActionTest, ABudgetGoalComparesThePredictedMetricInDecades) {
  ControllerOptions o;
  o.timeBudgetSeconds = 100;
  o.minWorkers = 1;
  o.maxWorkers = 16;
  const auto budget = [](int m, double v, double low, double high) {
    CandidateForecast c;
    c.machines = m;
    c.log10AtBudget = v;
    c.interval = std::make_pair(low, high);
    return c;
  };
  for (double high : {-5.6, -5.46, -5.44, -5.3}) {
    const auto d =
        chooseAction({budget(4, -5, -5.2, -4.8), budget(8, -6, -6.3, high)}, 4, 1.0, true, o);
    EXPECT_EQ(d.action, high < -5.45 ? Action::kRescale : Action::kStay)
        << high << ": " << d.reason;
  }
}

// A scripted forecaster: `better` from step `from` on, else everything equal.
struct Script {
  int better = 8;
  std::int64_t from = 0;
  std::int64_t* now = nullptr;
  Controller::Forecaster forecaster() {
    return [this](const std::vector<TraceRow>&, int current, double, double, double cost,
                  const std::vector<int>& candidates) {
      std::vector<CandidateForecast> out;
      for (int m : candidates) {
        const double extra = m == current ? 0.0 : cost;
        const double v = (m == better && *now >= from ? 20.0 : 50.0) + extra;
        out.push_back(forecast(m, v, v * 0.9, v * 1.1));
      }
      return out;
    };
  }
};

// Feeds `steps` iterations on the controller's current m, deciding before each.
std::vector<Decision> drive(Controller& c, int& machines, std::int64_t& step, std::int64_t steps,
                            double metric = 1.0) {
  std::vector<Decision> out;
  for (std::int64_t k = 0; k < steps; ++k, ++step) {
    if (auto d = c.decide(step, machines)) {
      out.push_back(*d);
      machines = d->toWorldSize;
    }
    c.observeIteration(machines, step, metric, 1.0);
  }
  return out;
}

// Every count but 1 measured and no count preferred is unmeasured: no
// probes, only the rule and the cooldown.
void measureThree(Controller& c) {
  std::int64_t i = -30;
  for (int m : {2, 4, 8, 16}) {
    for (int k = 0; k < 10; ++k) c.observeIteration(m, i++, 1.0, 1.0);
  }
}

TEST(ControllerTest, RescalesWhenTheScriptSaysSoAndNeverWithinTheCooldown) {
  std::int64_t step = 0;
  Script script;
  script.now = &step;
  script.better = 8;
  script.from = 25;  // m = 8 becomes better at step 25
  auto o = targetOptions();
  o.refitEverySteps = 5;
  o.cooldownSteps = 40;
  o.probeBudgetFraction = 0;  // no probe of a stale count first: the rule alone
  Controller c(o, script.forecaster());
  measureThree(c);
  int machines = 4;
  auto decisions = drive(c, machines, step, 30);
  // Decisions every 5 steps; stay until 25, rescale to 8 at 25.
  ASSERT_EQ(decisions.size(), 6u);
  for (std::size_t k = 0; k + 1 < decisions.size(); ++k) {
    EXPECT_EQ(decisions[k].action, Action::kStay) << decisions[k].reason;
    EXPECT_EQ(decisions[k].step, static_cast<std::int64_t>(5 * k));
  }
  EXPECT_EQ(decisions.back().action, Action::kRescale) << decisions.back().reason;
  EXPECT_EQ(decisions.back().step, 25);
  EXPECT_EQ(machines, 8);
  // Now m = 2 is far better, but the cooldown holds until step 25 + 40.
  script.better = 2;
  decisions = drive(c, machines, step, 50);
  std::int64_t rescaledAt = -1;
  for (const auto& d : decisions) {
    if (d.action == Action::kRescale) {
      rescaledAt = d.step;
      break;
    }
    EXPECT_NE(d.reason.find("cooldown"), std::string::npos) << d.reason;
  }
  EXPECT_EQ(rescaledAt, 65);
  EXPECT_EQ(machines, 2);
}

TEST(ControllerTest, AStaleForecastIsProbedBeforeARescale) {
  std::int64_t step = 0;
  Script script;
  script.now = &step;
  script.better = 8;
  script.from = 25;
  auto o = targetOptions();
  o.refitEverySteps = 5;
  o.probeBudgetFraction = 1;  // room for a probe
  Controller c(o, script.forecaster());
  measureThree(c);  // m = 8 was last measured 36 steps before step 25
  int machines = 4;
  const auto decisions = drive(c, machines, step, 26);
  ASSERT_FALSE(decisions.empty());
  EXPECT_EQ(decisions.back().step, 25);
  EXPECT_EQ(decisions.back().action, Action::kProbe) << decisions.back().reason;
  EXPECT_EQ(decisions.back().toWorldSize, 8);
  EXPECT_NE(decisions.back().reason.find("measured long ago"), std::string::npos);
}

// A scripted forecaster: `one(m, measured, extra, countsMeasured)` gives each
// candidate's forecast, `extra` being the rescale cost for m other than the
// current count and `countsMeasured` how many counts the rows hold.
Controller::Forecaster scripted(
    std::function<CandidateForecast(int, bool, double, std::size_t)> one) {
  return [one](const std::vector<TraceRow>& rows, int current, double, double, double cost,
               const std::vector<int>& candidates) {
    std::set<int> measured;
    for (const auto& r : rows) measured.insert(static_cast<int>(r.machines));
    std::vector<CandidateForecast> out;
    for (int m : candidates) {
      out.push_back(one(m, measured.count(m) > 0, m == current ? 0 : cost, measured.size()));
    }
    return out;
  };
}

// Before any step the run moves to the first count (firstCountFromBounds);
// a run that has iterations chose its count already.
TEST(ControllerTest, TheFirstDecisionMovesToTheFirstCountBeforeAnyStep) {
  auto o = targetOptions();
  o.maxWorkers = 64;
  o.algorithm = Algorithm::kCocoa;
  const int first = firstCountFromBounds(1, 64, slopeBoundsFor(Algorithm::kCocoa));
  ASSERT_NE(first, 64);
  Controller c(o, scripted([](int m, bool, double extra, std::size_t) {
                 return forecast(m, 100 + extra, 90, 110 + extra);
               }));
  EXPECT_EQ(c.firstCount(), first);
  const auto d = c.decide(0, 64);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->action, Action::kRescale);
  EXPECT_EQ(d->toWorldSize, first);
  EXPECT_NE(d->reason.find("the first count"), std::string::npos) << d->reason;
  Controller started(o);
  started.observeIteration(64, 0, 1.0, 1.0);
  const auto later = started.decide(1, 64);
  ASSERT_TRUE(later.has_value());
  EXPECT_NE(later->reason.find("the first count"), 0u) << later->reason;
  EXPECT_EQ(later->toWorldSize == 64 || later->action == Action::kProbe, true) << later->reason;
}

// The same forecasts, scaled: every unmeasured count might be 3x faster or
// slower than the measured one (median 20% slower). A rescale costs 1 s and
// an iteration 1 s. With 5 s left no probe can pay for itself; with 500 s
// left probing the best candidate does.
TEST(ControllerTest, AShortJobIsNotProbedPastItsPredictedEnd) {
  for (const double left : {5.0, 500.0}) {
    auto o = targetOptions();
    o.refitEverySteps = 1;
    Controller c(o, scripted([left](int m, bool measured, double extra, std::size_t) {
                   if (measured) return forecast(m, left + extra, 0.95 * left, 1.05 * left + extra);
                   return forecast(m, 1.2 * left + extra, 0.4 * left, 3.6 * left + extra);
                 }));
    int machines = 4;
    c.observeIteration(machines, 0, 1.0, 1.0);
    std::vector<int> probes;
    for (std::int64_t step = 1; step < 6; ++step) {
      if (auto d = c.decide(step, machines)) {
        if (d->action == Action::kProbe) probes.push_back(d->toWorldSize);
        machines = d->toWorldSize;
      }
      c.observeIteration(machines, step, 1.0, 1.0);
    }
    if (left < 10) {
      EXPECT_TRUE(probes.empty()) << "probed " << probes.size() << " counts with 5 s left";
      EXPECT_EQ(c.probeSeconds(), 0.0);
    } else {
      EXPECT_FALSE(probes.empty()) << "a long job explores";
    }
  }
}

// The probe goes where the expected improvement beats the expected cost by
// most: here m = 32, whose forecast is the most uncertain and the best. At
// the probe's end the run goes to the best measured count by its point
// forecast (2), although no pessimistic gain would move it.
TEST(ControllerTest, TheProbeWorthMostIsMadeThenTheBestMeasuredWins) {
  auto o = targetOptions();
  o.maxWorkers = 64;
  o.probeBudgetFraction = 10;  // the bound allows every probe here
  o.algorithm = Algorithm::kCocoa;
  Controller c(o, scripted([](int m, bool measured, double extra, std::size_t) {
                 if (measured) return forecast(m, 100 + m + extra, 50 + m, 200 + m + extra);
                 if (m == 32) return forecast(m, 90 + extra, 20, 400);
                 return forecast(m, 300, 280, 320);
               }));
  int machines = 2;
  c.observeIteration(2, 0, 1.0, 1.0);
  std::vector<int> probes;
  std::vector<std::string> ends;
  for (std::int64_t step = 1; step < 20; ++step) {
    if (auto d = c.decide(step, machines)) {
      if (d->action == Action::kProbe) probes.push_back(d->toWorldSize);
      if (d->action == Action::kRescale) ends.push_back(d->reason);
      machines = d->toWorldSize;
    }
    c.observeIteration(machines, step, 1.0, 1.0);
  }
  EXPECT_EQ(probes, (std::vector<int>{32}));
  EXPECT_EQ(machines, 2);
  ASSERT_EQ(ends.size(), 1u);
  EXPECT_NE(ends[0].find("the probe on m = 32 ended"), std::string::npos) << ends[0];
}

// A probe ends after minProbeSteps once its timed steps agree within 10%,
// else at probeSteps.
TEST(ControllerTest, AProbeEndsAsSoonAsItsSpeedIsKnown) {
  for (const bool noisy : {false, true}) {
    auto o = targetOptions();
    o.minProbeSteps = 3;
    o.probeSteps = 7;
    o.probeBudgetFraction = 10;
    Controller c(o, scripted([](int m, bool measured, double extra, std::size_t) {
                   if (measured) return forecast(m, 1000 + extra, 900, 1100 + extra);
                   return forecast(m, 600 + extra, 100, 3000);
                 }));
    int machines = 4;
    c.observeIteration(4, 0, 1.0, 1.0);
    std::int64_t probeAt = -1, endAt = -1;
    for (std::int64_t step = 1; step < 20 && endAt < 0; ++step) {
      if (auto d = c.decide(step, machines)) {
        if (d->action == Action::kProbe && probeAt < 0) {
          probeAt = step;
        } else if (probeAt >= 0) {
          endAt = step;
        }
        machines = d->toWorldSize;
      }
      const double seconds = noisy && step % 2 == 0 ? 2.0 : 1.0;
      c.observeIteration(machines, step, 1.0, seconds);
    }
    ASSERT_GE(probeAt, 0);
    EXPECT_EQ(endAt - probeAt, noisy ? 7 : 3) << (noisy ? "noisy" : "steady") << " times";
  }
}

// Earlier runs of the job measured m = 2, 4 and 8, and 4 is best: the run
// starts there and probes nothing; their rescale cost is the run's.
TEST(ControllerTest, APriorRunSkipsProbesAndStartsOnTheRecommendedCount) {
  auto o = targetOptions();
  o.refitEverySteps = 1;
  Controller c(o, scripted([](int m, bool measured, double extra, std::size_t) {
                 // Counts between and beyond the measured ones: interpolated.
                 if (!measured) return forecast(m, 80 + extra, 60, 110 + extra);
                 const double v = m == 4 ? 50 : 100;
                 return forecast(m, v + extra, 0.9 * v, 1.1 * v + extra);
               }));
  std::int64_t i = 0;
  for (int m : {8, 2, 4}) {
    for (int k = 0; k < 10; ++k) c.observePriorIteration(m, i++, 1.0 / (1 + i), 1.0);
  }
  c.observePriorRescale(0.3);
  EXPECT_DOUBLE_EQ(c.rescaleCostSeconds(), 0.3);
  EXPECT_EQ(c.elapsedSeconds(), 0.0);
  EXPECT_EQ(c.firstCount(), 4);
  int machines = 16;
  int probes = 0;
  for (std::int64_t step = 0; step < 30; ++step) {
    if (auto d = c.decide(step, machines)) {
      probes += d->action == Action::kProbe;
      machines = d->toWorldSize;
    }
    c.observeIteration(machines, step, 1.0, 1.0);
  }
  EXPECT_EQ(probes, 0);
  EXPECT_EQ(machines, 4);
  EXPECT_THROW(c.observePriorIteration(2, 0, 1.0, 1.0), std::logic_error);
}

// Once the trainer judges the target reached, one "stop" decision ends the
// table, even within a probe; nothing follows it.
TEST(ControllerTest, TheDecisionTableEndsWithTheStopRow) {
  auto o = targetOptions();
  o.targetLoss = 0.5;
  o.refitEverySteps = 1;
  Controller c(o, scripted([](int m, bool, double extra, std::size_t) {
                 return forecast(m, 100 + extra, 90, 110 + extra);
               }));
  c.observeIteration(4, 0, 0.4, 1.0);  // one batch below the target: not the judgment
  ASSERT_FALSE(c.judge(0.6));
  auto d = c.decide(1, 4);
  ASSERT_TRUE(d.has_value());
  EXPECT_NE(d->action, Action::kStop);
  EXPECT_TRUE(c.judge(0.45));
  d = c.decide(2, 4);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->action, Action::kStop);
  EXPECT_STREQ(actionName(d->action), "stop");
  EXPECT_EQ(d->toWorldSize, 4);
  EXPECT_NE(d->reason.find("0.45"), std::string::npos) << d->reason;
  for (std::int64_t step = 3; step < 40; ++step) EXPECT_FALSE(c.decide(step, 4).has_value());
}

// Failover: a new rank 0 restores the old one's memory and decides from
// where it stopped: the same probes done, cooldown and rescale costs, and
// from then on the same decisions on the same observations.
TEST(ControllerTest, ARestoredMemoryDecidesWhereTheOldControllerStopped) {
  auto o = targetOptions();
  o.maxWorkers = 64;
  o.probeBudgetFraction = 10;
  const auto forecaster = scripted([](int m, bool measured, double extra, std::size_t) {
    if (measured) return forecast(m, 100 + m + extra, 60 + m, 150 + m + extra);
    return forecast(m, 70 + extra, 20, 300);
  });
  Controller old(o, forecaster);
  int machines = 8;
  std::int64_t step = 0;
  for (; step < 25; ++step) {
    if (auto d = old.decide(step, machines)) {
      if (d->toWorldSize != machines) old.observeRescale(0.2 + 0.1 * step);
      machines = d->toWorldSize;
    }
    old.observeIteration(machines, step, 1.0 / (1 + step), 1.0);
  }
  ASSERT_GT(old.probeSeconds(), 0) << "the test needs probes before the failover";
  Controller fresh(o, forecaster);
  fresh.restore(old.memory());
  EXPECT_EQ(fresh.probeSeconds(), old.probeSeconds());
  EXPECT_EQ(fresh.elapsedSeconds(), old.elapsedSeconds());
  EXPECT_EQ(fresh.rescaleCostSeconds(), old.rescaleCostSeconds());
  EXPECT_NE(fresh.rescaleCostSeconds(), o.defaultRescaleCostSeconds);
  EXPECT_EQ(fresh.memory(), old.memory());
  for (; step < 60; ++step) {
    auto a = old.decide(step, machines);
    auto b = fresh.decide(step, machines);
    ASSERT_EQ(a.has_value(), b.has_value()) << "step " << step;
    if (a) {
      EXPECT_EQ(a->action, b->action) << a->reason << " | " << b->reason;
      EXPECT_EQ(a->toWorldSize, b->toWorldSize);
      EXPECT_EQ(a->reason, b->reason);
      machines = a->toWorldSize;
    }
    old.observeIteration(machines, step, 1.0 / (1 + step), 1.0);
    fresh.observeIteration(machines, step, 1.0 / (1 + step), 1.0);
  }
  std::vector<double> cut = old.memory();
  cut.resize(cut.size() / 2);
  EXPECT_THROW(fresh.restore(cut), std::invalid_argument);
  EXPECT_THROW(fresh.restore({7, 0, 0}), std::invalid_argument);
}

TEST(ControllerTest, ProbesStopWithinTheirBound) {
  std::int64_t step = 0;
  auto o = targetOptions();
  o.maxWorkers = 64;
  o.probeBudgetFraction = 0.25;
  // The model always prefers a count it has not measured, uncertain enough
  // to be worth a probe, and says about a minute is left: probing stops as
  // the bound (a quarter of elapsed + remaining) fills.
  Controller c(o, scripted([](int m, bool measured, double extra, std::size_t) {
                 const double v = (measured ? 100.0 : 60.0) + extra;
                 return measured ? forecast(m, v, v, v) : forecast(m, v, 10, 200);
               }));
  int machines = 8;
  c.observeIteration(machines, step++, 1.0, 1.0);
  int probes = 0;
  for (; step < 120; ++step) {
    const double spentBefore = c.probeSeconds(), elapsedBefore = c.elapsedSeconds();
    if (auto d = c.decide(step, machines)) {
      if (d->action == Action::kProbe) {
        ++probes;
        double best = INFINITY;
        for (const auto& cand : d->candidates) best = std::min(best, *cand.remainingSeconds);
        // 3 steps of 1 s and a rescale (1 s) must fit the bound.
        EXPECT_LE(spentBefore + 4.0, o.probeBudgetFraction * (elapsedBefore + best) + 1e-9)
            << d->reason;
      }
      machines = d->toWorldSize;
    }
    c.observeIteration(machines, step, 1.0, 1.0);
  }
  EXPECT_GE(probes, 2);
  EXPECT_LE(c.probeSeconds(), o.probeBudgetFraction * (c.elapsedSeconds() + 60) + 4);
}

// m = 8 is best by far; a switch predicts the metric at 1e-3 three steps later.
std::vector<CandidateForecast> eightIsBetter(const std::vector<TraceRow>&, int current, double,
                                             double, double cost, const std::vector<int>& ms) {
  std::vector<CandidateForecast> out;
  for (int m : ms) {
    const double v = (m == 8 ? 10.0 : 50.0) + (m == current ? 0 : cost);
    auto f = forecast(m, v, v * 0.9, v * 1.1);
    f.log10AfterCheck = -3;
    out.push_back(f);
  }
  return out;
}

TEST(ControllerTest, RevertsWhenTheLossLeavesThePredictedBand) {
  std::int64_t step = 0;
  auto o = targetOptions();
  o.refitEverySteps = 5;
  o.cooldownSteps = 0;
  o.continuitySteps = 3;
  o.continuityDecades = 0.5;
  o.probeBudgetFraction = 0;
  Controller c(o, eightIsBetter);
  measureThree(c);
  int machines = 4;
  auto decisions = drive(c, machines, step, 1, 1e-3);
  ASSERT_EQ(decisions.size(), 1u);
  ASSERT_EQ(decisions[0].action, Action::kRescale);
  ASSERT_EQ(machines, 8);
  // The metric jumps to 1e-1, two decades above the prediction.
  decisions = drive(c, machines, step, 2, 1e-1);
  EXPECT_TRUE(decisions.empty());
  decisions = drive(c, machines, step, 1, 1e-1);
  ASSERT_EQ(decisions.size(), 1u);
  EXPECT_EQ(decisions[0].action, Action::kRescale);
  EXPECT_EQ(decisions[0].toWorldSize, 4);
  EXPECT_NE(decisions[0].reason.find("loss continuity"), std::string::npos) << decisions[0].reason;
  // m = 8 is not offered again.
  decisions = drive(c, machines, step, 20, 1e-1);
  for (const auto& d : decisions) {
    EXPECT_NE(d.toWorldSize, 8) << d.reason;
    for (const auto& cand : d.candidates) EXPECT_NE(cand.machines, 8);
  }
}

TEST(ControllerTest, WithinBandTheRescaleStands) {
  std::int64_t step = 0;
  auto o = targetOptions();
  o.refitEverySteps = 5;
  o.continuitySteps = 3;
  o.probeBudgetFraction = 0;
  Controller c(o, eightIsBetter);
  measureThree(c);
  int machines = 4;
  drive(c, machines, step, 1, 1e-3);
  ASSERT_EQ(machines, 8);
  const auto decisions = drive(c, machines, step, 10, 2e-3);  // 0.3 decades above: within
  for (const auto& d : decisions) EXPECT_NE(d.action, Action::kRescale) << d.reason;
  EXPECT_EQ(machines, 8);
}

TEST(ControllerTest, RefusesImpossibleSettings) {
  auto o = targetOptions();
  o.maxWorkers = 0;
  EXPECT_THROW(Controller{o}, std::invalid_argument);
  o = targetOptions();
  o.targetLoss.reset();
  EXPECT_THROW(Controller{o}, std::invalid_argument);
  o = targetOptions();
  o.targetLoss.reset();
  o.timeBudgetSeconds = 10;
  o.pricePerMachineHour = 1;
  EXPECT_THROW(Controller{o}, std::invalid_argument);
  Controller c(targetOptions());
  EXPECT_THROW(c.observeIteration(2, 0, NAN, 1), std::invalid_argument);
}

// The models themselves: iterations to the target grow linearly with m
// (CoCoA-like) and f falls then rises. From a cold start the fitted models
// bring the run to the best count of the ladder or its neighbour.
TEST(ControllerTest, FittedModelsFindTheBestCountFromAColdStart) {
  const auto f = [](double m) { return 0.02 + 1.5 / m + 0.01 * std::log(m) + 0.02 * m; };
  // log10 of the metric falls by 0.2 / m^0.8 decades per iteration.
  const auto rate = [](double m) { return 0.2 / std::pow(m, 0.8); };
  // Time to 1e-12 from 1: 12 / rate(m) * f(m); the best m.
  int best = 1;
  for (int m = 1; m <= 64; ++m) {
    if (12 / rate(m) * f(m) < 12 / rate(best) * f(best)) best = m;
  }
  ControllerOptions o;
  o.algorithm = Algorithm::kCocoa;
  o.metric = Metric::kGap;
  o.targetLoss = 1e-12;
  o.minWorkers = 1;
  o.maxWorkers = 64;
  o.refitEverySteps = 5;
  Controller c(o);
  int machines = 64;
  double log10y = 0;
  double elapsed = 0;
  for (std::int64_t step = 0; log10y > -12 && step < 5000; ++step) {
    if (auto d = c.decide(step, machines)) {
      if (d->toWorldSize != machines) {
        c.observeRescale(0.05);
        elapsed += 0.05;
      }
      machines = d->toWorldSize;
    }
    log10y -= rate(machines);
    elapsed += f(machines);
    c.observeIteration(machines, step, std::pow(10.0, log10y), f(machines));
  }
  ASSERT_LE(log10y, -12);
  const double bestTime = 12 / rate(best) * f(best);
  EXPECT_LE(elapsed, 1.5 * bestTime) << "best static m = " << best << " takes " << bestTime
                                     << " s; the run ended on m = " << machines;
  EXPECT_LE(std::abs(std::log2(double(machines) / best)), 1.0)
      << "ended on m = " << machines << ", best " << best;
}

// The same plant with a time budget and no target: the run ends with a lower
// metric than staying on the machine count it started with.
TEST(ControllerTest, ABudgetGoalEndsLowerThanStayingPut) {
  const auto f = [](double m) { return 0.02 + 1.5 / m + 0.01 * std::log(m) + 0.02 * m; };
  const auto rate = [](double m) { return 0.2 / std::pow(m, 0.8); };
  const double budget = 60;
  double staying = 0;
  for (double t = f(64); t <= budget; t += f(64)) staying -= rate(64);
  ControllerOptions o;
  o.algorithm = Algorithm::kCocoa;
  o.metric = Metric::kGap;
  o.timeBudgetSeconds = budget;
  o.minWorkers = 1;
  o.maxWorkers = 64;
  o.refitEverySteps = 5;
  Controller c(o);
  int machines = 64;
  double log10y = 0, elapsed = 0;
  for (std::int64_t step = 0; step < 100000; ++step) {
    if (auto d = c.decide(step, machines)) {
      if (d->toWorldSize != machines) {
        c.observeRescale(0.05);
        elapsed += 0.05;
      }
      machines = d->toWorldSize;
    }
    if (elapsed + f(machines) > budget) break;
    log10y -= rate(machines);
    elapsed += f(machines);
    c.observeIteration(machines, step, std::pow(10.0, log10y), f(machines));
  }
  EXPECT_LT(log10y, staying - 1) << "adaptive ended on m = " << machines;
}

TEST(DecisionRecordTest, TheJsonHoldsTheSchemaFields) {
  Decision d;
  d.step = 12;
  d.worldSize = 4;
  d.action = Action::kRescale;
  d.toWorldSize = 8;
  d.reason = "why";
  d.rescaleCostSeconds = 0.25;
  d.candidates = {forecast(4, 10, 9, 11), forecast(8, 6, 5, 7)};
  CandidateForecast never;
  never.machines = 1;
  d.candidates.push_back(never);
  const auto j = nlohmann::json::parse(hooks::toJson(toRecord(d)));
  EXPECT_EQ(j.at("event"), "decision");
  EXPECT_EQ(j.at("step"), 12);
  EXPECT_EQ(j.at("world_size"), 4);
  EXPECT_EQ(j.at("action"), "rescale");
  EXPECT_EQ(j.at("to_world_size"), 8);
  EXPECT_EQ(j.at("reason"), "why");
  EXPECT_DOUBLE_EQ(j.at("rescale_cost_s").get<double>(), 0.25);
  ASSERT_EQ(j.at("candidates").size(), 3u);
  EXPECT_EQ(j.at("candidates")[1].at("m"), 8);
  EXPECT_DOUBLE_EQ(j.at("candidates")[1].at("predicted_remaining_s").get<double>(), 6);
  EXPECT_DOUBLE_EQ(j.at("candidates")[1].at("interval")[0].get<double>(), 5);
  EXPECT_DOUBLE_EQ(j.at("candidates")[1].at("interval")[1].get<double>(), 7);
  EXPECT_TRUE(j.at("candidates")[2].at("predicted_remaining_s").is_null());
  EXPECT_TRUE(j.at("candidates")[2].at("interval").is_null());
  EXPECT_FALSE(j.contains("simulated_s"));
}

// A decision reads a bounded share of a long run: the newest iterations and
// the newest of every machine count measured, in order, however long ago.
TEST(ControllerTest, ForecastsReadBoundedRowsOfALongRun) {
  auto o = targetOptions();
  o.maxWorkers = 8;
  o.probeBudgetFraction = 0;
  std::size_t largest = 0;
  std::set<int> seenCounts;
  bool ordered = true;
  Controller c(o, [&](const std::vector<TraceRow>& rows, int current, double, double, double,
                      const std::vector<int>& candidates) {
    largest = std::max(largest, rows.size());
    seenCounts.clear();
    for (std::size_t k = 0; k < rows.size(); ++k) {
      seenCounts.insert(static_cast<int>(rows[k].machines));
      if (k > 0 && rows[k].iteration <= rows[k - 1].iteration) ordered = false;
    }
    std::vector<CandidateForecast> out;
    for (int m : candidates) out.push_back(forecast(m, m == current ? 100 : 200, 90, 300));
    return out;
  });
  // 300 iterations on 2 machines, then 20,000 on 4 (the forecast never
  // prefers another count).
  for (std::int64_t step = 0; step < 20300; ++step) {
    const int machines = step < 300 ? 2 : 4;
    c.decide(step, machines);
    c.observeIteration(machines, step, 1.0 / (step + 1), 0.01);
  }
  EXPECT_LE(largest, Controller::kRecentRows + 2 * Controller::kRowsPerMachineCount);
  EXPECT_EQ(seenCounts, (std::set<int>{2, 4})) << "m = 2 ran 20,000 iterations ago";
  EXPECT_TRUE(ordered);
}

}  // namespace
}  // namespace hemingway::adaptive
