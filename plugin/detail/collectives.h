// Collectives on lists of tensors, shared by DataParallel and
// ParameterAveraging. Internal: the public headers stay free of ATen.
#pragma once

#include <vector>

#include <ATen/ATen.h>

namespace hemingway::plugin {
class ProcessGroup;
}

namespace hemingway::plugin::detail {

// Copies rank 0's values into `tensors` on every rank (one message per dtype).
void broadcastFromRank0(ProcessGroup& group, const std::vector<at::Tensor>& tensors);
// Copies rank `root`'s values into `tensors` on every rank.
void broadcastFrom(ProcessGroup& group, const std::vector<at::Tensor>& tensors, int root);

// Replaces `tensors` by their mean over ranks (one message per dtype).
void averageAcrossRanks(ProcessGroup& group, const std::vector<at::Tensor>& tensors);

}  // namespace hemingway::plugin::detail
