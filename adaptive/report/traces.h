// Traces for hemingway-report: per-iteration loss and time of each
// (algorithm, m), read from Hemingway's JSON Lines logs or from a CSV of
// imported traces with the header algorithm,m,iteration,loss,iter_seconds[,size].
#pragma once

#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace hemingway::adaptive {

struct TraceRow {
  std::string algorithm;
  double machines = 1;
  double iteration = 1;  // 1-based
  double loss = 0;
  std::optional<double> iterSeconds;  // absent for virtual runs
  std::optional<double> gap;          // duality gap of dual methods' iteration records
  double samples = 0;                 // examples per iteration over all workers (step records)
  double size = 1;
};

// A bad input file; the message names the file, the line and the problem.
class TraceError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Step records (one per rank: loss averaged over ranks, time the slowest
// rank's) and iteration records (rank 0). A torn last line is skipped; any
// other unparsable line, or a NaN or infinite loss, is a TraceError.
std::vector<TraceRow> readJsonlTraces(const std::string& path);
std::vector<TraceRow> readCsvTraces(const std::string& path);

}  // namespace hemingway::adaptive
