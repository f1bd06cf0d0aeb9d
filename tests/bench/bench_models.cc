// Accuracy and speed of Hemingway's models, always on data the fit did not see.
//   bench_models system LOG.jsonl          leave-one-m-out of f on real step times
//   bench_models convergence P_STAR LOG... leave-one-m-out of g on CoCoA+ traces,
//                                          and forward prediction from a 50-iteration window
//   bench_models speed                     fit f and g on 10,000 records
//   bench_models decision                  milliseconds per controller decision after
//                                          2,000, 20,000 and 100,000 iterations, interleaved
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>

#include "hemingway/adaptive/controller.h"
#include "hemingway/adaptive/planner.h"
#include "hemingway/adaptive/report/traces.h"
#include "hemingway/adaptive/statistics.h"

namespace ad = hemingway::adaptive;

using ad::median;

// Ernest's experiment design: the reference workload (batch 64 per worker)
// plus runs at other per-worker batches, so that size = examples per
// iteration over all workers varies. Each m is held out in turn; its batch-64
// median time is predicted from the other machine counts' configurations.
int systemBench(const std::string& path) {
  const auto rows = ad::readJsonlTraces(path);
  std::map<double, std::vector<double>> reference;  // m -> batch-64 times
  std::vector<ad::TimingPoint> all;
  for (const auto& r : rows) {
    if (!r.iterSeconds || r.iteration <= 20) continue;  // warm-up steps left out
    all.push_back({r.machines, r.samples, *r.iterSeconds});
    if (r.samples == 64 * r.machines) reference[r.machines].push_back(*r.iterSeconds);
  }
  std::vector<double> errors;
  for (const auto& [held, times] : reference) {
    std::vector<ad::TimingPoint> train;
    for (const auto& p : all) {
      if (p.machines != held) train.push_back(p);
    }
    // Two facts of this setting enter as extra terms of the feature list: a
    // world of one communicates nothing ([m > 1]), and on one host workers
    // beyond the core count share cores (max(0, m - cores)).
    ad::SystemModelOptions options;
    const double cores = std::max(1u, std::thread::hardware_concurrency());
    options.features.push_back({"[m > 1]", [](double m, double) { return m > 1 ? 1.0 : 0.0; }});
    options.features.push_back(
        {"max(0, m - cores)", [cores](double m, double) { return std::max(0.0, m - cores); }});
    auto model = ad::SystemModel::fit(train, options);
    const double measured = median(times);
    const double predicted = model.predictSeconds(held, 64 * held);
    errors.push_back(std::abs(predicted - measured) / measured);
    std::printf(
        "system model, m = %g held out: measured %.3f ms, predicted %.3f ms (error %.1f%%)\n", held,
        1000 * measured, 1000 * predicted, 100 * errors.back());
  }
  std::printf("RESULT system_model median relative error = %.4f (goal <= 0.10)\n", median(errors));
  return 0;
}

// metric "primal": P with the given P*; "gap": the duality gap with P* = 0.
int convergenceBench(const std::string& metric, double pStar,
                     const std::vector<std::string>& paths) {
  std::vector<ad::LossPoint> all;
  if (metric == "gap") pStar = 0;
  for (const auto& path : paths) {
    for (const auto& r : ad::readJsonlTraces(path)) {
      if (metric == "gap" && !r.gap) throw std::runtime_error(path + ": records carry no gap");
      all.push_back({r.machines, r.iteration, metric == "gap" ? *r.gap : r.loss});
    }
  }
  std::printf("metric: %s\n", metric == "gap" ? "duality gap (P* = 0)" : "sub-optimality P - P*");
  std::set<double> ms;
  for (const auto& p : all) ms.insert(p.machines);
  ad::ConvergenceOptions o;
  o.pStar = pStar;
  std::vector<double> logErrors, iterErrors;
  for (double held : ms) {
    std::vector<ad::LossPoint> train, test;
    for (const auto& p : all) (p.machines == held ? test : train).push_back(p);
    auto model = ad::ConvergenceModel::fit(train, o);
    std::vector<double> errs;
    double measuredIters = NAN;
    for (const auto& p : test) {
      if (p.loss - pStar <= 0) continue;
      errs.push_back(std::abs(model.predictLog10(p.iteration, held) - std::log10(p.loss - pStar)));
      if (std::isnan(measuredIters) && p.loss - pStar <= 1e-4) measuredIters = p.iteration;
    }
    const auto predictedIters = model.iterationsTo(pStar + 1e-4, held);
    const double e = median(errs);
    logErrors.push_back(e);
    double iterError = NAN;
    if (predictedIters && !std::isnan(measuredIters)) {
      iterError = std::abs(*predictedIters - measuredIters) / measuredIters;
      iterErrors.push_back(iterError);
    }
    std::printf(
        "convergence model, m = %g held out: median |error| %.3f log10; iterations to 1e-4 "
        "measured %g, predicted %g (error %.1f%%)\n",
        held, e, measuredIters, predictedIters ? *predictedIters : NAN, 100 * iterError);
  }
  std::printf("RESULT convergence leave-one-m-out median |error| = %.4f log10 (goal <= 0.25)\n",
              median(logErrors));
  const auto within =
      std::count_if(iterErrors.begin(), iterErrors.end(), [](double e) { return e <= 0.2; });
  std::printf(
      "RESULT convergence iterations-to-1e-4 median relative error = %.4f, %td of %zu m within "
      "20%% (goal <= 0.20; worst %.4f)\n",
      median(iterErrors), within, iterErrors.size(),
      *std::max_element(iterErrors.begin(), iterErrors.end()));

  // Forward prediction: fit one m on a window of its last 50 iterations,
  // predict 1 and 10 iterations ahead, at every 10th iteration of every m.
  std::vector<double> ahead1, ahead10;
  for (double m : ms) {
    std::map<double, double> series;
    for (const auto& p : all) {
      if (p.machines == m) series[p.iteration] = p.loss;
    }
    const double last = series.rbegin()->first;
    for (double t = 51; t + 10 <= last; t += 10) {
      std::vector<ad::LossPoint> window;
      for (double i = t - 50; i < t; ++i) window.push_back({m, i, series[i]});
      auto model = ad::ConvergenceModel::fit(window, o);
      if (model.status() == ad::FitStatus::kTooFewPoints) continue;
      for (auto [h, sink] : {std::pair<double, std::vector<double>*>{0, &ahead1}, {9, &ahead10}}) {
        const double obs = series[t + h] - pStar;
        if (obs > 0) sink->push_back(std::abs(model.predictLog10(t + h, m) - std::log10(obs)));
      }
    }
  }
  std::printf(
      "RESULT forward prediction (window 50) median |error|: 1 ahead %.4f, 10 ahead %.4f "
      "log10 (goal <= 0.1; %zu and %zu predictions)\n",
      median(ahead1), median(ahead10), ahead1.size(), ahead10.size());
  return 0;
}

int speedBench() {
  std::mt19937_64 rng(1);
  std::normal_distribution<double> noise(0, 0.02);
  std::vector<ad::TimingPoint> times;
  std::vector<ad::LossPoint> losses;
  for (int m : {1, 2, 4, 8, 16}) {
    for (int i = 1; i <= 2000; ++i) {
      times.push_back({double(m), 1, (0.01 + 0.1 / m + 0.001 * m) * (1 + noise(rng))});
      losses.push_back({double(m), double(i), 0.1 + std::pow(10.0, -0.002 * i / m + noise(rng))});
    }
  }
  for (bool known : {true, false}) {
    std::vector<double> ms;
    for (int rep = 0; rep < 7; ++rep) {
      const auto t0 = std::chrono::steady_clock::now();
      auto f = ad::SystemModel::fit(times);
      ad::ConvergenceOptions o;
      if (known) o.pStar = 0.1;
      auto g = ad::ConvergenceModel::fit(losses, o);
      ms.push_back(
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      if (f.status() == ad::FitStatus::kTooFewPoints ||
          g.status() == ad::FitStatus::kTooFewPoints) {
        std::fprintf(stderr, "bench_models: %s %s\n", f.problem().c_str(), g.problem().c_str());
        return 1;
      }
    }
    std::printf(
        "RESULT fit f and g on %zu records (P* %s) = %.1f ms (median of 7; goal <= 50 ms)\n",
        times.size(), known ? "given" : "estimated", median(ms));
  }
  return 0;
}

// One controller per run length, fed a run that moved over four counts and
// then stayed; the decisions of the three are timed in turn (A B C A B C ...),
// so that the machine's load falls on all alike. Medians of 25 rounds.
int decisionBench() {
  const std::vector<std::int64_t> lengths = {2000, 20000, 100000};
  std::vector<std::unique_ptr<ad::Controller>> controllers;
  for (const auto n : lengths) {
    ad::ControllerOptions o;
    o.algorithm = ad::Algorithm::kCocoa;
    o.metric = ad::Metric::kGap;
    o.targetLoss = 1e-300;
    o.maxWorkers = 64;
    auto c = std::make_unique<ad::Controller>(o);
    const auto f = [](double m) { return 0.02 + 1.5 / m + 0.01 * std::log(m) + 0.02 * m; };
    double level = 0;
    for (std::int64_t i = 0; i < n; ++i) {
      const int m = i < 40 ? 1 << (i / 10) : 4;
      level -= 0.02 / std::pow(m, 0.8) * (1 + 0.1 * std::sin(double(i)));
      c->observeIteration(m, i, std::pow(10.0, level / (1 + 1e-4 * double(i))), f(m));
    }
    controllers.push_back(std::move(c));
  }
  std::vector<std::vector<double>> ms(lengths.size());
  std::int64_t step = 200000;
  for (int round = 0; round < 25; ++round, step += 100) {
    for (std::size_t k = 0; k < lengths.size(); ++k) {
      const auto start = std::chrono::steady_clock::now();
      controllers[k]->decide(step, 4);
      ms[k].push_back(
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
              .count());
    }
  }
  for (std::size_t k = 0; k < lengths.size(); ++k) {
    std::printf("decision after %7lld iterations: %.3f ms (median of 25)\n",
                static_cast<long long>(lengths[k]), median(ms[k]));
  }
  return 0;
}

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  try {
    if (mode == "system" && argc == 3) return systemBench(argv[2]);
    if ((mode == "convergence" || mode == "convergence-gap") && argc >= 4) {
      return convergenceBench(mode == "convergence" ? "primal" : "gap", std::stod(argv[2]),
                              std::vector<std::string>(argv + 3, argv + argc));
    }
    if (mode == "speed") return speedBench();
    if (mode == "decision") return decisionBench();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_models: %s\n", e.what());
    return 1;
  }
  std::fprintf(stderr,
               "usage: bench_models system LOG | convergence P_STAR LOG... | convergence-gap 0 "
               "LOG... | speed | decision\n");
  return 2;
}
