// Readers for real data: Fashion-MNIST's gzip IDX files as Debian ships them,
// and LIBSVM text files (sparse or dense rows). No torch here: plain buffers
// that training code wraps without copying. Every error names the file.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace hemingway::data {

// Debian's dataset-fashion-mnist location.
inline constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";
inline constexpr int kFashionMnistClasses = 10;

enum class Split { kTrain, kTest };

// Images as row-major uint8 pixels, `count` images of rows x cols.
struct ImageSet {
  std::int64_t count = 0;
  int rows = 0;
  int cols = 0;
  std::vector<std::uint8_t> pixels;  // count * rows * cols
  std::vector<std::uint8_t> labels;  // count
  std::int64_t features() const { return static_cast<std::int64_t>(rows) * cols; }
};

// Half-open range [begin, end) of examples owned by `rank`: contiguous, sizes
// differ by at most one, and the ranks together cover [0, n) exactly once.
struct ShardRange {
  std::int64_t begin = 0;
  std::int64_t end = 0;
  std::int64_t size() const { return end - begin; }
};
ShardRange shardRange(std::int64_t n, int rank, int worldSize);

// Reads an IDX image file and its label file (gzip or plain). Throws
// hemingway::Error naming the file for a missing, corrupt or truncated file
// (gzip's CRC-32 and length are checked), a header that announces more or
// less data than the file holds (checked before anything is allocated),
// bytes after the data, a count mismatch, or, with `classes` > 0, a label
// outside [0, classes).
ImageSet readIdx(const std::string& imagesPath, const std::string& labelsPath, int classes = 0);

// Fashion-MNIST from `dir` (train: 60,000 images, test: 10,000).
ImageSet loadFashionMnist(Split split, const std::string& dir = kFashionMnistDir);

// Keeps only the examples of shardRange(count, rank, worldSize).
ImageSet shard(const ImageSet& set, int rank, int worldSize);

// A LIBSVM data set in compressed sparse rows, 0-based feature indices.
struct SparseSet {
  std::int64_t features = 0;
  std::vector<double> labels;
  std::vector<std::int64_t> rowStart;  // size rows()+1
  std::vector<std::int32_t> index;
  std::vector<float> value;
  std::int64_t rows() const { return static_cast<std::int64_t>(labels.size()); }
  // Row-major dense copy (rows() x features).
  std::vector<float> toDense() const;
};

// Reads "label idx:value idx:value ..." lines (1-based, increasing indices;
// a dense file lists every index). Gzip is read transparently. `features` > 0
// fixes the width (indices beyond it are an error); 0 takes the largest index,
// which must not exceed `maxFeatures` (the models hold a dense weight vector
// of that many doubles). Labels and values must be finite in single precision
// (|v| <= 3.4e38): an overflow is an input error, naming the line.
inline constexpr std::int64_t kMaxLibsvmFeatures = std::int64_t{1} << 25;  // 33,554,432
SparseSet readLibsvm(const std::string& path, std::int64_t features = 0,
                     std::int64_t maxFeatures = kMaxLibsvmFeatures);

// The binary task "class `positive` vs rest" of an image set: labels +1/-1,
// pixels scaled to [0, 1] (kScale) or rows scaled to unit L2 norm (kUnitNorm),
// zero pixels left out of the sparse rows.
enum class Normalize { kScale, kUnitNorm };
SparseSet oneVsRest(const ImageSet& images, int positive, Normalize normalize);

}  // namespace hemingway::data
