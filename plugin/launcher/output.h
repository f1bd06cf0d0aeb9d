// The launcher's handling of worker output: each line goes to the console
// with a "[rank R] " prefix ("[worker W] " in an elastic run) and, with --log-dir, unchanged to a
// per-rank file. Linear in the bytes read, whatever the line lengths (a line longer than kMaxLine
// is cut into pieces). A closed console (EPIPE: `... | head`) or a full disk drops output, says so
// once, and never stops the run.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

namespace hemingway::plugin {

// The launcher's stdout and stderr, shared by every worker's streams.
class Console {
 public:
  // Writes a whole line to fd 1 or 2; after EPIPE on it, counts it as dropped.
  void writeLine(int fd, const std::string& line);
  // A message of the launcher's own, on stderr.
  void note(const std::string& message);
  // " | N lines dropped ..." when output was lost, else "".
  std::string droppedNote() const;

 private:
  bool broken_[3] = {false, false, false};
  std::size_t dropped_ = 0;
};

class OutputStream {
 public:
  static constexpr std::size_t kMaxLine = 64 * 1024;

  // Reads `fd` (made non-blocking; owned). `logPath` empty: no file.
  // `label` names the stream's worker in the prefix: "rank 3" or "worker 3".
  OutputStream(int fd, std::string label, int consoleFd, bool showOnConsole,
               std::shared_ptr<Console> console, const std::string& logPath);
  ~OutputStream();
  OutputStream(const OutputStream&) = delete;
  OutputStream& operator=(const OutputStream&) = delete;

  bool open() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  // Reads what is available (at most a few MiB, to stay fair to the other
  // streams); at end of file flushes the last partial line and closes.
  void drain();
  void close();

 private:
  void emitLines(bool all);
  void writeFile(const char* data, std::size_t n);

  int fd_;
  std::string label_;
  int consoleFd_;
  bool show_;
  std::shared_ptr<Console> console_;
  std::string logPath_;
  int logFd_ = -1;
  std::string buf_;
  std::string line_;
};

}  // namespace hemingway::plugin
