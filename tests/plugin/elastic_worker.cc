// A small elastic training job for the tests: a two-layer network on
// synthetic regression data, SGD with momentum (optimizer state that must
// move), an ElasticSampler, and a log with step, regroup and run_end records.
//
//   elastic_worker --steps N --log FILE [--dump FILE] [--seen FILE]
//                  [--request STEP:N,...] [--kill-at STEP:WORKER[:PHASE]]
//                  [--sleep-ms MS] [--reference LOG] [--pid-dir DIR]
//                  [--ring-min-bytes B]
//
// --request: rank 0 asks for N workers when it reaches STEP.
// --kill-at: the worker with that id kills itself with SIGKILL at STEP, in
//   PHASE "step" (before backward) or "allreduce" (during the gradient sync),
//   or stops itself (SIGSTOP) with PHASE "stop".
// --ring-min-bytes: DataParallelOptions::ringMinBytes (0: every bucket by
//   the ring, at any world size).
// --seen: every rank appends "epoch index" of each committed example.
// --reference LOG: no distribution; replays the world sizes the LOG's
//   regroup records give, averaging per-rank gradients as DataParallel does,
//   and dumps the parameters (what an elastic run must equal).
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>

#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "hemingway/hooks/jsonl_sink.h"
#include "hemingway/hooks/step_recorder.h"
#include "hemingway/plugin/data/sampler.h"
#include "hemingway/plugin/data_parallel.h"
#include "hemingway/plugin/elastic/elastic.h"
#include "hemingway/plugin/elastic/membership.h"
#include "hemingway/plugin/elastic/sampler.h"
#include "hemingway/plugin/elastic/training_state.h"
#include "hemingway/plugin/process_group.h"

namespace hw = hemingway;

namespace {

constexpr std::int64_t kExamples = 240;
constexpr std::int64_t kBatch = 4;

struct Args {
  std::int64_t steps = 40;
  std::string log, dump, seen, reference;
  std::map<std::int64_t, int> requests;
  std::int64_t killStep = -1;
  int killWorker = -1;
  std::string killPhase = "step";
  int sleepMs = 0;
  std::string pidDir;
  long long ringMinBytes = -1;
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--steps") a.steps = std::stoll(v);
    if (k == "--log") a.log = v;
    if (k == "--dump") a.dump = v;
    if (k == "--seen") a.seen = v;
    if (k == "--reference") a.reference = v;
    if (k == "--sleep-ms") a.sleepMs = std::stoi(v);
    if (k == "--pid-dir") a.pidDir = v;
    if (k == "--ring-min-bytes") a.ringMinBytes = std::stoll(v);
    if (k == "--request") {
      std::stringstream in(v);
      std::string item;
      while (std::getline(in, item, ',')) {
        const auto colon = item.find(':');
        a.requests[std::stoll(item.substr(0, colon))] = std::stoi(item.substr(colon + 1));
      }
    }
    if (k == "--kill-at") {
      std::stringstream in(v);
      std::string step, worker, phase;
      std::getline(in, step, ':');
      std::getline(in, worker, ':');
      std::getline(in, phase, ':');
      a.killStep = std::stoll(step);
      a.killWorker = std::stoi(worker);
      if (!phase.empty()) a.killPhase = phase;
    }
  }
  return a;
}

struct Data {
  torch::Tensor x, y;
};

Data makeData() {
  auto gen = at::detail::createCPUGenerator(1234);
  auto x = at::randn({kExamples, 8}, gen);
  auto y = (x.narrow(1, 0, 1) * 2 - x.narrow(1, 1, 1) + 0.1 * at::randn({kExamples, 1}, gen));
  return {x, y};
}

torch::nn::Sequential makeModel() {
  torch::manual_seed(7);
  return torch::nn::Sequential(torch::nn::Linear(8, 16), torch::nn::Tanh(),
                               torch::nn::Linear(16, 1));
}

torch::Tensor lossOn(torch::nn::Sequential& model, const Data& d,
                     const std::vector<std::int64_t>& idx) {
  auto index = torch::tensor(idx, torch::kLong);
  return torch::mse_loss(model->forward(d.x.index_select(0, index)), d.y.index_select(0, index));
}

void dumpParams(torch::nn::Sequential& model, const std::string& path) {
  std::ofstream out(path);
  out.precision(9);
  for (const auto& p : model->parameters()) {
    auto flat = p.detach().reshape(-1);
    for (std::int64_t i = 0; i < flat.numel(); ++i) out << flat[i].item<float>() << "\n";
  }
}

// World size per step from a log's regroup records.
std::map<std::int64_t, int> worldSchedule(const std::string& log, int& initial) {
  std::map<std::int64_t, int> changes;
  std::ifstream in(log);
  std::string line;
  initial = 0;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded()) continue;
    if (j["event"] == "regroup") changes[j["step"].get<std::int64_t>()] = j["to_world_size"];
    if (j["event"] == "step" && j["step"] == 0 && initial == 0) initial = j["world_size"];
  }
  return changes;
}

int reference(const Args& a) {
  auto data = makeData();
  auto model = makeModel();
  torch::optim::SGD opt(model->parameters(), torch::optim::SGDOptions(0.05).momentum(0.9));
  hw::elastic::ElasticSampler sampler(kExamples, kBatch, {/*seed=*/11});
  int world = 0;
  const auto changes = worldSchedule(a.reference, world);
  for (std::int64_t s = 0; s < a.steps; ++s) {
    if (auto it = changes.find(s); it != changes.end()) world = it->second;
    opt.zero_grad();
    torch::Tensor total = torch::zeros({});
    for (int r = 0; r < world; ++r) total = total + lossOn(model, data, sampler.batch(r, world));
    (total / world).backward();
    opt.step();
    sampler.advance(world);
  }
  dumpParams(model, a.dump);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const Args a = parse(argc, argv);
  if (!a.reference.empty()) return reference(a);
  torch::set_num_threads(1);
  auto data = makeData();
  hw::plugin::ProcessGroup group(hw::elastic::groupOptionsFromEnv());
  const auto* membership = hw::elastic::elasticMembership(group);
  const int workerId = membership != nullptr ? membership->workerId() : -1;
  if (!a.pidDir.empty()) {
    std::ofstream(a.pidDir + "/" + std::to_string(workerId) + ".pid") << ::getpid();
  }
  auto model = makeModel();
  torch::optim::SGD opt(model->parameters(), torch::optim::SGDOptions(0.05).momentum(0.9));
  hw::elastic::ElasticSampler sampler(kExamples, kBatch, {/*seed=*/11});
  hw::elastic::TrainingState state;
  state.addModule(model.ptr());
  state.addOptimizer(opt);
  state.addSampler(sampler);

  hw::hooks::StepRecorder recorder({group.runId(), group.rank(), group.worldSize()});
  recorder.addHook(std::make_shared<hw::hooks::JsonlSink>(a.log));
  hw::plugin::DataParallelOptions dpo;
  if (a.ringMinBytes >= 0) dpo.ringMinBytes = static_cast<std::size_t>(a.ringMinBytes);
  hw::plugin::DataParallel ddp(group, model.ptr(), dpo, &recorder);
  hw::elastic::Elastic elastic(group, state, &recorder);
  std::map<std::int64_t, int> requests = a.requests;

  const bool member = elastic.run(a.steps, [&](std::int64_t step) {
    if (group.rank() == 0) {
      if (auto it = requests.find(step); it != requests.end()) {
        elastic.requestScale(it->second, hw::elastic::Cause::kRequest);
        requests.erase(it);
      }
    }
    const bool killHere = step == a.killStep && workerId == a.killWorker;
    if (killHere && a.killPhase == "step") ::kill(::getpid(), SIGKILL);
    if (killHere && a.killPhase == "stop") ::kill(::getpid(), SIGSTOP);
    auto idx = sampler.batch(group.rank(), group.worldSize());
    auto rec = recorder.step(static_cast<std::int64_t>(idx.size()));
    opt.zero_grad();
    auto loss = lossOn(model, data, idx);
    if (killHere && a.killPhase == "allreduce") {
      // Die while the peers are inside the gradient allreduce.
      std::thread([] {
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
        ::kill(::getpid(), SIGKILL);
      }).detach();
    }
    loss.backward();
    opt.step();
    rec.setLoss(loss.item<double>());
    if (!a.seen.empty()) {  // the epoch of each example from its stream position
      std::ofstream out(a.seen, std::ios::app);
      for (std::size_t k = 0; k < idx.size(); ++k) {
        const auto pos = sampler.cursor() + group.rank() * kBatch + static_cast<std::int64_t>(k);
        out << sampler.epoch() + pos / kExamples << " " << idx[k] << "\n";
      }
    }
    if (a.sleepMs > 0) std::this_thread::sleep_for(std::chrono::milliseconds(a.sleepMs));
  });
  if (member && group.rank() == 0 && !a.dump.empty()) dumpParams(model, a.dump);
  return 0;
}
