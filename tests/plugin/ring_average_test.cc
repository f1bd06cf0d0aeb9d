#include "hemingway/plugin/detail/ring_average.h"

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <mutex>
#include <thread>
#include <tuple>

#include "hemingway/hooks/error.h"
#include "hemingway/plugin/process_group.h"
#include "support/ranks.h"

namespace hemingway::plugin::detail {
namespace {

using testing::runRanks;

// Rank r's input: deterministic values that differ per rank and per element.
at::Tensor inputOf(int rank, std::int64_t n, at::ScalarType type) {
  auto i = at::arange(n, at::TensorOptions().dtype(at::kDouble));
  return (at::sin(i * 0.37 + rank) * (rank + 1) + 0.25 * rank).to(type);
}

// The mean of every rank's input, computed in double on one thread.
at::Tensor expectedMean(int world, std::int64_t n) {
  auto sum = at::zeros({n}, at::TensorOptions().dtype(at::kDouble));
  for (int r = 0; r < world; ++r) sum += inputOf(r, n, at::kDouble);
  return sum / world;
}

// (world size, elements, segment bytes, dtype)
using Shape = std::tuple<int, std::int64_t, std::int64_t, at::ScalarType>;
// (shape, receives posted first)
class RingAverageTest : public ::testing::TestWithParam<std::tuple<Shape, bool>> {};

TEST_P(RingAverageTest, EveryRankGetsTheMeanOfAllInputs) {
  const auto [shape, receivesFirst] = GetParam();
  const auto [world, n, segmentBytes, type] = shape;
  RingOptions options;
  options.segmentBytes = segmentBytes;
  options.receivesFirst = receivesFirst;
  std::mutex mutex;
  std::map<int, at::Tensor> got;
  runRanks(world, [&](ProcessGroup& group) {
    auto x = inputOf(group.rank(), n, type);
    at::Tensor scratch;
    ringAverage(group, x, scratch, /*tagBase=*/0, options);
    std::lock_guard<std::mutex> lock(mutex);
    got[group.rank()] = x;
  });
  const auto want = expectedMean(world, n);
  const double tol = type == at::kFloat ? 1e-5 : 1e-12;
  for (int r = 0; r < world; ++r) {
    SCOPED_TRACE("rank " + std::to_string(r));
    ASSERT_EQ(got[r].numel(), n);
    EXPECT_TRUE(at::allclose(got[r].to(at::kDouble), want, tol, tol))
        << "max diff " << (got[r].to(at::kDouble) - want).abs().max().item<double>();
    // Each chunk is finished by one rank and copied to the others: bitwise equal.
    EXPECT_TRUE(at::equal(got[r], got[0]));
  }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, RingAverageTest,
    ::testing::Combine(::testing::Values(std::make_tuple(2, 1, 4 << 20, at::kFloat),  // n < world
                                         std::make_tuple(3, 2, 4 << 20, at::kFloat),  // empty chunk
                                         std::make_tuple(2, 1001, 4 << 20, at::kFloat),
                                         std::make_tuple(2, 1001, 64, at::kFloat),  // short last
                                         std::make_tuple(3, 1001, 64, at::kDouble),
                                         std::make_tuple(4, 4099, 128, at::kFloat),
                                         std::make_tuple(4, 4099, 4 << 20, at::kDouble)),
                       ::testing::Bool()),
    [](const auto& info) {
      const auto& shape = std::get<0>(info.param);
      return "world" + std::to_string(std::get<0>(shape)) + "_n" +
             std::to_string(std::get<1>(shape)) + "_seg" + std::to_string(std::get<2>(shape)) +
             (std::get<3>(shape) == at::kFloat ? "_float" : "_double") +
             (std::get<1>(info.param) ? "_receivesFirst" : "_sendsFirst");
    });

TEST(RingAveragerTest, JobsRunInOrderAndEachHoldsItsMean) {
  const int world = 3;
  const std::int64_t sizes[] = {10, 1000, 3, 257};
  std::mutex mutex;
  std::map<int, std::vector<at::Tensor>> got;
  runRanks(world, [&](ProcessGroup& group) {
    RingOptions options;
    options.segmentBytes = 100;
    RingAverager averager(group, group.newChannel(), options);
    std::vector<at::Tensor> xs;
    std::vector<std::shared_ptr<RingJob>> jobs;
    for (auto n : sizes) {
      xs.push_back(inputOf(group.rank(), n, at::kFloat));
      jobs.push_back(averager.submit(xs.back()));  // all in flight before the first wait
    }
    for (auto& job : jobs) job->wait(group.timeout());
    for (auto& job : jobs) EXPECT_GT(job->doneNs()->load(), 0);
    std::lock_guard<std::mutex> lock(mutex);
    got[group.rank()] = xs;
  });
  for (int r = 0; r < world; ++r) {
    for (std::size_t j = 0; j < std::size(sizes); ++j) {
      const auto want = expectedMean(world, sizes[j]).to(at::kFloat);
      EXPECT_TRUE(at::allclose(got[r][j], want, 1e-5, 1e-6)) << "rank " << r << " job " << j;
    }
  }
}

TEST(RingAveragerTest, RejectsTensorsItCannotAverage) {
  runRanks(1, [&](ProcessGroup& group) {
    RingAverager averager(group, 0);
    EXPECT_THROW(averager.submit(at::zeros({4}, at::kLong)), Error);
    EXPECT_THROW(averager.submit(at::zeros({2, 2})), Error);
    EXPECT_THROW(RingAverager(group, 128), Error);
  });
}

TEST(RingAveragerTest, SilentPeerGivesPeerLostErrorWithinTheTimeout) {
  const auto start = std::chrono::steady_clock::now();
  std::atomic<bool> rank0Failed{false};
  runRanks(
      2,
      [&](ProcessGroup& group) {
        if (group.rank() == 1) {  // alive, never sends
          std::this_thread::sleep_for(std::chrono::seconds(3));
          return;
        }
        RingAverager averager(group, 0);
        auto x = inputOf(0, 100, at::kFloat);
        auto job = averager.submit(x);
        try {
          job->wait(group.timeout() * 2);
        } catch (const PeerLostError& e) {
          rank0Failed = true;
          EXPECT_NE(std::string(e.what()).find("ring average"), std::string::npos) << e.what();
        }
      },
      std::chrono::seconds(1));
  EXPECT_TRUE(rank0Failed.load());
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

// An elastic run's member died: the averager's jobs are aborted from another
// thread long before the group's timeout, the job in flight and the ones
// queued behind it fail with PeerLostError, and the averager's destructor does
// not wait for the timeout either.
TEST(RingAveragerTest, AbortEndsTheJobInFlightAndTheQueuedOnesAtOnce) {
  using namespace std::chrono;
  std::atomic<bool> rank0Checked{false};
  runRanks(
      2,
      [&](ProcessGroup& group) {
        if (group.rank() == 1) {  // alive, never sends
          std::this_thread::sleep_for(seconds(2));
          return;
        }
        auto averager = std::make_unique<RingAverager>(group, 0);
        auto x = inputOf(0, 1000, at::kFloat), y = inputOf(0, 10, at::kFloat);
        auto first = averager->submit(x);
        auto second = averager->submit(y);
        EXPECT_FALSE(first->finished(milliseconds(100))) << "the peer never sent";
        const auto t0 = steady_clock::now();
        averager->abort();
        EXPECT_TRUE(first->finished(milliseconds(500)));
        EXPECT_TRUE(second->finished(milliseconds(500)));
        EXPECT_LT(steady_clock::now() - t0, milliseconds(500));
        EXPECT_THROW(first->wait(milliseconds(1)), PeerLostError);
        EXPECT_THROW(second->wait(milliseconds(1)), PeerLostError);
        EXPECT_THROW(averager->submit(y)->wait(milliseconds(500)), PeerLostError);
        const auto t1 = steady_clock::now();
        averager.reset();
        EXPECT_LT(steady_clock::now() - t1, milliseconds(500));
        rank0Checked = true;
      },
      seconds(10));
  EXPECT_TRUE(rank0Checked.load());
}

// Destroying an averager whose job waits on a silent peer aborts that job.
TEST(RingAveragerTest, DestructorAbortsAJobInFlight) {
  using namespace std::chrono;
  std::atomic<bool> rank0Checked{false};
  runRanks(
      2,
      [&](ProcessGroup& group) {
        if (group.rank() == 1) {
          std::this_thread::sleep_for(seconds(2));
          return;
        }
        auto x = inputOf(0, 1000, at::kFloat);
        std::shared_ptr<RingJob> job;
        const auto t0 = steady_clock::now();
        {
          RingAverager averager(group, 0);
          job = averager.submit(x);
          std::this_thread::sleep_for(milliseconds(50));
        }
        EXPECT_LT(steady_clock::now() - t0, milliseconds(800));
        EXPECT_THROW(job->wait(milliseconds(1)), PeerLostError);
        rank0Checked = true;
      },
      seconds(10));
  EXPECT_TRUE(rank0Checked.load());
}

}  // namespace
}  // namespace hemingway::plugin::detail
