// Traces for hemingway-report: per-iteration loss and time of each
// (algorithm, m), read from Hemingway's JSON Lines logs or from a CSV of
// imported traces with the header algorithm,m,iteration,loss,iter_seconds[,size].
#pragma once

#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "hemingway/adaptive/trace.h"

namespace hemingway::adaptive {

// A bad input file; the message names the file, the line and the problem.
class TraceError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Step records (one per rank: loss averaged over ranks, time the slowest
// rank's) and iteration records (rank 0). A torn last line is skipped; any
// other unparsable line, or a NaN or infinite loss, is a TraceError.
// Each row carries its run's job fingerprint: run_start's `job`, or one made
// from its `config` (hooks/job.h); `configs`, when given, receives each job's
// configuration.
std::vector<TraceRow> readJsonlTraces(const std::string& path, JobConfigs* configs = nullptr,
                                      JobCommands* commands = nullptr);
std::vector<TraceRow> readCsvTraces(const std::string& path);

// What earlier runs of one job tell a new run of it (--prior): the rows of
// `algorithm` on job `job` (readJsonlTraces) and the measured rescales
// (regroup records' total_ms, in seconds) of those runs. A TraceError when
// the file holds no iteration or step of that job.
struct PriorRuns {
  std::vector<TraceRow> rows;
  std::vector<double> rescaleSeconds;
};
PriorRuns readPrior(const std::string& path, const std::string& job, const std::string& algorithm);

// An adaptive run's course: its metric against time (simulated seconds on a
// simulated cluster, else seconds since run_start) and the controller's
// "decision" records.
struct TimelinePoint {
  double seconds = 0;
  int machines = 1;
  double loss = 0;  // the primal objective, or the step loss (rank 0)
  std::optional<double> gap;
};
struct TimelineDecision {
  double seconds = 0;
  long long step = 0;
  int worldSize = 1;
  std::string action;
  int toWorldSize = 1;
  std::string reason;
  double rescaleCostS = 0;
};
struct Timeline {
  std::string run;
  std::string algorithm;
  bool simulated = false;
  std::vector<TimelinePoint> points;
  std::vector<TimelineDecision> decisions;
};
// The runs of `path` that hold decision records (lines that do not parse are
// skipped: readJsonlTraces has judged the file already).
std::vector<Timeline> readTimelines(const std::string& path);

}  // namespace hemingway::adaptive
