// Runs one function per rank, each in its own thread with its own Hemingway
// ProcessGroup over a TCPStore on loopback that the harness hosts.
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include "hemingway/plugin/process_group.h"

namespace hemingway::testing {

// Calls fn(group) on `worldSize` threads with short timeouts. Rethrows the
// first exception a rank raised, after every thread has ended.
void runRanks(int worldSize, const std::function<void(plugin::ProcessGroup&)>& fn,
              std::chrono::milliseconds timeout = std::chrono::seconds(5));

// Runs a shell command, capturing stdout and stderr together.
struct CommandResult {
  int exitCode = -1;
  std::string output;
  double seconds = 0;
};
CommandResult runCommand(const std::string& command);

// Polls `condition` every 10 ms until it holds (true) or `within` passed
// (false): a test waits for what it needs, not for a fixed time.
bool eventually(const std::function<bool()>& condition,
                std::chrono::milliseconds within = std::chrono::seconds(10));

// True once something listens on 127.0.0.1:`port`.
bool listening(int port);

// A fresh empty directory under the system temp dir, removed on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace hemingway::testing
