// From trace rows to the models the planner uses: one composite model per
// (job, algorithm). hemingway-report and the adaptive controller both call
// fitModels, so they see the same models from the same records.
#pragma once

#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "hemingway/adaptive/planner.h"
#include "hemingway/adaptive/trace.h"

namespace hemingway::adaptive {

enum class Metric {
  kLoss,  // the loss (primal objective of the linear methods, training loss of a module)
  kGap,   // the duality gap of the dual methods (P* = 0)
};

struct FitOptions {
  Metric metric = Metric::kLoss;
  std::optional<double> pStar;  // kLoss: a known optimum; estimated when empty
  // Fit rows of different jobs of one algorithm together (off: refused).
  bool pool = false;
};

// Why the records cannot be fitted as asked: several jobs of one algorithm,
// jobs of different problems, too few machine counts, no gap records, ...
// The message says what to do.
class FitError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct FittedModel {
  std::string job;  // "" when pooled or unknown
  CompositeModel model;
  std::set<double> machines;              // machine counts with loss records
  std::map<double, double> longestTrace;  // iterations recorded per machine count
  double smallestLoss = 0;                // of the fitted metric
  // False with times at a single machine count: f cannot separate computation
  // from communication, and only the measured m can be planned (a one-run
  // answer: the forward prediction there, and probes to run next).
  bool systemIdentifiable = true;
};

// The cheapest runs that make f identifiable and g's held-out error
// measurable (Ernest's experiment design, cut to what the runs lack): the
// machine counts to add and how many iterations each.
struct Probe {
  double machines = 1;
  double iterations = 0;
};
std::vector<Probe> nextProbes(const FittedModel& fitted);

// Groups `rows` by (job, algorithm) and fits f and g of each. Throws FitError
// when one algorithm has rows of several jobs (naming the configuration keys
// that differ; FitOptions::pool fits them together) or when two algorithms'
// jobs disagree on a setting both use (a different loss or data set: their
// curves are not comparable), and when a model cannot be fitted.
std::vector<FittedModel> fitModels(const std::vector<TraceRow>& rows, const JobConfigs& configs,
                                   const FitOptions& options);

// "lr (0.05 vs 0.1), batch_size (64 vs 128)": the keys whose values differ
// (a key missing on one side counts as "-").
std::string differingKeys(const std::map<std::string, std::string>& a,
                          const std::map<std::string, std::string>& b, bool bothUsed);

}  // namespace hemingway::adaptive
