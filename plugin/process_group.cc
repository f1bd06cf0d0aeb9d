#include "hemingway/plugin/process_group.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <netdb.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gloo/transport/tcp/device.h>
#include <torch/csrc/distributed/c10d/HashStore.hpp>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include "hemingway/hooks/error.h"
#include "hemingway/hooks/log.h"
#include "hemingway/plugin/detail/brief.h"
#include "hemingway/plugin/detail/run_store.h"
#include "hemingway/plugin/env.h"

namespace hemingway::plugin {
namespace {

constexpr int kMaxWorld = 1 << 16;

bool isLoopback(const std::string& addr) {
  return addr == "localhost" || addr.rfind("127.", 0) == 0 || addr == "::1";
}

// The local address the kernel would use to reach `addr` (a UDP connect
// sends nothing); empty if there is no route. Gloo must listen there: the
// host name can resolve to 127.0.1.1 on a machine whose peers are elsewhere.
std::string localAddressToward(const std::string& addr) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* found = nullptr;
  if (::getaddrinfo(addr.c_str(), "9", &hints, &found) != 0 || found == nullptr) return {};
  std::string local;
  const int fd = ::socket(found->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd >= 0 && ::connect(fd, found->ai_addr, found->ai_addrlen) == 0) {
    sockaddr_storage self{};
    socklen_t len = sizeof self;
    char text[INET6_ADDRSTRLEN] = {};
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&self), &len) == 0) {
      const void* raw =
          self.ss_family == AF_INET
              ? static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(&self)->sin_addr)
              : static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(&self)->sin6_addr);
      if (::inet_ntop(self.ss_family, raw, text, sizeof text) != nullptr) local = text;
    }
  }
  if (fd >= 0) ::close(fd);
  ::freeaddrinfo(found);
  return local;
}

std::string newRunId() {
  std::random_device rd;
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  const auto secs = std::chrono::duration_cast<std::chrono::seconds>(now).count();
  return fmt::format("{}-{:06x}", secs, rd() & 0xffffff);
}

std::string storeValueToString(const std::vector<uint8_t>& v) {
  return std::string(v.begin(), v.end());
}

}  // namespace

GroupOptions GroupOptions::fromEnv() {
  GroupOptions o;
  const bool anySet = envString("RANK") || envString("WORLD_SIZE") || envString("MASTER_ADDR") ||
                      envString("MASTER_PORT");
  if (auto t = envSeconds("HEMINGWAY_TIMEOUT_SECONDS")) {
    o.timeout = std::chrono::milliseconds(static_cast<long long>(*t * 1000));
  }
  if (auto id = envString("HEMINGWAY_RUN_ID")) o.runId = *id;
  if (envInt("HEMINGWAY_ELASTIC", 0, 1).value_or(0) == 1) {
    // Membership comes from hemingway-run through the store, not RANK/WORLD_SIZE.
    const char* required[] = {"MASTER_ADDR", "MASTER_PORT", "HEMINGWAY_WORKER_ID"};
    for (const char* name : required) {
      HEMINGWAY_CHECK_AS(ConfigError, envString(name).has_value(),
                         "{} is not set (HEMINGWAY_ELASTIC=1 is for workers that hemingway-run "
                         "--max-workers starts)",
                         name);
    }
    o.elastic = true;
    o.rank0HostsStore = false;
    o.workerId = static_cast<int>(*envInt("HEMINGWAY_WORKER_ID", 0, kMaxWorld));
    o.masterAddr = *envString("MASTER_ADDR");
    o.masterPort = static_cast<int>(*envInt("MASTER_PORT", 1, 65535));
    o.rank = -1;
    o.worldSize = 0;
    if (auto secret = envString("HEMINGWAY_RUN_SECRET")) o.runSecret = *secret;
    if (auto ifname = envString("GLOO_SOCKET_IFNAME")) o.interface = *ifname;
    if (auto fd = envInt("HEMINGWAY_ABORT_FD", 0, 1 << 20)) o.abortFd = static_cast<int>(*fd);
    return o;
  }
  if (!anySet) return o;  // a single process, no rendezvous

  const char* required[] = {"MASTER_ADDR", "MASTER_PORT", "RANK", "WORLD_SIZE"};
  for (const char* name : required) {
    HEMINGWAY_CHECK_AS(ConfigError, envString(name).has_value(),
                       "{} is not set (torchrun-style env needs MASTER_ADDR, MASTER_PORT, RANK "
                       "and WORLD_SIZE; launch with hemingway-run)",
                       name);
  }
  o.masterAddr = *envString("MASTER_ADDR");
  HEMINGWAY_CHECK_AS(ConfigError, !o.masterAddr.empty(), "MASTER_ADDR is empty");
  o.masterPort = static_cast<int>(*envInt("MASTER_PORT", 1, 65535));
  o.worldSize = static_cast<int>(*envInt("WORLD_SIZE", 1, kMaxWorld));
  o.rank = static_cast<int>(*envInt("RANK", 0, kMaxWorld));
  HEMINGWAY_CHECK_AS(ConfigError, o.rank < o.worldSize,
                     "RANK={} is out of range for WORLD_SIZE={} (expected 0..{})", o.rank,
                     o.worldSize, o.worldSize - 1);
  o.localRank = static_cast<int>(envInt("LOCAL_RANK", 0, kMaxWorld).value_or(0));
  HEMINGWAY_CHECK_AS(ConfigError, o.localRank <= o.rank, "LOCAL_RANK={} is larger than RANK={}",
                     o.localRank, o.rank);
  if (auto agent = envInt("HEMINGWAY_AGENT_STORE", 0, 1)) o.rank0HostsStore = *agent == 0;
  if (auto ifname = envString("GLOO_SOCKET_IFNAME")) {
    HEMINGWAY_CHECK_AS(ConfigError, !ifname->empty() && ::if_nametoindex(ifname->c_str()) != 0,
                       "GLOO_SOCKET_IFNAME='{}' is not a network interface of this host (see: ip "
                       "link)",
                       *ifname);
    o.interface = *ifname;
  }
  if (auto secret = envString("HEMINGWAY_RUN_SECRET")) o.runSecret = *secret;
  return o;
}

struct ProcessGroup::Impl {
  GroupOptions options;
  int generation = 0;
  int channels = 0;
  bool loopback = false;
  bool parked = false;
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::Store> control;  // elastic runs: a second client (freshClient)
  c10::intrusive_ptr<c10d::ProcessGroupGloo> gloo;
  std::shared_ptr<::gloo::transport::Device> device;
  std::vector<std::thread> graveyard;  // old groups being destroyed
  bool aborted = false;
  std::chrono::steady_clock::time_point lastAbortCheck{};
  const std::int64_t* board = nullptr;  // mapped HEMINGWAY_ABORT_FD (run_store.h)

  void mapBoard() {
    if (options.abortFd < 0) return;
    void* page = ::mmap(nullptr, 4096, PROT_READ, MAP_SHARED, options.abortFd, 0);
    if (page != MAP_FAILED) board = static_cast<const std::int64_t*>(page);
  }
  std::int64_t readBoard(int slot) const { return __atomic_load_n(board + slot, __ATOMIC_ACQUIRE); }

  // Generation `gen` is broken (hemingway-run aborted it).
  bool isAborted(int gen) {
    if (board != nullptr) return readBoard(detail::kBoardAborted) >= gen;
    return control->check({detail::generationKey(gen, "abort")});
  }

  ~Impl() {
    gloo.reset();
    for (auto& t : graveyard) t.join();
    stopTick();
  }

  // ~ProcessGroupGloo waits for its queued work, which on a broken group
  // ends only as the peers tear down: off the training thread.
  void bury(c10::intrusive_ptr<c10d::ProcessGroupGloo> old) {
    if (!old) return;
    graveyard.emplace_back([old = std::move(old)]() mutable { old.reset(); });
  }

  std::string getString(const std::string& key) { return storeValueToString(store->get(key)); }

  // This worker's place in generation 0 (elastic runs). A worker that starts
  // later (a replacement, or one slower to start than a rescale) begins
  // parked and joins as every joiner does, through Elastic::run, which moves
  // the training state to it.
  void readMembership() {
    const int latest = std::stoi(getString(detail::elasticKey("latest")));
    const auto members = detail::parseMembers(getString(detail::generationKey(latest, "members")));
    generation = latest;
    const auto it = std::find(members.begin(), members.end(), options.workerId);
    parked = it == members.end() || latest > 0;
    options.rank = parked ? -1 : static_cast<int>(it - members.begin());
    options.worldSize = parked ? 0 : static_cast<int>(members.size());
  }

  void connectStore() {
    if (options.elastic) {
      // fall through: always the launcher's store
    } else if (options.worldSize == 1 && !options.rank0HostsStore) {
      // fall through: a launched world of one still uses the agent's store
    } else if (options.worldSize == 1) {
      store = c10::make_intrusive<c10d::HashStore>();
      store->setTimeout(options.timeout);
      return;
    }
    c10d::TCPStoreOptions so;
    so.port = static_cast<std::uint16_t>(options.masterPort);
    so.isServer = options.rank0HostsStore && options.rank == 0;
    so.numWorkers = c10::nullopt;
    so.waitWorkers = false;
    so.timeout = options.timeout;
    try {
      store = c10::make_intrusive<c10d::TCPStore>(options.masterAddr, so);
    } catch (const std::exception& e) {
      HEMINGWAY_FAIL_AS(PeerLostError,
                        "rank {} could not reach the store at MASTER_ADDR={} MASTER_PORT={} "
                        "within {} ms: {}",
                        options.rank, options.masterAddr, options.masterPort,
                        options.timeout.count(), detail::brief(e));
    }
    if (!so.isServer) enterRun();
    if (options.elastic) control = freshClient();
  }

  // Another client of the launcher's store under the run's prefix. A c10d
  // TCPStore client serialises its calls: control traffic (abort flags,
  // generations) must not wait behind Gloo's rendezvous waits.
  c10::intrusive_ptr<c10d::Store> freshClient() {
    c10d::TCPStoreOptions so;
    so.port = static_cast<std::uint16_t>(options.masterPort);
    so.isServer = false;
    so.waitWorkers = false;
    so.timeout = options.timeout;
    auto client = c10::make_intrusive<c10d::TCPStore>(options.masterAddr, so);
    return c10::make_intrusive<c10d::PrefixStore>(detail::runPrefix(options.runSecret), client);
  }

  // A launcher's store holds the run under its secret: refuse a store of
  // another run instead of joining it.
  void enterRun() {
    const std::string where = fmt::format("the store at MASTER_ADDR={} MASTER_PORT={}",
                                          options.masterAddr, options.masterPort);
    if (options.runSecret.empty()) {
      HEMINGWAY_CHECK_AS(ConfigError, !store->check({detail::kSecuredStoreKey}),
                         "{} belongs to a hemingway-run run, and this worker has no "
                         "HEMINGWAY_RUN_SECRET: start workers with hemingway-run",
                         where);
      return;
    }
    auto run = c10::make_intrusive<c10d::PrefixStore>(detail::runPrefix(options.runSecret), store);
    HEMINGWAY_CHECK_AS(ConfigError, run->check({detail::kRunIdKey}),
                       "{} does not hold this worker's run (HEMINGWAY_RUN_SECRET does not match): "
                       "another run uses that port, or the launcher that started this worker "
                       "has ended; refusing to join",
                       where);
    store = run;
  }

  void agreeOnRunId() {
    if (!options.runId.empty()) return;
    const std::string key = detail::kRunIdKey;
    if (options.rank == 0 && !store->check({key})) {
      // The agent (hemingway-run) publishes the id before it starts workers.
      options.runId = newRunId();
      store->set(key, std::vector<uint8_t>(options.runId.begin(), options.runId.end()));
    } else {
      try {
        store->wait({key}, options.timeout);
        options.runId = storeValueToString(store->get(key));
      } catch (const std::exception& e) {
        HEMINGWAY_FAIL_AS(TimeoutError, "rank {} waited {} ms for rank 0 to publish the run id: {}",
                          options.rank, options.timeout.count(), detail::brief(e));
      }
    }
  }

  // Gloo's TCP loop wakes every 10 ms (its epoll_wait timeout) and tearing
  // down or connecting each pair waits for a wake-up: forming a generation
  // took 20 ms at world 2 and 55-62 ms at world 4. A 1 ms timer on the loop
  // makes those waits 1 ms (elastic runs only).
  struct Tick : ::gloo::transport::tcp::Handler {
    int fd = -1;
    void handleEvents(int) override {
      std::uint64_t expirations = 0;
      [[maybe_unused]] auto n = ::read(fd, &expirations, sizeof expirations);
    }
  };
  std::unique_ptr<Tick> tick;

  void startTick() {
    auto* tcp = dynamic_cast<::gloo::transport::tcp::Device*>(device.get());
    if (tcp == nullptr) return;
    const int fd = ::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (fd < 0) return;
    itimerspec every{};
    every.it_interval.tv_nsec = 1000000;
    every.it_value.tv_nsec = 1000000;
    ::timerfd_settime(fd, 0, &every, nullptr);
    tick = std::make_unique<Tick>();
    tick->fd = fd;
    tcp->registerDescriptor(fd, EPOLLIN, tick.get());
  }

  void stopTick() {
    if (!tick) return;
    if (auto* tcp = dynamic_cast<::gloo::transport::tcp::Device*>(device.get())) {
      tcp->unregisterDescriptor(tick->fd, tick.get());
    }
    ::close(tick->fd);
    tick.reset();
  }

  void makeDevice() {
    loopback = options.interface == "lo";
    if (!options.interface.empty()) {
      device = c10d::ProcessGroupGloo::createDeviceForInterface(options.interface);
    } else if (isLoopback(options.masterAddr) || (options.worldSize == 1 && !options.elastic)) {
      // (An elastic worker alone now may be joined later from another host.)
      device = c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1");
      loopback = true;
    } else if (const auto local = localAddressToward(options.masterAddr); !local.empty()) {
      device = c10d::ProcessGroupGloo::createDeviceForHostname(local);
    } else {
      device = c10d::ProcessGroupGloo::createDefaultDevice();
    }
  }

  // Forms the group of `generation` without touching the current one. In an
  // elastic run the forming happens on a thread of its own while this one
  // watches the generation's abort flag: a member that died before it
  // connected would otherwise hold everyone in Gloo's rendezvous until the
  // timeout. An abandoned forming thread ends with that timeout.
  c10::intrusive_ptr<c10d::ProcessGroupGloo> newGroup(int gen, int rank, int world) {
    // The 1 ms tick only while forming: between regroups it would wake every
    // process a thousand times a second for nothing.
    struct TickScope {
      Impl* impl;
      explicit TickScope(Impl* i) : impl(i) {
        if (impl->options.elastic) impl->startTick();
      }
      ~TickScope() { impl->stopTick(); }
    } tickScope(this);
    auto glooOptions = c10d::ProcessGroupGloo::Options::create(options.timeout);
    glooOptions->devices.push_back(device);
    glooOptions->threads = options.glooThreads;
    auto prefixed =
        c10::make_intrusive<c10d::PrefixStore>(fmt::format("hemingway/gen/{}", gen), store);
    const auto failed = [&](const std::string& why) {
      HEMINGWAY_FAIL_AS(TimeoutError,
                        "rank {} of {} could not form the Gloo group (generation {}) within {} "
                        "ms; is every rank running? {}",
                        rank, world, gen, options.timeout.count(), why);
    };
    if (!options.elastic) {
      try {
        return c10::make_intrusive<c10d::ProcessGroupGloo>(prefixed, rank, world, glooOptions);
      } catch (const std::exception& e) {
        failed(detail::brief(e));
      }
    }
    struct Forming {
      std::mutex mutex;
      std::condition_variable cv;
      bool done = false;
      c10::intrusive_ptr<c10d::ProcessGroupGloo> group;
      std::string error;
    };
    auto forming = std::make_shared<Forming>();
    std::thread([forming, prefixed, rank, world, glooOptions] {
      c10::intrusive_ptr<c10d::ProcessGroupGloo> made;
      std::string error;
      try {
        made = c10::make_intrusive<c10d::ProcessGroupGloo>(prefixed, rank, world, glooOptions);
      } catch (const std::exception& e) {
        error = detail::brief(e);
      }
      std::lock_guard<std::mutex> lock(forming->mutex);
      forming->group = std::move(made);
      forming->error = std::move(error);
      forming->done = true;
      forming->cv.notify_all();
    }).detach();
    for (;;) {
      std::unique_lock<std::mutex> lock(forming->mutex);
      if (forming->cv.wait_for(lock, std::chrono::milliseconds(5), [&] { return forming->done; })) {
        if (!forming->group) failed(forming->error);
        return std::move(forming->group);
      }
      lock.unlock();
      if (isAborted(gen)) {
        store = freshClient();  // the abandoned rendezvous still holds the old client
        HEMINGWAY_FAIL_AS(PeerLostError,
                          "generation {} lost a member while forming (hemingway-run aborted it)",
                          gen);
      }
    }
  }

  void formGroup() {
    if (parked) return;
    gloo = newGroup(generation, options.rank, options.worldSize);
  }
};

ProcessGroup::ProcessGroup(GroupOptions options) : impl_(std::make_unique<Impl>()) {
  // A peer that closes its connection must give an error, not kill this
  // process by SIGPIPE (Python ignores SIGPIPE for the same reason).
  struct sigaction current {};
  if (::sigaction(SIGPIPE, nullptr, &current) == 0 && current.sa_handler == SIG_DFL) {
    ::signal(SIGPIPE, SIG_IGN);
  }
  if (!options.elastic) {
    HEMINGWAY_CHECK_AS(ConfigError, options.worldSize >= 1, "world size must be >= 1, got {}",
                       options.worldSize);
    HEMINGWAY_CHECK_AS(ConfigError, options.rank >= 0 && options.rank < options.worldSize,
                       "rank {} is out of range for world size {}", options.rank,
                       options.worldSize);
  }
  HEMINGWAY_CHECK_AS(ConfigError, options.timeout.count() > 0, "timeout must be > 0 ms, got {}",
                     options.timeout.count());
  HEMINGWAY_CHECK_AS(ConfigError, options.masterPort >= 0 && options.masterPort <= 65535,
                     "master port {} is out of range [0, 65535]", options.masterPort);
  impl_->options = std::move(options);
  hooks::setLogRank(impl_->options.rank);
  impl_->connectStore();
  if (impl_->options.elastic) {
    impl_->agreeOnRunId();  // rank -1: waits for the launcher's run id
    impl_->readMembership();
    hooks::setLogRank(impl_->options.rank);
  } else {
    impl_->agreeOnRunId();
  }
  impl_->makeDevice();
  impl_->mapBoard();
  impl_->formGroup();
  if (impl_->parked) {
    HEMINGWAY_LOG(kInfo, "worker {} parked (generation {}, run {})", impl_->options.workerId,
                  impl_->generation, impl_->options.runId);
  } else {
    HEMINGWAY_LOG(kInfo, "joined group of {} (generation {}, run {})", impl_->options.worldSize,
                  impl_->generation, impl_->options.runId);
  }
}

ProcessGroup::~ProcessGroup() = default;

bool ProcessGroup::elastic() const { return impl_->options.elastic; }
bool ProcessGroup::parked() const { return impl_->parked; }
int ProcessGroup::workerId() const { return impl_->options.workerId; }

int ProcessGroup::rank() const { return impl_->options.rank; }
int ProcessGroup::worldSize() const { return impl_->options.worldSize; }
int ProcessGroup::localRank() const { return impl_->options.localRank; }
int ProcessGroup::generation() const { return impl_->generation; }

int ProcessGroup::newChannel() { return impl_->channels++ % 127; }  // 127: the state transfer

bool ProcessGroup::onLoopback() const { return impl_->loopback; }
const std::string& ProcessGroup::runId() const { return impl_->options.runId; }
std::chrono::milliseconds ProcessGroup::timeout() const { return impl_->options.timeout; }
const GroupOptions& ProcessGroup::options() const { return impl_->options; }
c10d::ProcessGroup& ProcessGroup::backend() { return *impl_->gloo; }
c10::intrusive_ptr<c10d::ProcessGroup> ProcessGroup::backendPtr() { return impl_->gloo; }
c10d::Store& ProcessGroup::store() { return *impl_->store; }
c10d::Store& ProcessGroup::controlStore() {
  return impl_->control ? *impl_->control : *impl_->store;
}

void ProcessGroup::barrier() {
  auto work = impl_->gloo->barrier();
  try {
    work->wait(impl_->options.timeout);
  } catch (const std::exception& e) {
    HEMINGWAY_FAIL_AS(TimeoutError, "barrier on rank {} failed or timed out after {} ms: {}",
                      rank(), impl_->options.timeout.count(), detail::brief(e));
  }
}

void ProcessGroup::regroup(int newRank, int newWorldSize) {
  adopt(impl_->generation + 1, newRank, newWorldSize);
}

void ProcessGroup::adopt(int generation, int newRank, int newWorldSize) {
  HEMINGWAY_CHECK_AS(ConfigError, newWorldSize >= 1 && newRank >= 0 && newRank < newWorldSize,
                     "regroup: rank {} is out of range for world size {}", newRank, newWorldSize);
  HEMINGWAY_CHECK_AS(ConfigError, generation > impl_->generation || impl_->parked,
                     "regroup: generation {} is not after the current {}", generation,
                     impl_->generation);
  HEMINGWAY_CHECK_AS(
      ConfigError,
      newWorldSize == 1 || dynamic_cast<c10d::HashStore*>(impl_->store.get()) == nullptr,
      "regroup: this group was formed without a rendezvous store (a single "
      "process); it cannot grow to {} ranks",
      newWorldSize);
  auto next = impl_->newGroup(generation, newRank, newWorldSize);  // throws: the old one stays
  impl_->bury(std::move(impl_->gloo));
  impl_->gloo = std::move(next);
  impl_->parked = false;
  impl_->aborted = false;
  impl_->channels = 0;  // a new Gloo context: every member numbers its users afresh
  impl_->options.rank = newRank;
  impl_->options.worldSize = newWorldSize;
  impl_->generation = generation;
  hooks::setLogRank(newRank);
  HEMINGWAY_LOG(kDebug, "regrouped: rank {} of {} (generation {})", newRank, newWorldSize,
                generation);
}

void ProcessGroup::park() {
  impl_->bury(std::move(impl_->gloo));
  impl_->parked = true;
  impl_->aborted = false;
  impl_->options.rank = -1;
  impl_->options.worldSize = 0;
}

std::optional<int> ProcessGroup::publishedGeneration() const {
  if (impl_->board == nullptr) return std::nullopt;
  return static_cast<int>(impl_->readBoard(detail::kBoardPublished));
}

bool ProcessGroup::abortRequested() {
  if (!impl_->options.elastic || impl_->aborted) return impl_->aborted;
  if (impl_->board == nullptr) {
    const auto now = std::chrono::steady_clock::now();
    if (now - impl_->lastAbortCheck < std::chrono::milliseconds(2)) return false;
    impl_->lastAbortCheck = now;
  }
  impl_->aborted = impl_->isAborted(impl_->generation);
  return impl_->aborted;
}

void ProcessGroup::wait(c10d::Work& work, const std::string& what) {
  const auto fail = [&](const std::exception& e) {
    HEMINGWAY_FAIL_AS(PeerLostError, "{} failed on rank {} of {} (timeout {} ms): {}", what, rank(),
                      worldSize(), impl_->options.timeout.count(), detail::brief(e));
  };
  if (!impl_->options.elastic) {
    try {
      work.wait(impl_->options.timeout);
    } catch (const std::exception& e) {
      fail(e);
    }
    return;
  }
  // Elastic: wait for the work's future in slices, watching the abort flag.
  struct Done {
    std::mutex mutex;
    std::condition_variable cv;
    bool done = false;
  };
  auto done = std::make_shared<Done>();
  work.getFuture()->addCallback([done](c10::ivalue::Future&) {
    {
      std::lock_guard<std::mutex> lock(done->mutex);
      done->done = true;
    }
    done->cv.notify_all();
  });
  waitWatchingAbort(
      [&](std::chrono::milliseconds slice) {
        std::unique_lock<std::mutex> lock(done->mutex);
        return done->cv.wait_for(lock, slice, [&] { return done->done; });
      },
      what);
  try {
    work.wait(impl_->options.timeout);  // done: rethrows the work's error, if any
  } catch (const std::exception& e) {
    fail(e);
  }
}

void ProcessGroup::waitWatchingAbort(const std::function<bool(std::chrono::milliseconds)>& finished,
                                     const std::string& what) {
  const auto deadline = std::chrono::steady_clock::now() + impl_->options.timeout;
  while (!finished(std::chrono::milliseconds(5))) {
    HEMINGWAY_CHECK_AS(PeerLostError, !abortRequested(),
                       "{} on rank {} of {}: generation {} lost a member (hemingway-run aborted "
                       "it)",
                       what, rank(), worldSize(), impl_->generation);
    HEMINGWAY_CHECK_AS(PeerLostError, std::chrono::steady_clock::now() < deadline,
                       "{} on rank {} of {} timed out after {} ms; a peer died or hung", what,
                       rank(), worldSize(), impl_->options.timeout.count());
  }
}

}  // namespace hemingway::plugin
