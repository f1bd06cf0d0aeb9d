#include <zlib.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>

#include "hemingway/hooks/error.h"
#include "hemingway/plugin/data/datasets.h"

namespace hemingway::data {
namespace {

struct GzCloser {
  void operator()(gzFile f) const { gzclose(f); }
};
using GzFile = std::unique_ptr<gzFile_s, GzCloser>;

GzFile openGz(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  HEMINGWAY_CHECK(f != nullptr, "cannot open '{}': {}{}", path, std::strerror(errno),
                  errno == ENOENT ? " (Fashion-MNIST: install dataset-fashion-mnist, or give its "
                                    "folder with --data DIR)"
                                  : "");
  gzbuffer(f, 1 << 17);
  return GzFile(f);
}

// Reads exactly n bytes or throws naming the file and what was being read.
void readExact(gzFile f, const std::string& path, void* out, std::size_t n, const char* what) {
  auto* p = static_cast<unsigned char*>(out);
  std::size_t got = 0;
  while (got < n) {
    const unsigned chunk = static_cast<unsigned>(std::min<std::size_t>(n - got, 1u << 30));
    const int r = gzread(f, p + got, chunk);
    if (r < 0) {
      int code = 0;
      const char* msg = gzerror(f, &code);
      HEMINGWAY_FAIL("'{}' is corrupt (reading {}): {}", path, what, msg);
    }
    if (r == 0) {
      int code = 0;
      const char* msg = gzerror(f, &code);
      HEMINGWAY_FAIL("'{}' is truncated: {} needs {} bytes, the file ends after {}{}", path, what,
                     n, got, code != Z_OK && code != Z_STREAM_END ? fmt::format(" ({})", msg) : "");
    }
    got += static_cast<std::size_t>(r);
  }
}

// After the data: the file must end here, and zlib checks the gzip trailer
// (CRC-32 and length) only when it reads it.
void expectEnd(gzFile f, const std::string& path) {
  unsigned char extra[64];
  const int r = gzread(f, extra, sizeof extra);
  int code = 0;
  const char* msg = gzerror(f, &code);
  HEMINGWAY_CHECK(r >= 0 && code == Z_OK,
                  "'{}' is corrupt: {} (gzip's CRC or length check failed, or its trailer is "
                  "missing; download or install the file again)",
                  path, msg);
  HEMINGWAY_CHECK(r == 0,
                  "'{}' has bytes after the data its header describes: corrupt or not an "
                  "IDX file",
                  path);
}

// The uncompressed size a gzip file declares (its trailer's ISIZE, mod 2^32);
// nullopt for a plain file or when it cannot be read.
std::optional<std::uint32_t> gzipDeclaredSize(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  unsigned char head[2] = {0, 0};
  if (!in.read(reinterpret_cast<char*>(head), 2) || head[0] != 0x1f || head[1] != 0x8b) {
    return std::nullopt;
  }
  unsigned char tail[4];
  if (!in.seekg(-4, std::ios::end) || !in.read(reinterpret_cast<char*>(tail), 4)) {
    return std::nullopt;
  }
  return std::uint32_t{tail[0]} | (std::uint32_t{tail[1]} << 8) | (std::uint32_t{tail[2]} << 16) |
         (std::uint32_t{tail[3]} << 24);
}

// Checks, before anything is allocated, that a file whose header announces
// `bytes` in all can hold them.
void checkSize(const std::string& path, std::uint64_t bytes, const std::string& what) {
  std::error_code ec;
  const auto onDisk = std::filesystem::file_size(path, ec);
  if (ec) return;  // openGz already succeeded; the reads will tell
  if (const auto declared = gzipDeclaredSize(path)) {
    HEMINGWAY_CHECK(*declared == static_cast<std::uint32_t>(bytes),
                    "'{}': its header announces {} ({} bytes), but the gzip trailer says the "
                    "file holds {} bytes: corrupt, truncated or mislabelled",
                    path, what, bytes, *declared);
    // Deflate cannot expand more than about 1032:1.
    HEMINGWAY_CHECK(bytes / 1032 <= onDisk,
                    "'{}': its header announces {} ({} bytes), more than "
                    "a {}-byte gzip file can hold",
                    path, what, bytes, onDisk);
  } else {
    HEMINGWAY_CHECK(bytes == onDisk,
                    "'{}': its header announces {} ({} bytes), but the file has "
                    "{} bytes",
                    path, what, bytes, onDisk);
  }
}

// Reads n bytes into `out` in pieces, growing it as data arrives: a header
// that lies costs no more memory than the file really holds.
void readInto(gzFile f, const std::string& path, std::vector<std::uint8_t>& out, std::size_t n,
              const char* what) {
  constexpr std::size_t kPiece = 16u << 20;
  out.clear();
  while (out.size() < n) {
    const std::size_t at = out.size();
    const std::size_t piece = std::min(kPiece, n - at);
    out.resize(at + piece);
    try {
      readExact(f, path, out.data() + at, piece, what);
    } catch (const Error&) {
      out.clear();
      throw;
    }
  }
}

std::uint32_t readBigEndian32(gzFile f, const std::string& path, const char* what) {
  unsigned char b[4];
  readExact(f, path, b, 4, what);
  return (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) | (std::uint32_t{b[2]} << 8) |
         std::uint32_t{b[3]};
}

}  // namespace

ShardRange shardRange(std::int64_t n, int rank, int worldSize) {
  HEMINGWAY_CHECK(worldSize >= 1 && rank >= 0 && rank < worldSize,
                  "shard: rank {} is out of range for world size {}", rank, worldSize);
  const std::int64_t base = n / worldSize, extra = n % worldSize;
  const std::int64_t begin = rank * base + std::min<std::int64_t>(rank, extra);
  return {begin, begin + base + (rank < extra ? 1 : 0)};
}

ImageSet readIdx(const std::string& imagesPath, const std::string& labelsPath, int classes) {
  ImageSet set;
  {
    auto f = openGz(imagesPath);
    const auto magic = readBigEndian32(f.get(), imagesPath, "the header");
    HEMINGWAY_CHECK(magic == 0x00000803,
                    "'{}' is not an IDX image file: magic number 0x{:08x}, expected 0x00000803",
                    imagesPath, magic);
    const auto count = readBigEndian32(f.get(), imagesPath, "the header");
    const auto rows = readBigEndian32(f.get(), imagesPath, "the header");
    const auto cols = readBigEndian32(f.get(), imagesPath, "the header");
    HEMINGWAY_CHECK(rows > 0 && rows <= 4096 && cols > 0 && cols <= 4096 && count <= (1u << 26),
                    "'{}' has an implausible shape {} x {} x {}", imagesPath, count, rows, cols);
    set.count = count;
    set.rows = static_cast<int>(rows);
    set.cols = static_cast<int>(cols);
    const std::uint64_t n = std::uint64_t{count} * rows * cols;
    checkSize(imagesPath, 16 + n, fmt::format("{} images of {} x {}", count, rows, cols));
    readInto(f.get(), imagesPath, set.pixels, n, "the pixels");
    expectEnd(f.get(), imagesPath);
  }
  {
    auto f = openGz(labelsPath);
    const auto magic = readBigEndian32(f.get(), labelsPath, "the header");
    HEMINGWAY_CHECK(magic == 0x00000801,
                    "'{}' is not an IDX label file: magic number 0x{:08x}, expected 0x00000801",
                    labelsPath, magic);
    const auto count = readBigEndian32(f.get(), labelsPath, "the header");
    HEMINGWAY_CHECK(count == set.count, "'{}' has {} labels but '{}' has {} images", labelsPath,
                    count, imagesPath, set.count);
    checkSize(labelsPath, 8 + std::uint64_t{count}, fmt::format("{} labels", count));
    readInto(f.get(), labelsPath, set.labels, count, "the labels");
    expectEnd(f.get(), labelsPath);
    if (classes > 0) {
      for (std::size_t k = 0; k < set.labels.size(); ++k) {
        HEMINGWAY_CHECK(set.labels[k] < classes,
                        "'{}': label {} of example {} is not a class (expected 0..{})", labelsPath,
                        set.labels[k], k, classes - 1);
      }
    }
  }
  return set;
}

ImageSet loadFashionMnist(Split split, const std::string& dir) {
  const std::string prefix = split == Split::kTrain ? "train" : "t10k";
  return readIdx(dir + "/" + prefix + "-images-idx3-ubyte.gz",
                 dir + "/" + prefix + "-labels-idx1-ubyte.gz", kFashionMnistClasses);
}

ImageSet shard(const ImageSet& set, int rank, int worldSize) {
  const auto r = shardRange(set.count, rank, worldSize);
  ImageSet out;
  out.count = r.size();
  out.rows = set.rows;
  out.cols = set.cols;
  const auto f = set.features();
  out.pixels.assign(set.pixels.begin() + r.begin * f, set.pixels.begin() + r.end * f);
  out.labels.assign(set.labels.begin() + r.begin, set.labels.begin() + r.end);
  return out;
}

SparseSet oneVsRest(const ImageSet& images, int positive, Normalize normalize) {
  HEMINGWAY_CHECK(positive >= 0 && positive <= 255, "class {} is not a label value", positive);
  SparseSet set;
  set.features = images.features();
  set.rowStart.push_back(0);
  const auto f = images.features();
  for (std::int64_t r = 0; r < images.count; ++r) {
    const std::uint8_t* row = images.pixels.data() + r * f;
    double norm2 = 0;
    for (std::int64_t j = 0; j < f; ++j) norm2 += double(row[j]) * row[j];
    const double scale = normalize == Normalize::kUnitNorm
                             ? (norm2 > 0 ? 1.0 / std::sqrt(norm2) : 0.0)
                             : 1.0 / 255.0;
    for (std::int64_t j = 0; j < f; ++j) {
      if (row[j] == 0) continue;
      set.index.push_back(static_cast<std::int32_t>(j));
      set.value.push_back(static_cast<float>(row[j] * scale));
    }
    set.rowStart.push_back(static_cast<std::int64_t>(set.index.size()));
    set.labels.push_back(images.labels[r] == positive ? 1.0 : -1.0);
  }
  return set;
}

}  // namespace hemingway::data
