#include "hemingway/hooks/progress.h"

#include <cmath>

#include <fmt/format.h>

namespace hemingway::hooks {

Progress::Progress(std::int64_t total, std::string unit)
    : total_(total), unit_(std::move(unit)), start_(std::chrono::steady_clock::now()) {}

double Progress::elapsedSeconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

std::string Progress::line(std::int64_t done) const {
  const double elapsed = elapsedSeconds();
  const double rate = elapsed > 0 ? done / elapsed : 0;
  std::string eta = "-";
  if (rate > 0 && total_ >= done) eta = formatDuration((total_ - done) / rate);
  return fmt::format("{} {}/{} | {} | {:.3g}/s | ETA {}", unit_, done, total_,
                     formatDuration(elapsed), rate, eta);
}

std::string Progress::summary(std::int64_t done) const {
  const double elapsed = elapsedSeconds();
  return fmt::format("{} {}{} in {} ({:.3g}/s)", done, unit_, done == 1 ? "" : "s",
                     formatDuration(elapsed), elapsed > 0 ? done / elapsed : 0.0);
}

std::string formatDuration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "-";
  if (seconds < 10) return fmt::format("{:.1f} s", seconds);
  if (seconds < 60) return fmt::format("{:.0f} s", seconds);
  const auto s = static_cast<long long>(std::llround(seconds));
  if (s < 3600) return fmt::format("{} min {:02d} s", s / 60, s % 60);
  return fmt::format("{} h {:02d} min", s / 3600, (s % 3600) / 60);
}

}  // namespace hemingway::hooks
