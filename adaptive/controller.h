// The adaptive controller: during a run it refits f (Ernest's model) and the
// run's rate of progress from the run's own iterations, forecasts the rest of
// the run from the current state for every candidate machine count
// (forecastFromRun), and rescales only when the pessimistic end of the
// predicted gain beats the measured cost of a rescale by a margin, never
// within a cooldown. It starts on the count with the smallest worst case
// (or, with earlier runs of the job, the best forecast from them) and probes
// an unmeasured count only when the expected improvement of its forecast
// beats the expected cost of trying it (exploration.h). Once the trainer
// judges the target reached, one "stop" decision ends the table. Every
// decision, acted on or not, is returned for the log.
//
// Torch-free and clock-free: it sees machine counts, iterations, the metric
// and seconds, so it drives real workers and virtual workers on a simulated
// clock alike, and its tests script the predictions.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "hemingway/adaptive/fitting.h"
#include "hemingway/adaptive/level_set_curve.h"

namespace hemingway::adaptive {

struct ControllerOptions {
  Algorithm algorithm = Algorithm::kSgd;
  // How the iterations to a level may change with m, when the trainer knows
  // better than the algorithm's bounds (slopeBoundsFor): strong scaling is
  // one optimisation on any m, {0, 0}.
  std::optional<SlopeBounds> slopeBounds;
  SlopeBounds bounds() const { return slopeBounds.value_or(slopeBoundsFor(algorithm)); }
  Metric metric = Metric::kLoss;  // kGap: the duality gap, P* = 0
  // kLoss: a lower bound on the optimum the fit may use (a dual value);
  // estimated from the curves when empty.
  std::optional<double> pStar;
  // Goals: fastest to the target; lowest metric by the budget; with a price,
  // the fewest machine-hours that still meet the target by the budget.
  std::optional<double> targetLoss;
  std::optional<double> timeBudgetSeconds;
  std::optional<double> pricePerMachineHour;
  int minWorkers = 1;
  int maxWorkers = 1;
  int refitEverySteps = 10;  // a decision every K steps (and at each probe's end)
  int cooldownSteps = 20;    // no rescale within this many steps of the last one
  // Act only when the pessimistic gain exceeds the rescale cost by this
  // fraction of the remaining time (of the staying choice).
  double margin = 0.05;
  // The cost of one rescale before the run has measured one.
  double defaultRescaleCostSeconds = 1.0;
  // A probe runs at least minProbeSteps steps (the first settles, the
  // rest are timed) and ends there once their times agree within 10%, else
  // at probeSteps.
  int minProbeSteps = 3;
  int probeSteps = 5;
  // A probe is a decision with a price: the count whose expected
  // improvement over the best measured forecast most exceeds the expected
  // cost of trying it (both rescales and the probe's lost progress when it
  // loses) is probed, and only while the time spent probing stays within
  // this fraction of the predicted run time (elapsed + remaining).
  double probeBudgetFraction = 0.25;
  // Relative spread of a prediction whose model measured none (fewer than
  // three machine counts): [v / (1 + s), v * (1 + s)].
  double unmeasuredSpread = 0.3;
  // After a rescale, the metric must stay within this many decades above
  // the model's prediction (widened by the model's own interval); if not,
  // the controller reverts.
  double continuityDecades = 0.5;
  int continuitySteps = 3;  // steps after a rescale at which continuity is checked
};

// What one candidate machine count would give from now on.
struct CandidateForecast {
  int machines = 1;
  // Seconds from now to the target (target goals) with the rescale cost for
  // m other than the current one; empty when m is not predicted to get there.
  std::optional<double> remainingSeconds;
  std::optional<std::pair<double, double>> interval;  // 80% [low, high]
  // Budget goal: log10 of the metric predicted at the end of the budget.
  std::optional<double> log10AtBudget;
  double secondsPerIteration = 0;
  // Measured, but not near the current level of the curve: its forecast is
  // interpolated again, and a probe may measure it afresh.
  bool stale = false;
  // Continuity: log10(metric - pStar) predicted `continuitySteps` steps after
  // a switch to m, and the P* of that prediction.
  std::optional<double> log10AfterCheck;
  double pStar = 0;
};

// kStop: the target is reached; the last decision of a run.
enum class Action { kStay, kRescale, kProbe, kStop };
// "stay", "rescale", "probe", "stop": the words of the "decision" records.
const char* actionName(Action action);

struct Decision {
  std::int64_t step = 0;  // the next step to run
  int worldSize = 1;
  Action action = Action::kStay;
  int toWorldSize = 1;
  std::string reason;
  double rescaleCostSeconds = 0;
  std::vector<CandidateForecast> candidates;
};

// The pure rule, kept apart so that it can be checked against scripted
// forecasts: given each candidate's forecast (the current count among them),
// the rescale cost and whether the cooldown has passed, stay or rescale.
// Target goals compare remaining seconds: rescale to c only when
// stay.low - c.high > margin * stay.value (c's forecast already holds the
// cost), with a price the machine-hours instead; budget goals compare the
// pessimistic end of c's predicted metric with the optimistic end of stay's.
// At a probe's end (`afterProbe`) the current count was never chosen, so it
// has no claim to stay: among the counts the run has measured (`measured`),
// the best point forecast wins (the rescale cost is in the other candidates'
// forecasts), with no margin and no cooldown.
Decision chooseAction(const std::vector<CandidateForecast>& candidates, int current,
                      double rescaleCostSeconds, bool cooledDown, const ControllerOptions& options,
                      bool afterProbe = false, const std::set<int>& measured = {});

class Controller {
 public:
  // Forecasts every candidate from the run's rows (the default:
  // forecastFromRun). Tests script it. The rows are bounded whatever the
  // run's length: the newest kRecentRows iterations, and before them the
  // newest kRowsPerMachineCount of every machine count the run measured, in
  // the order they ran.
  using Forecaster = std::function<std::vector<CandidateForecast>(
      const std::vector<TraceRow>& rows, int current, double currentMetric, double elapsedSeconds,
      double rescaleCostSeconds, const std::vector<int>& candidates)>;

  explicit Controller(ControllerOptions options, Forecaster forecaster = {});
  static constexpr std::size_t kRecentRows = 400;
  static constexpr std::size_t kRowsPerMachineCount = 256;

  // One finished iteration (0-based `iteration`) on `machines`, its metric
  // and its seconds (measured or simulated).
  void observeIteration(int machines, std::int64_t iteration, double metric, double seconds);
  // One measured rescale (a "regroup" record's total).
  void observeRescale(double seconds);
  // Iterations and rescales of earlier runs of the same job (--prior),
  // before the first live one: they feed the models (a count they hold is
  // measured) but not the run's clock or its current metric.
  void observePriorIteration(int machines, std::int64_t iteration, double metric, double seconds);
  void observePriorRescale(double seconds);
  // The count to start on: the best forecast from the prior's start when
  // earlier runs were observed, else firstCountFromBounds.
  int firstCount() const;
  // The one judgment of "reached": the metric the trainer stops on (an
  // iteration's exact metric, or the mean over all ranks of the last k
  // steps). At or below the target, decide() returns one "stop" decision,
  // then nothing. Returns reached().
  bool judge(double smoothedMetric);
  bool reached() const { return reached_; }
  // The machines the cluster offers now (a scheduler may take some away and
  // give them back): candidates and probes stay at or below it.
  void setCapacity(int machines);
  // Called before step `nextStep` on `machines`: a decision when one is due
  // (every refitEverySteps steps, at a probe's end, at a continuity check).
  std::optional<Decision> decide(std::int64_t nextStep, int machines);

  // What a new rank 0 needs to go on deciding where the old one stopped
  // (failover): the probes done and any probe in flight, the cooldown, the
  // measured rescale costs, the excluded counts and the rows a decision
  // reads, as numbers.
  // restore() throws std::invalid_argument on memory it cannot read.
  std::vector<double> memory() const;
  void restore(const std::vector<double>& memory);

  double rescaleCostSeconds() const;
  double elapsedSeconds() const { return elapsed_; }
  double probeSeconds() const { return probeSeconds_; }
  const std::vector<int>& ladder() const { return ladder_; }
  const ControllerOptions& options() const { return options_; }

  // The default forecaster. f: Ernest's model (SystemModel, NNLS) on the
  // run's timed iterations, the measured median where m was measured. g: the
  // library's forms fit whole curves from iteration 1, but a live run holds
  // stretches on several m that start mid-curve; here the fall of
  // log10(metric - P*) per iteration is fitted as log(rate) = a_m + c * level
  // (c >= 0 shared by all m: linear convergence at c = 0, power laws at
  // c > 0), so stretches measured at different levels compare at the same
  // level. Remaining iterations integrate 1 / rate from the current level to
  // the target. Unmeasured m interpolate a_m in log m, beyond the measured
  // ones with the algorithm's slope bounds (slopeBoundsFor). Intervals:
  // measured m +-(0.1 + 1.28 sigma / sqrt(samples)), others unmeasuredSpread
  // growing with the distance in doublings. Throws when no metric falls yet.
  static std::vector<CandidateForecast> forecastFromRun(const ControllerOptions& options,
                                                        const std::vector<TraceRow>& rows,
                                                        int current, double currentMetric,
                                                        double elapsedSeconds,
                                                        double rescaleCostSeconds,
                                                        const std::vector<int>& candidates);

 private:
  struct ProbeChoice {
    int machines = 1;
    double value = 0;  // expected improvement less expected cost, in the goal's unit
    std::string why;
  };
  std::optional<ProbeChoice> bestProbe(int current,
                                       const std::vector<CandidateForecast>& forecasts) const;
  bool probeSettled(std::int64_t nextStep) const;
  std::optional<Decision> stopOrFirst(Decision d);
  // The parts of decide().
  std::optional<Decision> checkContinuity(Decision d, double metric, std::int64_t nextStep);
  std::optional<Decision> probeIfWorth(Decision d, std::int64_t nextStep,
                                       const std::vector<CandidateForecast>& forecasts,
                                       const std::string& fitProblem);
  Decision settleRescale(Decision chosen, std::int64_t nextStep, int machines,
                         const std::vector<CandidateForecast>& forecasts);
  void startProbe(std::int64_t nextStep);
  void addRow(int machines, std::int64_t iteration, double metric, double seconds);
  std::vector<std::size_t> keptRows() const;  // indices into seen_ a decision reads
  std::vector<TraceRow> fitRows() const;
  std::vector<int> candidateCounts() const;
  std::set<int> measuredCounts() const;  // the machine counts the run has iterations on

  ControllerOptions options_;
  Forecaster forecaster_;
  std::vector<int> ladder_;  // probe machine counts: a doubling ladder over [min, max]
  struct Seen {
    int machines;
    std::int64_t iteration;
    double metric;
    double seconds;
  };
  std::vector<Seen> seen_;
  // Indices into seen_ of the newest kRowsPerMachineCount iterations of each
  // machine count: what a decision reads, so that it costs the same at step
  // 100 and at step 100,000.
  std::map<int, std::deque<std::size_t>> recentByMachines_;
  std::vector<double> rescales_;
  std::size_t priorRows_ = 0;  // seen_ starts with the prior's iterations
  bool modelled_ = false;      // the last decision had forecasts
  bool reached_ = false;
  double reachedMetric_ = 0;
  bool stopped_ = false;
  double elapsed_ = 0;
  double probeSeconds_ = 0;
  std::int64_t lastDecisionStep_ = -1;
  std::int64_t lastRescaleStep_ = -1000000000;
  bool probing_ = false;
  std::int64_t probeStartStep_ = 0;
  std::int64_t probeEndStep_ = 0;
  // Continuity: after a rescale, the predicted log10 metric `continuitySteps`
  // later and the machine count to revert to.
  struct Check {
    std::int64_t atStep;
    double predictedLog10;
    double allowedDecades;
    int revertTo;
    double pStar;
  };
  std::optional<Check> check_;
  int probesDone_ = 0;
  std::set<int> excluded_;  // counts that broke loss continuity
  int capacity_ = 1;
};

}  // namespace hemingway::adaptive
