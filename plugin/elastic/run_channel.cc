#include "hemingway/plugin/elastic/run_channel.h"

#include <sstream>

#include <torch/csrc/distributed/c10d/Store.hpp>

#include "hemingway/hooks/error.h"
#include "hemingway/plugin/elastic/detail/store_write.h"

namespace hemingway::elastic {
namespace {

std::string elasticKey(const std::string& name) { return "hemingway/elastic/" + name; }
std::string generationKey(int generation, const std::string& name) {
  return "hemingway/elastic/gen/" + std::to_string(generation) + "/" + name;
}

constexpr const char* kCauseNames[] = {"start", "request", "controller", "failure"};

}  // namespace

const char* causeName(Cause cause) { return kCauseNames[static_cast<int>(cause)]; }

std::optional<Cause> causeFromName(std::string_view name) {
  for (int i = 0; i < 4; ++i) {
    if (name == kCauseNames[i]) return static_cast<Cause>(i);
  }
  return std::nullopt;
}

std::string encodeMembers(const std::vector<int>& ids) {
  std::string out;
  for (int id : ids) out += (out.empty() ? "" : ",") + std::to_string(id);
  return out;
}

std::vector<int> decodeMembers(const std::string& text) {
  std::vector<int> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    std::size_t used = 0;
    int id = -1;
    try {
      id = std::stoi(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    HEMINGWAY_CHECK_AS(ConfigError, used == item.size() && used > 0 && id >= 0,
                       "the store's member list '{}' is not comma-separated worker ids", text);
    out.push_back(id);
  }
  return out;
}

std::string encodeRequest(const ScaleRequest& request) {
  return std::to_string(request.worldSize) + " " + causeName(request.cause);
}

std::optional<ScaleRequest> decodeRequest(const std::string& text) {
  std::istringstream in(text);
  int n = 0;
  std::string word;
  if (!(in >> n >> word) || n < 1) return std::nullopt;
  const auto cause = causeFromName(word);
  if (cause != Cause::kRequest && cause != Cause::kController) return std::nullopt;
  std::string rest;
  if (in >> rest) return std::nullopt;
  return ScaleRequest{n, *cause};
}

RunChannel::RunChannel(c10::intrusive_ptr<c10d::Store> runStore) : store_(std::move(runStore)) {}
RunChannel::~RunChannel() = default;
RunChannel::RunChannel(const RunChannel&) = default;
RunChannel::RunChannel(RunChannel&&) noexcept = default;
RunChannel& RunChannel::operator=(const RunChannel&) = default;
RunChannel& RunChannel::operator=(RunChannel&&) noexcept = default;

std::string RunChannel::get(const std::string& key) {
  const auto v = store_->get(key);
  return {v.begin(), v.end()};
}
void RunChannel::set(const std::string& key, const std::string& value) {
  store_->set(key, std::vector<uint8_t>(value.begin(), value.end()));
}
bool RunChannel::has(const std::string& key) { return store_->check({key}); }

void RunChannel::open() {
  set(elasticKey("request_seq"), "0");
  requestSeq_ = 0;
}

void RunChannel::publish(int number, const std::vector<int>& members, Cause cause,
                         int fromWorldSize) {
  set(generationKey(number, "cause"), causeName(cause));
  set(generationKey(number, "from"), std::to_string(fromWorldSize));
  set(generationKey(number, "members"), encodeMembers(members));
  // Visible with the keys above (same connection, in order).
  detail::setVisible(*store_, elasticKey("latest"), std::to_string(number));
}

void RunChannel::abort(int generation) { set(generationKey(generation, "abort"), "1"); }
bool RunChannel::formed(int generation) { return has(generationKey(generation, "formed")); }
bool RunChannel::usesElasticApi() { return has(elasticKey("elastic_api")); }

RunChannel::Taken RunChannel::takeRequest() {
  const long long seq = store_->add(elasticKey("request_seq"), 0);
  if (seq == requestSeq_) return {};
  requestSeq_ = seq;
  Taken taken;
  taken.request = decodeRequest(get(elasticKey("request")));
  taken.malformed = !taken.request;
  return taken;
}

void RunChannel::writeStatus(const std::string& json) { set(elasticKey("status"), json); }

int RunChannel::latest() { return std::stoi(get(elasticKey("latest"))); }
bool RunChannel::published(int generation) { return has(generationKey(generation, "members")); }
std::vector<int> RunChannel::members(int generation) {
  return decodeMembers(get(generationKey(generation, "members")));
}
Cause RunChannel::cause(int generation) {
  const std::string name = get(generationKey(generation, "cause"));
  const auto cause = causeFromName(name);
  HEMINGWAY_CHECK_AS(ConfigError, cause.has_value(), "generation {} has an unknown cause '{}'",
                     generation, name);
  return *cause;
}
bool RunChannel::aborted(int generation) { return has(generationKey(generation, "abort")); }
void RunChannel::markFormed(int generation) { set(generationKey(generation, "formed"), "1"); }
void RunChannel::announceElasticApi() { set(elasticKey("elastic_api"), "1"); }

void RunChannel::requestScale(const ScaleRequest& request) {
  HEMINGWAY_CHECK_AS(ConfigError, request.worldSize >= 1,
                     "requestScale: world size must be >= 1, got {}", request.worldSize);
  HEMINGWAY_CHECK_AS(
      ConfigError, request.cause == Cause::kRequest || request.cause == Cause::kController,
      "requestScale: cause must be request or controller, got {}", causeName(request.cause));
  set(elasticKey("request"), encodeRequest(request));
  store_->add(elasticKey("request_seq"), 1);
}

void RunChannel::setSwitchAt(int generation, std::int64_t step) {
  detail::setVisible(*store_, generationKey(generation, "switch_at"), std::to_string(step));
}
std::optional<std::int64_t> RunChannel::switchAt(int generation) {
  const auto key = generationKey(generation, "switch_at");
  if (!has(key)) return std::nullopt;
  return std::stoll(get(key));
}

void RunChannel::publishStep(std::int64_t step) { set(elasticKey("step"), std::to_string(step)); }
std::optional<std::int64_t> RunChannel::step() {
  if (!has(elasticKey("step"))) return std::nullopt;
  return std::stoll(get(elasticKey("step")));
}

void RunChannel::keep(const std::string& name, const std::string& bytes) {
  set(elasticKey("kept/" + name), bytes);
}
std::optional<std::string> RunChannel::kept(const std::string& name) {
  if (!has(elasticKey("kept/" + name))) return std::nullopt;
  return get(elasticKey("kept/" + name));
}

void RunChannel::end() { set(elasticKey("end"), "1"); }
bool RunChannel::ended() { return has(elasticKey("end")); }

std::optional<std::string> RunChannel::status() {
  if (!has(elasticKey("status"))) return std::nullopt;
  return get(elasticKey("status"));
}

}  // namespace hemingway::elastic
