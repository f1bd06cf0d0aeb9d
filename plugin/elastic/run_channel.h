// The run channel: everything hemingway-run, its workers and hemingway-ctl
// say to each other about an elastic run's membership, through the run's part
// of the launcher's store (plugin/detail/run_store.h). One typed place for
// the keys and their encodings:
//   elastic/latest            the newest published generation g
//   elastic/gen/<g>/members   worker ids in rank order ("3,0,1")
//   elastic/gen/<g>/cause     why it began: start, request, controller, failure
//   elastic/gen/<g>/from      the world size before it
//   elastic/gen/<g>/abort     set when generation g is broken (a member died)
//   elastic/gen/<g>/switch_at the step at which g's members move to g+1
//   elastic/gen/<g>/formed    written by g's rank 0 once g trains
//   elastic/request, elastic/request_seq  the newest rescale request
//                             ("N request" or "N controller") and its number
//   elastic/step              the newest committed step (rank 0, every second)
//   elastic/status            JSON written by hemingway-run for hemingway-ctl
//   elastic/elastic_api       set by a worker that uses the elastic API
//   elastic/end               set when the run is over: parked workers exit
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <c10/util/intrusive_ptr.h>

namespace c10d {
class Store;
}  // namespace c10d

namespace hemingway::elastic {

// Why a generation began.
enum class Cause { kStart, kRequest, kController, kFailure };
// "start", "request", "controller", "failure": the words of the store and of
// the "regroup" records.
const char* causeName(Cause cause);
std::optional<Cause> causeFromName(std::string_view name);

// A rescale request: hemingway-ctl scale (kRequest) or the adaptive
// controller (kController).
struct ScaleRequest {
  int worldSize = 1;
  Cause cause = Cause::kRequest;
};

// The encodings, exposed for tests.
std::string encodeMembers(const std::vector<int>& ids);
// Throws ConfigError on anything but comma-separated worker ids.
std::vector<int> decodeMembers(const std::string& text);
std::string encodeRequest(const ScaleRequest& request);
// nullopt: not "N request" or "N controller" with N >= 1.
std::optional<ScaleRequest> decodeRequest(const std::string& text);

class RunChannel {
 public:
  // `runStore`: the store under the run's prefix.
  explicit RunChannel(c10::intrusive_ptr<c10d::Store> runStore);
  ~RunChannel();
  RunChannel(const RunChannel&);
  RunChannel(RunChannel&&) noexcept;
  RunChannel& operator=(const RunChannel&);
  RunChannel& operator=(RunChannel&&) noexcept;

  // --- hemingway-run's side ---
  // Before any worker starts: no request taken yet.
  void open();
  // Publishes generation `number`: its keys, then `latest`, applied by the
  // store before this returns (a worker that sees `latest` finds the keys).
  void publish(int number, const std::vector<int>& members, Cause cause, int fromWorldSize);
  void abort(int generation);
  bool formed(int generation);
  bool usesElasticApi();
  // The newest request, if one came since the last call: a request, or
  // malformed (the bytes were not a request).
  struct Taken {
    std::optional<ScaleRequest> request;
    bool malformed = false;
  };
  Taken takeRequest();
  void writeStatus(const std::string& json);

  // --- the workers' and hemingway-ctl's side ---
  int latest();
  bool published(int generation);
  std::vector<int> members(int generation);
  Cause cause(int generation);
  bool aborted(int generation);
  void markFormed(int generation);
  void announceElasticApi();
  // Throws ConfigError for a world size < 1 or a cause other than kRequest
  // and kController.
  void requestScale(const ScaleRequest& request);
  // Applied before this returns, like publish().
  void setSwitchAt(int generation, std::int64_t step);
  std::optional<std::int64_t> switchAt(int generation);
  void publishStep(std::int64_t step);
  std::optional<std::int64_t> step();
  void end();
  bool ended();
  // What only rank 0 holds (a controller's memory), kept under `name` so
  // that a new rank 0 reads it back after a failover.
  void keep(const std::string& name, const std::string& bytes);
  std::optional<std::string> kept(const std::string& name);
  std::optional<std::string> status();

 private:
  std::string get(const std::string& key);
  void set(const std::string& key, const std::string& value);
  bool has(const std::string& key);

  c10::intrusive_ptr<c10d::Store> store_;
  long long requestSeq_ = 0;  // the newest request taken
};

}  // namespace hemingway::elastic
