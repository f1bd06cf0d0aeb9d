// The board: one shared page that hemingway-run maps into every worker of a
// single-node elastic run (HEMINGWAY_ABORT_FD), so that a worker learns of a
// new or a broken generation by a memory load instead of a question to the
// store. The launcher writes with release, the workers read with acquire.
#pragma once

#include <cstdint>
#include <optional>

namespace hemingway::elastic::detail {

class Board {
 public:
  // The launcher's: a new page (memfd) with no generation aborted or
  // published yet. Its fd is inherited by the workers it starts.
  static Board create();
  // A worker's: the page behind `fd`, read-only; nullopt if it cannot be mapped.
  static std::optional<Board> attach(int fd);

  Board(Board&& other) noexcept;
  Board& operator=(Board&& other) noexcept;
  Board(const Board&) = delete;
  Board& operator=(const Board&) = delete;
  ~Board();

  int fd() const { return fd_; }
  // The newest aborted generation (-1: none).
  std::int64_t aborted() const { return load(kAborted); }
  void setAborted(std::int64_t generation) { store(kAborted, generation); }
  // The newest published generation, once the store holds its keys (-1: none).
  std::int64_t published() const { return load(kPublished); }
  void setPublished(std::int64_t generation) { store(kPublished, generation); }

 private:
  static constexpr int kAborted = 0, kPublished = 1;
  Board(int fd, std::int64_t* page, bool owner) : fd_(fd), page_(page), owner_(owner) {}
  std::int64_t load(int slot) const { return __atomic_load_n(page_ + slot, __ATOMIC_ACQUIRE); }
  void store(int slot, std::int64_t value) {
    __atomic_store_n(page_ + slot, value, __ATOMIC_RELEASE);
  }

  int fd_ = -1;
  std::int64_t* page_ = nullptr;
  bool owner_ = false;  // the launcher's: closes the fd
};

}  // namespace hemingway::elastic::detail
