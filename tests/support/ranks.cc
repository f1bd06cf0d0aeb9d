#include "support/ranks.h"

#include <stdlib.h>
#include <sys/wait.h>

#include <cstdio>

#include <exception>
#include <filesystem>
#include <mutex>
#include <thread>
#include <vector>

#include <torch/csrc/distributed/c10d/TCPStore.hpp>

namespace hemingway::testing {

void runRanks(int worldSize, const std::function<void(plugin::ProcessGroup&)>& fn,
              std::chrono::milliseconds timeout) {
  c10d::TCPStoreOptions so;
  so.port = 0;
  so.isServer = true;
  so.waitWorkers = false;
  so.timeout = timeout;
  c10d::TCPStore server("127.0.0.1", so);

  std::mutex mutex;
  std::exception_ptr firstError;
  std::vector<std::thread> threads;
  for (int rank = 0; rank < worldSize; ++rank) {
    threads.emplace_back([&, rank] {
      try {
        plugin::GroupOptions o;
        o.masterAddr = "127.0.0.1";
        o.masterPort = server.getPort();
        o.rank = rank;
        o.worldSize = worldSize;
        o.timeout = timeout;
        o.rank0HostsStore = false;
        o.runId = "test";
        plugin::ProcessGroup group(o);
        fn(group);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mutex);
        if (!firstError) firstError = std::current_exception();
      }
    });
  }
  for (auto& t : threads) t.join();
  if (firstError) std::rethrow_exception(firstError);
}

CommandResult runCommand(const std::string& command) {
  const auto start = std::chrono::steady_clock::now();
  CommandResult r;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) throw std::runtime_error("popen failed: " + command);
  char buf[4096];
  while (std::fgets(buf, sizeof buf, pipe) != nullptr) r.output += buf;
  const int status = ::pclose(pipe);
  r.exitCode = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

TempDir::TempDir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "hemingway-test-XXXXXX").string();
  char* made = ::mkdtemp(pattern.data());
  if (made == nullptr) throw std::runtime_error("mkdtemp failed for " + pattern);
  path_ = made;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

}  // namespace hemingway::testing
