// hemingway-run: starts N local workers with torchrun-style env, hosts the
// rendezvous store, prefixes their output, and stops them all when one fails,
// naming the rank that failed first and why.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace hemingway::plugin {

struct LaunchOptions {
  int nprocPerNode = 0;  // --nproc-per-node N, or "auto": one worker per CPU core
  int nnodes = 1;
  int nodeRank = 0;
  std::string masterAddr = "127.0.0.1";
  int masterPort = 0;  // 0: pick a free port (single node only)
  // --timeout; unset: the workers' HEMINGWAY_TIMEOUT_SECONDS, else 30 s.
  std::optional<std::chrono::milliseconds> timeout;
  std::chrono::milliseconds grace{5000};  // SIGTERM to SIGKILL
  std::string runId;                      // empty: generated
  std::string logDir;                     // per-rank stdout/stderr files
  int tee = 3;                            // streams also shown on the console (1 out, 2 err)
  bool noPython = false;                  // run a .py program directly, not with python3
  // Elastic runs: --max-workers B starts B processes, --nproc-per-node of
  // which train at first, the others parked (0: not elastic).
  int maxWorkers = 0;
  int minWorkers = 1;                             // --min-workers
  std::string onFailure;                          // --on-failure stop|shrink|replace ("" unset)
  std::chrono::milliseconds heartbeatTimeout{0};  // --heartbeat-timeout (0: none)
  std::vector<std::string> command;               // PROGRAM ARGS...

  // Parses `hemingway-run [flags] -- PROGRAM ARGS...`; throws ConfigError
  // naming the bad flag. Returns false (and fills `help`) for --help.
  static bool parse(int argc, const char* const* argv, LaunchOptions& out, std::string& help);

  // The store and collective timeout the workers use.
  std::chrono::milliseconds effectiveTimeout() const;
};

// Runs the workers to completion. Returns the launcher's exit code: 0 when
// every worker exited 0, otherwise the code of the rank that failed first
// (128+signal for a signal), after stopping the others.
int launch(const LaunchOptions& options);

}  // namespace hemingway::plugin
