// hemingway-ctl: asks a running elastic job (hemingway-run --max-workers) for
// a number of workers, or prints its membership.
//   hemingway-ctl [--master-addr A] --master-port P scale N
//   hemingway-ctl [--master-addr A] --master-port P status
// The run's keys lie under its secret: HEMINGWAY_RUN_SECRET, or on the same
// host the file hemingway-run wrote for its user
// (${TMPDIR:-/tmp}/hemingway-UID/PORT.secret).
#include <cstdio>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include "hemingway/hooks/cli.h"
#include "hemingway/plugin/detail/brief.h"
#include "hemingway/plugin/detail/run_store.h"
#include "hemingway/plugin/elastic/detail/secret_file.h"
#include "hemingway/plugin/elastic/run_channel.h"

namespace hw = hemingway;

int main(int argc, char** argv) {
  CLI::App app{"hemingway-ctl: rescale a running elastic job, or show its membership"};
  hw::cli::showDefaults(app);
  std::string addr = "127.0.0.1";
  int port = 0;
  double timeout = 5;
  app.add_option("--master-addr", addr, "address of the job's store (node 0)");
  app.add_option("--master-port", port, "port of the job's store")
      ->required()
      ->check(CLI::Range(1, 65535));
  app.add_option("--timeout", timeout, "seconds to reach the store")
      ->check(hw::cli::kFinitePositive);
  int workers = 0;
  auto* scale = app.add_subcommand("scale", "ask for N workers (at the next step boundary)");
  scale->add_option("N", workers, "workers")->required()->check(CLI::Range(1, 1024));
  auto* status = app.add_subcommand("status", "generation, members, parked workers, step");
  app.require_subcommand(1);
  if (auto code = hw::cli::parse(app, argc, argv, "hemingway-ctl")) return *code;

  return hw::cli::run("hemingway-ctl", [&] {
    const std::string secret = hw::elastic::detail::readSecret(port);
    c10d::TCPStoreOptions so;
    so.port = static_cast<std::uint16_t>(port);
    so.isServer = false;
    so.waitWorkers = false;
    so.timeout = std::chrono::milliseconds(static_cast<long long>(timeout * 1000));
    c10::intrusive_ptr<c10d::Store> store;
    try {
      store = c10::make_intrusive<c10d::PrefixStore>(hw::plugin::detail::runPrefix(secret),
                                                     c10::make_intrusive<c10d::TCPStore>(addr, so));
    } catch (const std::exception& e) {
      HEMINGWAY_FAIL_AS(hw::PeerLostError, "cannot reach the store at {}:{}: {}", addr, port,
                        hw::plugin::detail::brief(e));
    }
    hw::elastic::RunChannel channel(store);
    const auto statusText = channel.status();
    HEMINGWAY_CHECK_AS(hw::ConfigError, statusText.has_value(),
                       "the job at {}:{} is not an elastic run of this secret (start it with "
                       "hemingway-run --max-workers)",
                       addr, port);
    if (scale->parsed()) {
      channel.requestScale({workers, hw::elastic::Cause::kRequest});
      std::printf("hemingway-ctl: asked for %d workers\n", workers);
      return 0;
    }
    (void)status;
    auto j = nlohmann::json::parse(*statusText);
    std::printf("generation %d | world size %d | members %s | parked %s | step %lld\n",
                j["generation"].get<int>(), j["world_size"].get<int>(), j["members"].dump().c_str(),
                j["parked"].dump().c_str(), static_cast<long long>(channel.step().value_or(0)));
    return 0;
  });
}
