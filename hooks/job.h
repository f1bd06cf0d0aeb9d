// The identity of a job: the settings that change its convergence curve.
// Runs of one job at different machine counts are what Hemingway's models
// compare; runs of different jobs (another model, loss, learning rate, batch
// size, data set, ...) must not be pooled. The fingerprint covers every entry
// of a run's configuration (run_start's `config`) except the ones below,
// which do not change the curve.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>

#include <fmt/format.h>

namespace hemingway::hooks {

// Where the data lives, where the log goes, threads, the machine count and the
// simulated cluster: none changes the convergence curve. Nor does the seed:
// it draws one realisation of the curve, and runs of several seeds at one m
// are repeated measurements of it.
inline const std::set<std::string>& notJobKeys() {
  static const std::set<std::string> keys = {"data",
                                             "log",
                                             "threads",
                                             "virtual_workers",
                                             "cluster_model",
                                             "cluster_rescale_s",
                                             "cluster_straggler",
                                             "capacity",
                                             "seed"};
  return keys;
}

// 16 hex digits of FNV-1a over the sorted "key=value" lines of the job's keys.
inline std::string jobFingerprint(const std::map<std::string, std::string>& config) {
  std::uint64_t h = 1469598103934665603ULL;
  auto mix = [&h](const std::string& s) {
    for (const unsigned char c : s) {
      h ^= c;
      h *= 1099511628211ULL;
    }
  };
  for (const auto& [key, value] : config) {  // std::map: sorted by key
    if (notJobKeys().count(key) != 0) continue;
    mix(key);
    mix("=");
    mix(value);
    mix("\n");
  }
  return fmt::format("{:016x}", h);
}

}  // namespace hemingway::hooks
