// Progress lines for people: "iteration 50/500 | 1.2 s | 41.3/s | ETA 10.9 s".
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace hemingway::hooks {

class Progress {
 public:
  // `total` units named `unit` (singular, e.g. "iteration"); starts the clock.
  explicit Progress(std::int64_t total, std::string unit = "iteration");

  // After `done` units: count, elapsed time, rate and estimated time left.
  std::string line(std::int64_t done) const;
  // "500 iterations in 12.1 s (41.3/s)".
  std::string summary(std::int64_t done) const;
  double elapsedSeconds() const;

 private:
  std::int64_t total_;
  std::string unit_;
  std::chrono::steady_clock::time_point start_;
};

// "0.4 s", "12 s", "3 min 05 s", "2 h 07 min".
std::string formatDuration(double seconds);

}  // namespace hemingway::hooks
