// The worker of the elastic benchmark (run_elastic_benchmark.py): a linear
// layer of 1000 x H floats (H = 10000: 10M parameters, 40 MB), a batch of
// random inputs, SGD. Under hemingway-run it trains with Elastic (--mode
// elastic, under --max-workers) or as a plain data-parallel loop (--mode
// plain), writing step, regroup and run_end records to --log.
//
// Faults for the fault matrix: --kill-at STEP:WORKER:PHASE makes that worker
// SIGKILL itself at STEP before backward (step), during the gradient
// allreduce (allreduce), or SIGSTOP itself (stop), after appending the unix
// time to --stamp.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>

#include <torch/torch.h>
#include <CLI/CLI.hpp>

#include "hemingway/hooks/cli.h"
#include "hemingway/hooks/jsonl_sink.h"
#include "hemingway/hooks/step_recorder.h"
#include "hemingway/plugin/data_parallel.h"
#include "hemingway/plugin/elastic/elastic.h"
#include "hemingway/plugin/elastic/membership.h"
#include "hemingway/plugin/elastic/training_state.h"
#include "hemingway/plugin/process_group.h"

namespace hw = hemingway;

namespace {

double unixNow() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

void stamp(const std::string& path) {
  if (path.empty()) return;
  std::ofstream out(path, std::ios::app);
  out.precision(17);
  out << unixNow() << "\n";
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"bench_elastic: the worker of tests/bench/run_elastic_benchmark.py"};
  hw::cli::showDefaults(app);
  std::string mode = "elastic", log, requestsText, killText, stampPath;
  int hidden = 10000, batch = 8;
  std::int64_t steps = 40;
  long long ringMinBytes = -1;
  app.add_option("--mode", mode, "elastic (under --max-workers) or plain")
      ->check(CLI::IsMember({"elastic", "plain"}));
  app.add_option("--hidden", hidden, "output features of the 1000 x H layer")
      ->check(CLI::Range(1, 1 << 20));
  app.add_option("--batch", batch, "examples per rank per step")->check(CLI::Range(1, 4096));
  app.add_option("--iterations", steps, "steps")->check(CLI::Range(1, 1 << 30));
  app.add_option("--log", log, "JSONL log")->required();
  app.add_option("--request", requestsText, "STEP:N,...: rank 0 asks for N workers at STEP");
  app.add_option("--kill-at", killText, "STEP:WORKER:step|allreduce|stop");
  app.add_option("--stamp", stampPath, "file for the fault's unix time");
  app.add_option("--ring-min-bytes", ringMinBytes,
                 "DataParallel's ringMinBytes (0: every bucket by the ring)");
  std::string pidDir;
  app.add_option("--pid-dir", pidDir, "each worker writes DIR/<worker id>.pid");
  if (auto code = hw::cli::parse(app, argc, argv, "bench_elastic")) return *code;

  return hw::cli::run("bench_elastic", [&] {
    std::map<std::int64_t, int> requests;
    {
      std::stringstream in(requestsText);
      std::string item;
      while (std::getline(in, item, ',')) {
        const auto colon = item.find(':');
        requests[std::stoll(item.substr(0, colon))] = std::stoi(item.substr(colon + 1));
      }
    }
    std::int64_t killStep = -1;
    int killWorker = -1;
    std::string killPhase;
    if (!killText.empty()) {
      std::stringstream in(killText);
      std::string a, b;
      std::getline(in, a, ':');
      std::getline(in, b, ':');
      std::getline(in, killPhase, ':');
      killStep = std::stoll(a);
      killWorker = std::stoi(b);
    }
    torch::set_num_threads(1);
    hw::plugin::ProcessGroup group(hw::elastic::groupOptionsFromEnv());
    const auto* membership = hw::elastic::elasticMembership(group);
    const int workerId = membership != nullptr ? membership->workerId() : -1;
    if (!pidDir.empty()) {
      std::ofstream(pidDir + "/" + std::to_string(workerId) + ".pid") << ::getpid();
    }
    torch::manual_seed(3);
    auto model = torch::nn::Linear(1000, hidden);
    torch::optim::SGD opt(model->parameters(), torch::optim::SGDOptions(1e-4));
    auto x = torch::randn({batch, 1000});
    hw::hooks::StepRecorder recorder({group.runId(), group.rank(), group.worldSize()});
    recorder.addHook(std::make_shared<hw::hooks::JsonlSink>(log));
    hw::plugin::DataParallelOptions dpo;
    if (ringMinBytes >= 0) dpo.ringMinBytes = static_cast<std::size_t>(ringMinBytes);
    hw::plugin::DataParallel ddp(group, model.ptr(), dpo, &recorder);

    auto body = [&](std::int64_t step) {
      const bool fault = step == killStep && workerId == killWorker;
      if (fault && killPhase == "step") {
        stamp(stampPath);
        ::kill(::getpid(), SIGKILL);
      }
      if (fault && killPhase == "stop") {
        stamp(stampPath);
        ::kill(::getpid(), SIGSTOP);
      }
      auto rec = recorder.step(batch);
      opt.zero_grad();
      auto loss = model->forward(x).pow(2).mean();
      if (fault && killPhase == "allreduce") {
        std::thread([&] {
          std::this_thread::sleep_for(std::chrono::milliseconds(5));
          stamp(stampPath);
          ::kill(::getpid(), SIGKILL);
        }).detach();
      }
      loss.backward();
      opt.step();
      rec.setLoss(loss.item<double>());
    };

    if (mode == "plain") {
      for (std::int64_t s = 0; s < steps; ++s) body(s);
      return 0;
    }
    hw::elastic::TrainingState state;
    state.addModule(model.ptr());
    state.addOptimizer(opt);
    hw::elastic::Elastic elastic(group, state, &recorder);
    elastic.run(steps, [&](std::int64_t step) {
      if (group.rank() == 0) {
        if (auto it = requests.find(step); it != requests.end()) {
          elastic.requestScale(it->second, hw::elastic::Cause::kRequest);
        }
      }
      body(step);
    });
    return 0;
  });
}
