#include "hemingway/plugin/elastic/training_state.h"

#include <algorithm>
#include <cstring>
#include <sstream>
#include <utility>

#include <ATen/ATen.h>
#include <ATen/core/Generator.h>
#include <fmt/format.h>
#include <torch/csrc/autograd/grad_mode.h>
#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>

#include "hemingway/hooks/error.h"
#include "hemingway/plugin/detail/brief.h"
#include "hemingway/plugin/elastic/detail/failpoint.h"
#include "hemingway/plugin/elastic/sampler.h"
#include "hemingway/plugin/process_group.h"

namespace hemingway::elastic {

using plugin::ProcessGroup;

struct TrainingState::Impl {
  std::vector<std::shared_ptr<torch::nn::Module>> modules;
  std::vector<torch::optim::Optimizer*> optimizers;
  std::vector<at::Generator*> generators;
  std::vector<ElasticSampler*> samplers;
  std::vector<std::pair<std::string, double*>> doubles;
  std::vector<std::pair<std::string, std::int64_t*>> integers;
  std::vector<std::pair<std::string, std::vector<double>*>> vectors;

  std::vector<at::Tensor> tensors() const {
    std::vector<at::Tensor> out;
    for (const auto& m : modules) {
      for (auto& p : m->parameters(true)) out.push_back(p);
      for (auto& b : m->buffers(true)) out.push_back(b);
    }
    for (auto& [name, v] : vectors) {
      if (!v->empty()) {
        out.push_back(
            at::from_blob(v->data(), {static_cast<std::int64_t>(v->size())}, at::kDouble));
      }
    }
    return out;
  }

  // Optimizers and generators as bytes, each preceded by nothing: lengths
  // travel in the header.
  std::vector<std::string> blobs() const {
    std::vector<std::string> out;
    for (auto* o : optimizers) {
      torch::serialize::OutputArchive archive;
      o->save(archive);
      std::ostringstream bytes;
      archive.save_to(bytes);
      out.push_back(bytes.str());
    }
    for (auto* g : generators) {
      const auto state = g->get_state();
      out.emplace_back(static_cast<const char*>(state.data_ptr()),
                       static_cast<std::size_t>(state.numel()));
    }
    return out;
  }

  void loadBlobs(const std::vector<std::string>& in) {
    std::size_t k = 0;
    for (auto* o : optimizers) {
      std::istringstream bytes(in[k++]);
      torch::serialize::InputArchive archive;
      archive.load_from(bytes);
      o->load(archive);
    }
    for (auto* g : generators) {
      const auto& b = in[k++];
      auto state = at::empty({static_cast<std::int64_t>(b.size())}, at::kByte);
      std::memcpy(state.data_ptr(), b.data(), b.size());
      g->set_state(state);
    }
  }
};

TrainingState::TrainingState() : impl_(std::make_unique<Impl>()) {}
TrainingState::~TrainingState() = default;

void TrainingState::addModule(std::shared_ptr<torch::nn::Module> module) {
  HEMINGWAY_CHECK_AS(ConfigError, module != nullptr, "TrainingState: addModule got null");
  impl_->modules.push_back(std::move(module));
}
void TrainingState::addOptimizer(torch::optim::Optimizer& optimizer) {
  impl_->optimizers.push_back(&optimizer);
}
void TrainingState::addGenerator(at::Generator& generator) {
  impl_->generators.push_back(&generator);
}
void TrainingState::addSampler(ElasticSampler& sampler) { impl_->samplers.push_back(&sampler); }
void TrainingState::addValue(const std::string& name, double& value) {
  impl_->doubles.emplace_back(name, &value);
}
void TrainingState::addValue(const std::string& name, std::int64_t& value) {
  impl_->integers.emplace_back(name, &value);
}
void TrainingState::addVector(const std::string& name, std::vector<double>& values) {
  impl_->vectors.emplace_back(name, &values);
}

void TrainingState::commit(int worldSize) {
  ++step_;
  for (auto* s : impl_->samplers) s->advance(worldSize);
}

namespace {

// Tags of the state transfer: channel 127 of the group's tag space
// (ProcessGroup::newChannel() hands out 0..126).
constexpr int kStateTags = 127 << 24;

void waitAll(ProcessGroup& group, std::vector<c10::intrusive_ptr<c10d::Work>>& works,
             const char* what) {
  for (auto& w : works) {
    try {
      w->wait(group.timeout());
    } catch (const std::exception& e) {
      HEMINGWAY_FAIL_AS(PeerLostError, "{} on rank {} of {} failed: {}", what, group.rank(),
                        group.worldSize(), plugin::detail::brief(e));
    }
  }
  works.clear();
}

}  // namespace

// The messages of a transfer, in order: the header (step, sampler
// positions, integers, blob lengths), the doubles, every tensor, every
// non-empty blob. Bytes counts the header, the doubles and the tensors.
struct TrainingState::Frame {
  at::Tensor header, doubles;
  std::vector<at::Tensor> tensors;
  std::int64_t bytes = 0;
};

TrainingState::Frame TrainingState::frame() const {
  Frame f;
  const std::size_t blobCount = impl_->optimizers.size() + impl_->generators.size();
  f.header = at::zeros({static_cast<std::int64_t>(1 + 2 * impl_->samplers.size() +
                                                  impl_->integers.size() + blobCount)},
                       at::kLong);
  f.doubles = at::zeros(
      {static_cast<std::int64_t>(std::max<std::size_t>(1, impl_->doubles.size()))}, at::kDouble);
  f.tensors = impl_->tensors();
  f.bytes = (f.header.numel() + f.doubles.numel()) * 8;
  for (const auto& t : f.tensors)
    f.bytes += t.numel() * static_cast<std::int64_t>(t.element_size());
  return f;
}

std::int64_t TrainingState::send(ProcessGroup& group, const std::vector<int>& takers,
                                 int workerId) {
  auto f = frame();
  std::int64_t moved = f.bytes;
  const auto blobs = impl_->blobs();
  auto* h = f.header.data_ptr<std::int64_t>();
  std::size_t k = 0;
  h[k++] = step_;
  for (auto* s : impl_->samplers) {
    h[k++] = s->epoch();
    h[k++] = s->cursor();
  }
  for (auto& [name, v] : impl_->integers) h[k++] = *v;
  for (auto& b : blobs) h[k++] = static_cast<std::int64_t>(b.size());
  auto* d = f.doubles.data_ptr<double>();
  for (std::size_t i = 0; i < impl_->doubles.size(); ++i) d[i] = *impl_->doubles[i].second;
  std::vector<at::Tensor> outgoing{f.header, f.doubles};
  for (const auto& t : f.tensors) outgoing.push_back(t.is_contiguous() ? t : t.contiguous());
  for (const auto& b : blobs) {
    auto bytes = at::empty({static_cast<std::int64_t>(b.size())}, at::kByte);
    std::memcpy(bytes.data_ptr<std::uint8_t>(), b.data(), b.size());
    if (!b.empty()) outgoing.push_back(bytes);
    moved += static_cast<std::int64_t>(b.size());
  }
  // Every message to every taker at once: Gloo streams them.
  std::vector<c10::intrusive_ptr<c10d::Work>> works;
  for (int to : takers) {
    int t = kStateTags;
    for (auto& out : outgoing) {
      std::vector<at::Tensor> one{out};
      works.push_back(group.backend().send(one, to, t++));
    }
  }
  detail::failpoint("state", workerId, group.generation());
  waitAll(group, works, "sending the training state");
  return moved * static_cast<std::int64_t>(takers.size());
}

// The header first (it holds the blobs' sizes), then the rest straight into
// the live tensors. The scalars change only at the end.
std::int64_t TrainingState::take(ProcessGroup& group, int source, int workerId) {
  auto f = frame();
  std::int64_t moved = f.bytes;
  auto& backend = group.backend();
  std::vector<c10::intrusive_ptr<c10d::Work>> works;
  int tag = kStateTags;
  for (auto* t : {&f.header, &f.doubles}) {
    std::vector<at::Tensor> one{*t};
    works.push_back(backend.recv(one, source, tag++));
  }
  waitAll(group, works, "receiving the training state");
  detail::failpoint("state", workerId, group.generation());
  std::vector<at::Tensor> incoming;
  std::vector<std::pair<at::Tensor, at::Tensor>> copyBack;  // (staging, target)
  for (auto& t : f.tensors) {
    if (t.is_contiguous()) {
      incoming.push_back(t);
    } else {
      auto staging = at::empty_like(t, at::MemoryFormat::Contiguous);
      copyBack.emplace_back(staging, t);
      incoming.push_back(staging);
    }
  }
  const auto* h = f.header.data_ptr<std::int64_t>();
  const std::size_t blobCount = impl_->optimizers.size() + impl_->generators.size();
  std::size_t k = 1 + 2 * impl_->samplers.size() + impl_->integers.size();
  std::vector<at::Tensor> blobTensors;
  for (std::size_t b = 0; b < blobCount; ++b) {
    const auto len = h[k++];
    blobTensors.push_back(at::empty({len}, at::kByte));
    if (len > 0) incoming.push_back(blobTensors.back());
    moved += len;
  }
  for (auto& in : incoming) {
    std::vector<at::Tensor> one{in};
    works.push_back(backend.recv(one, source, tag++));
  }
  waitAll(group, works, "receiving the training state");
  for (auto& [staging, target] : copyBack) target.copy_(staging);
  std::vector<std::string> received;
  for (auto& b : blobTensors) {
    received.emplace_back(reinterpret_cast<const char*>(b.data_ptr<std::uint8_t>()),
                          static_cast<std::size_t>(b.numel()));
  }
  impl_->loadBlobs(received);
  k = 0;
  step_ = h[k++];
  for (auto* s : impl_->samplers) {
    const auto epoch = h[k++];
    s->setPosition(epoch, h[k++]);
  }
  for (auto& [name, v] : impl_->integers) *v = h[k++];
  for (std::size_t i = 0; i < impl_->doubles.size(); ++i) {
    *impl_->doubles[i].second = f.doubles.data_ptr<double>()[i];
  }
  return moved;
}

std::int64_t TrainingState::transfer(ProcessGroup& group, int source,
                                     const std::vector<int>& takers, int workerId) {
  at::NoGradGuard noGrad;
  const int me = group.rank();
  if (me == source) return send(group, takers, workerId);
  if (std::find(takers.begin(), takers.end(), me) != takers.end()) {
    return take(group, source, workerId);
  }
  return 0;
}

std::string TrainingState::checksum() const {
  std::uint64_t h = 1469598103934665603ULL;
  for (const auto& m : impl_->modules) {
    for (const auto& p : m->parameters(true)) {
      const auto c = p.detach().contiguous();
      const auto* bytes = static_cast<const unsigned char*>(c.data_ptr());
      const auto n = static_cast<std::size_t>(c.numel()) * c.element_size();
      for (std::size_t i = 0; i < n; ++i) {
        h ^= bytes[i];
        h *= 1099511628211ULL;
      }
    }
  }
  return fmt::format("{:016x}", h);
}

}  // namespace hemingway::elastic
