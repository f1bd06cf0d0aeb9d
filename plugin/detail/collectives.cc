#include "hemingway/plugin/detail/collectives.h"

#include <algorithm>
#include <functional>
#include <string>

#include <torch/csrc/autograd/grad_mode.h>
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>

#include "hemingway/hooks/error.h"
#include "hemingway/plugin/detail/brief.h"
#include "hemingway/plugin/process_group.h"

namespace hemingway::plugin::detail {
namespace {

// Runs `collective` on one flat tensor per dtype and copies the result back.
void perDtype(
    ProcessGroup& group, const std::vector<at::Tensor>& tensors, const char* what,
    const std::function<c10::intrusive_ptr<c10d::Work>(std::vector<at::Tensor>&)>& collective,
    double scale) {
  if (group.worldSize() <= 1 || tensors.empty()) return;
  at::NoGradGuard noGrad;
  std::vector<at::ScalarType> types;
  for (const auto& t : tensors) {
    if (std::find(types.begin(), types.end(), t.scalar_type()) == types.end()) {
      types.push_back(t.scalar_type());
    }
  }
  for (auto type : types) {
    std::vector<at::Tensor> same;
    for (const auto& t : tensors) {
      if (t.scalar_type() == type) same.push_back(t.reshape(-1));
    }
    std::vector<at::Tensor> flat{at::cat(same)};
    group.wait(*collective(flat), what);
    if (scale != 1.0) flat[0].mul_(scale);
    std::int64_t offset = 0;
    for (const auto& t : tensors) {
      if (t.scalar_type() != type) continue;
      auto target = t;  // shares storage
      target.copy_(flat[0].narrow(0, offset, t.numel()).view(t.sizes()));
      offset += t.numel();
    }
  }
}

}  // namespace

void broadcastFromRank0(ProcessGroup& group, const std::vector<at::Tensor>& tensors) {
  broadcastFrom(group, tensors, 0);
}

void broadcastFrom(ProcessGroup& group, const std::vector<at::Tensor>& tensors, int root) {
  perDtype(
      group, tensors,
      root == 0 ? "broadcast of the model state from rank 0" : "broadcast of the training state",
      [&](std::vector<at::Tensor>& flat) {
        c10d::BroadcastOptions opts;
        opts.rootRank = root;
        return group.backend().broadcast(flat, opts);
      },
      1.0);
}

void averageAcrossRanks(ProcessGroup& group, const std::vector<at::Tensor>& tensors) {
  perDtype(
      group, tensors, "parameter averaging",
      [&](std::vector<at::Tensor>& flat) { return group.backend().allreduce(flat); },
      1.0 / group.worldSize());
}

}  // namespace hemingway::plugin::detail
