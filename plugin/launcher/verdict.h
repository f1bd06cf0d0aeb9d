// Which rank failed first, and why. A worker that loses a peer (PeerLostError,
// TimeoutError) is a consequence, not a cause: the cause is the rank that
// failed of its own (an error, a signal, a non-zero exit without a report), or,
// when every failure is a lost peer, the rank that was still running then (it
// hung or stopped). Workers report their error through TORCHELASTIC_ERROR_FILE
// (JSON, torchrun's shape), which Hemingway's tools and PyTorch's @record write.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace hemingway::plugin {

struct WorkerError {
  std::string message;
  std::string kind;  // "peer_lost", "timeout", "config", "error", or "" (unknown)
  bool consequence() const { return kind == "peer_lost" || kind == "timeout"; }
};

// The error a worker wrote to `path`; nullopt when there is none or it is unreadable.
std::optional<WorkerError> readErrorFile(const std::string& path);

struct WorkerOutcome {
  int rank = 0;
  int status = 0;            // waitpid status
  bool stoppedByUs = false;  // still running when the launcher began to stop
  std::chrono::steady_clock::time_point exitedAt;
  std::optional<WorkerError> error;
};

struct Verdict {
  std::optional<int> culprit;  // the rank that failed first; none when all succeeded
  std::string message;         // "rank R failed first: ..."
  int exitCode = 0;
};

Verdict judge(const std::vector<WorkerOutcome>& outcomes);

int exitCodeOf(int status);
// "exited with code 1: <message>" / "was killed by signal 9 (Killed)".
std::string describeExit(int status, const std::optional<WorkerError>& error);

}  // namespace hemingway::plugin
