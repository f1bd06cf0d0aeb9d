#include "hemingway/plugin/launcher/store_host.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <random>
#include <vector>

#include <fmt/format.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include "hemingway/hooks/error.h"
#include "hemingway/plugin/detail/brief.h"
#include "hemingway/plugin/detail/run_store.h"

namespace hemingway::plugin {
namespace {

bool sameAddress(const sockaddr* a, const sockaddr* b) {
  if (a == nullptr || b == nullptr || a->sa_family != b->sa_family) return false;
  if (a->sa_family == AF_INET) {
    return reinterpret_cast<const sockaddr_in*>(a)->sin_addr.s_addr ==
           reinterpret_cast<const sockaddr_in*>(b)->sin_addr.s_addr;
  }
  if (a->sa_family == AF_INET6) {
    return std::memcmp(&reinterpret_cast<const sockaddr_in6*>(a)->sin6_addr,
                       &reinterpret_cast<const sockaddr_in6*>(b)->sin6_addr, sizeof(in6_addr)) == 0;
  }
  return false;
}

int portOf(const sockaddr_storage& s) {
  if (s.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in&>(s).sin_port);
  if (s.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6&>(s).sin6_port);
  return -1;
}

// The listening TCP sockets of this process on `port`.
std::vector<int> listeningSockets(int port) {
  std::vector<int> fds;
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return fds;
  while (const dirent* e = ::readdir(dir)) {
    char* end = nullptr;
    const long fd = std::strtol(e->d_name, &end, 10);
    if (end == e->d_name || *end != '\0' || fd == ::dirfd(dir)) continue;
    int listening = 0;
    socklen_t len = sizeof listening;
    if (::getsockopt(static_cast<int>(fd), SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 ||
        listening == 0) {
      continue;
    }
    sockaddr_storage self{};
    socklen_t selfLen = sizeof self;
    if (::getsockname(static_cast<int>(fd), reinterpret_cast<sockaddr*>(&self), &selfLen) == 0 &&
        portOf(self) == port) {
      fds.push_back(static_cast<int>(fd));
    }
  }
  ::closedir(dir);
  return fds;
}

}  // namespace

std::string newRunSecret() {
  std::random_device rd;  // getrandom(2) on Linux
  std::string out;
  for (int i = 0; i < 4; ++i) out += fmt::format("{:08x}", rd());
  return out;
}

std::string interfaceOf(const std::string& addr) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (::getaddrinfo(addr.c_str(), nullptr, &hints, &found) != 0 || found == nullptr) return {};
  std::string name;
  for (const addrinfo* a = found; a != nullptr && name.empty(); a = a->ai_next) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(a->ai_addr);
    if (a->ai_family == AF_INET && (ntohl(v4->sin_addr.s_addr) >> 24) == 127) name = "lo";
  }
  ifaddrs* ifs = nullptr;
  if (name.empty() && ::getifaddrs(&ifs) == 0) {
    for (const addrinfo* a = found; a != nullptr && name.empty(); a = a->ai_next) {
      for (const ifaddrs* i = ifs; i != nullptr; i = i->ifa_next) {
        if (sameAddress(i->ifa_addr, a->ai_addr)) {
          name = i->ifa_name;
          break;
        }
      }
    }
    ::freeifaddrs(ifs);
  }
  ::freeaddrinfo(found);
  return name;
}

StoreHost::StoreHost(const std::string& addr, int port, std::chrono::milliseconds timeout)
    : addr_(addr), timeout_(timeout) {
  interface_ = interfaceOf(addr);
  HEMINGWAY_CHECK_AS(ConfigError, !interface_.empty(),
                     "--master-addr {} is not an address of this host: node 0 hosts the store "
                     "and must be given one of its own addresses",
                     addr);
  c10d::TCPStoreOptions so;
  so.port = static_cast<std::uint16_t>(port);
  so.isServer = true;
  so.waitWorkers = false;
  so.timeout = timeout;
  try {
    store_ = std::make_unique<c10d::TCPStore>(addr, so);
  } catch (const std::exception& e) {
    HEMINGWAY_FAIL_AS(ConfigError, "cannot host the store on port {}: {}", port, detail::brief(e));
  }
  // c10d's TCPStore listens on every address; accept only on the interface
  // the run uses (SO_BINDTODEVICE on its listening sockets).
  const auto fds = listeningSockets(this->port());
  HEMINGWAY_CHECK(!fds.empty(), "found no listening socket of the store on port {}", this->port());
  for (int fd : fds) {
    HEMINGWAY_CHECK(::setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, interface_.c_str(),
                                 static_cast<socklen_t>(interface_.size() + 1)) == 0,
                    "cannot restrict the store to interface {}: {}", interface_,
                    std::strerror(errno));
  }
}

StoreHost::~StoreHost() = default;

int StoreHost::port() const { return store_->getPort(); }

c10::intrusive_ptr<c10d::Store> StoreHost::runClient(const std::string& secret) const {
  c10d::TCPStoreOptions so;
  so.port = static_cast<std::uint16_t>(port());
  so.isServer = false;
  so.waitWorkers = false;
  so.timeout = timeout_;
  auto client = c10::make_intrusive<c10d::TCPStore>(addr_, so);
  return c10::make_intrusive<c10d::PrefixStore>(detail::runPrefix(secret), client);
}

void StoreHost::publish(const std::string& secret, const std::string& runId) {
  store_->set(detail::kSecuredStoreKey, std::vector<uint8_t>{'1'});
  // The key a c10d::PrefixStore over runPrefix(secret) names kRunIdKey.
  store_->set(detail::runPrefix(secret) + "/" + detail::kRunIdKey,
              std::vector<uint8_t>(runId.begin(), runId.end()));
}

}  // namespace hemingway::plugin
