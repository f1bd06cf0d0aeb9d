// The rendezvous store node 0's launcher hosts for a run: a c10d TCPStore
// whose listening sockets accept connections only on the network interface
// of --master-addr (loopback for a single-node run), holding the run under
// its secret (see plugin/detail/run_store.h).
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include <c10/util/intrusive_ptr.h>

namespace c10d {
class Store;
class TCPStore;
}  // namespace c10d

namespace hemingway::plugin {

class StoreHost {
 public:
  // Hosts the store on `port` (0: a free port) and restricts it to the
  // interface that holds `addr`. Throws ConfigError naming --master-addr when
  // `addr` is not an address of this host.
  StoreHost(const std::string& addr, int port, std::chrono::milliseconds timeout);
  ~StoreHost();
  StoreHost(const StoreHost&) = delete;
  StoreHost& operator=(const StoreHost&) = delete;

  int port() const;
  const std::string& interface() const { return interface_; }
  // Publishes the run id under the run's secret.
  void publish(const std::string& secret, const std::string& runId);
  // A client connection of its own to the store, under the run's prefix
  // (the elastic coordinator's control traffic).
  c10::intrusive_ptr<c10d::Store> runClient(const std::string& secret) const;

 private:
  std::string interface_;
  std::string addr_;
  std::chrono::milliseconds timeout_;
  std::unique_ptr<c10d::TCPStore> store_;
};

// 128 random bits as hex, from the kernel's random source.
std::string newRunSecret();

// The network interface that holds `addr` on this host ("lo" for loopback);
// empty when no interface does.
std::string interfaceOf(const std::string& addr);

}  // namespace hemingway::plugin
