#include "hemingway/plugin/elastic/detail/board.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "hemingway/hooks/error.h"

namespace hemingway::elastic::detail {
namespace {
constexpr std::size_t kPage = 4096;
}  // namespace

Board Board::create() {
  const int fd = ::memfd_create("hemingway-abort", MFD_CLOEXEC);
  HEMINGWAY_CHECK(fd >= 0 && ::ftruncate(fd, kPage) == 0, "memfd failed: {}", std::strerror(errno));
  void* page = ::mmap(nullptr, kPage, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  HEMINGWAY_CHECK(page != MAP_FAILED, "mmap failed: {}", std::strerror(errno));
  Board board(fd, static_cast<std::int64_t*>(page), true);
  board.setAborted(-1);
  board.setPublished(-1);
  return board;
}

std::optional<Board> Board::attach(int fd) {
  void* page = ::mmap(nullptr, kPage, PROT_READ, MAP_SHARED, fd, 0);
  if (page == MAP_FAILED) return std::nullopt;
  return Board(fd, static_cast<std::int64_t*>(page), false);
}

Board::Board(Board&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      page_(std::exchange(other.page_, nullptr)),
      owner_(std::exchange(other.owner_, false)) {}

Board& Board::operator=(Board&& other) noexcept {
  if (this != &other) {
    this->~Board();
    fd_ = std::exchange(other.fd_, -1);
    page_ = std::exchange(other.page_, nullptr);
    owner_ = std::exchange(other.owner_, false);
  }
  return *this;
}

Board::~Board() {
  if (page_ != nullptr) ::munmap(page_, kPage);
  if (owner_ && fd_ >= 0) ::close(fd_);
}

}  // namespace hemingway::elastic::detail
