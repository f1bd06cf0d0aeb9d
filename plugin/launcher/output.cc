#include "hemingway/plugin/launcher/output.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include <fmt/format.h>

#include "hemingway/hooks/error.h"

namespace hemingway::plugin {
namespace {

// Writes all of `data`; false on an error other than EINTR.
bool writeAll(int fd, const char* data, std::size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd, data, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && errno == EAGAIN) {
      ::usleep(1000);
      continue;
    }
    if (w <= 0) return false;
    data += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

}  // namespace

void Console::writeLine(int fd, const std::string& line) {
  if (broken_[fd]) {
    ++dropped_;
    return;
  }
  if (!writeAll(fd, line.data(), line.size()) && errno == EPIPE) {
    broken_[fd] = true;
    ++dropped_;
    note(
        fmt::format("hemingway-run: standard {} is closed (EPIPE); workers' lines to it are "
                    "dropped from now on, and the run goes on\n",
                    fd == 1 ? "output" : "error"));
  }
}

void Console::note(const std::string& message) {
  if (!broken_[2] && !writeAll(2, message.data(), message.size()) && errno == EPIPE) {
    broken_[2] = true;
  }
}

std::string Console::droppedNote() const {
  if (dropped_ == 0) return {};
  return fmt::format(" | {} output line{} dropped (closed console)", dropped_,
                     dropped_ == 1 ? "" : "s");
}

OutputStream::OutputStream(int fd, std::string label, int consoleFd, bool showOnConsole,
                           std::shared_ptr<Console> console, const std::string& logPath)
    : fd_(fd),
      label_(std::move(label)),
      consoleFd_(consoleFd),
      show_(showOnConsole),
      console_(std::move(console)),
      logPath_(logPath) {
  ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) | O_NONBLOCK);
  if (!logPath_.empty()) {
    logFd_ = ::open(logPath_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    HEMINGWAY_CHECK_AS(ConfigError, logFd_ >= 0, "--log-dir: cannot open {}: {}", logPath_,
                       std::strerror(errno));
  }
}

OutputStream::~OutputStream() {
  close();
  if (logFd_ >= 0) ::close(logFd_);
}

void OutputStream::close() {
  if (fd_ < 0) return;
  emitLines(true);
  ::close(fd_);
  fd_ = -1;
}

void OutputStream::writeFile(const char* data, std::size_t n) {
  if (logFd_ < 0) return;
  if (!writeAll(logFd_, data, n)) {
    console_->note(
        fmt::format("hemingway-run: cannot write {}: {}; {}'s output is no "
                    "longer saved there\n",
                    logPath_, std::strerror(errno), label_));
    ::close(logFd_);
    logFd_ = -1;
  }
}

void OutputStream::emitLines(bool all) {
  std::size_t start = 0;
  for (;;) {
    const auto nl = buf_.find('\n', start);
    std::size_t end = nl;
    if (nl == std::string::npos) {
      const std::size_t rest = buf_.size() - start;
      if (rest == 0 || (!all && rest < kMaxLine)) break;
      end = start + std::min(rest, kMaxLine);
    }
    if (show_) {
      line_.assign(fmt::format("[{}] ", label_));
      line_.append(buf_, start, end - start);
      line_ += '\n';
      console_->writeLine(consoleFd_, line_);
    }
    start = nl == std::string::npos ? end : nl + 1;
  }
  buf_.erase(0, start);  // what is left is shorter than kMaxLine
}

void OutputStream::drain() {
  char chunk[65536];
  for (int reads = 0; fd_ >= 0 && reads < 64; ++reads) {
    const ssize_t n = ::read(fd_, chunk, sizeof chunk);
    if (n > 0) {
      writeFile(chunk, static_cast<std::size_t>(n));
      buf_.append(chunk, static_cast<std::size_t>(n));
      emitLines(false);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    close();  // end of file or a read error
  }
}

}  // namespace hemingway::plugin
