#include "hemingway/plugin/data_parallel.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <thread>
#include <tuple>

#include "hemingway/hooks/error.h"
#include "hemingway/hooks/step_recorder.h"
#include "hemingway/plugin/algorithms/parameter_averaging.h"
#include "hemingway/plugin/process_group.h"
#include "support/ranks.h"

namespace hemingway::plugin {
namespace {

using testing::runRanks;

constexpr int kBatch = 4;

// torch's default generator is global: ranks (threads) seed and draw under a lock.
std::mutex& rngMutex() {
  static std::mutex m;
  return m;
}

// 6 -> 8 -> 8 -> 3 MLP; `seed` fixes the initial weights.
torch::nn::Sequential makeMlp(int seed) {
  std::lock_guard<std::mutex> lock(rngMutex());
  torch::manual_seed(seed);
  return torch::nn::Sequential(torch::nn::Linear(6, 8), torch::nn::Tanh(), torch::nn::Linear(8, 8),
                               torch::nn::Tanh(), torch::nn::Linear(8, 3));
}

struct Batch {
  torch::Tensor x, y;
};

Batch globalBatch(int worldSize) {
  std::lock_guard<std::mutex> lock(rngMutex());
  torch::manual_seed(1234);
  return {torch::randn({kBatch * worldSize, 6}), torch::randn({kBatch * worldSize, 3})};
}

Batch localBatch(const Batch& global, int rank) {
  return {global.x.narrow(0, rank * kBatch, kBatch), global.y.narrow(0, rank * kBatch, kBatch)};
}

std::vector<torch::Tensor> gradsOf(torch::nn::Module& m) {
  std::vector<torch::Tensor> out;
  for (auto& p : m.parameters()) out.push_back(p.grad().defined() ? p.grad().clone() : p.grad());
  return out;
}

// Gradients of the mean loss over the whole concatenated batch, one process.
std::vector<torch::Tensor> referenceGrads(int worldSize) {
  auto model = makeMlp(7);
  auto batch = globalBatch(worldSize);
  torch::mse_loss(model->forward(batch.x), batch.y).backward();
  return gradsOf(*model);
}

void expectGradsNear(const std::vector<torch::Tensor>& got,
                     const std::vector<torch::Tensor>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_TRUE(got[i].defined()) << "parameter " << i << " has no gradient";
    EXPECT_TRUE(torch::allclose(got[i], want[i], 1e-5, 1e-6))
        << "parameter " << i << ": max diff " << (got[i] - want[i]).abs().max().item<float>();
  }
}

// (world size, averaged by the ring or by Gloo's allreduce and a division)
class DataParallelGradientTest : public ::testing::TestWithParam<std::tuple<int, bool>> {};

TEST_P(DataParallelGradientTest, GradientsEqualSingleProcessOnConcatenatedBatch) {
  const auto [world, ring] = GetParam();
  const auto want = referenceGrads(world);
  std::mutex mutex;
  std::map<int, std::vector<torch::Tensor>> got;
  runRanks(world, [&](ProcessGroup& group) {
    torch::set_num_threads(1);
    // Different seeds per rank: the wrapper must broadcast rank 0's weights.
    auto model = makeMlp(group.rank() == 0 ? 7 : 100 + group.rank());
    DataParallelOptions options;
    options.ringMinBytes = ring ? 0 : SIZE_MAX;
    options.ringSegmentBytes = 64;  // several segments per chunk
    DataParallel dp(group, model.ptr(), options);
    auto batch = localBatch(globalBatch(world), group.rank());
    torch::mse_loss(model->forward(batch.x), batch.y).backward();
    std::lock_guard<std::mutex> lock(mutex);
    got[group.rank()] = gradsOf(*model);
  });
  for (int r = 0; r < world; ++r) {
    SCOPED_TRACE("rank " + std::to_string(r));
    expectGradsNear(got[r], want);
  }
}

INSTANTIATE_TEST_SUITE_P(WorldSizes, DataParallelGradientTest,
                         ::testing::Combine(::testing::Values(2, 3), ::testing::Bool()));

TEST(DataParallelTest, SeveralBucketsGiveTheSameGradients) {
  const int world = 2;
  const auto want = referenceGrads(world);
  std::mutex mutex;
  std::map<int, std::vector<torch::Tensor>> got;
  size_t buckets = 0;
  runRanks(world, [&](ProcessGroup& group) {
    torch::set_num_threads(1);
    auto model = makeMlp(7);
    DataParallelOptions options;
    options.bucketCapBytes = 100;  // smaller than any weight matrix: one bucket per parameter
    options.firstBucketCapBytes = 100;
    DataParallel dp(group, model.ptr(), options);
    auto batch = localBatch(globalBatch(world), group.rank());
    torch::mse_loss(model->forward(batch.x), batch.y).backward();
    std::lock_guard<std::mutex> lock(mutex);
    got[group.rank()] = gradsOf(*model);
    buckets = dp.bucketCount();
  });
  EXPECT_EQ(buckets, 3u);  // a bucket closes once it reaches the cap: {bias, weight} per layer
  expectGradsNear(got[0], want);
  expectGradsNear(got[1], want);
}

TEST(DataParallelTest, DefaultCapsPackSmallModelIntoOneBucket) {
  runRanks(2, [&](ProcessGroup& group) {
    auto model = makeMlp(7);
    DataParallel dp(group, model.ptr());
    EXPECT_EQ(dp.bucketCount(), 1u);
    EXPECT_EQ(dp.bucketSize(0), 6u);
    EXPECT_EQ(dp.parameterCount(), 6 * 8 + 8 + 8 * 8 + 8 + 8 * 3 + 3);
  });
}

// Two heads; a rank uses head B only when told to.
struct TwoHeads : torch::nn::Module {
  TwoHeads() {
    std::lock_guard<std::mutex> lock(rngMutex());
    torch::manual_seed(3);
    trunk = register_module("trunk", torch::nn::Linear(4, 4));
    a = register_module("a", torch::nn::Linear(4, 2));
    b = register_module("b", torch::nn::Linear(4, 2));
  }
  torch::Tensor forward(const torch::Tensor& x, bool useB) {
    auto h = torch::relu(trunk->forward(x));
    return useB ? a->forward(h) + b->forward(h) : a->forward(h);
  }
  torch::nn::Linear trunk{nullptr}, a{nullptr}, b{nullptr};
};

TEST(DataParallelTest, ParameterUnusedInAStepContributesZeros) {
  const int world = 2;
  torch::manual_seed(11);
  auto x = torch::randn({2 * world, 4});
  // Reference: head b's gradient is the mean over ranks where rank 1 did not
  // use it, i.e. half of rank 0's local gradient.
  std::vector<torch::Tensor> want;
  {
    auto m = std::make_shared<TwoHeads>();
    auto l0 = m->forward(x.narrow(0, 0, 2), true).pow(2).mean();
    auto l1 = m->forward(x.narrow(0, 2, 2), false).pow(2).mean();
    ((l0 + l1) / 2).backward();
    want = gradsOf(*m);
  }
  std::mutex mutex;
  std::map<int, std::vector<torch::Tensor>> got;
  runRanks(world, [&](ProcessGroup& group) {
    torch::set_num_threads(1);
    auto m = std::make_shared<TwoHeads>();
    DataParallelOptions options;
    options.bucketCapBytes = 40;
    options.firstBucketCapBytes = 40;
    DataParallel dp(group, m, options);
    for (int step = 0; step < 3; ++step) {  // repeated steps must not hang
      for (auto& p : m->parameters()) p.mutable_grad() = torch::Tensor();
      m->forward(x.narrow(0, 2 * group.rank(), 2), group.rank() == 0).pow(2).mean().backward();
    }
    std::lock_guard<std::mutex> lock(mutex);
    got[group.rank()] = gradsOf(*m);
  });
  expectGradsNear(got[0], want);
  expectGradsNear(got[1], want);
}

TEST(DataParallelTest, ParametersIdenticalAcrossRanksAfterTraining) {
  const int world = 3;
  std::mutex mutex;
  std::map<int, std::vector<torch::Tensor>> params;
  runRanks(world, [&](ProcessGroup& group) {
    torch::set_num_threads(1);
    auto model = makeMlp(40 + group.rank());
    DataParallel dp(group, model.ptr());
    torch::optim::SGD opt(model->parameters(), torch::optim::SGDOptions(0.1).momentum(0.9));
    auto gen = at::make_generator<at::CPUGeneratorImpl>(500 + group.rank());  // per-rank data
    for (int step = 0; step < 10; ++step) {
      opt.zero_grad();
      auto x = torch::randn({kBatch, 6}, gen);
      auto y = torch::randn({kBatch, 3}, gen);
      torch::mse_loss(model->forward(x), y).backward();
      opt.step();
    }
    std::vector<torch::Tensor> mine;
    for (auto& p : model->parameters()) mine.push_back(p.detach().clone());
    std::lock_guard<std::mutex> lock(mutex);
    params[group.rank()] = mine;
  });
  for (int r = 1; r < world; ++r) {
    for (size_t i = 0; i < params[0].size(); ++i) {
      EXPECT_TRUE(torch::equal(params[0][i], params[r][i])) << "rank " << r << " param " << i;
    }
  }
}

TEST(DataParallelTest, NoSyncAccumulatesThenSyncsTheSum) {
  const int world = 2;
  // Reference: sum over two micro-batches of the global mean loss.
  auto model = makeMlp(7);
  auto b1 = globalBatch(world);
  torch::manual_seed(99);
  Batch b2{torch::randn({kBatch * world, 6}), torch::randn({kBatch * world, 3})};
  torch::mse_loss(model->forward(b1.x), b1.y).backward();
  torch::mse_loss(model->forward(b2.x), b2.y).backward();
  const auto want = gradsOf(*model);

  std::mutex mutex;
  std::map<int, std::vector<torch::Tensor>> got;
  std::map<int, std::vector<torch::Tensor>> local;
  runRanks(world, [&](ProcessGroup& group) {
    torch::set_num_threads(1);
    auto m = makeMlp(7);
    DataParallel dp(group, m.ptr());
    auto first = localBatch(b1, group.rank());
    std::vector<torch::Tensor> afterNoSync;
    {
      auto scope = dp.noSync();
      torch::mse_loss(m->forward(first.x), first.y).backward();
      afterNoSync = gradsOf(*m);
    }
    auto second = localBatch(b2, group.rank());
    torch::mse_loss(m->forward(second.x), second.y).backward();
    std::lock_guard<std::mutex> lock(mutex);
    got[group.rank()] = gradsOf(*m);
    local[group.rank()] = afterNoSync;
  });
  expectGradsNear(got[0], want);
  expectGradsNear(got[1], want);
  // Inside noSync the gradients stayed local: the ranks differ.
  EXPECT_FALSE(torch::allclose(local[0][0], local[1][0]));
}

TEST(DataParallelTest, RecorderSeesCommunicationAtWorldTwoAndNoneAtWorldOne) {
  for (int world : {1, 2}) {
    std::mutex mutex;
    std::map<int, hooks::StepRecord> last;
    runRanks(world, [&](ProcessGroup& group) {
      struct Keep : hooks::StepHook {
        hooks::StepRecord record;
        void onStep(const hooks::StepRecord& r) override { record = r; }
      };
      auto keep = std::make_shared<Keep>();
      hooks::StepRecorder recorder({"t", group.rank(), group.worldSize(), true});
      recorder.addHook(keep);
      auto model = makeMlp(7);
      DataParallel dp(group, model.ptr(), {}, &recorder);
      {
        auto step = recorder.step(kBatch);
        auto batch = localBatch(globalBatch(world), group.rank());
        auto loss = torch::mse_loss(model->forward(batch.x), batch.y);
        loss.backward();
        step.setLoss(loss.item<double>());
      }
      std::lock_guard<std::mutex> lock(mutex);
      last[group.rank()] = keep->record;
    });
    for (auto& [rank, r] : last) {
      SCOPED_TRACE("world " + std::to_string(world) + " rank " + std::to_string(rank));
      if (world == 1) {
        EXPECT_EQ(r.commMs, 0.0);
        EXPECT_EQ(r.exposedCommMs, 0.0);
      } else {
        EXPECT_GT(r.commMs, 0.0);
        EXPECT_GT(r.exposedCommMs, 0.0);
      }
      EXPECT_LE(r.exposedCommMs, r.stepMs);
      EXPECT_NEAR(r.computeMs + r.exposedCommMs, r.stepMs, 1e-9);
      ASSERT_TRUE(r.loss.has_value());
      EXPECT_GT(*r.loss, 0.0);
    }
  }
}

TEST(DataParallelTest, BadOptionsGiveConfigErrorNamingThem) {
  runRanks(1, [&](ProcessGroup& group) {
    auto model = makeMlp(7);
    const auto expectConfigError = [&](const DataParallelOptions& options, const char* name) {
      try {
        DataParallel dp(group, model.ptr(), options);
        ADD_FAILURE() << "no error for " << name;
      } catch (const ConfigError& e) {
        EXPECT_NE(std::string(e.what()).find(name), std::string::npos) << e.what();
      }
    };
    DataParallelOptions zeroCap;
    zeroCap.bucketCapBytes = 0;
    expectConfigError(zeroCap, "bucket caps");
    DataParallelOptions zeroSegment;
    zeroSegment.ringSegmentBytes = 0;
    expectConfigError(zeroSegment, "ringSegmentBytes");
  });
}

TEST(DataParallelTest, DeadPeerGivesAnErrorNotAHang) {
  const auto start = std::chrono::steady_clock::now();
  EXPECT_THROW(runRanks(
                   2,
                   [&](ProcessGroup& group) {
                     auto model = makeMlp(7);
                     DataParallel dp(group, model.ptr());
                     if (group.rank() == 1) return;  // rank 1 stops taking part
                     auto batch = localBatch(globalBatch(2), 0);
                     torch::mse_loss(model->forward(batch.x), batch.y).backward();
                   },
                   std::chrono::seconds(2)),
               std::exception);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(30));
}

TEST(DataParallelTest, SyncGradientsAveragesExplicitGradients) {
  const int world = 3;
  std::mutex mutex;
  std::map<int, std::vector<torch::Tensor>> got;
  runRanks(world, [&](ProcessGroup& group) {
    auto model = makeMlp(7);
    DataParallelOptions options;
    options.bucketCapBytes = 100;  // several buckets, merged into one allreduce
    options.firstBucketCapBytes = 100;
    DataParallel dp(group, model.ptr(), options);
    for (auto& p : model->parameters()) p.mutable_grad() = torch::full_like(p, group.rank() + 1.0);
    dp.syncGradients();
    std::lock_guard<std::mutex> lock(mutex);
    got[group.rank()] = gradsOf(*model);
  });
  for (auto& [rank, grads] : got) {
    for (auto& g : grads) EXPECT_TRUE(torch::allclose(g, torch::full_like(g, 2.0))) << rank;
  }
}

TEST(ParameterAveragingTest, LocalSgdAveragesEveryHStepsAndLearns) {
  const int world = 2;
  std::mutex mutex;
  std::map<int, std::vector<torch::Tensor>> params;
  std::map<int, std::vector<double>> losses;
  std::map<int, bool> differedBetween;
  runRanks(world, [&](ProcessGroup& group) {
    torch::set_num_threads(1);
    auto model = makeMlp(20 + group.rank());
    ParameterAveraging averaging(group, model.ptr(), /*localSteps=*/3);
    torch::optim::SGD opt(model->parameters(), 0.05);
    auto gen = at::make_generator<at::CPUGeneratorImpl>(800 + group.rank());
    auto target = torch::ones({kBatch, 3});
    std::vector<double> l;
    bool averagedEveryThird = true;
    for (int step = 1; step <= 12; ++step) {
      opt.zero_grad();
      auto loss = torch::mse_loss(model->forward(torch::randn({kBatch, 6}, gen)), target);
      loss.backward();
      opt.step();
      averagedEveryThird &= averaging.afterStep() == (step % 3 == 0);
      l.push_back(loss.item<double>());
    }
    EXPECT_TRUE(averagedEveryThird);
    // One more local step without averaging: the ranks' models differ.
    opt.zero_grad();
    torch::mse_loss(model->forward(torch::randn({kBatch, 6}, gen)), target).backward();
    opt.step();
    std::vector<torch::Tensor> before;
    for (auto& p : model->parameters()) before.push_back(p.detach().clone());
    averaging.average();
    std::vector<torch::Tensor> mine;
    for (auto& p : model->parameters()) mine.push_back(p.detach().clone());
    std::lock_guard<std::mutex> lock(mutex);
    params[group.rank()] = mine;
    losses[group.rank()] = l;
    differedBetween[group.rank()] = !torch::equal(before[0], mine[0]);
  });
  for (size_t i = 0; i < params[0].size(); ++i) {
    EXPECT_TRUE(torch::allclose(params[0][i], params[1][i])) << "param " << i;
  }
  EXPECT_TRUE(differedBetween[0]);
  EXPECT_LT(losses[0].back(), losses[0].front());
}

TEST(DataParallelTest, HungPeerTimesOutWithPeerLostError) {
  const auto start = std::chrono::steady_clock::now();
  std::atomic<bool> rank0Failed{false};
  EXPECT_THROW(
      runRanks(
          2,
          [&](ProcessGroup& group) {
            auto model = makeMlp(7);
            DataParallel dp(group, model.ptr());
            if (group.rank() == 1) {  // alive but never joins the allreduce
              std::this_thread::sleep_for(std::chrono::seconds(4));
              return;
            }
            auto batch = localBatch(globalBatch(2), 0);
            try {
              torch::mse_loss(model->forward(batch.x), batch.y).backward();
            } catch (const std::exception& e) {
              rank0Failed = true;
              EXPECT_NE(std::string(e.what()).find("gradient allreduce"), std::string::npos)
                  << e.what();
              throw;
            }
          },
          std::chrono::seconds(1)),
      std::exception);
  EXPECT_TRUE(rank0Failed.load());
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(30));
}

}  // namespace
}  // namespace hemingway::plugin
