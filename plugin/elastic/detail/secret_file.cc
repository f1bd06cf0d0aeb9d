#include "hemingway/plugin/elastic/detail/secret_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>

#include <fmt/format.h>

#include "hemingway/hooks/error.h"

namespace hemingway::elastic::detail {
namespace {

std::string secretDir() {
  const char* tmp = std::getenv("TMPDIR");
  return fmt::format("{}/hemingway-{}", tmp && *tmp ? tmp : "/tmp", ::getuid());
}

}  // namespace

std::string secretFilePath(int port) { return fmt::format("{}/{}.secret", secretDir(), port); }

std::string writeSecretFile(int port, const std::string& secret) {
  const std::string dir = secretDir();
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return {};
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != ::getuid() ||
      (st.st_mode & 077) != 0) {
    return {};  // not ours alone
  }
  const std::string path = secretFilePath(port);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return {};
  [[maybe_unused]] auto n = ::write(fd, secret.data(), secret.size());
  ::close(fd);
  return path;
}

std::string readSecret(int port) {
  if (const char* s = std::getenv("HEMINGWAY_RUN_SECRET"); s != nullptr && *s != '\0') return s;
  const std::string path = secretFilePath(port);
  std::ifstream in(path);
  std::string secret;
  HEMINGWAY_CHECK_AS(ConfigError, static_cast<bool>(in >> secret),
                     "no elastic run of this user on port {} on this host ({} is missing); on "
                     "another host set HEMINGWAY_RUN_SECRET to the run's secret",
                     port, path);
  return secret;
}

}  // namespace hemingway::elastic::detail
