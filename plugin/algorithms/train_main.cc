// hemingway-train: distributed optimization of linear models.
//   hemingway-train --algorithm cocoa+ --dataset fashion-mnist:class=5 --virtual-workers 16
//   hemingway-run --nproc-per-node 2 -- hemingway-train --algorithm cocoa --log run.jsonl
//   hemingway-run --nproc-per-node 4 --max-workers 4 -- hemingway-train --rescale 20:2
//   (elastic: the partitions, CoCoA's dual variables, gamma and sigma' follow K)
#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <utility>
#include <vector>

#include "hemingway/adaptive/controller_hook.h"
#include "hemingway/adaptive/report/traces.h"
#include "hemingway/hooks/cli.h"
#include "hemingway/hooks/error.h"
#include "hemingway/hooks/job.h"
#include "hemingway/hooks/jsonl_sink.h"
#include "hemingway/hooks/progress.h"
#include "hemingway/hooks/step_recorder.h"
#include "hemingway/plugin/algorithms/linear_trainer.h"
#include "hemingway/plugin/elastic/elastic.h"
#include "hemingway/plugin/elastic/membership.h"
#include "hemingway/plugin/elastic/training_state.h"
#include "hemingway/plugin/env.h"
#include "hemingway/plugin/process_group.h"

namespace hw = hemingway;
using hw::plugin::Algorithm;

namespace {

struct Flags {
  std::string algorithm = "cocoa+", loss = "hinge", dataset = "fashion-mnist:class=5";
  std::string normalize = "unit", log, data = hw::data::kFashionMnistDir;
  double lambda = 1e-4, lr = 0.1, targetGap = 0;
  // sgd's scaling rule: weak, --batch-size per worker (lr as given, on the
  // mean of the m x B examples); strong, a fixed --global-batch shared.
  std::string scaling = "weak";
  long long globalBatch = 0;
  int virtualWorkers = 0, iterations = 100, batchSize = 1;
  long long localIters = 0;
  std::int64_t maxFeatures = hw::data::kMaxLibsvmFeatures;
  std::vector<std::string> command;
  unsigned long long seed = 1;
  std::string rescale;       // ITER:M,...
  std::string clusterModel;  // theta0,theta1,theta2,theta3
  double clusterRescaleS = 0.25;
  double clusterStraggler = 0;  // lognormal spread of the machines' speeds
  std::string capacity;         // T:M,... machines the simulated cluster offers from second T
  // The adaptive controller and the goals (also stopping rules of static runs).
  bool adaptive = false;
  double targetLoss = 0, timeBudget = 0, pricePerMachineHour = 0;
  int refitEvery = 10, cooldown = 20, probeSteps = 5;
  double margin = 0.05;
  std::vector<std::string> prior;  // logs of earlier runs of this job
};

// The controller's settings from the flags: the metric is the duality gap
// with --target-gap, else the objective (P* estimated from the curves).
hw::adaptive::ControllerOptions controllerOptions(const Flags& f, bool dual, int minWorkers,
                                                  int maxWorkers) {
  HEMINGWAY_CHECK_AS(hw::ConfigError, f.targetLoss > 0 || f.targetGap > 0 || f.timeBudget > 0,
                     "--adaptive needs a goal: --target-loss E, --target-gap G (cocoa, cocoa+) or "
                     "--time-budget S");
  HEMINGWAY_CHECK_AS(hw::ConfigError, !(f.targetLoss > 0 && f.targetGap > 0),
                     "give --target-loss or --target-gap, not both");
  HEMINGWAY_CHECK_AS(hw::ConfigError,
                     f.pricePerMachineHour == 0 || f.targetLoss > 0 || f.targetGap > 0,
                     "--price-per-machine-hour needs a target (--target-loss or --target-gap)");
  hw::adaptive::ControllerOptions o;
  o.algorithm = hw::adaptive::algorithmFromName(f.algorithm);
  // Strong scaling is one optimisation on any m (sgd's steps do not depend on it).
  if (f.scaling == "strong") o.slopeBounds = hw::adaptive::SlopeBounds{0, 0};
  o.metric = f.targetGap > 0 || (f.targetLoss == 0 && dual) ? hw::adaptive::Metric::kGap
                                                            : hw::adaptive::Metric::kLoss;
  if (f.targetGap > 0) o.targetLoss = f.targetGap;
  if (f.targetLoss > 0) o.targetLoss = f.targetLoss;
  if (f.timeBudget > 0) o.timeBudgetSeconds = f.timeBudget;
  if (f.pricePerMachineHour > 0) o.pricePerMachineHour = f.pricePerMachineHour;
  o.minWorkers = minWorkers;
  o.maxWorkers = maxWorkers;
  o.refitEverySteps = f.refitEvery;
  o.cooldownSteps = f.cooldown;
  o.probeSteps = f.probeSteps;
  o.margin = f.margin;
  return o;
}

// f(m) = theta0 + theta1/m + theta2 ln m + theta3 m seconds per iteration.
std::vector<double> parseClusterModel(const std::string& text) {
  std::vector<double> theta;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    char* end = nullptr;
    const double v = std::strtod(item.c_str(), &end);
    HEMINGWAY_CHECK_AS(
        hw::ConfigError,
        !item.empty() && end == item.c_str() + item.size() && std::isfinite(v) && v >= 0,
        "--cluster-model '{}': '{}' is not a finite number >= 0", text, item);
    theta.push_back(v);
  }
  HEMINGWAY_CHECK_AS(hw::ConfigError, theta.size() == 4,
                     "--cluster-model '{}': expected four numbers theta0,theta1,theta2,theta3 "
                     "(seconds per iteration f(m) = theta0 + theta1/m + theta2 ln m + theta3 m)",
                     text);
  return theta;
}

// "ITER:M,ITER:M": the worker count from iteration ITER on.
std::map<std::int64_t, int> parseRescale(const std::string& text) {
  std::map<std::int64_t, int> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    const auto colon = item.find(':');
    HEMINGWAY_CHECK_AS(hw::ConfigError, colon != std::string::npos,
                       "--rescale '{}': expected ITER:M[,ITER:M...]", text);
    const auto at = hw::plugin::parseInt("--rescale ITER", item.substr(0, colon), 0, 1LL << 30);
    out[at] =
        static_cast<int>(hw::plugin::parseInt("--rescale M", item.substr(colon + 1), 1, 1 << 16));
  }
  return out;
}

// --rescale on real workers under hemingway-run: rank 0 asks for each
// entry's count at its iteration, or later, once the entry before it took
// effect (a new generation): hemingway-run carries out only the newest
// request it holds, so two asked within one change would merge into one.
// Every member keeps the same place in the schedule, and a joiner receives
// it with the training state. A failure also ends the wait (a request
// hemingway-run had not yet carried out is then dropped).
class RescaleSchedule {
 public:
  RescaleSchedule(const std::map<std::int64_t, int>& entries, hw::elastic::WorkerBounds bounds)
      : entries_(entries.begin(), entries.end()), bounds_(bounds) {}

  void addTo(hw::elastic::TrainingState& state) {
    state.addValue("rescale_next", next_);
    state.addValue("rescale_asked_in", askedIn_);
  }

  // The count to ask for before iteration `it` of generation `generation`.
  std::optional<int> due(std::int64_t it, int generation, int worldSize) {
    if (askedIn_ >= 0 && generation > askedIn_) askedIn_ = -1;
    if (askedIn_ >= 0 || next_ >= static_cast<std::int64_t>(entries_.size()) ||
        it < entries_[static_cast<std::size_t>(next_)].first) {
      return std::nullopt;
    }
    const int want = entries_[static_cast<std::size_t>(next_++)].second;
    // A count hemingway-run would clamp to the current one changes nothing.
    if (std::clamp(want, bounds_.min, bounds_.max) == worldSize) return std::nullopt;
    askedIn_ = generation;
    return want;
  }

 private:
  std::vector<std::pair<std::int64_t, int>> entries_;
  hw::elastic::WorkerBounds bounds_;
  std::int64_t next_ = 0;      // the first entry not yet asked for
  std::int64_t askedIn_ = -1;  // the generation of the request that waits; -1: none
};

// "T:M,T:M": from simulated second T on, the cluster offers M machines.
std::map<double, int> parseCapacity(const std::string& text) {
  std::map<double, int> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    const auto colon = item.find(':');
    char* end = nullptr;
    const double t = colon == std::string::npos ? NAN : std::strtod(item.c_str(), &end);
    HEMINGWAY_CHECK_AS(
        hw::ConfigError,
        colon != std::string::npos && end == item.c_str() + colon && std::isfinite(t) && t >= 0,
        "--capacity '{}': expected T:M[,T:M...] (T simulated seconds >= 0)", text);
    out[t] =
        static_cast<int>(hw::plugin::parseInt("--capacity M", item.substr(colon + 1), 1, 1 << 16));
  }
  HEMINGWAY_CHECK_AS(hw::ConfigError, out.empty() || out.begin()->first == 0,
                     "--capacity '{}': the first entry must start at 0", text);
  return out;
}

// "fashion-mnist:class=K" or "libsvm:PATH".
hw::data::SparseSet loadDataset(const std::string& spec, const std::string& normalize,
                                const std::string& dataDir, std::int64_t maxFeatures) {
  HEMINGWAY_CHECK_AS(hw::ConfigError, normalize == "none" || normalize == "unit",
                     "--normalize must be none or unit, got '{}'", normalize);
  const std::string fm = "fashion-mnist:class=";
  if (spec.rfind(fm, 0) == 0) {
    const int cls =
        static_cast<int>(hw::plugin::parseInt("--dataset class", spec.substr(fm.size()), 0, 9));
    auto images = hw::data::loadFashionMnist(hw::data::Split::kTrain, dataDir);
    return hw::data::oneVsRest(
        images, cls,
        normalize == "unit" ? hw::data::Normalize::kUnitNorm : hw::data::Normalize::kScale);
  }
  if (spec.rfind("libsvm:", 0) == 0) {
    auto set = hw::data::readLibsvm(spec.substr(7), 0, maxFeatures);
    if (normalize == "unit") {
      for (std::int64_t r = 0; r < set.rows(); ++r) {
        double s = 0;
        for (auto k = set.rowStart[r]; k < set.rowStart[r + 1]; ++k)
          s += double(set.value[k]) * set.value[k];
        if (s == 0) continue;
        for (auto k = set.rowStart[r]; k < set.rowStart[r + 1]; ++k) set.value[k] /= std::sqrt(s);
      }
    }
    return set;
  }
  HEMINGWAY_FAIL_AS(hw::ConfigError, "--dataset '{}' is not fashion-mnist:class=K or libsvm:PATH",
                    spec);
}

// A simulated cluster (--cluster-model, --cluster-rescale-s): its clock
// advances by f(m) = theta0 + theta1/m + theta2 ln m + theta3 m seconds an
// iteration on m workers, and by the stated cost at each rescale.
// It is the run's clock (the recorder stamps records with it).
// With a straggler spread (--cluster-straggler S), machine k computes
// exp(S z_k) times slower (z_k standard normal, drawn once from the seed):
// an iteration's split computation, theta1/m, waits for the slowest of the
// m machines it runs on (the first m).
class SimulatedCluster final : public hw::hooks::RunClock {
 public:
  SimulatedCluster(std::vector<double> theta, double rescaleS, double straggler = 0,
                   unsigned long long seed = 1)
      : theta_(std::move(theta)), rescaleS_(rescaleS) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> z;
    double slowest = 1;
    for (int k = 0; k < kMaxMachines && straggler > 0; ++k) {
      slowest = std::max(slowest, std::exp(straggler * z(rng)));
      slowestOfFirst_.push_back(slowest);
    }
  }
  bool active() const { return !theta_.empty(); }
  Kind kind() const override { return Kind::kSimulated; }
  double now() const override { return now_; }
  double rescaleSeconds() const { return rescaleS_; }
  // One iteration on `m` workers: the clock after it.
  double iterate(int m) {
    const double x = m;
    const double slow =
        slowestOfFirst_.empty() ? 1.0 : slowestOfFirst_[std::min<std::size_t>(m, kMaxMachines) - 1];
    now_ += theta_[0] + slow * theta_[1] / x + theta_[2] * std::log(x) + theta_[3] * x;
    return now_;
  }
  void rescale() { now_ += rescaleS_; }

 private:
  static constexpr int kMaxMachines = 1 << 16;
  std::vector<double> slowestOfFirst_;  // the slowest factor among machines 1..m
  std::vector<double> theta_;
  double rescaleS_;
  double now_ = 0;
};

// A virtual run as the controller sees it: its workers' count, and a
// rescale applied at once (repartition, and the simulated cluster's cost).
class VirtualScaler final : public hw::hooks::Scaler {
 public:
  VirtualScaler(const hw::plugin::WorkerSet& workers, std::function<void(int)> apply)
      : workers_(workers), apply_(std::move(apply)) {}
  int worldSize() const override { return workers_.worldSize(); }
  void requestScale(int worldSize) override { apply_(worldSize); }

 private:
  const hw::plugin::WorkerSet& workers_;
  std::function<void(int)> apply_;
};

hw::plugin::AlgorithmOptions algorithmOptions(const Flags& f) {
  hw::plugin::AlgorithmOptions options;
  options.algorithm = hw::plugin::parseAlgorithm(f.algorithm);
  options.localIters = f.localIters;
  options.batchSize = f.batchSize;
  HEMINGWAY_CHECK_AS(hw::ConfigError, f.scaling == "weak" || f.globalBatch > 0,
                     "--scaling strong needs --global-batch G (examples per step, all workers)");
  HEMINGWAY_CHECK_AS(hw::ConfigError, f.scaling == "strong" || f.globalBatch == 0,
                     "--global-batch is the rule of --scaling strong: give both");
  if (f.scaling == "strong") options.globalBatch = f.globalBatch;
  options.lr = f.lr;
  options.seed = f.seed;
  return options;
}

// The checks that need no data and no group, in the order users meet them.
hw::plugin::GroupOptions checkedGroupOptions(const Flags& f,
                                             const hw::plugin::AlgorithmOptions& options) {
  auto groupOptions = hw::elastic::groupOptionsFromEnv();
  hw::plugin::parseLoss(f.loss);
  HEMINGWAY_CHECK_AS(hw::ConfigError, f.virtualWorkers == 0 || groupOptions.worldSize == 1,
                     "--virtual-workers runs every worker in one process; do not launch it with "
                     "{} processes",
                     groupOptions.worldSize);
  HEMINGWAY_CHECK_AS(hw::ConfigError, f.prior.empty() || f.adaptive,
                     "--prior warms the controller's models: give --adaptive");
  HEMINGWAY_CHECK_AS(hw::ConfigError, f.targetGap == 0 || hw::plugin::isDual(options.algorithm),
                     "--target-gap needs a dual method (cocoa or cocoa+), not {}", f.algorithm);
  return groupOptions;
}

// One run of hemingway-train: the problem, the group, the workers (real or
// virtual), the recorder and the controller; run() trains in the elastic
// loop (under hemingway-run --max-workers) or the static one.
class TrainRun {
 public:
  explicit TrainRun(const Flags& f)
      : f_(f),
        options_(algorithmOptions(f)),
        groupOptions_(checkedGroupOptions(f, options_)),
        problem_(loadDataset(f.dataset, f.normalize, f.data, f.maxFeatures),
                 hw::plugin::parseLoss(f.loss), f.lambda),
        dual_(hw::plugin::isDual(options_.algorithm)),
        group_(groupOptions_),
        elasticRun_(hw::elastic::elasticMembership(group_) != nullptr),
        rescale_(parseRescale(f.rescale)),
        cluster_(std::make_shared<SimulatedCluster>(clusterOf(f), f.clusterRescaleS,
                                                    f.clusterStraggler, f.seed)),
        capacity_(parseCapacity(f.capacity)),
        workers_(startWorkers()),
        trainer_(problem_, workers_, options_),
        recorder_({group_.runId(), group_.rank(), group_.worldSize()}),
        progress_(f.iterations) {
    // Rank 0 writes the iteration records; in an elastic run every rank keeps
    // the sink open (rank 0 may change; each writes its run_end).
    if (!f_.log.empty() && (workers_.reports() || elasticRun_)) {
      recorder_.addHook(std::make_shared<hw::hooks::JsonlSink>(f_.log));
    }
    if (cluster_->active()) {
      recorder_.setClock(cluster_);
    } else if (workers_.isVirtual()) {
      recorder_.setClock(std::make_shared<hw::hooks::NoClock>());
    }
    if (f_.adaptive) addController();
  }

  int run() {
    if (workers_.reports() && !group_.parked()) start();
    started_ = std::chrono::steady_clock::now();
    if (elasticRun_) {
      if (!trainElastic()) return 0;  // parked when the run ended
    } else {
      trainStatic();
    }
    if (workers_.reports()) {
      fmt::print("{} m={}{}: {}, primal {:.8g}{}{}\n", f_.algorithm, workers_.worldSize(),
                 workers_.isVirtual() ? " (virtual)" : "", progress_.summary(trainer_.iteration()),
                 e_.primal,
                 e_.gap ? fmt::format(", dual {:.8g}, gap {:.3g}", *e_.dual, *e_.gap) : "",
                 cluster_->active() ? fmt::format(", simulated {:.4g} s", cluster_->now()) : "");
    }
    return 0;
  }

 private:
  std::vector<double> clusterOf(const Flags& f) const {
    HEMINGWAY_CHECK_AS(hw::ConfigError, f.clusterStraggler == 0 || !f.clusterModel.empty(),
                       "--cluster-straggler spreads a simulated cluster: give --cluster-model");
    if (f.clusterModel.empty()) return {};
    auto theta = parseClusterModel(f.clusterModel);
    HEMINGWAY_CHECK_AS(hw::ConfigError, f.virtualWorkers > 0,
                       "--cluster-model simulates the cluster of a virtual run: give "
                       "--virtual-workers");
    return theta;
  }

  hw::plugin::WorkerSet startWorkers() {
    HEMINGWAY_CHECK_AS(hw::ConfigError, capacity_.empty() || cluster_->active(),
                       "--capacity changes a simulated cluster: give --cluster-model");
    HEMINGWAY_CHECK_AS(hw::ConfigError, rescale_.empty() || f_.virtualWorkers > 0 || elasticRun_,
                       "--rescale needs --virtual-workers, or real workers under hemingway-run "
                       "--max-workers");
    return f_.virtualWorkers > 0 ? hw::plugin::WorkerSet::virtualWorkers(f_.virtualWorkers)
                                 : hw::plugin::WorkerSet::real(group_);
  }

  void addController() {
    HEMINGWAY_CHECK_AS(hw::ConfigError, f_.virtualWorkers > 0 || elasticRun_,
                       "--adaptive rescales: give --virtual-workers M, or run under hemingway-run "
                       "--max-workers B");
    HEMINGWAY_CHECK_AS(hw::ConfigError, rescale_.empty(),
                       "--adaptive and --rescale both rescale: give one");
    HEMINGWAY_CHECK_AS(
        hw::ConfigError, f_.virtualWorkers == 0 || cluster_->active(),
        "--adaptive on virtual workers needs a simulated clock: give --cluster-model "
        "T0,T1,T2,T3");
    const auto bounds = f_.virtualWorkers > 0 ? hw::elastic::WorkerBounds{1, f_.virtualWorkers}
                                              : hw::elastic::elasticWorkerBounds(group_);
    controller_ = std::make_shared<hw::adaptive::ControllerHook>(
        controllerOptions(f_, dual_, bounds.min, bounds.max), &recorder_);
    recorder_.addHook(controller_);
    const auto job = hw::hooks::jobFingerprint(jobConfig());
    for (const auto& path : f_.prior) {
      try {
        const auto prior = hw::adaptive::readPrior(path, job, f_.algorithm);
        controller_->observePrior(prior.rows, prior.rescaleSeconds);
      } catch (const hw::adaptive::TraceError& e) {
        HEMINGWAY_FAIL_AS(hw::ConfigError, "--prior: {}", e.what());
      }
    }
    // Virtual workers start on the controller's first count at no cost.
    if (workers_.isVirtual()) {
      workers_ = hw::plugin::WorkerSet::virtualWorkers(controller_->controller().firstCount());
      trainer_.repartition(workers_, trainer_.gatherDual(), false);
    }
  }

  // The job's settings (run_start's `config`). Settings a dual method does
  // not use are "-": they do not split its job.
  std::map<std::string, std::string> jobConfig() const {
    const bool none = f_.clusterModel.empty();
    return {{"loss", f_.loss},
            {"lambda", fmt::format("{}", f_.lambda)},
            {"dataset", f_.dataset},
            {"normalize", f_.normalize},
            {"lr", dual_ ? "-" : fmt::format("{}", f_.lr)},
            {"batch_size", dual_ || f_.scaling == "strong" ? "-" : std::to_string(f_.batchSize)},
            {"scaling", dual_ ? "-" : f_.scaling},
            {"global_batch", f_.scaling == "strong" ? std::to_string(f_.globalBatch) : "-"},
            {"seed", std::to_string(f_.seed)},
            {"data", f_.data},
            {"virtual_workers", std::to_string(f_.virtualWorkers)},
            {"local_iters", std::to_string(f_.localIters)},
            {"cluster_model", none ? "-" : f_.clusterModel},
            {"cluster_rescale_s", none ? "-" : fmt::format("{}", f_.clusterRescaleS)},
            {"cluster_straggler", none ? "-" : fmt::format("{}", f_.clusterStraggler)},
            {"capacity", f_.capacity.empty() ? "-" : f_.capacity}};
  }

  void start() {
    hw::hooks::RunInfo info;
    info.algorithm = f_.algorithm;
    info.parameterCount = problem_.features();
    info.parameterBytes = problem_.features() * 8;
    info.datasetSize = problem_.examples();
    info.extra = jobConfig();
    info.command = f_.command;
    recorder_.runStart(info);
    fmt::print(stderr,
               "hemingway-train: {} on {} ({} examples x {} features), {} loss, lambda {:g}, "
               "{} {}worker{}, up to {} iterations{}\n",
               f_.algorithm, f_.dataset, problem_.examples(), problem_.features(), f_.loss,
               f_.lambda, workers_.worldSize(), workers_.isVirtual() ? "virtual " : "",
               workers_.worldSize() == 1 ? "" : "s", f_.iterations,
               f_.targetGap > 0 ? fmt::format(" or duality gap {:g}", f_.targetGap) : "");
  }

  // Seconds since the start: the simulated clock of a simulated cluster, else wall time.
  double clock() const {
    return cluster_->active()
               ? cluster_->now()
               : std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  }

  // One iteration; true when a goal is reached.
  bool iterate(std::int64_t it) {
    const auto timing = trainer_.iterate();
    e_ = trainer_.evaluate();
    HEMINGWAY_CHECK(std::isfinite(e_.primal), "the objective is {} at iteration {}: {} diverged{}",
                    e_.primal, it, f_.algorithm, dual_ ? "" : " (lower --lr)");
    hw::hooks::IterationRecord r;
    r.worldSize = workers_.worldSize();
    r.iteration = it;
    r.algorithm = f_.algorithm;
    r.primal = e_.primal;
    r.dual = e_.dual;
    r.gap = e_.gap;
    if (cluster_->active()) cluster_->iterate(workers_.worldSize());
    r.computeMs = timing.computeMs;  // off the wall clock the recorder drops them
    r.commMs = timing.commMs;
    r.iterMs = timing.computeMs + timing.commMs;
    if (workers_.reports()) {
      recorder_.iteration(r);
      if ((it + 1) % 10 == 0 || it + 1 == f_.iterations) {
        fmt::print(stderr, "{} | primal {:.6g}{}{}\n", progress_.line(it + 1), e_.primal,
                   e_.gap ? fmt::format(" | gap {:.3g}", *e_.gap) : "",
                   rescale_.empty() ? "" : fmt::format(" | workers {}", workers_.worldSize()));
      }
    }
    return (f_.targetGap > 0 && e_.gap && *e_.gap <= f_.targetGap) ||
           (f_.targetLoss > 0 && e_.primal <= f_.targetLoss) ||
           (f_.timeBudget > 0 && clock() >= f_.timeBudget);
  }

  // After a failure, the dual variables of the members that trained until it,
  // the rest as of the last change (w is rebuilt to match them).
  void mergeDualAfterFailure(std::vector<double>& fullDual, bool wasMember) {
    std::vector<double> values, mask;
    if (wasMember) {
      trainer_.localDual(values, mask);
    } else {
      values.assign(fullDual.size(), 0.0);
      mask.assign(fullDual.size(), 0.0);
    }
    workers_.sum(values);
    workers_.sum(mask);
    for (std::size_t i = 0; i < fullDual.size(); ++i) {
      if (mask[i] > 0) fullDual[i] = values[i];
    }
  }

  // Real workers under hemingway-run --max-workers. False: parked at the end.
  bool trainElastic() {
    // The state a joiner needs: w, the iteration, and for dual methods the
    // full dual vector as of the last membership change.
    std::vector<double> fullDual(dual_ ? static_cast<std::size_t>(problem_.examples()) : 0, 0.0);
    hw::elastic::TrainingState state;
    state.addVector("w", trainer_.mutableWeights());
    state.addVector("dual", fullDual);
    state.addValue("iteration", trainer_.mutableIteration());
    RescaleSchedule schedule(rescale_, hw::elastic::elasticWorkerBounds(group_));
    schedule.addTo(state);
    hw::elastic::Elastic elastic(group_, state, &recorder_);
    elastic.beforeMembershipChange([&] { fullDual = trainer_.gatherDual(); });
    elastic.onMembershipChange(
        [&](const hw::elastic::Membership& before, const hw::elastic::Membership& after) {
          workers_ = hw::plugin::WorkerSet::real(group_);
          // A new rank 0 decides from where the old one stopped.
          if (controller_ && after.rank == 0 && before.rank > 0) {
            if (auto memory = elastic.kept("controller"))
              controller_->controller().restore(*memory);
          }
          const bool failure = after.cause == hw::elastic::Cause::kFailure;
          if (failure && dual_) mergeDualAfterFailure(fullDual, before.worldSize > 0);
          trainer_.repartition(workers_, fullDual, failure && dual_);
        });
    int keptIn = -1;  // the generation the controller's memory was last kept in
    return elastic.run(f_.iterations, [&](std::int64_t it) {
      const auto asked = schedule.due(it, group_.generation(), group_.worldSize());
      if (group_.rank() == 0) {
        if (asked) elastic.requestScale(*asked, hw::elastic::Cause::kRequest);
        // The memory a new rank 0 restores: after each decision and each
        // membership change (a measured rescale cost).
        const bool decided = controller_ && controller_->steer(it, elastic.scaler());
        if (controller_ && (decided || group_.generation() != keptIn)) {
          elastic.keep("controller", controller_->controller().memory());
          keptIn = group_.generation();
        }
      }
      trainer_.mutableIteration() = it;  // a step cut by a failure may have counted
      if (iterate(it)) elastic.stop();
    });
  }

  // The count a static or virtual run wants before iteration `it`: the
  // --rescale schedule, within the capacity the simulated scheduler offers.
  int wanted(std::int64_t it, int startWorkers) {
    int want = workers_.worldSize();
    if (auto at = rescale_.find(it); at != rescale_.end()) want = at->second;
    if (capacity_.empty()) return want;
    // The scheduler takes machines away (the run shrinks to what is left) and
    // offers them back (a static run grows back to its size; the controller
    // decides for an adaptive one).
    const int cap = std::prev(capacity_.upper_bound(cluster_->now()))->second;
    if (want > cap) want = cap;
    if (!controller_ && rescale_.empty() && want < startWorkers && cap > want) {
      want = std::min(cap, startWorkers);
    }
    if (controller_) controller_->controller().setCapacity(cap);
    return want;
  }

  // Virtual workers take a new count at once; a simulated cluster charges it.
  void rescaleVirtual(std::int64_t it, int to, const std::string& why) {
    if (to == workers_.worldSize() || !workers_.isVirtual()) return;
    const int from = workers_.worldSize();
    const auto full = trainer_.gatherDual();
    workers_ = hw::plugin::WorkerSet::virtualWorkers(to);
    trainer_.repartition(workers_, full, false);
    if (!cluster_->active()) return;
    cluster_->rescale();
    hw::hooks::RegroupRecord g;
    g.fromWorldSize = from;
    g.toWorldSize = to;
    g.step = it;
    g.cause = why;
    g.totalMs = cluster_->rescaleSeconds() * 1000;
    recorder_.regroup(g);
  }

  // Real workers of a fixed group, or virtual workers in this process.
  void trainStatic() {
    const int startWorkers = workers_.worldSize();
    for (std::int64_t it = 0; it < f_.iterations; ++it) {
      rescaleVirtual(it, wanted(it, startWorkers), "request");
      if (controller_) {
        VirtualScaler scaler(workers_, [&](int to) { rescaleVirtual(it, to, "controller"); });
        controller_->steer(it, scaler);
      }
      if (iterate(it)) break;
    }
  }

  const Flags& f_;
  hw::plugin::AlgorithmOptions options_;
  hw::plugin::GroupOptions groupOptions_;
  hw::plugin::LinearProblem problem_;
  bool dual_;
  hw::plugin::ProcessGroup group_;
  bool elasticRun_;
  std::map<std::int64_t, int> rescale_;
  std::shared_ptr<SimulatedCluster> cluster_;
  std::map<double, int> capacity_;
  hw::plugin::WorkerSet workers_;
  hw::plugin::LinearTrainer trainer_;
  hw::hooks::StepRecorder recorder_;
  std::shared_ptr<hw::adaptive::ControllerHook> controller_;
  hw::plugin::Evaluation e_;
  hw::hooks::Progress progress_;
  std::chrono::steady_clock::time_point started_;
};

// The simulated cluster of a virtual run.
void addClusterFlags(CLI::App& app, Flags& f) {
  app.add_option("--capacity", f.capacity,
                 "T:M[,T:M...]: from simulated second T the cluster offers M machines (a "
                 "scheduler taking machines away and giving them back)");
  app.add_option("--cluster-rescale-s", f.clusterRescaleS,
                 "simulated seconds one rescale costs on the simulated cluster")
      ->check(hw::cli::kFiniteNonNegative);
  app.add_option("--cluster-straggler", f.clusterStraggler,
                 "the simulated machines' speeds spread as exp(S z), z ~ N(0, 1): an iteration "
                 "waits for the slowest")
      ->check(hw::cli::kFiniteNonNegative);
  app.add_option("--cluster-model", f.clusterModel,
                 "T0,T1,T2,T3: a virtual run on a simulated cluster whose iteration on m workers "
                 "takes T0 + T1/m + T2 ln m + T3 m seconds (records carry simulated_s)");
}

// The adaptive controller and its goals.
void addAdaptiveFlags(CLI::App& app, Flags& f) {
  app.add_flag("--adaptive", f.adaptive,
               "let the controller choose the machine count (virtual workers: 1..M; real: "
               "hemingway-run's --min-workers..--max-workers); decisions go to --log");
  app.add_option("--target-loss", f.targetLoss,
                 "stop when the objective is <= E (the goal of "
                 "--adaptive)")
      ->check(hw::cli::kFinitePositive);
  app.add_option("--time-budget", f.timeBudget,
                 "stop after S seconds (simulated with --cluster-model); with --adaptive and no "
                 "target: the lowest objective by then")
      ->check(hw::cli::kFinitePositive);
  app.add_option("--price-per-machine-hour", f.pricePerMachineHour,
                 "--adaptive: the fewest machine-hours to the target (by --time-budget if given)")
      ->check(hw::cli::kFinitePositive);
  app.add_option("--refit-every", f.refitEvery, "--adaptive: steps between decisions")
      ->check(CLI::Range(1, 1 << 20));
  app.add_option("--cooldown", f.cooldown, "--adaptive: no rescale within this many steps of one")
      ->check(CLI::Range(0, 1 << 20));
  app.add_option("--probe-steps", f.probeSteps,
                 "--adaptive: at most this many steps a probe (it ends after 3 once their times "
                 "agree)")
      ->check(CLI::Range(3, 1 << 20));
  app.add_option("--prior", f.prior,
                 "--adaptive: logs of earlier runs of this job; the models start from them")
      ->check(CLI::ExistingFile);
  app.add_option("--margin", f.margin,
                 "--adaptive: the pessimistic gain must beat the rescale cost by this fraction "
                 "of the remaining time")
      ->check(hw::cli::kFiniteNonNegative);
}

int train(const Flags& f) { return TrainRun(f).run(); }

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Hemingway: distributed optimization of L2-regularized linear models"};
  hw::cli::showDefaults(app);
  Flags f;
  f.command.assign(argv, argv + argc);
  app.add_option("--algorithm", f.algorithm, "gd|sgd|local-sgd|cocoa|cocoa+")
      ->check(CLI::IsMember({"gd", "sgd", "local-sgd", "cocoa", "cocoa+"}));
  app.add_option("--loss", f.loss, "hinge|logistic|squared")
      ->check(CLI::IsMember({"hinge", "logistic", "squared"}));
  app.add_option("--lambda", f.lambda, "L2 regularization")->check(hw::cli::kFinitePositive);
  app.add_option("--dataset", f.dataset, "fashion-mnist:class=K or libsvm:PATH");
  app.add_option("--data", f.data, "directory of the Fashion-MNIST gzip IDX files");
  app.add_option("--max-features", f.maxFeatures,
                 "libsvm: the largest feature index accepted (a dense weight each)")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{2147483647}));
  app.add_option("--normalize", f.normalize, "none (pixels in [0,1]) or unit (unit-L2-norm rows)")
      ->check(CLI::IsMember({"none", "unit"}));
  app.add_option("--virtual-workers", f.virtualWorkers, "run M logical workers in this process")
      ->check(CLI::Range(1, 1 << 16));
  app.add_option("--iterations", f.iterations, "outer iterations")->check(CLI::Range(1, 1 << 30));
  app.add_option("--local-iters", f.localIters,
                 "H: local SDCA steps (default one pass) or local SGD steps (default 1)")
      ->check(CLI::Range(0LL, 1LL << 40));
  app.add_option("--batch-size", f.batchSize, "examples per worker per SGD step")
      ->check(CLI::Range(1, 1 << 24));
  app.add_option("--scaling", f.scaling,
                 "sgd: weak (--batch-size per worker) or strong (--global-batch shared by the "
                 "workers: the same steps on any number of them)")
      ->check(CLI::IsMember({"weak", "strong"}));
  app.add_option("--global-batch", f.globalBatch,
                 "--scaling strong: examples per step, all workers")
      ->check(CLI::Range(1LL, 1LL << 30));
  app.add_option("--lr", f.lr, "step size of gd, sgd, local-sgd")->check(hw::cli::kFinitePositive);
  app.add_option("--target-gap", f.targetGap, "stop when the duality gap is <= G")
      ->check(hw::cli::kFiniteNonNegative);
  app.add_option("--log", f.log, "append JSON Lines iteration records to this file");
  app.add_option("--seed", f.seed, "seed of the workers' random choices")
      ->check(hw::cli::kFiniteNonNegative);
  app.add_option("--rescale", f.rescale,
                 "ITER:M[,ITER:M...]: from iteration ITER on, M workers (virtual workers at once; "
                 "real ones under hemingway-run --max-workers, requested at ITER, or once the "
                 "entry before took effect, in effect a step boundary later)");
  addClusterFlags(app, f);
  addAdaptiveFlags(app, f);
  if (auto code = hw::cli::parse(app, argc, argv, "hemingway-train")) return *code;
  return hw::cli::run("hemingway-train", [&] { return train(f); });
}
