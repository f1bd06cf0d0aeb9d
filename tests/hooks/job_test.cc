#include "hemingway/hooks/job.h"

#include <gtest/gtest.h>

namespace {

namespace hk = hemingway::hooks;

TEST(JobTest, TheFingerprintNamesTheCurveNotItsRealisation) {
  const std::string base = hk::jobFingerprint({{"lr", "0.1"}, {"seed", "0"}, {"threads", "1"}});
  // Another seed, other threads, another data path: the same job.
  EXPECT_EQ(base, hk::jobFingerprint({{"lr", "0.1"}, {"seed", "7"}, {"threads", "2"}}));
  EXPECT_EQ(base, hk::jobFingerprint({{"lr", "0.1"}, {"data", "/elsewhere"}}));
  // Another learning rate, or a new setting: another job.
  EXPECT_NE(base, hk::jobFingerprint({{"lr", "0.2"}, {"seed", "0"}}));
  EXPECT_NE(base, hk::jobFingerprint({{"lr", "0.1"}, {"batch_size", "64"}}));
}

}  // namespace
