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

// The launcher's run: it starts the workers, then loops over small parts
// (signals, output pump, heartbeat watch, the coordinator, the reaper,
// deadlines) until every worker exited and its output drained, and ends
// with the verdict.
class Supervisor {
 public:
  explicit Supervisor(const LaunchOptions& o) : o_(o), isElastic_(o.maxWorkers > 0) {}

  int run() {
    hostStore();
    installSignals();
    prepareLogs();
    if (isElastic_) startCoordinator();
    const int initial = isElastic_ ? o_.maxWorkers : o_.nprocPerNode;
    for (int local = 0; local < initial; ++local) startWorker(local);
    while (busy()) step();
    killOrphans(workers_);
    return finish();
  }

 private:
  void hostStore() {
    secret_ = resolveSecret(o_);
    runId_ = o_.runId;
    port_ = o_.masterPort;
    if (o_.nodeRank != 0) return;
    if (runId_.empty()) {
      runId_ = fmt::format("{}-{}", static_cast<long long>(::time(nullptr)),
                           newRunSecret().substr(0, 6));
    }
    store_ = std::make_unique<StoreHost>(o_.masterAddr, port_, o_.effectiveTimeout());
    port_ = store_->port();
    store_->publish(secret_, runId_);
  }

  static void installSignals() {
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
  }

  void prepareLogs() {
    char tmpl[] = "/tmp/hemingway-run-XXXXXX";
    HEMINGWAY_CHECK(::mkdtemp(tmpl) != nullptr, "cannot create a temporary directory: {}",
                    std::strerror(errno));
    errorDir_ = tmpl;
    if (o_.logDir.empty()) return;
    logRoot_ = o_.logDir + "/" +
               (runId_.empty() ? std::string("node") + std::to_string(o_.nodeRank) : runId_);
    makeDirs(logRoot_);
    std::fprintf(stderr, "hemingway-run: worker output goes to %s/rank_*/%s\n", logRoot_.c_str(),
                 o_.tee == 0 ? " (add --tee 3 to also see it here)" : "");
  }

  // The board: one shared page where the coordinator writes the newest broken
  // and the newest published generation, so that workers waiting on a
  // collective notice a dead member, and workers at a step boundary or parked
  // notice a new membership, without asking the store (single node).
  void startCoordinator() {
    board_ = elastic::detail::Board::create();
    elastic::CoordinatorOptions co;
    co.initialWorkers = o_.nprocPerNode;
    co.maxWorkers = o_.maxWorkers;
    co.minWorkers = o_.minWorkers;
    co.board = &*board_;
    co.onFailure = o_.onFailure == "stop"      ? FailurePolicy::kStop
                   : o_.onFailure == "shrink"  ? FailurePolicy::kShrink
                   : o_.onFailure == "replace" ? FailurePolicy::kReplace
                                               : FailurePolicy::kUnset;
    auto console = console_;
    coordinator_ = std::make_unique<Coordinator>(
        elastic::RunChannel(store_->runClient(secret_)), co,
        [console](const std::string& line) { console->note(line + "\n"); });
    coordinator_->publishInitial();
    secretFile_ = elastic::detail::writeSecretFile(port_, secret_);
  }

  void startWorker(int local) {
    workers_.emplace_back();
    auto& w = workers_.back();
    w.localRank = local;
    w.rank = o_.nodeRank * o_.nprocPerNode + local;
    w.errorFile = fmt::format("{}/rank_{}_error.json", errorDir_, w.rank);
    int outPipe[2], errPipe[2], beat[2] = {-1, -1};
    HEMINGWAY_CHECK(::pipe2(outPipe, O_CLOEXEC) == 0 && ::pipe2(errPipe, O_CLOEXEC) == 0,
                    "pipe failed: {}", std::strerror(errno));
    if (isElastic_ && o_.heartbeatTimeout.count() > 0) {
      HEMINGWAY_CHECK(::pipe2(beat, O_CLOEXEC | O_NONBLOCK) == 0, "pipe failed: {}",
                      std::strerror(errno));
    }
    const int abortFd = board_ ? board_->fd() : -1;
    w.pid = spawn(o_, workerEnv(o_, local, port_, runId_, secret_, w.errorFile, beat[1], abortFd),
                  outPipe, errPipe, {beat[1], abortFd});
    ::close(outPipe[1]);
    ::close(errPipe[1]);
    if (beat[1] >= 0) ::close(beat[1]);
    w.heartbeatFd = beat[0];
    w.lastBeat = Clock::now();
    attachOutput(w, outPipe[0], errPipe[0]);
  }

  void attachOutput(Worker& w, int outFd, int errFd) {
    std::string rankDir;
    if (!logRoot_.empty()) {
      rankDir = fmt::format("{}/rank_{}", logRoot_, w.rank);
      makeDirs(rankDir);
    }
    const std::string label = fmt::format("{} {}", isElastic_ ? "worker" : "rank", w.rank);
    const bool toFile = !rankDir.empty();
    w.out = std::make_unique<OutputStream>(outFd, label, STDOUT_FILENO,
                                           o_.logDir.empty() || (o_.tee & 1) != 0, console_,
                                           toFile ? rankDir + "/stdout.log" : "");
    w.err = std::make_unique<OutputStream>(errFd, label, STDERR_FILENO,
                                           o_.logDir.empty() || (o_.tee & 2) != 0, console_,
                                           toFile ? rankDir + "/stderr.log" : "");
  }

  bool busy() const {
    return std::any_of(workers_.begin(), workers_.end(),
                       [](const Worker& w) { return w.running || w.out->open() || w.err->open(); });
  }

  // One turn of the loop: wait for output, signals or heartbeats (10 ms in an
  // elastic run, whose coordinator must tick), then every part.
  void step() {
    std::vector<pollfd> fds{{gSignalPipe[0], POLLIN, 0}};
    std::vector<OutputStream*> owners;
    for (auto& w : workers_) {
      for (OutputStream* s : {w.out.get(), w.err.get()}) {
        if (s->open()) {
          fds.push_back({s->fd(), POLLIN, 0});
          owners.push_back(s);
        }
      }
    }
    std::vector<Worker*> beaters;
    for (auto& w : workers_) {
      if (w.running && w.heartbeatFd >= 0) {
        fds.push_back({w.heartbeatFd, POLLIN, 0});
        beaters.push_back(&w);
      }
    }
    const int ready = ::poll(fds.data(), fds.size(), isElastic_ ? 10 : 200);
    if (ready < 0 && errno != EINTR) HEMINGWAY_FAIL("poll failed: {}", std::strerror(errno));
    if (ready > 0 && (fds[0].revents & POLLIN)) handleSignals();
    const std::size_t firstBeat = fds.size() - beaters.size();
    for (std::size_t k = 1; k < firstBeat; ++k) {
      if (fds[k].revents != 0) owners[k - 1]->drain();
    }
    for (std::size_t k = firstBeat; k < fds.size(); ++k) {
      if (fds[k].revents != 0) readHeartbeat(fds[k].fd, *beaters[k - firstBeat]);
    }
    watchHeartbeats();
    tickCoordinator();
    reap();
    enforceDeadlines();
  }

  void handleSignals() {
    unsigned char sig = 0;
    while (::read(gSignalPipe[0], &sig, 1) == 1) {
      if (sig == SIGCHLD) continue;
      if (signalCode_ == 0) signalCode_ = 128 + sig;
      if (stopping_ && sig == SIGINT) {
        console_->note("hemingway-run: second SIGINT: killing the workers now\n");
        stopAll(SIGKILL);
        killed_ = true;
      } else if (!stopping_) {
        console_->note(
            fmt::format("hemingway-run: got {}; stopping the workers (SIGINT again "
                        "kills them at once)\n",
                        ::strsignal(sig)));
        beginStop(sig == SIGHUP ? SIGTERM : sig);
      }
    }
  }

  static void readHeartbeat(int fd, Worker& w) {
    char buf[64];
    while (::read(fd, buf, sizeof buf) > 0) {
    }
    w.beaten = true;
    w.lastBeat = Clock::now();
  }

  void watchHeartbeats() {
    if (!isElastic_ || o_.heartbeatTimeout.count() <= 0 || stopping_) return;
    for (auto& w : workers_) {
      if (w.running && w.beaten && !w.stoppedByUs &&
          Clock::now() - w.lastBeat > o_.heartbeatTimeout) {
        console_->note(fmt::format(
            "hemingway-run: worker {} (pid {}) sent no heartbeat for {:.1f} s; killing it\n",
            w.rank, w.pid, o_.heartbeatTimeout.count() / 1000.0));
        w.stoppedByUs = true;
        ::kill(-w.pid, SIGKILL);
        ::kill(w.pid, SIGKILL);
      }
    }
  }

  void tickCoordinator() {
    if (!coordinator_ || stopping_) return;
    try {
      coordinator_->tick();
    } catch (const std::exception& e) {
      console_->note(fmt::format("hemingway-run: store: {}\n", e.what()));
    }
  }

  // Reaps workers, and orphans reparented to the launcher.
  void reap() {
    for (;;) {
      int status = 0;
      const pid_t pid = ::waitpid(-1, &status, WNOHANG);
      if (pid <= 0) break;
      auto it = std::find_if(workers_.begin(), workers_.end(),
                             [&](const Worker& w) { return w.pid == pid && w.running; });
      if (it == workers_.end()) continue;
      auto& w = *it;
      w.running = false;
      w.status = status;
      w.exitedAt = Clock::now();
      ::kill(-w.pid, SIGKILL);  // what the worker left in its process group
      if (w.heartbeatFd >= 0) {
        ::close(w.heartbeatFd);
        w.heartbeatFd = -1;
      }
      if (coordinator_ && !stopping_ && coordinator_->policy() != FailurePolicy::kStop) {
        onElasticExit(w);
      } else if (exitCodeOf(status) != 0 && !stopping_) {
        const auto cause = readErrorFile(w.errorFile);
        console_->note(
            fmt::format("hemingway-run: rank {} (pid {}) {}; stopping the other workers\n", w.rank,
                        w.pid, describeExit(status, cause)));
        beginStop(SIGTERM);
      }
    }
  }

  // An elastic run survives what its policy allows: the coordinator decides.
  void onElasticExit(const Worker& w) {
    const bool ok = exitCodeOf(w.status) == 0 && !w.stoppedByUs;
    if (!ok) {
      const auto cause = readErrorFile(w.errorFile);
      console_->note(fmt::format("hemingway-run: worker {} (pid {}) {}\n", w.rank, w.pid,
                                 describeExit(w.status, cause)));
    }
    const int id = w.rank;  // `w` may move when workers grow
    for (int fresh : coordinator_->onExit(id, ok)) startWorker(fresh);
    if (coordinator_->failed()) {
      console_->note("hemingway-run: " + coordinator_->failure() + "; stopping the run\n");
      beginStop(SIGTERM);
    }
  }

  void enforceDeadlines() {
    if (stopping_ && !killed_ && Clock::now() >= stopDeadline_) {
      console_->note("hemingway-run: workers still running after the grace period; killing them\n");
      stopAll(SIGKILL);
      killed_ = true;
    }
    // A worker that exited but whose pipes stay open (a descendant holds
    // them, say a daemon it started) must not keep the launcher alive: once
    // every worker has exited, the pipes get a second to drain.
    const bool allExited =
        std::none_of(workers_.begin(), workers_.end(), [](const Worker& w) { return w.running; });
    if (allExited && drainDeadline_ == Clock::time_point::max()) {
      drainDeadline_ = Clock::now() + std::chrono::seconds(1);
    }
    if (killed_ || Clock::now() >= drainDeadline_) {
      for (auto& w : workers_) {
        if (!w.running) {
          w.out->close();
          w.err->close();
        }
      }
    }
  }

  void stopAll(int sig) {
    for (auto& w : workers_) {
      if (w.running) ::kill(-w.pid, sig);
    }
  }

  void beginStop(int sig) {
    if (stopping_) return;
    stopping_ = true;
    for (auto& w : workers_) w.stoppedByUs = w.running;
    stopAll(sig);
    stopDeadline_ = Clock::now() + o_.grace;
  }

  Verdict verdict() const {
    std::vector<WorkerOutcome> outcomes;
    for (const auto& w : workers_) {
      outcomes.push_back({w.rank, w.status, w.stoppedByUs, w.exitedAt, readErrorFile(w.errorFile)});
    }
    if (!coordinator_ || coordinator_->policy() == FailurePolicy::kStop) return judge(outcomes);
    // Workers that died were handled; the run succeeded if it finished.
    Verdict v;
    if (!coordinator_->finished() || coordinator_->failed()) {
      v.exitCode = 1;
      v.culprit = -1;
      v.message = coordinator_->failed() ? coordinator_->failure()
                                         : "the elastic run ended before it finished";
    }
    return v;
  }

  int finish() {
    const auto v = verdict();
    if (!secretFile_.empty()) ::unlink(secretFile_.c_str());
    if (v.culprit) console_->note("hemingway-run: " + v.message + "\n");
    const double seconds = std::chrono::duration<double>(Clock::now() - started_).count();
    std::string codes;
    for (const auto& w : workers_)
      codes += fmt::format("{}{}", codes.empty() ? "" : " ", exitCodeOf(w.status));
    console_->note(fmt::format(
        "hemingway-run: {} worker{} on node {} | exit codes {} | {:.1f} s{}\n", workers_.size(),
        workers_.size() == 1 ? "" : "s", o_.nodeRank, codes, seconds, console_->droppedNote()));
    for (const auto& w : workers_) ::unlink(w.errorFile.c_str());
    ::rmdir(errorDir_.c_str());
    if (signalCode_ != 0) return signalCode_;
    return v.exitCode;
  }

  const LaunchOptions& o_;
  const bool isElastic_;
  const Clock::time_point started_ = Clock::now();
  std::string secret_, runId_, secretFile_, errorDir_, logRoot_;
  int port_ = 0;
  std::unique_ptr<StoreHost> store_;
  std::shared_ptr<Console> console_ = std::make_shared<Console>();
  std::optional<elastic::detail::Board> board_;
  std::unique_ptr<Coordinator> coordinator_;
  std::deque<Worker> workers_;  // grows (replacements) without moving its elements
  int signalCode_ = 0;
  bool stopping_ = false, killed_ = false;
  Clock::time_point stopDeadline_ = Clock::time_point::max();
  Clock::time_point drainDeadline_ = Clock::time_point::max();
};

}  // namespace

int launch(const LaunchOptions& o) { return Supervisor(o).run(); }

}  // namespace hemingway::plugin
