// The foundation's reference workload, shared by the benchmarks: an MLP
// 784-512-512-10 trained by SGD on a fixed batch of 64 per worker.
#pragma once

#include <torch/torch.h>

namespace hemingway::bench {

struct ReferenceWorkload {
  torch::nn::Sequential model{torch::nn::Linear(784, 512), torch::nn::ReLU(),
                              torch::nn::Linear(512, 512), torch::nn::ReLU(),
                              torch::nn::Linear(512, 10)};
  torch::Tensor x, y;
  std::unique_ptr<torch::optim::SGD> optimizer;

  explicit ReferenceWorkload(int rank, int batch = 64) {
    torch::manual_seed(100 + rank);
    x = torch::rand({batch, 784});
    y = torch::randint(10, {batch}, torch::kInt64);
  }
  // Call after wrapping the model (the wrapper broadcasts rank 0's weights).
  void makeOptimizer(double lr = 0.01) {
    optimizer =
        std::make_unique<torch::optim::SGD>(model->parameters(), torch::optim::SGDOptions(lr));
  }
  // One training step; returns the loss.
  double step() {
    optimizer->zero_grad();
    auto loss = torch::nn::functional::cross_entropy(model->forward(x), y);
    loss.backward();
    optimizer->step();
    return loss.item<double>();
  }
};

}  // namespace hemingway::bench
