#include "hemingway/plugin/training_state.h"

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

#include "hemingway/hooks/error.h"
#include "hemingway/plugin/data/sampler.h"
#include "hemingway/plugin/detail/collectives.h"
#include "hemingway/plugin/process_group.h"

namespace hemingway::plugin {

struct TrainingState::Impl {
  std::vector<std::shared_ptr<torch::nn::Module>> modules;
  std::vector<torch::optim::Optimizer*> optimizers;
  std::vector<at::Generator*> generators;
  std::vector<data::ElasticSampler*> samplers;
  std::vector<std::pair<std::string, double*>> doubles;
  std::vector<std::pair<std::string, std::int64_t*>> integers;

  std::vector<at::Tensor> tensors() const {
    std::vector<at::Tensor> out;
    for (const auto& m : modules) {
      for (auto& p : m->parameters(true)) out.push_back(p);
      for (auto& b : m->buffers(true)) out.push_back(b);
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
void TrainingState::addSampler(data::ElasticSampler& sampler) {
  impl_->samplers.push_back(&sampler);
}
void TrainingState::addValue(const std::string& name, double& value) {
  impl_->doubles.emplace_back(name, &value);
}
void TrainingState::addValue(const std::string& name, std::int64_t& value) {
  impl_->integers.emplace_back(name, &value);
}

void TrainingState::commit(int worldSize) {
  ++step_;
  for (auto* s : impl_->samplers) s->advance(worldSize);
}

std::int64_t TrainingState::bytes() const {
  std::int64_t n = 0;
  for (const auto& t : impl_->tensors())
    n += t.numel() * static_cast<std::int64_t>(t.element_size());
  for (const auto& b : impl_->blobs()) n += static_cast<std::int64_t>(b.size());
  return n + 8 * static_cast<std::int64_t>(3 + impl_->integers.size() + impl_->doubles.size());
}

std::int64_t TrainingState::broadcast(ProcessGroup& group, int source) {
  at::NoGradGuard noGrad;
  const bool sending = group.rank() == source;
  // Header: step, sampler positions, integers, blob lengths; then doubles.
  const std::size_t blobCount = impl_->optimizers.size() + impl_->generators.size();
  auto header = at::zeros({static_cast<std::int64_t>(1 + 2 * impl_->samplers.size() +
                                                     impl_->integers.size() + blobCount)},
                          at::kLong);
  auto doubles = at::zeros(
      {static_cast<std::int64_t>(std::max<std::size_t>(1, impl_->doubles.size()))}, at::kDouble);
  std::vector<std::string> blobs;
  if (sending) {
    blobs = impl_->blobs();
    auto* h = header.data_ptr<std::int64_t>();
    std::size_t k = 0;
    h[k++] = step_;
    for (auto* s : impl_->samplers) {
      h[k++] = s->epoch();
      h[k++] = s->cursor();
    }
    for (auto& [name, v] : impl_->integers) h[k++] = *v;
    for (auto& b : blobs) h[k++] = static_cast<std::int64_t>(b.size());
    auto* d = doubles.data_ptr<double>();
    for (std::size_t i = 0; i < impl_->doubles.size(); ++i) d[i] = *impl_->doubles[i].second;
  }
  auto tensors = impl_->tensors();
  std::vector<at::Tensor> first{header, doubles};
  detail::broadcastFrom(group, first, source);
  const auto* h = header.data_ptr<std::int64_t>();
  std::size_t k = 0;
  step_ = h[k++];
  for (auto* s : impl_->samplers) {
    const auto epoch = h[k++];
    s->setPosition(epoch, h[k++]);
  }
  for (auto& [name, v] : impl_->integers) *v = h[k++];
  std::int64_t blobBytes = 0;
  std::vector<std::int64_t> lengths;
  for (std::size_t b = 0; b < blobCount; ++b) {
    lengths.push_back(h[k++]);
    blobBytes += lengths.back();
  }
  for (std::size_t i = 0; i < impl_->doubles.size(); ++i) {
    *impl_->doubles[i].second = doubles.data_ptr<double>()[i];
  }
  detail::broadcastFrom(group, tensors, source);
  std::int64_t moved = (header.numel() + doubles.numel()) * 8;
  for (const auto& t : tensors) moved += t.numel() * static_cast<std::int64_t>(t.element_size());
  if (blobBytes > 0) {
    auto packed = at::empty({blobBytes}, at::kByte);
    if (sending) {
      std::int64_t off = 0;
      for (const auto& b : blobs) {
        std::memcpy(packed.data_ptr<std::uint8_t>() + off, b.data(), b.size());
        off += static_cast<std::int64_t>(b.size());
      }
    }
    std::vector<at::Tensor> bytes{packed};
    detail::broadcastFrom(group, bytes, source);
    if (!sending) {
      std::vector<std::string> received;
      std::int64_t off = 0;
      for (auto len : lengths) {
        received.emplace_back(reinterpret_cast<const char*>(packed.data_ptr<std::uint8_t>()) + off,
                              static_cast<std::size_t>(len));
        off += len;
      }
      impl_->loadBlobs(received);
    }
    moved += blobBytes;
  }
  return moved;
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

}  // namespace hemingway::plugin
