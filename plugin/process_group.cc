#include "hemingway/plugin/process_group.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <netdb.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <random>

#include <fmt/format.h>
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
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> gloo;
  std::shared_ptr<::gloo::transport::Device> device;

  void connectStore() {
    if (options.worldSize == 1 && !options.rank0HostsStore) {
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

  void makeDevice() {
    loopback = options.interface == "lo";
    if (!options.interface.empty()) {
      device = c10d::ProcessGroupGloo::createDeviceForInterface(options.interface);
    } else if (isLoopback(options.masterAddr) || options.worldSize == 1) {
      device = c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1");
      loopback = true;
    } else if (const auto local = localAddressToward(options.masterAddr); !local.empty()) {
      device = c10d::ProcessGroupGloo::createDeviceForHostname(local);
    } else {
      device = c10d::ProcessGroupGloo::createDefaultDevice();
    }
  }

  void formGroup() {
    auto glooOptions = c10d::ProcessGroupGloo::Options::create(options.timeout);
    glooOptions->devices.push_back(device);
    glooOptions->threads = options.glooThreads;
    auto prefixed =
        c10::make_intrusive<c10d::PrefixStore>(fmt::format("hemingway/gen/{}", generation), store);
    try {
      gloo = c10::make_intrusive<c10d::ProcessGroupGloo>(prefixed, options.rank, options.worldSize,
                                                         glooOptions);
    } catch (const std::exception& e) {
      HEMINGWAY_FAIL_AS(TimeoutError,
                        "rank {} of {} could not form the Gloo group (generation {}) within {} "
                        "ms; is every rank running? {}",
                        options.rank, options.worldSize, generation, options.timeout.count(),
                        detail::brief(e));
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
  HEMINGWAY_CHECK_AS(ConfigError, options.worldSize >= 1, "world size must be >= 1, got {}",
                     options.worldSize);
  HEMINGWAY_CHECK_AS(ConfigError, options.rank >= 0 && options.rank < options.worldSize,
                     "rank {} is out of range for world size {}", options.rank, options.worldSize);
  HEMINGWAY_CHECK_AS(ConfigError, options.timeout.count() > 0, "timeout must be > 0 ms, got {}",
                     options.timeout.count());
  HEMINGWAY_CHECK_AS(ConfigError, options.masterPort >= 0 && options.masterPort <= 65535,
                     "master port {} is out of range [0, 65535]", options.masterPort);
  impl_->options = std::move(options);
  hooks::setLogRank(impl_->options.rank);
  impl_->connectStore();
  impl_->agreeOnRunId();
  impl_->makeDevice();
  impl_->formGroup();
  HEMINGWAY_LOG(kInfo, "joined group of {} (generation 0, run {})", impl_->options.worldSize,
                impl_->options.runId);
}

ProcessGroup::~ProcessGroup() = default;

int ProcessGroup::rank() const { return impl_->options.rank; }
int ProcessGroup::worldSize() const { return impl_->options.worldSize; }
int ProcessGroup::localRank() const { return impl_->options.localRank; }
int ProcessGroup::generation() const { return impl_->generation; }

int ProcessGroup::newChannel() { return impl_->channels++ % 128; }

bool ProcessGroup::onLoopback() const { return impl_->loopback; }
const std::string& ProcessGroup::runId() const { return impl_->options.runId; }
std::chrono::milliseconds ProcessGroup::timeout() const { return impl_->options.timeout; }
const GroupOptions& ProcessGroup::options() const { return impl_->options; }
c10d::ProcessGroup& ProcessGroup::backend() { return *impl_->gloo; }
c10::intrusive_ptr<c10d::ProcessGroup> ProcessGroup::backendPtr() { return impl_->gloo; }
c10d::Store& ProcessGroup::store() { return *impl_->store; }

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
  HEMINGWAY_CHECK_AS(ConfigError, newWorldSize >= 1 && newRank >= 0 && newRank < newWorldSize,
                     "regroup: rank {} is out of range for world size {}", newRank, newWorldSize);
  impl_->gloo.reset();
  impl_->options.rank = newRank;
  impl_->options.worldSize = newWorldSize;
  impl_->generation += 1;
  hooks::setLogRank(newRank);
  impl_->formGroup();
  HEMINGWAY_LOG(kInfo, "regrouped: world {} (generation {})", newWorldSize, impl_->generation);
}

}  // namespace hemingway::plugin
