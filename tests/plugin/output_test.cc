// The launcher's output pump: worker lines to the console with a prefix,
// unchanged to the per-rank file, long lines cut, the last partial line kept.
#include "hemingway/plugin/launcher/output.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <vector>

#include <gtest/gtest.h>

#include "support/ranks.h"

namespace hemingway::plugin {
namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Feeds `bytes` through an OutputStream labelled "rank 3" until it closes.
void pump(const std::string& bytes, bool show, const std::string& logPath) {
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  OutputStream out(p[0], "rank 3", STDOUT_FILENO, show, std::make_shared<Console>(), logPath);
  std::size_t sent = 0;
  while (out.open()) {
    if (sent < bytes.size()) {
      const auto w =
          ::write(p[1], bytes.data() + sent, std::min<std::size_t>(4096, bytes.size() - sent));
      ASSERT_GT(w, 0);
      sent += static_cast<std::size_t>(w);
      if (sent == bytes.size()) ::close(p[1]);
    }
    out.drain();
  }
}

TEST(OutputStreamTest, TheFileGetsTheBytesUnchangedWithTheLastPartialLine) {
  testing::TempDir dir;
  const std::string bytes = "one\ntwo\n\nthree without a newline";
  pump(bytes, false, dir.file("stdout.log"));
  EXPECT_EQ(slurp(dir.file("stdout.log")), bytes);
}

TEST(OutputStreamTest, TheConsoleGetsPrefixedLinesAndLongLinesInPieces) {
  testing::TempDir dir;
  const std::string captured = dir.file("console.txt");
  std::fflush(stdout);
  const int saved = ::dup(STDOUT_FILENO);
  const int file = ::open(captured.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  ASSERT_GE(file, 0);
  ::dup2(file, STDOUT_FILENO);
  ::close(file);
  // A line far longer than kMaxLine goes out in pieces as it arrives, before
  // its end is read: memory stays bounded.
  const std::string longLine(3 * OutputStream::kMaxLine + 10, 'x');
  pump("one\ntwo\n" + longLine + "\ntail", true, "");
  ::dup2(saved, STDOUT_FILENO);
  ::close(saved);
  std::vector<std::string> lines;
  std::istringstream in(slurp(captured));
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  ASSERT_GE(lines.size(), 5u);
  EXPECT_EQ(lines.front(), "[rank 3] one");
  EXPECT_EQ(lines[1], "[rank 3] two");
  EXPECT_EQ(lines.back(), "[rank 3] tail");
  std::string joined;
  for (std::size_t k = 2; k + 1 < lines.size(); ++k) {
    ASSERT_EQ(lines[k].rfind("[rank 3] ", 0), 0u) << "piece " << k << " has no prefix";
    const auto piece = lines[k].substr(9);
    EXPECT_LE(piece.size(), 2 * OutputStream::kMaxLine) << "piece " << k;
    joined += piece;
  }
  EXPECT_EQ(joined, longLine) << "the pieces lost or added bytes";
}

TEST(OutputStreamTest, NothingLostMeansNoDroppedNote) {
  Console console;
  EXPECT_EQ(console.droppedNote(), "");
}

}  // namespace
}  // namespace hemingway::plugin
