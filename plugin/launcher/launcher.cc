#include "hemingway/plugin/launcher/launcher.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <deque>
#include <fstream>
#include <memory>
#include <sstream>

#include <fmt/format.h>
#include <torch/csrc/distributed/c10d/Store.hpp>

#include "hemingway/hooks/error.h"
#include "hemingway/plugin/elastic/coordinator.h"
#include "hemingway/plugin/elastic/detail/board.h"
#include "hemingway/plugin/elastic/detail/secret_file.h"
#include "hemingway/plugin/env.h"
#include "hemingway/plugin/launcher/output.h"
#include "hemingway/plugin/launcher/store_host.h"
#include "hemingway/plugin/launcher/verdict.h"

namespace hemingway::plugin {
namespace {

using elastic::Coordinator;
using elastic::FailurePolicy;
using Clock = std::chrono::steady_clock;

int gSignalPipe[2] = {-1, -1};

void onSignal(int sig) {
  const unsigned char byte = static_cast<unsigned char>(sig);
  const int saved = errno;
  [[maybe_unused]] auto n = ::write(gSignalPipe[1], &byte, 1);
  errno = saved;
}

bool endsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

struct Worker {
  int rank = 0;  // in an elastic run: the worker id
  int heartbeatFd = -1;
  bool beaten = false;  // sent at least one heartbeat
  Clock::time_point lastBeat;
  int localRank = 0;
  pid_t pid = -1;
  bool running = true;
  bool stoppedByUs = false;  // still running when the launcher began to stop
  int status = 0;
  Clock::time_point exitedAt;
  std::string errorFile;
  std::unique_ptr<OutputStream> out, err;
};

// Everything the workers' environment gets, as (name, value, overwrite).
struct EnvEntry {
  std::string name, value;
  bool overwrite = true;
};

std::vector<EnvEntry> workerEnv(const LaunchOptions& o, int localRank, int port,
                                const std::string& runId, const std::string& secret,
                                const std::string& errorFile, int heartbeatFd, int abortFd) {
  const int worldSize = o.nnodes * o.nprocPerNode;
  const int rank = o.nodeRank * o.nprocPerNode + localRank;
  const long cores = std::max(1L, ::sysconf(_SC_NPROCESSORS_ONLN));
  std::vector<EnvEntry> env = {
      {"MASTER_ADDR", o.masterAddr},
      {"MASTER_PORT", std::to_string(port)},
      {"RANK", std::to_string(rank)},
      {"WORLD_SIZE", std::to_string(worldSize)},
      {"LOCAL_RANK", std::to_string(localRank)},
      {"LOCAL_WORLD_SIZE", std::to_string(o.nprocPerNode)},
      {"GROUP_RANK", std::to_string(o.nodeRank)},
      {"ROLE_RANK", std::to_string(rank)},
      {"ROLE_WORLD_SIZE", std::to_string(worldSize)},
      {"HEMINGWAY_AGENT_STORE", "1"},
      {"HEMINGWAY_RUN_SECRET", secret},
      // PyTorch workers (init_process_group with env://) use the launcher's
      // store as clients, and report their errors to this file, as under torchrun.
      {"TORCHELASTIC_USE_AGENT_STORE", "True"},
      {"TORCHELASTIC_RESTART_COUNT", "0"},
      {"TORCHELASTIC_MAX_RESTARTS", "0"},
      {"TORCHELASTIC_ERROR_FILE", errorFile},
      // The node's cores shared among its workers, unless the user says otherwise.
      {"OMP_NUM_THREADS", std::to_string(std::max(1L, cores / o.nprocPerNode)), false},
  };
  if (!runId.empty()) {
    env.push_back({"HEMINGWAY_RUN_ID", runId});
    env.push_back({"TORCHELASTIC_RUN_ID", runId});
  }
  if (o.maxWorkers > 0) {
    env.push_back({"HEMINGWAY_ELASTIC", "1"});
    env.push_back({"HEMINGWAY_WORKER_ID", std::to_string(localRank)});
    // The machine counts an adaptive controller may choose among.
    env.push_back({"HEMINGWAY_MIN_WORKERS", std::to_string(std::max(1, o.minWorkers))});
    env.push_back({"HEMINGWAY_MAX_WORKERS", std::to_string(o.maxWorkers)});
  }
  if (abortFd >= 0) env.push_back({"HEMINGWAY_ABORT_FD", std::to_string(abortFd)});
  if (heartbeatFd >= 0) {
    env.push_back({"HEMINGWAY_HEARTBEAT_FD", std::to_string(heartbeatFd)});
    env.push_back({"HEMINGWAY_HEARTBEAT_MS",
                   std::to_string(std::max<long long>(1, o.heartbeatTimeout.count() / 5))});
  }
  if (o.timeout) {  // otherwise the user's HEMINGWAY_TIMEOUT_SECONDS passes through
    env.push_back({"HEMINGWAY_TIMEOUT_SECONDS", fmt::format("{}", o.timeout->count() / 1000.0)});
  }
  return env;
}

pid_t spawn(const LaunchOptions& o, const std::vector<EnvEntry>& env, int outPipe[2],
            int errPipe[2], std::vector<int> keepFds) {
  std::vector<std::string> args = o.command;
  if (!o.noPython && endsWith(args[0], ".py")) {  // as torchrun: python -u script.py
    args.insert(args.begin(), {"python3", "-u"});
  }
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  HEMINGWAY_CHECK(pid >= 0, "fork failed: {}", std::strerror(errno));
  if (pid != 0) return pid;
  // Child: own process group (the launcher stops its whole tree) and death
  // with the launcher (no worker outlives it).
  ::setpgid(0, 0);
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(1);
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGCHLD}) ::signal(sig, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  ::dup2(outPipe[1], STDOUT_FILENO);
  ::dup2(errPipe[1], STDERR_FILENO);
  for (int fd : keepFds) {
    if (fd >= 0) ::fcntl(fd, F_SETFD, 0);  // the heartbeat pipe and the board survive exec
  }
  for (const auto& e : env) ::setenv(e.name.c_str(), e.value.c_str(), e.overwrite ? 1 : 0);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  ::execvp(argv[0], argv.data());
  const std::string msg =
      fmt::format("hemingway-run: cannot execute '{}': {}\n", args[0], std::strerror(errno));
  [[maybe_unused]] auto n = ::write(STDERR_FILENO, msg.data(), msg.size());
  ::_exit(127);
}

void makeDirs(const std::string& path) {
  std::string part;
  for (std::size_t i = 0; i <= path.size(); ++i) {
    if (i == path.size() || path[i] == '/') {
      if (!part.empty() && ::mkdir(part.c_str(), 0755) != 0 && errno != EEXIST) {
        HEMINGWAY_FAIL_AS(ConfigError, "--log-dir: cannot create {}: {}", part,
                          std::strerror(errno));
      }
    }
    if (i < path.size()) part += path[i];
  }
}

std::string resolveSecret(const LaunchOptions& o) {
  if (auto given = envString("HEMINGWAY_RUN_SECRET")) {
    HEMINGWAY_CHECK_AS(ConfigError,
                       given->size() >= 16 && given->size() <= 128 &&
                           std::all_of(given->begin(), given->end(),
                                       [](unsigned char c) { return std::isalnum(c) != 0; }),
                       "HEMINGWAY_RUN_SECRET must be 16 to 128 letters or digits (for example "
                       "the output of: openssl rand -hex 16)");
    return *given;
  }
  HEMINGWAY_CHECK_AS(ConfigError, o.nnodes == 1,
                     "a run of several nodes needs a shared secret: set HEMINGWAY_RUN_SECRET to "
                     "the same value (16+ letters or digits, e.g. from: openssl rand -hex 16) on "
                     "every node");
  return newRunSecret();
}

// The processes whose parent is `parent`, from /proc.
std::vector<pid_t> childrenOf(pid_t parent) {
  std::vector<pid_t> out;
  DIR* dir = ::opendir("/proc");
  if (dir == nullptr) return out;
  while (const dirent* e = ::readdir(dir)) {
    char* end = nullptr;
    const long pid = std::strtol(e->d_name, &end, 10);
    if (end == e->d_name || *end != '\0') continue;
    std::ifstream stat(fmt::format("/proc/{}/stat", pid));
    std::string line;
    if (!std::getline(stat, line)) continue;
    const auto close = line.rfind(')');  // the command name may hold spaces
    if (close == std::string::npos) continue;
    std::istringstream fields(line.substr(close + 2));
    char state = 0;
    long ppid = 0;
    if (fields >> state >> ppid && ppid == parent) out.push_back(static_cast<pid_t>(pid));
  }
  ::closedir(dir);
  return out;
}

// The descendants that a dead worker left behind are reparented to the
// launcher (a subreaper): kill and reap them.
void killOrphans(const std::deque<Worker>& workers) {
  const pid_t self = ::getpid();
  for (int round = 0; round < 3; ++round) {
    bool any = false;
    for (pid_t pid : childrenOf(self)) {
      const bool isWorker = std::any_of(workers.begin(), workers.end(),
                                        [&](const Worker& w) { return w.pid == pid; });
      if (isWorker) continue;
      any = true;
      ::kill(pid, SIGKILL);
    }
    while (::waitpid(-1, nullptr, WNOHANG) > 0) {
    }
    if (!any) break;
    ::usleep(20000);
  }
}

}  // namespace

int launch(const LaunchOptions& o) {
  const auto started = Clock::now();
  std::string secretFile;
  const auto timeout = o.effectiveTimeout();
  const std::string secret = resolveSecret(o);
  std::string runId = o.runId;
  std::unique_ptr<StoreHost> store;
  int port = o.masterPort;
  if (o.nodeRank == 0) {
    if (runId.empty()) {
      runId = fmt::format("{}-{}", static_cast<long long>(::time(nullptr)),
                          newRunSecret().substr(0, 6));
    }
    store = std::make_unique<StoreHost>(o.masterAddr, port, timeout);
    port = store->port();
    store->publish(secret, runId);
  }

  HEMINGWAY_CHECK(::pipe2(gSignalPipe, O_CLOEXEC | O_NONBLOCK) == 0, "pipe failed: {}",
                  std::strerror(errno));
  struct sigaction sa {};
  sa.sa_handler = onSignal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGCHLD}) ::sigaction(sig, &sa, nullptr);
  // A closed stdout (hemingway-run ... | head) must not kill the run: writes
  // fail with EPIPE instead, and OutputStream says so once.
  ::signal(SIGPIPE, SIG_IGN);
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);

  char tmpl[] = "/tmp/hemingway-run-XXXXXX";
  HEMINGWAY_CHECK(::mkdtemp(tmpl) != nullptr, "cannot create a temporary directory: {}",
                  std::strerror(errno));
  const std::string errorDir = tmpl;
  std::string logRoot;
  if (!o.logDir.empty()) {
    logRoot =
        o.logDir + "/" + (runId.empty() ? std::string("node") + std::to_string(o.nodeRank) : runId);
    makeDirs(logRoot);
    std::fprintf(stderr, "hemingway-run: worker output goes to %s/rank_*/%s\n", logRoot.c_str(),
                 o.tee == 0 ? " (add --tee 3 to also see it here)" : "");
  }

  auto console = std::make_shared<Console>();
  const bool isElastic = o.maxWorkers > 0;
  std::unique_ptr<Coordinator> coordinator;
  // The board: one shared page where the coordinator writes the newest broken
  // and the newest published generation, so that workers waiting on a
  // collective notice a dead member, and workers at a step boundary or parked
  // notice a new membership, without asking the store (single node).
  std::optional<elastic::detail::Board> board;
  if (isElastic) board = elastic::detail::Board::create();
  const int abortFd = board ? board->fd() : -1;
  if (isElastic) {
    elastic::CoordinatorOptions co;
    co.initialWorkers = o.nprocPerNode;
    co.maxWorkers = o.maxWorkers;
    co.minWorkers = o.minWorkers;
    co.board = &*board;
    co.onFailure = o.onFailure == "stop"      ? FailurePolicy::kStop
                   : o.onFailure == "shrink"  ? FailurePolicy::kShrink
                   : o.onFailure == "replace" ? FailurePolicy::kReplace
                                              : FailurePolicy::kUnset;
    coordinator = std::make_unique<Coordinator>(
        elastic::RunChannel(store->runClient(secret)), co,
        [console](const std::string& line) { console->note(line + "\n"); });
    coordinator->publishInitial();
    secretFile = elastic::detail::writeSecretFile(port, secret);
  }
  std::deque<Worker> workers;  // grows (replacements) without moving its elements
  auto startWorker = [&](int local) {
    workers.emplace_back();
    auto& w = workers.back();
    w.localRank = local;
    w.rank = o.nodeRank * o.nprocPerNode + local;
    w.errorFile = fmt::format("{}/rank_{}_error.json", errorDir, w.rank);
    int outPipe[2], errPipe[2], beat[2] = {-1, -1};
    HEMINGWAY_CHECK(::pipe2(outPipe, O_CLOEXEC) == 0 && ::pipe2(errPipe, O_CLOEXEC) == 0,
                    "pipe failed: {}", std::strerror(errno));
    if (isElastic && o.heartbeatTimeout.count() > 0) {
      HEMINGWAY_CHECK(::pipe2(beat, O_CLOEXEC | O_NONBLOCK) == 0, "pipe failed: {}",
                      std::strerror(errno));
    }
    w.pid = spawn(o, workerEnv(o, local, port, runId, secret, w.errorFile, beat[1], abortFd),
                  outPipe, errPipe, {beat[1], abortFd});
    ::close(outPipe[1]);
    ::close(errPipe[1]);
    if (beat[1] >= 0) ::close(beat[1]);
    w.heartbeatFd = beat[0];
    w.lastBeat = Clock::now();
    std::string rankDir;
    if (!logRoot.empty()) {
      rankDir = fmt::format("{}/rank_{}", logRoot, w.rank);
      makeDirs(rankDir);
    }
    const std::string label = fmt::format("{} {}", isElastic ? "worker" : "rank", w.rank);
    w.out = std::make_unique<OutputStream>(outPipe[0], label, STDOUT_FILENO,
                                           o.logDir.empty() || (o.tee & 1) != 0, console,
                                           rankDir.empty() ? "" : rankDir + "/stdout.log");
    w.err = std::make_unique<OutputStream>(errPipe[0], label, STDERR_FILENO,
                                           o.logDir.empty() || (o.tee & 2) != 0, console,
                                           rankDir.empty() ? "" : rankDir + "/stderr.log");
  };
  const int initial = isElastic ? o.maxWorkers : o.nprocPerNode;
  for (int local = 0; local < initial; ++local) startWorker(local);

  int signalCode = 0;
  bool stopping = false, killed = false;
  auto stopDeadline = Clock::time_point::max();
  auto drainDeadline = Clock::time_point::max();
  auto stopAll = [&](int sig) {
    for (auto& w : workers) {
      if (w.running) ::kill(-w.pid, sig);
    }
  };
  auto beginStop = [&](int sig) {
    if (stopping) return;
    stopping = true;
    for (auto& w : workers) w.stoppedByUs = w.running;
    stopAll(sig);
    stopDeadline = Clock::now() + o.grace;
  };
  auto busy = [&] {
    return std::any_of(workers.begin(), workers.end(),
                       [](const Worker& w) { return w.running || w.out->open() || w.err->open(); });
  };

  while (busy()) {
    std::vector<pollfd> fds{{gSignalPipe[0], POLLIN, 0}};
    std::vector<OutputStream*> owners;
    for (auto& w : workers) {
      for (OutputStream* s : {w.out.get(), w.err.get()}) {
        if (s->open()) {
          fds.push_back({s->fd(), POLLIN, 0});
          owners.push_back(s);
        }
      }
    }
    std::vector<Worker*> beaters;
    for (auto& w : workers) {
      if (w.running && w.heartbeatFd >= 0) {
        fds.push_back({w.heartbeatFd, POLLIN, 0});
        beaters.push_back(&w);
      }
    }
    const std::size_t firstBeat = fds.size() - beaters.size();
    const int ready = ::poll(fds.data(), fds.size(), isElastic ? 10 : 200);
    if (ready < 0 && errno != EINTR) HEMINGWAY_FAIL("poll failed: {}", std::strerror(errno));
    if (ready > 0 && (fds[0].revents & POLLIN)) {
      unsigned char sig = 0;
      while (::read(gSignalPipe[0], &sig, 1) == 1) {
        if (sig == SIGCHLD) continue;
        if (signalCode == 0) signalCode = 128 + sig;
        if (stopping && sig == SIGINT) {
          console->note("hemingway-run: second SIGINT: killing the workers now\n");
          stopAll(SIGKILL);
          killed = true;
        } else if (!stopping) {
          console->note(
              fmt::format("hemingway-run: got {}; stopping the workers (SIGINT again "
                          "kills them at once)\n",
                          ::strsignal(sig)));
          beginStop(sig == SIGHUP ? SIGTERM : sig);
        }
      }
    }
    for (std::size_t k = 1; k < firstBeat; ++k) {
      if (fds[k].revents != 0) owners[k - 1]->drain();
    }
    for (std::size_t k = firstBeat; k < fds.size(); ++k) {
      if (fds[k].revents == 0) continue;
      char buf[64];
      while (::read(fds[k].fd, buf, sizeof buf) > 0) {
      }
      beaters[k - firstBeat]->beaten = true;
      beaters[k - firstBeat]->lastBeat = Clock::now();
    }
    if (isElastic && o.heartbeatTimeout.count() > 0 && !stopping) {
      for (auto& w : workers) {
        if (w.running && w.beaten && !w.stoppedByUs &&
            Clock::now() - w.lastBeat > o.heartbeatTimeout) {
          console->note(fmt::format(
              "hemingway-run: worker {} (pid {}) sent no heartbeat for {:.1f} s; killing it\n",
              w.rank, w.pid, o.heartbeatTimeout.count() / 1000.0));
          w.stoppedByUs = true;
          ::kill(-w.pid, SIGKILL);
          ::kill(w.pid, SIGKILL);
        }
      }
    }
    if (coordinator && !stopping) {
      try {
        coordinator->tick();
      } catch (const std::exception& e) {
        console->note(fmt::format("hemingway-run: store: {}\n", e.what()));
      }
    }
    // Reap: workers, and orphans reparented to the launcher.
    for (;;) {
      int status = 0;
      const pid_t pid = ::waitpid(-1, &status, WNOHANG);
      if (pid <= 0) break;
      auto it = std::find_if(workers.begin(), workers.end(),
                             [&](const Worker& w) { return w.pid == pid && w.running; });
      if (it == workers.end()) continue;
      auto& w = *it;
      w.running = false;
      w.status = status;
      w.exitedAt = Clock::now();
      ::kill(-w.pid, SIGKILL);  // what the worker left in its process group
      if (w.heartbeatFd >= 0) {
        ::close(w.heartbeatFd);
        w.heartbeatFd = -1;
      }
      if (coordinator && !stopping && coordinator->policy() != FailurePolicy::kStop) {
        const bool ok = exitCodeOf(status) == 0 && !w.stoppedByUs;
        if (!ok) {
          const auto cause = readErrorFile(w.errorFile);
          console->note(fmt::format("hemingway-run: worker {} (pid {}) {}\n", w.rank, w.pid,
                                    describeExit(status, cause)));
        }
        const int id = w.rank;  // `w` may move when workers grow
        for (int fresh : coordinator->onExit(id, ok)) startWorker(fresh);
        if (coordinator->failed()) {
          console->note("hemingway-run: " + coordinator->failure() + "; stopping the run\n");
          beginStop(SIGTERM);
        }
        continue;
      }
      if (exitCodeOf(status) != 0 && !stopping) {
        const auto cause = readErrorFile(w.errorFile);
        console->note(
            fmt::format("hemingway-run: rank {} (pid {}) {}; stopping the other workers\n", w.rank,
                        w.pid, describeExit(status, cause)));
        beginStop(SIGTERM);
      }
    }
    if (stopping && !killed && Clock::now() >= stopDeadline) {
      console->note("hemingway-run: workers still running after the grace period; killing them\n");
      stopAll(SIGKILL);
      killed = true;
    }
    // A worker that exited but whose pipes stay open (a descendant holds
    // them, say a daemon it started) must not keep the launcher alive: once
    // every worker has exited, the pipes get a second to drain.
    const bool allExited =
        std::none_of(workers.begin(), workers.end(), [](const Worker& w) { return w.running; });
    if (allExited && drainDeadline == Clock::time_point::max()) {
      drainDeadline = Clock::now() + std::chrono::seconds(1);
    }
    if (killed || Clock::now() >= drainDeadline) {
      for (auto& w : workers) {
        if (!w.running) {
          w.out->close();
          w.err->close();
        }
      }
    }
  }
  killOrphans(workers);

  std::vector<WorkerOutcome> outcomes;
  for (const auto& w : workers) {
    outcomes.push_back({w.rank, w.status, w.stoppedByUs, w.exitedAt, readErrorFile(w.errorFile)});
  }
  auto verdict = judge(outcomes);
  if (coordinator && coordinator->policy() != FailurePolicy::kStop) {
    // Workers that died were handled; the run succeeded if it finished.
    verdict = {};
    if (!coordinator->finished() || coordinator->failed()) {
      verdict.exitCode = 1;
      verdict.culprit = -1;
      verdict.message = coordinator->failed() ? coordinator->failure()
                                              : "the elastic run ended before it finished";
    }
  }
  if (!secretFile.empty()) ::unlink(secretFile.c_str());
  if (verdict.culprit) console->note("hemingway-run: " + verdict.message + "\n");
  const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
  std::string codes;
  for (const auto& w : workers)
    codes += fmt::format("{}{}", codes.empty() ? "" : " ", exitCodeOf(w.status));
  console->note(fmt::format("hemingway-run: {} worker{} on node {} | exit codes {} | {:.1f} s{}\n",
                            workers.size(), workers.size() == 1 ? "" : "s", o.nodeRank, codes,
                            seconds, console->droppedNote()));
  for (const auto& w : workers) ::unlink(w.errorFile.c_str());
  ::rmdir(errorDir.c_str());
  if (signalCode != 0) return signalCode;
  return verdict.exitCode;
}

}  // namespace hemingway::plugin
