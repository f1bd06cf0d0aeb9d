#include "hemingway/plugin/process_group.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <netdb.h>
#include <signal.h>
#include <sys/epoll.h>
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
  HEMINGWAY_CHECK_AS(ConfigError, envInt("HEMINGWAY_ELASTIC", 0, 1).value_or(0) == 0,
                     "HEMINGWAY_ELASTIC=1: hemingway-run --max-workers started this worker, and "
                     "its membership comes from the launcher, not from RANK and WORLD_SIZE: form "
                     "the group with hemingway::elastic::groupOptionsFromEnv()");
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

// The membership of a group formed from torchrun-style env: rank of world
// size, for good.
class FixedMembership final : public MembershipSource {
 public:
  FixedMembership(int rank, int worldSize) : rank_(rank), worldSize_(worldSize) {
    HEMINGWAY_CHECK_AS(ConfigError, worldSize >= 1, "world size must be >= 1, got {}", worldSize);
    HEMINGWAY_CHECK_AS(ConfigError, rank >= 0 && rank < worldSize,
                       "rank {} is out of range for world size {}", rank, worldSize);
  }
  Placement start(c10d::Store&, const StoreConnector&) override { return {0, rank_, worldSize_}; }
  bool changes() const override { return false; }
  bool broken(int) override { return false; }

 private:
  int rank_, worldSize_;
};

struct ProcessGroup::Impl {
  GroupOptions options;
  std::shared_ptr<MembershipSource> source;
  int generation = 0;
  int channels = 0;
  bool loopback = false;
  bool parked = false;
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> gloo;
  std::shared_ptr<::gloo::transport::Device> device;
  std::vector<std::thread> graveyard;  // old groups being destroyed
  bool aborted = false;

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

  void place(const Placement& p) {
    generation = p.generation;
    parked = p.parked();
    options.rank = parked ? -1 : p.rank;
    options.worldSize = parked ? 0 : p.worldSize;
  }

  void connectStore() {
    // A launched world of one still uses the agent's store.
    if (options.worldSize == 1 && options.rank0HostsStore) {
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
  // makes those waits 1 ms (memberships that change only).
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
    } else if (isLoopback(options.masterAddr) || (options.worldSize == 1 && !source->changes())) {
      // (A process alone in a membership that changes may be joined from another host.)
      device = c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1");
      loopback = true;
    } else if (const auto local = localAddressToward(options.masterAddr); !local.empty()) {
      device = c10d::ProcessGroupGloo::createDeviceForHostname(local);
    } else {
      device = c10d::ProcessGroupGloo::createDefaultDevice();
    }
  }

  // Forms the group of `generation` without touching the current one. In an
  // membership that changes the forming happens on a thread of its own while
  // this one watches whether the source marked the generation broken: a member that died before it
  // connected would otherwise hold everyone in Gloo's rendezvous until the
  // timeout. An abandoned forming thread ends with that timeout.
  c10::intrusive_ptr<c10d::ProcessGroupGloo> newGroup(int gen, int rank, int world) {
    // The 1 ms tick only while forming: between regroups it would wake every
    // process a thousand times a second for nothing.
    struct TickScope {
      Impl* impl;
      explicit TickScope(Impl* i) : impl(i) {
        if (impl->source->changes()) impl->startTick();
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
    if (!source->changes()) {
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
      if (source->broken(gen)) {
        store = freshClient();  // the abandoned rendezvous still holds the old client
        HEMINGWAY_FAIL_AS(PeerLostError,
                          "generation {} lost a member while forming (its launcher aborted it)",
                          gen);
      }
    }
  }
};

ProcessGroup::ProcessGroup(GroupOptions options) : impl_(std::make_unique<Impl>()) {
  // A peer that closes its connection must give an error, not kill this
  // process by SIGPIPE (Python ignores SIGPIPE for the same reason).
  struct sigaction current {};
  if (::sigaction(SIGPIPE, nullptr, &current) == 0 && current.sa_handler == SIG_DFL) {
    ::signal(SIGPIPE, SIG_IGN);
  }
  auto source = options.membership
                    ? options.membership
                    : std::make_shared<FixedMembership>(options.rank, options.worldSize);
  HEMINGWAY_CHECK_AS(ConfigError, options.timeout.count() > 0, "timeout must be > 0 ms, got {}",
                     options.timeout.count());
  HEMINGWAY_CHECK_AS(ConfigError, options.masterPort >= 0 && options.masterPort <= 65535,
                     "master port {} is out of range [0, 65535]", options.masterPort);
  auto& im = *impl_;
  im.options = std::move(options);
  im.source = std::move(source);
  hooks::setLogRank(im.options.rank);
  im.connectStore();
  im.agreeOnRunId();  // rank -1 (not placed yet): waits for the launcher's run id
  im.place(im.source->start(*im.store, [&im] { return im.freshClient(); }));
  hooks::setLogRank(im.options.rank);
  im.makeDevice();
  if (!im.parked) im.gloo = im.newGroup(im.generation, im.options.rank, im.options.worldSize);
  if (im.parked) {
    HEMINGWAY_LOG(kInfo, "parked (generation {}, run {})", im.generation, im.options.runId);
  } else {
    HEMINGWAY_LOG(kInfo, "joined group of {} (generation {}, run {})", im.options.worldSize,
                  im.generation, im.options.runId);
  }
}

ProcessGroup::~ProcessGroup() = default;

bool ProcessGroup::parked() const { return impl_->parked; }
bool ProcessGroup::membershipChanges() const { return impl_->source->changes(); }

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
  auto* control = impl_->source->controlStore();
  return control != nullptr ? *control : *impl_->store;
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
  return impl_->source->publishedGeneration();
}

bool ProcessGroup::abortRequested() {
  if (!impl_->aborted) impl_->aborted = impl_->source->broken(impl_->generation);
  return impl_->aborted;
}

void ProcessGroup::wait(c10d::Work& work, const std::string& what) {
  const auto fail = [&](const std::exception& e) {
    HEMINGWAY_FAIL_AS(PeerLostError, "{} failed on rank {} of {} (timeout {} ms): {}", what, rank(),
                      worldSize(), impl_->options.timeout.count(), detail::brief(e));
  };
  if (!impl_->source->changes()) {
    try {
      work.wait(impl_->options.timeout);
    } catch (const std::exception& e) {
      fail(e);
    }
    return;
  }
  // A membership that changes: wait for the work's future in slices, watching
  // whether the generation broke.
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
