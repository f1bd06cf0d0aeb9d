#include "hemingway/plugin/elastic/coordinator.h"

#include <algorithm>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "hemingway/hooks/error.h"
#include "hemingway/plugin/elastic/detail/board.h"

namespace hemingway::elastic {

Coordinator::Coordinator(RunChannel channel, CoordinatorOptions options,
                         std::function<void(const std::string&)> note)
    : channel_(std::move(channel)), options_(options), note_(std::move(note)) {}

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
  channel_.open();
  publish(members, Cause::kStart);
}

FailurePolicy Coordinator::policy() {
  if (options_.onFailure != FailurePolicy::kUnset) return options_.onFailure;
  return channel_.usesElasticApi() ? FailurePolicy::kShrink : FailurePolicy::kStop;
}

void Coordinator::publish(std::vector<int> members, Cause cause) {
  const int from = static_cast<int>(members_.size());
  const int g = latest_ + 1;
  // Applied by the store before the board tells the workers to look.
  channel_.publish(g, members, cause, from);
  if (options_.board != nullptr) options_.board->setPublished(g);
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
                      members_.size(), causeName(cause), encodeMembers(members_)));
  }
  writeStatus();
}

void Coordinator::writeStatus() {
  nlohmann::json j = {{"generation", latest_},
                      {"world_size", members_.size()},
                      {"members", members_},
                      {"parked", std::vector<int>(parked_.begin(), parked_.end())},
                      {"formed", formed_}};
  channel_.writeStatus(j.dump());
}

void Coordinator::applyRequest(const ScaleRequest& request) {
  const int worldSize = request.worldSize;
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
  publish(members, request.cause);
}

void Coordinator::tick() {
  if (failed_ || finished_) return;
  if (formed_ < latest_ && channel_.formed(latest_)) {
    formed_ = latest_;
    writeStatus();
  }
  const auto taken = channel_.takeRequest();
  if (taken.request) deferred_ = taken.request;
  if (taken.malformed) note_("hemingway-run: ignored a malformed rescale request");
  // One change at a time: a new one only once the newest generation trains.
  if (deferred_ && formed_ == latest_) {
    const auto request = *deferred_;
    deferred_.reset();
    applyRequest(request);
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
  for (int g = abortedBelow_; g <= latest_; ++g) channel_.abort(g);
  abortedBelow_ = latest_ + 1;
  if (options_.board != nullptr) options_.board->setAborted(latest_);
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
  publish(survivors, Cause::kFailure);
  for (int r : spawn) {
    parked_.insert(r);
  }
  writeStatus();
  return spawn;
}

}  // namespace hemingway::elastic
