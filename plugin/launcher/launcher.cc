#include "hemingway/plugin/launcher/launcher.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <optional>
#include <random>

#include <fmt/format.h>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include "hemingway/hooks/error.h"
#include "hemingway/plugin/env.h"

namespace hemingway::plugin {
namespace {

constexpr const char* kUsage =
    "usage: hemingway-run --nproc-per-node N [--nnodes K --node-rank R --master-addr A "
    "--master-port P] [--timeout SECONDS] [--grace SECONDS] [--run-id ID] -- PROGRAM ARGS...\n"
    "\n"
    "Starts N workers on this node with MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE, LOCAL_RANK,\n"
    "LOCAL_WORLD_SIZE set (as torchrun does). Node 0 hosts the rendezvous store. Worker output\n"
    "is prefixed with its rank. When a worker fails, the others get SIGTERM, then SIGKILL after\n"
    "the grace period, and hemingway-run exits non-zero. SIGINT/SIGTERM are forwarded.\n";

int gSignalPipe[2] = {-1, -1};

void onSignal(int sig) {
  const unsigned char byte = static_cast<unsigned char>(sig);
  const int saved = errno;
  [[maybe_unused]] auto n = ::write(gSignalPipe[1], &byte, 1);
  errno = saved;
}

double parseSeconds(const std::string& flag, const std::string& text) {
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(text.c_str(), &end);
  HEMINGWAY_CHECK_AS(ConfigError, !text.empty() && *end == '\0' && errno == 0 && v > 0 && v < 1e6,
                     "{}='{}' is not a positive number of seconds", flag, text);
  return v;
}

struct Worker {
  int rank = 0;
  pid_t pid = -1;
  int outFd = -1;
  int errFd = -1;
  std::string outBuf, errBuf;
  bool running = true;
};

void emit(int fd, int rank, std::string& buf, bool flushAll) {
  std::size_t start = 0;
  for (;;) {
    const auto nl = buf.find('\n', start);
    if (nl == std::string::npos) break;
    const std::string line = fmt::format("[rank {}] {}\n", rank, buf.substr(start, nl - start));
    [[maybe_unused]] auto n = ::write(fd, line.data(), line.size());
    start = nl + 1;
  }
  buf.erase(0, start);
  if (flushAll && !buf.empty()) {
    const std::string line = fmt::format("[rank {}] {}\n", rank, buf);
    [[maybe_unused]] auto n = ::write(fd, line.data(), line.size());
    buf.clear();
  }
}

// Reads what is available; returns false at end of file.
bool drain(int& fd, int outFd, int rank, std::string& buf) {
  char chunk[4096];
  for (;;) {
    const ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n > 0) {
      buf.append(chunk, static_cast<std::size_t>(n));
      emit(outFd, rank, buf, false);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
    emit(outFd, rank, buf, true);
    ::close(fd);
    fd = -1;
    return false;
  }
}

pid_t spawn(const LaunchOptions& o, int localRank, int worldSize, int port,
            const std::string& runId, int outPipe[2], int errPipe[2]) {
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  HEMINGWAY_CHECK(pid >= 0, "fork failed: {}", std::strerror(errno));
  if (pid != 0) return pid;
  // Child: own process group (so the launcher can stop its whole tree) and
  // death with the launcher (so no worker outlives it).
  ::setpgid(0, 0);
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(1);
  ::signal(SIGINT, SIG_DFL);
  ::signal(SIGTERM, SIG_DFL);
  ::dup2(outPipe[1], STDOUT_FILENO);
  ::dup2(errPipe[1], STDERR_FILENO);
  ::close(outPipe[0]);
  ::close(errPipe[0]);
  const int rank = o.nodeRank * o.nprocPerNode + localRank;
  ::setenv("MASTER_ADDR", o.masterAddr.c_str(), 1);
  ::setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
  ::setenv("RANK", std::to_string(rank).c_str(), 1);
  ::setenv("WORLD_SIZE", std::to_string(worldSize).c_str(), 1);
  ::setenv("LOCAL_RANK", std::to_string(localRank).c_str(), 1);
  ::setenv("LOCAL_WORLD_SIZE", std::to_string(o.nprocPerNode).c_str(), 1);
  ::setenv("GROUP_RANK", std::to_string(o.nodeRank).c_str(), 1);
  ::setenv("HEMINGWAY_AGENT_STORE", "1", 1);
  // PyTorch workers (init_process_group with env://) connect to the agent's
  // store as clients under these torchrun variables, as under torchrun.
  ::setenv("TORCHELASTIC_USE_AGENT_STORE", "True", 1);
  ::setenv("TORCHELASTIC_RESTART_COUNT", "0", 1);
  ::setenv("HEMINGWAY_TIMEOUT_SECONDS", fmt::format("{}", o.timeout.count() / 1000.0).c_str(), 1);
  if (!runId.empty()) ::setenv("HEMINGWAY_RUN_ID", runId.c_str(), 1);
  // As torchrun: one intra-op thread per worker unless the user says otherwise.
  if (o.nprocPerNode > 1) ::setenv("OMP_NUM_THREADS", "1", 0);
  std::vector<char*> argv;
  for (const auto& a : o.command) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  ::execvp(argv[0], argv.data());
  const std::string msg =
      fmt::format("hemingway-run: cannot execute '{}': {}\n", o.command[0], std::strerror(errno));
  [[maybe_unused]] auto n = ::write(STDERR_FILENO, msg.data(), msg.size());
  ::_exit(127);
}

int exitCodeOf(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

std::string describe(int status) {
  if (WIFSIGNALED(status)) return fmt::format("was killed by signal {}", WTERMSIG(status));
  return fmt::format("exited with code {}", WEXITSTATUS(status));
}

}  // namespace

bool LaunchOptions::parse(int argc, const char* const* argv, LaunchOptions& out,
                          std::string& help) {
  LaunchOptions o;
  bool sawPort = false;
  int i = 1;
  for (; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--") {
      ++i;
      break;
    }
    if (arg == "-h" || arg == "--help") {
      help = kUsage;
      return false;
    }
    HEMINGWAY_CHECK_AS(ConfigError, arg.rfind("--", 0) == 0,
                       "unexpected argument '{}': put the program after '--'\n{}", arg, kUsage);
    std::string value;
    const auto eq = arg.find('=');
    if (eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
    } else {
      HEMINGWAY_CHECK_AS(ConfigError, i + 1 < argc, "flag {} needs a value\n{}", arg, kUsage);
      value = argv[++i];
    }
    if (arg == "--nproc-per-node" || arg == "--nproc_per_node") {
      o.nprocPerNode = static_cast<int>(parseInt(arg, value, 1, 1024));
    } else if (arg == "--nnodes") {
      o.nnodes = static_cast<int>(parseInt(arg, value, 1, 65536));
    } else if (arg == "--node-rank" || arg == "--node_rank") {
      o.nodeRank = static_cast<int>(parseInt(arg, value, 0, 65535));
    } else if (arg == "--master-addr" || arg == "--master_addr") {
      HEMINGWAY_CHECK_AS(ConfigError, !value.empty(), "--master-addr is empty");
      o.masterAddr = value;
    } else if (arg == "--master-port" || arg == "--master_port") {
      o.masterPort = static_cast<int>(parseInt(arg, value, 1, 65535));
      sawPort = true;
    } else if (arg == "--timeout") {
      o.timeout =
          std::chrono::milliseconds(static_cast<long long>(parseSeconds(arg, value) * 1000));
    } else if (arg == "--grace") {
      o.grace = std::chrono::milliseconds(static_cast<long long>(parseSeconds(arg, value) * 1000));
    } else if (arg == "--run-id") {
      o.runId = value;
    } else {
      HEMINGWAY_FAIL_AS(ConfigError, "unknown flag {}\n{}", arg, kUsage);
    }
  }
  for (; i < argc; ++i) o.command.emplace_back(argv[i]);
  HEMINGWAY_CHECK_AS(ConfigError, o.nprocPerNode >= 1, "--nproc-per-node is required\n{}", kUsage);
  HEMINGWAY_CHECK_AS(ConfigError, !o.command.empty(), "no program given after '--'\n{}", kUsage);
  HEMINGWAY_CHECK_AS(ConfigError, o.nodeRank < o.nnodes,
                     "--node-rank {} is out of range for --nnodes {}", o.nodeRank, o.nnodes);
  HEMINGWAY_CHECK_AS(ConfigError, o.nnodes == 1 || sawPort,
                     "--master-port is required with --nnodes > 1 (all nodes must agree on it)");
  out = std::move(o);
  return true;
}

int launch(const LaunchOptions& o) {
  const int worldSize = o.nnodes * o.nprocPerNode;
  std::optional<c10d::TCPStore> store;
  int port = o.masterPort;
  std::string runId = o.runId;
  if (o.nodeRank == 0) {
    if (runId.empty()) {
      std::random_device rd;
      runId = fmt::format("{}-{:06x}", static_cast<long long>(::time(nullptr)), rd() & 0xffffff);
    }
    c10d::TCPStoreOptions so;
    so.port = static_cast<std::uint16_t>(port);
    so.isServer = true;
    so.waitWorkers = false;
    so.timeout = o.timeout;
    try {
      store.emplace(o.masterAddr, so);
    } catch (const std::exception& e) {
      HEMINGWAY_FAIL_AS(ConfigError, "cannot host the store on port {}: {}", port, e.what());
    }
    port = store->getPort();
    store->set("hemingway/run_id", std::vector<uint8_t>(runId.begin(), runId.end()));
  }

  HEMINGWAY_CHECK(::pipe2(gSignalPipe, O_CLOEXEC | O_NONBLOCK) == 0, "pipe failed: {}",
                  std::strerror(errno));
  struct sigaction sa {};
  sa.sa_handler = onSignal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGCHLD, &sa, nullptr);

  std::vector<Worker> workers(o.nprocPerNode);
  for (int local = 0; local < o.nprocPerNode; ++local) {
    int outPipe[2], errPipe[2];
    HEMINGWAY_CHECK(::pipe2(outPipe, O_CLOEXEC) == 0 && ::pipe2(errPipe, O_CLOEXEC) == 0,
                    "pipe failed: {}", std::strerror(errno));
    auto& w = workers[local];
    w.rank = o.nodeRank * o.nprocPerNode + local;
    w.pid = spawn(o, local, worldSize, port, runId, outPipe, errPipe);
    ::close(outPipe[1]);
    ::close(errPipe[1]);
    w.outFd = outPipe[0];
    w.errFd = errPipe[0];
    ::fcntl(w.outFd, F_SETFL, O_NONBLOCK);
    ::fcntl(w.errFd, F_SETFL, O_NONBLOCK);
  }

  int exitCode = 0;
  bool stopping = false;
  auto stopDeadline = std::chrono::steady_clock::time_point::max();
  bool killed = false;
  auto stopAll = [&](int sig) {
    for (auto& w : workers) {
      if (w.running) ::kill(-w.pid, sig);
    }
  };
  auto beginStop = [&](int sig) {
    if (stopping) return;
    stopping = true;
    stopAll(sig);
    stopDeadline = std::chrono::steady_clock::now() + o.grace;
  };

  auto running = [&] {
    for (auto& w : workers) {
      if (w.running || w.outFd >= 0 || w.errFd >= 0) return true;
    }
    return false;
  };
  while (running()) {
    std::vector<pollfd> fds;
    fds.push_back({gSignalPipe[0], POLLIN, 0});
    std::vector<std::pair<Worker*, bool>> owners;  // (worker, isStderr)
    for (auto& w : workers) {
      if (w.outFd >= 0) {
        fds.push_back({w.outFd, POLLIN, 0});
        owners.emplace_back(&w, false);
      }
      if (w.errFd >= 0) {
        fds.push_back({w.errFd, POLLIN, 0});
        owners.emplace_back(&w, true);
      }
    }
    int timeoutMs = 200;
    const int ready = ::poll(fds.data(), fds.size(), timeoutMs);
    if (ready < 0 && errno != EINTR) HEMINGWAY_FAIL("poll failed: {}", std::strerror(errno));
    if (ready > 0) {
      if (fds[0].revents & POLLIN) {
        unsigned char sig;
        while (::read(gSignalPipe[0], &sig, 1) == 1) {
          if (sig == SIGINT || sig == SIGTERM) {
            std::fprintf(stderr, "hemingway-run: got signal %d, forwarding to workers\n", sig);
            if (exitCode == 0) exitCode = 128 + sig;
            if (stopping) {
              stopAll(sig);
            } else {
              beginStop(sig);
            }
          }
        }
      }
      for (std::size_t k = 1; k < fds.size(); ++k) {
        if (fds[k].revents == 0) continue;
        auto [w, isErr] = owners[k - 1];
        drain(isErr ? w->errFd : w->outFd, isErr ? STDERR_FILENO : STDOUT_FILENO, w->rank,
              isErr ? w->errBuf : w->outBuf);
      }
    }
    // Reap exited workers.
    for (auto& w : workers) {
      if (!w.running) continue;
      int status = 0;
      const pid_t r = ::waitpid(w.pid, &status, WNOHANG);
      if (r != w.pid) continue;
      w.running = false;
      // Kill what the worker left behind in its process group.
      ::kill(-w.pid, SIGKILL);
      const int code = exitCodeOf(status);
      if (code != 0 && !stopping) {
        std::fprintf(stderr, "hemingway-run: rank %d (pid %d) %s; stopping the other workers\n",
                     w.rank, static_cast<int>(w.pid), describe(status).c_str());
        exitCode = code;
        beginStop(SIGTERM);
      } else if (code != 0 && exitCode == 0) {
        exitCode = code;
      }
    }
    if (stopping && !killed && std::chrono::steady_clock::now() >= stopDeadline) {
      std::fprintf(stderr,
                   "hemingway-run: workers still running after the grace period; killing\n");
      stopAll(SIGKILL);
      killed = true;
    }
    // A worker that exited but whose pipes stay open (a grandchild holds them)
    // must not keep the launcher alive: after the grace period close them.
    if (killed) {
      for (auto& w : workers) {
        if (w.running) continue;
        for (int* fd : {&w.outFd, &w.errFd}) {
          if (*fd >= 0) {
            ::close(*fd);
            *fd = -1;
          }
        }
      }
    }
  }
  return exitCode;
}

}  // namespace hemingway::plugin
