// The records Hemingway writes: one per step per rank, one run_start per rank.
// Field names map one-to-one to the JSON Lines schema in hooks/README.md.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace hemingway::hooks {

// One training step on one rank. Times are wall-clock milliseconds measured
// with a monotonic clock; `time` is the unix time (seconds) at the step's end.
struct StepRecord {
  std::string run;
  int rank = 0;
  int worldSize = 1;
  std::int64_t step = 0;
  double stepMs = 0;         // whole step, start of scope to its end
  double computeMs = 0;      // stepMs - exposedCommMs
  double commMs = 0;         // wall time with at least one allreduce in flight
  double exposedCommMs = 0;  // time the rank was blocked waiting on communication
  std::optional<double> loss;
  std::int64_t samples = 0;
  double time = 0;
  int generation = 0;  // membership generation (elastic runs change it)
  // The scaling rule's effect on this step (Step::setOptimization): the
  // learning rate in use and the examples of the step over all ranks.
  std::optional<double> lr;
  std::optional<std::int64_t> globalBatch;
};

// One membership change of an elastic run, written by the new rank 0.
struct RegroupRecord {
  std::string run;
  int generation = 0;  // the new generation
  int fromWorldSize = 0;
  int toWorldSize = 0;
  std::int64_t step = 0;  // the first step the new membership trains
  std::string cause;      // "request", "controller" or "failure"
  double agreeMs = 0;     // agreeing on the new membership and the step
  double formMs = 0;      // forming the new Gloo group
  double stateMs = 0;     // moving the training state to the new members
  double totalMs = 0;     // the training stall, first to last of these phases
  std::int64_t stateBytes = 0;
  // A virtual run's rescale on a simulated cluster: total_ms is the
  // simulated cost, not a measurement (stamped from the recorder's clock).
  bool simulated = false;
  double time = 0;
};

// The end of a run on one rank: the committed steps and a checksum of the
// parameters (equal on every rank of a correct data-parallel run).
struct RunEndRecord {
  std::string run;
  int rank = 0;
  int worldSize = 1;
  int generation = 0;
  std::int64_t steps = 0;
  std::string paramChecksum;
  double time = 0;
};

// One decision of the adaptive controller (adaptive/controller.h), written by
// rank 0 at every refit whether it acts or not.
struct DecisionCandidate {
  int machines = 1;
  std::optional<double> predictedRemainingS;  // to the target; empty when never
  std::optional<double> low, high;            // its 80% interval
  std::optional<double> log10AtBudget;        // budget goals: log10 of the metric at the budget
};
struct DecisionRecord {
  std::string run;
  std::int64_t step = 0;  // the next step to run
  int worldSize = 1;
  std::string action;  // "stay", "rescale", "probe" or "stop"
  int toWorldSize = 1;
  std::string reason;
  double rescaleCostS = 0;
  std::vector<DecisionCandidate> candidates;
  std::optional<double> simulatedS;  // a simulated cluster's clock at the decision
  double time = 0;
};

// The configuration of a run, written once per rank before the first step.
struct RunInfo {
  std::string run;
  int rank = 0;
  int worldSize = 1;
  std::string algorithm;
  std::int64_t parameterCount = 0;
  std::int64_t parameterBytes = 0;
  std::int64_t datasetSize = 0;
  std::string host;
  double time = 0;
  // The job's configuration, written as `config` (strings) with its `job`
  // fingerprint (hooks/job.h).
  std::map<std::string, std::string> extra;
  // The program's command line (argv), written as `command`: what
  // hemingway-report prints as the next runs to make.
  std::vector<std::string> command;
};

// One outer iteration of a distributed optimization algorithm (written once
// per iteration by rank 0). In a virtual run the times are not measurements
// and stay empty.
struct IterationRecord {
  std::string run;
  int rank = 0;
  int worldSize = 1;  // machines m (logical workers in a virtual run)
  std::int64_t iteration = 0;
  std::string algorithm;
  double primal = 0;
  std::optional<double> dual;  // dual methods only
  std::optional<double> gap;   // primal - dual, dual methods only
  std::optional<double> iterMs;
  std::optional<double> computeMs;
  std::optional<double> commMs;
  // Stamped from the recorder's clock (hooks/run_clock.h): virtual off the
  // wall clock; on a simulated cluster (--cluster-model) the simulated
  // seconds since the start of the run at the end of this iteration.
  bool isVirtual = false;
  std::optional<double> simulatedS;
  double time = 0;
};

}  // namespace hemingway::hooks
