#include "hemingway/plugin/launcher/coordinator.h"

#include <algorithm>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <torch/csrc/distributed/c10d/Store.hpp>

#include "hemingway/hooks/error.h"
#include "hemingway/plugin/detail/run_store.h"
#include "hemingway/plugin/detail/store_write.h"

namespace hemingway::plugin {
namespace {

std::vector<uint8_t> bytesOf(const std::string& s) { return {s.begin(), s.end()}; }

}  // namespace

Coordinator::Coordinator(c10::intrusive_ptr<c10d::Store> runStore, CoordinatorOptions options,
                         std::function<void(const std::string&)> note)
    : store_(std::move(runStore)), options_(options), note_(std::move(note)) {}

void Coordinator::publishInitial() {
  std::vector<int> members;
  for (int id = 0; id < options_.maxWorkers; ++id) {
    if (id < options_.initialWorkers) {
      members.push_back(id);
    } else {
      parked_.insert(id);
    }
  }
  nextId_ = options_.maxWorkers;
  store_->set(detail::elasticKey("request_seq"), bytesOf("0"));
  publish(members, "start");
}

FailurePolicy Coordinator::policy() {
  if (options_.onFailure != FailurePolicy::kUnset) return options_.onFailure;
  return store_->check({detail::elasticKey("elastic_api")}) ? FailurePolicy::kShrink
                                                            : FailurePolicy::kStop;
}

void Coordinator::publish(std::vector<int> members, const std::string& cause) {
  const int from = static_cast<int>(members_.size());
  const int g = latest_ + 1;
  store_->set(detail::generationKey(g, "cause"), bytesOf(cause));
  store_->set(detail::generationKey(g, "from"), bytesOf(std::to_string(from)));
  store_->set(detail::generationKey(g, "members"), bytesOf(detail::formatMembers(members)));
  // Visible with the keys above (same connection, in order) before the board
  // tells the workers to look.
  detail::setVisible(*store_, detail::elasticKey("latest"), std::to_string(g));
  if (options_.board != nullptr) {
    __atomic_store_n(options_.board + detail::kBoardPublished, static_cast<std::int64_t>(g),
                     __ATOMIC_RELEASE);
  }
  latest_ = g;
  for (int id : members) parked_.erase(id);
  for (int id : members_) {
    if (std::find(members.begin(), members.end(), id) == members.end() && dead_.count(id) == 0) {
      parked_.insert(id);
    }
  }
  members_ = std::move(members);
  if (g > 0) {
    note_(fmt::format("hemingway-run: generation {}: {} -> {} workers ({}); members {}", g, from,
                      members_.size(), cause, detail::formatMembers(members_)));
  }
  writeStatus();
}

void Coordinator::writeStatus() {
  nlohmann::json j = {{"generation", latest_},
                      {"world_size", members_.size()},
                      {"members", members_},
                      {"parked", std::vector<int>(parked_.begin(), parked_.end())},
                      {"formed", formed_}};
  store_->set(detail::elasticKey("status"), bytesOf(j.dump()));
}

void Coordinator::applyRequest(int worldSize, const std::string& cause) {
  int n = std::clamp(worldSize, options_.minWorkers, options_.maxWorkers);
  if (n != worldSize) {
    note_(
        fmt::format("hemingway-run: asked for {} workers; using {} (--min-workers {}, "
                    "--max-workers {})",
                    worldSize, n, options_.minWorkers, options_.maxWorkers));
  }
  const int now = static_cast<int>(members_.size());
  std::vector<int> members = members_;
  if (n > now) {
    const int available = static_cast<int>(parked_.size());
    if (n - now > available) {
      note_(
          fmt::format("hemingway-run: asked for {} workers, but only {} parked worker{} "
                      "can join",
                      n, available, available == 1 ? "" : "s"));
      n = now + available;
    }
    for (int id : parked_) {
      if (static_cast<int>(members.size()) == n) break;
      members.push_back(id);
    }
  } else {
    members.resize(static_cast<std::size_t>(n));
  }
  if (static_cast<int>(members.size()) == now) return;
  publish(members, cause);
}

void Coordinator::tick() {
  if (failed_ || finished_) return;
  if (formed_ < latest_ && store_->check({detail::generationKey(latest_, "formed")})) {
    formed_ = latest_;
    writeStatus();
  }
  const long long seq = store_->add(detail::elasticKey("request_seq"), 0);
  if (seq != requestSeq_) {
    requestSeq_ = seq;
    const auto raw = store_->get(detail::elasticKey("request"));
    std::istringstream in(std::string(raw.begin(), raw.end()));
    int n = 0;
    std::string cause;
    if (in >> n >> cause && (cause == "request" || cause == "controller") && n >= 1) {
      deferred_ = std::make_pair(n, cause);
    } else {
      note_("hemingway-run: ignored a malformed rescale request");
    }
  }
  // One change at a time: a new one only once the newest generation trains.
  if (deferred_ && formed_ == latest_) {
    const auto [n, cause] = *deferred_;
    deferred_.reset();
    applyRequest(n, cause);
  }
}

std::vector<int> Coordinator::onExit(int id, bool success) {
  std::vector<int> spawn;
  if (success) {
    if (std::find(members_.begin(), members_.end(), id) != members_.end()) finished_ = true;
    parked_.erase(id);
    return spawn;
  }
  dead_.insert(id);
  const auto policyNow = policy();
  if (finished_ || failed_) return spawn;
  if (parked_.erase(id) > 0) {
    note_(fmt::format("hemingway-run: parked worker {} died", id));
    if (policyNow == FailurePolicy::kReplace) spawn.push_back(nextId_++);
    for (int r : spawn) parked_.insert(r);
    writeStatus();
    return spawn;
  }
  const bool member = std::find(members_.begin(), members_.end(), id) != members_.end();
  if (!member) return spawn;
  // The generations that could still be training or forming are broken.
  for (int g = abortedBelow_; g <= latest_; ++g) {
    store_->set(detail::generationKey(g, "abort"), bytesOf("1"));
  }
  abortedBelow_ = latest_ + 1;
  if (options_.board != nullptr) {
    __atomic_store_n(options_.board + detail::kBoardAborted, static_cast<std::int64_t>(latest_),
                     __ATOMIC_RELEASE);
  }
  std::vector<int> survivors;
  for (int m : members_) {
    if (m != id) survivors.push_back(m);
  }
  if (policyNow == FailurePolicy::kReplace) {
    if (!parked_.empty()) survivors.push_back(*parked_.begin());
    spawn.push_back(nextId_++);
  }
  if (static_cast<int>(survivors.size()) < options_.minWorkers) {
    failed_ =
        fmt::format("worker {} died and {} worker{} left, fewer than --min-workers {}", id,
                    survivors.size(), survivors.size() == 1 ? " is" : "s are", options_.minWorkers);
    return {};
  }
  deferred_.reset();
  publish(survivors, "failure");
  for (int r : spawn) {
    parked_.insert(r);
  }
  writeStatus();
  return spawn;
}

}  // namespace hemingway::plugin
