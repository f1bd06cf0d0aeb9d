// hemingway-run: starts N local workers with torchrun-style env, hosts the
// rendezvous store, prefixes their output and stops them all when one fails.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace hemingway::plugin {

struct LaunchOptions {
  int nprocPerNode = 0;
  int nnodes = 1;
  int nodeRank = 0;
  std::string masterAddr = "127.0.0.1";
  int masterPort = 0;                        // 0: pick a free port (single node only)
  std::chrono::milliseconds timeout{30000};  // store timeout passed to workers
  std::chrono::milliseconds grace{5000};     // SIGTERM to SIGKILL
  std::string runId;                         // empty: generated
  std::vector<std::string> command;          // PROGRAM ARGS...

  // Parses `hemingway-run [flags] -- PROGRAM ARGS...`; throws ConfigError
  // naming the bad flag. Returns false (and fills `help`) for --help.
  static bool parse(int argc, const char* const* argv, LaunchOptions& out, std::string& help);
};

// Runs the workers to completion. Returns the launcher's exit code: 0 when
// every worker exited 0, otherwise the first failure's code (128+signal for a
// signal), after stopping the others.
int launch(const LaunchOptions& options);

}  // namespace hemingway::plugin
