#include <gtest/gtest.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "hemingway/hooks/error.h"
#include "hemingway/plugin/data/datasets.h"
#include "support/ranks.h"

namespace hemingway::data {
namespace {

void put32(std::vector<unsigned char>& out, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<unsigned char>(v >> s));
}

std::vector<unsigned char> imagesBytes(uint32_t count, uint32_t rows, uint32_t cols) {
  std::vector<unsigned char> b;
  put32(b, 0x803);
  put32(b, count);
  put32(b, rows);
  put32(b, cols);
  for (uint32_t i = 0; i < count * rows * cols; ++i) b.push_back(static_cast<unsigned char>(i));
  return b;
}

std::vector<unsigned char> labelBytes(uint32_t count) {
  std::vector<unsigned char> b;
  put32(b, 0x801);
  put32(b, count);
  for (uint32_t i = 0; i < count; ++i) b.push_back(static_cast<unsigned char>(i % 10));
  return b;
}

void writeGz(const std::string& path, const std::vector<unsigned char>& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())),
            static_cast<int>(bytes.size()));
  gzclose(f);
}

void writeRaw(const std::string& path, const std::vector<unsigned char>& bytes) {
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
}

std::vector<unsigned char> readRaw(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

void expectErrorMentioning(const std::function<void()>& fn,
                           const std::vector<std::string>& needles) {
  try {
    fn();
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    for (const auto& n : needles) {
      EXPECT_NE(std::string(e.what()).find(n), std::string::npos) << e.what();
    }
  }
}

TEST(IdxReaderTest, ReadsGzipAndPlainFiles) {
  testing::TempDir dir;
  writeGz(dir.file("i.gz"), imagesBytes(5, 2, 3));
  writeRaw(dir.file("l"), labelBytes(5));
  auto set = readIdx(dir.file("i.gz"), dir.file("l"));
  EXPECT_EQ(set.count, 5);
  EXPECT_EQ(set.rows, 2);
  EXPECT_EQ(set.cols, 3);
  ASSERT_EQ(set.pixels.size(), 30u);
  EXPECT_EQ(set.pixels[29], 29);
  EXPECT_EQ(set.labels[4], 4);
}

TEST(IdxReaderTest, TruncatedGzipIsNamed) {
  testing::TempDir dir;
  writeGz(dir.file("full.gz"), imagesBytes(50, 4, 4));
  auto bytes = readRaw(dir.file("full.gz"));
  bytes.resize(bytes.size() / 2);
  writeRaw(dir.file("cut.gz"), bytes);
  writeGz(dir.file("l.gz"), labelBytes(50));
  expectErrorMentioning([&] { readIdx(dir.file("cut.gz"), dir.file("l.gz")); },
                        {"cut.gz", "truncated"});
}

TEST(IdxReaderTest, TruncatedPayloadIsNamed) {
  testing::TempDir dir;
  auto bytes = imagesBytes(10, 4, 4);
  bytes.resize(bytes.size() - 7);
  writeGz(dir.file("i.gz"), bytes);
  writeGz(dir.file("l.gz"), labelBytes(10));
  expectErrorMentioning([&] { readIdx(dir.file("i.gz"), dir.file("l.gz")); },
                        {"i.gz", "truncated", "10 images of 4 x 4"});
}

TEST(IdxReaderTest, CorruptGzipIsNamed) {
  testing::TempDir dir;
  writeGz(dir.file("i.gz"), imagesBytes(50, 4, 4));
  auto bytes = readRaw(dir.file("i.gz"));
  for (size_t k = 12; k < bytes.size() - 8; k += 3) bytes[k] ^= 0x5a;  // damage the deflate stream
  writeRaw(dir.file("bad.gz"), bytes);
  writeGz(dir.file("l.gz"), labelBytes(50));
  expectErrorMentioning([&] { readIdx(dir.file("bad.gz"), dir.file("l.gz")); }, {"bad.gz"});
}

TEST(IdxReaderTest, WrongMagicIsNamed) {
  testing::TempDir dir;
  writeGz(dir.file("i.gz"), labelBytes(5));  // a label file where images are expected
  writeGz(dir.file("l.gz"), labelBytes(5));
  expectErrorMentioning([&] { readIdx(dir.file("i.gz"), dir.file("l.gz")); },
                        {"i.gz", "not an IDX image file"});
}

TEST(IdxReaderTest, CountMismatchIsNamed) {
  testing::TempDir dir;
  writeGz(dir.file("i.gz"), imagesBytes(5, 2, 2));
  writeGz(dir.file("l.gz"), labelBytes(4));
  expectErrorMentioning([&] { readIdx(dir.file("i.gz"), dir.file("l.gz")); },
                        {"l.gz", "4 labels", "5 images"});
}

TEST(IdxReaderTest, MissingFileIsNamed) {
  expectErrorMentioning([&] { readIdx("/nonexistent/i.gz", "/nonexistent/l.gz"); },
                        {"/nonexistent/i.gz", "cannot open"});
}

TEST(ShardTest, ShardsCoverEveryExampleExactlyOnce) {
  for (int64_t n : {0, 1, 7, 60000, 60001}) {
    for (int world : {1, 2, 3, 4, 7, 128}) {
      std::vector<int> seen(static_cast<size_t>(n), 0);
      int64_t minSize = n, maxSize = 0;
      for (int r = 0; r < world; ++r) {
        auto s = shardRange(n, r, world);
        for (int64_t i = s.begin; i < s.end; ++i) seen[static_cast<size_t>(i)]++;
        minSize = std::min(minSize, s.size());
        maxSize = std::max(maxSize, s.size());
      }
      for (int64_t i = 0; i < n; ++i) ASSERT_EQ(seen[i], 1) << "n=" << n << " world=" << world;
      EXPECT_LE(maxSize - minSize, 1);
    }
  }
}

TEST(FashionMnistTest, ReadsDebianPackageAsShipped) {
  if (!std::filesystem::exists(std::string(kFashionMnistDir) + "/train-images-idx3-ubyte.gz")) {
    GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  }
  auto train = loadFashionMnist(Split::kTrain);
  EXPECT_EQ(train.count, 60000);
  EXPECT_EQ(train.rows, 28);
  EXPECT_EQ(train.cols, 28);
  std::set<int> classes(train.labels.begin(), train.labels.end());
  EXPECT_EQ(classes.size(), 10u);
  auto test = loadFashionMnist(Split::kTest);
  EXPECT_EQ(test.count, 10000);
  auto part = shard(train, 1, 3);
  EXPECT_EQ(part.count, 20000);
  EXPECT_EQ(part.labels[0], train.labels[20000]);
}

}  // namespace
}  // namespace hemingway::data

namespace hemingway::data {
namespace {

// Pixels that do not compress away, so corruption lands in the deflate data.
std::vector<unsigned char> noisyImages(uint32_t count, uint32_t rows, uint32_t cols) {
  auto b = imagesBytes(count, rows, cols);
  uint32_t x = 12345;
  for (std::size_t k = 16; k < b.size(); ++k) {
    x = x * 1103515245u + 12345u;
    b[k] = static_cast<unsigned char>(x >> 24);
  }
  return b;
}

TEST(IdxReaderTest, CorruptionInTheMiddleOfAGzipIsRefused) {
  testing::TempDir dir;
  writeGz(dir.file("i.gz"), noisyImages(200, 28, 28));
  writeGz(dir.file("l.gz"), labelBytes(200));
  auto bytes = readRaw(dir.file("i.gz"));
  // 1,000 bytes flipped in the middle: inflate may still "succeed" on them,
  // only the CRC-32 in the trailer can tell.
  for (std::size_t k = bytes.size() / 2; k < bytes.size() / 2 + 1000; ++k) bytes[k] ^= 0x5a;
  writeRaw(dir.file("bad.gz"), bytes);
  expectErrorMentioning([&] { readIdx(dir.file("bad.gz"), dir.file("l.gz")); },
                        {"bad.gz", "corrupt"});
}

TEST(IdxReaderTest, MissingGzipTrailerIsRefused) {
  testing::TempDir dir;
  writeGz(dir.file("i.gz"), noisyImages(20, 4, 4));
  writeGz(dir.file("l.gz"), labelBytes(20));
  auto bytes = readRaw(dir.file("i.gz"));
  bytes.resize(bytes.size() - 8);  // CRC-32 and ISIZE gone
  writeRaw(dir.file("notrailer.gz"), bytes);
  expectErrorMentioning([&] { readIdx(dir.file("notrailer.gz"), dir.file("l.gz")); },
                        {"notrailer.gz"});
}

TEST(IdxReaderTest, AHeaderClaimingMoreThanTheFileHoldsFailsBeforeAllocating) {
  testing::TempDir dir;
  auto bytes = noisyImages(10, 28, 28);
  bytes[4] = 0x04;  // count = 2^26 + 10 images: 52 GB
  writeGz(dir.file("big.gz"), bytes);
  writeRaw(dir.file("big.idx"), bytes);
  writeGz(dir.file("l.gz"), labelBytes(10));
  for (const char* f : {"big.gz", "big.idx"}) {
    try {
      readIdx(dir.file(f), dir.file("l.gz"));
      ADD_FAILURE() << "expected an error for " << f;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(f), std::string::npos) << e.what();
    } catch (const std::bad_alloc&) {
      ADD_FAILURE() << f << ": allocated before checking the header";
    }
  }
}

TEST(IdxReaderTest, LabelsOutsideTheClassesAreRefusedNamingTheFile) {
  testing::TempDir dir;
  writeGz(dir.file("i.gz"), imagesBytes(5, 2, 2));
  auto labels = labelBytes(5);
  labels.back() = 10;
  writeGz(dir.file("l.gz"), labels);
  EXPECT_NO_THROW(readIdx(dir.file("i.gz"), dir.file("l.gz")));  // no class count: any byte
  expectErrorMentioning([&] { readIdx(dir.file("i.gz"), dir.file("l.gz"), 10); },
                        {"l.gz", "label 10 of example 4", "0..9"});
}

}  // namespace
}  // namespace hemingway::data
