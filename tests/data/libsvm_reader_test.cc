#include <gtest/gtest.h>

#include <fstream>

#include "hemingway/hooks/error.h"
#include "hemingway/plugin/data/datasets.h"
#include "support/ranks.h"

namespace hemingway::data {
namespace {

std::string write(const testing::TempDir& dir, const std::string& text) {
  const auto path = dir.file("d.libsvm");
  std::ofstream(path) << text;
  return path;
}

void expectErrorMentioning(const std::string& path, const std::vector<std::string>& needles) {
  try {
    readLibsvm(path);
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    for (const auto& n : needles) {
      EXPECT_NE(std::string(e.what()).find(n), std::string::npos) << e.what();
    }
  }
}

TEST(LibsvmReaderTest, ReadsSparseRows) {
  testing::TempDir dir;
  auto set = readLibsvm(write(dir, "+1 1:0.5 4:2\n-1 2:1e-1\n\n# comment\n1 3:-3 4:1 # tail\n"));
  EXPECT_EQ(set.rows(), 3);
  EXPECT_EQ(set.features, 4);
  EXPECT_EQ(set.labels, (std::vector<double>{1, -1, 1}));
  EXPECT_EQ(set.rowStart, (std::vector<int64_t>{0, 2, 3, 5}));
  EXPECT_EQ(set.index, (std::vector<int32_t>{0, 3, 1, 2, 3}));
  auto dense = set.toDense();
  ASSERT_EQ(dense.size(), 12u);
  EXPECT_FLOAT_EQ(dense[0 * 4 + 3], 2.0f);
  EXPECT_FLOAT_EQ(dense[1 * 4 + 1], 0.1f);
  EXPECT_FLOAT_EQ(dense[2 * 4 + 2], -3.0f);
  EXPECT_FLOAT_EQ(dense[2 * 4 + 0], 0.0f);
}

TEST(LibsvmReaderTest, ReadsDenseRowsAndFixedWidth) {
  testing::TempDir dir;
  const auto path = write(dir, "0 1:1 2:2 3:3\n1 1:4 2:5 3:6");  // no final newline
  auto set = readLibsvm(path, 5);
  EXPECT_EQ(set.rows(), 2);
  EXPECT_EQ(set.features, 5);
  auto dense = set.toDense();
  EXPECT_FLOAT_EQ(dense[5 + 2], 6.0f);
}

TEST(LibsvmReaderTest, BadTokenNamesFileAndLine) {
  testing::TempDir dir;
  expectErrorMentioning(write(dir, "1 1:1\n1 2=3\n"), {"d.libsvm", "line 2", "index:value"});
}

TEST(LibsvmReaderTest, DecreasingIndexIsNamed) {
  testing::TempDir dir;
  expectErrorMentioning(write(dir, "1 3:1 2:1\n"), {"line 1", "must increase"});
}

TEST(LibsvmReaderTest, ZeroIndexIsNamed) {
  testing::TempDir dir;
  expectErrorMentioning(write(dir, "1 0:1\n"), {"line 1", "indices start at 1"});
}

TEST(LibsvmReaderTest, BadLabelAndValueAreNamed) {
  testing::TempDir dir;
  expectErrorMentioning(write(dir, "x 1:1\n"), {"line 1", "label"});
  expectErrorMentioning(write(dir, "1 1:nan\n"), {"line 1", "value of feature 1"});
}

TEST(LibsvmReaderTest, IndexBeyondFixedWidthIsNamed) {
  testing::TempDir dir;
  const auto path = write(dir, "1 7:1\n");
  EXPECT_THROW(readLibsvm(path, 5), Error);
}

TEST(LibsvmReaderTest, EmptyAndMissingFilesAreNamed) {
  testing::TempDir dir;
  expectErrorMentioning(write(dir, "\n# only a comment\n"), {"holds no examples"});
  expectErrorMentioning("/nonexistent/x.libsvm", {"/nonexistent/x.libsvm", "cannot open"});
}

}  // namespace
}  // namespace hemingway::data

namespace hemingway::data {
namespace {

TEST(LibsvmReaderTest, FeatureIndicesAboveTheLimitAreRefusedBeforeAllocating) {
  testing::TempDir dir;
  std::ofstream(dir.file("wide.libsvm")) << "1 1:0.5 2147483647:1\n";
  std::ofstream(dir.file("wide2.libsvm")) << "1 1:0.5 100000000:1\n";
  for (const char* f : {"wide.libsvm", "wide2.libsvm"}) {
    expectErrorMentioning(dir.file(f), {f, "exceeds the limit of 33554432 features"});
  }
  // A higher limit, when asked for.
  auto set = readLibsvm(dir.file("wide2.libsvm"), 0, 100000000);
  EXPECT_EQ(set.features, 100000000);
}

TEST(LibsvmReaderTest, ValuesOverflowingSinglePrecisionAreInputErrors) {
  testing::TempDir dir;
  std::ofstream(dir.file("big.libsvm")) << "1 1:0.5\n-1 3:1e39\n";
  std::ofstream(dir.file("label.libsvm")) << "1e39 1:0.5\n";
  expectErrorMentioning(dir.file("big.libsvm"),
                        {"big.libsvm", "line 2", "overflows single precision"});
  expectErrorMentioning(dir.file("label.libsvm"), {"label.libsvm", "overflows single precision"});
}

}  // namespace
}  // namespace hemingway::data
