// One point of a convergence trace: what the models are fitted on, whether
// it comes from a live run's records or from an imported trace file.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace hemingway::adaptive {

struct TraceRow {
  std::string job;  // the job's fingerprint ("" when the source does not say)
  std::string algorithm;
  double machines = 1;
  double iteration = 1;  // 1-based
  double loss = 0;
  std::optional<double> iterSeconds;  // absent for virtual runs
  std::optional<double> gap;          // duality gap of dual methods' iteration records
  double samples = 0;                 // examples per iteration over all workers (step records)
  double size = 1;
};

// A job's configuration (run_start's `config` less the keys that do not
// name a job: hooks/job.h), by job fingerprint.
using JobConfigs = std::map<std::string, std::map<std::string, std::string>>;
// A job's command line (run_start's `command`, the first seen), by fingerprint.
using JobCommands = std::map<std::string, std::vector<std::string>>;

}  // namespace hemingway::adaptive
