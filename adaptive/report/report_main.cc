// hemingway-report: fits f (system) and g (convergence) per algorithm from
// logs or imported traces and recommends an (algorithm, m).
//   hemingway-report run.jsonl --target-loss 0.3
//   hemingway-report traces.csv --time-budget 60 --candidates 1,2,4,8,16 --json
#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "hemingway/adaptive/planner.h"
#include "hemingway/adaptive/report/traces.h"

namespace ad = hemingway::adaptive;
using nlohmann::json;

namespace {

struct Flags {
  std::vector<std::string> inputs;
  std::optional<double> targetLoss, timeBudget, pStar, price;
  std::string candidates, plots;
  bool json = false;
};

class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

bool endsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::vector<double> parseCandidates(const std::string& text) {
  std::vector<double> out;
  std::stringstream s(text);
  std::string cell;
  while (std::getline(s, cell, ',')) {
    char* end = nullptr;
    const double m = std::strtod(cell.c_str(), &end);
    if (cell.empty() || *end != '\0' || !(m >= 1) || m != std::floor(m)) {
      throw UsageError("--candidates: '" + cell + "' is not a machine count >= 1");
    }
    out.push_back(m);
  }
  if (out.empty()) throw UsageError("--candidates is empty");
  return out;
}

json orNull(const std::optional<double>& v) { return v ? json(*v) : json(nullptr); }

std::string joinMachines(const std::set<double>& ms) {
  std::ostringstream o;
  bool first = true;
  for (double m : ms) {
    o << (first ? "" : ", ") << m;
    first = false;
  }
  return o.str();
}

// Writes gnuplot data and scripts into `dir` and runs gnuplot.
void writePlots(const std::string& dir, const std::vector<ad::TraceRow>& rows,
                const std::vector<ad::CompositeModel>& models) {
  std::string mk = "mkdir -p '" + dir + "'";
  if (std::system(mk.c_str()) != 0) throw std::runtime_error("cannot create --plots " + dir);
  for (const auto& model : models) {
    const std::string base = dir + "/" + model.algorithm;
    std::set<double> ms;
    for (const auto& r : rows) {
      if (r.algorithm == model.algorithm) ms.insert(r.machines);
    }
    std::ofstream script(base + ".gp");
    script << "set terminal pngcairo size 900,600\n";
    script << "set output '" << base << "-convergence.png'\nset logscale y\n";
    script << "set title '" << model.algorithm
           << ": observed (points) and fitted g (lines), P* = " << model.convergence.pStar()
           << "'\nset xlabel 'iteration'\nset ylabel 'P - P*'\nplot ";
    bool first = true;
    for (double m : ms) {
      const std::string obs = base + "-m" + std::to_string(int(m)) + ".dat";
      std::ofstream o(obs), f(obs + ".fit");
      double maxI = 1;
      for (const auto& r : rows) {
        if (r.algorithm == model.algorithm && r.machines == m &&
            r.loss > model.convergence.pStar()) {
          o << r.iteration << ' ' << r.loss - model.convergence.pStar() << '\n';
          maxI = std::max(maxI, r.iteration);
        }
      }
      for (double i = 1; i <= maxI; i = std::max(i + 1, i * 1.05)) {
        f << i << ' ' << model.convergence.predictLoss(i, m) - model.convergence.pStar() << '\n';
      }
      script << (first ? "" : ", ") << "'" << obs << "' with points pt 7 ps 0.4 title 'm=" << m
             << "', '" << obs << ".fit' with lines lw 2 title 'fit m=" << m << "'";
      first = false;
    }
    script << "\nset output '" << base << "-system.png'\nunset logscale y\n";
    script << "set title '" << model.algorithm << ": seconds per iteration f(m)'\n";
    script << "set xlabel 'machines m'\nset ylabel 'seconds per iteration'\n";
    {
      std::ofstream pts(base + "-times.dat"), fit(base + "-times.fit");
      for (const auto& r : rows) {
        if (r.algorithm == model.algorithm && r.iterSeconds) {
          pts << r.machines << ' ' << *r.iterSeconds << '\n';
        }
      }
      const double maxM = ms.empty() ? 1 : *ms.rbegin() * 2;
      for (double m = 1; m <= maxM; m += std::max(1.0, maxM / 100)) {
        fit << m << ' ' << model.system.predictSeconds(m, model.size) << '\n';
      }
    }
    script << "plot '" << base << "-times.dat' with points pt 7 ps 0.3 title 'measured', '" << base
           << "-times.fit' with lines lw 2 title 'f(m)'\n";
    script.close();
    const std::string cmd = "gnuplot '" + base + ".gp'";
    if (std::system(cmd.c_str()) != 0) {
      throw std::runtime_error("gnuplot failed on " + base + ".gp (install gnuplot-nox)");
    }
  }
}

int report(const Flags& flags) {
  std::vector<ad::TraceRow> rows;
  std::string firstLog;
  for (const auto& path : flags.inputs) {
    auto part = endsWith(path, ".csv") ? ad::readCsvTraces(path) : ad::readJsonlTraces(path);
    if (!endsWith(path, ".csv") && firstLog.empty()) firstLog = path;
    rows.insert(rows.end(), part.begin(), part.end());
  }
  std::map<std::string, std::vector<ad::TraceRow>> byAlgorithm;
  for (auto& r : rows) byAlgorithm[r.algorithm].push_back(r);

  std::vector<ad::CompositeModel> models;
  std::set<double> observed;
  double smallestLoss = INFINITY;
  for (const auto& [algorithm, part] : byAlgorithm) {
    std::vector<ad::TimingPoint> times;
    std::vector<ad::LossPoint> losses;
    std::set<double> timedMs, ms;
    double size = 1;
    for (const auto& r : part) {
      losses.push_back({r.machines, r.iteration, r.loss});
      ms.insert(r.machines);
      smallestLoss = std::min(smallestLoss, r.loss);
      size = r.size;
      if (r.iterSeconds) {
        times.push_back({r.machines, r.size, *r.iterSeconds});
        timedMs.insert(r.machines);
      }
    }
    observed.insert(ms.begin(), ms.end());
    ad::CompositeModel model;
    model.algorithm = algorithm;
    model.size = size;
    model.system = ad::SystemModel::fit(times);
    if (model.system.status() == ad::FitStatus::kTooFewPoints) {
      throw UsageError("algorithm " + algorithm + ": " + model.system.problem() +
                       ". Measured machine counts with times: " +
                       (timedMs.empty() ? std::string("none (virtual runs carry no times)")
                                        : joinMachines(timedMs)));
    }
    ad::ConvergenceOptions co;
    co.pStar = flags.pStar;
    model.convergence = ad::ConvergenceModel::fit(losses, co);
    if (model.convergence.status() == ad::FitStatus::kTooFewPoints) {
      throw UsageError("algorithm " + algorithm + ": " + model.convergence.problem() +
                       ". Runs at m = " + joinMachines(ms));
    }
    models.push_back(std::move(model));
  }
  if (flags.targetLoss && *flags.targetLoss < smallestLoss) {
    std::fprintf(stderr,
                 "hemingway-report: the target %g was never reached in any trace (smallest loss "
                 "%g): predictions extrapolate beyond the observed losses\n",
                 *flags.targetLoss, smallestLoss);
  }
  ad::PlanQuery query;
  query.targetLoss = flags.targetLoss;
  query.timeBudgetSeconds = flags.timeBudget;
  query.pricePerMachineHour = flags.price;
  if (!flags.candidates.empty()) {
    query.candidates = parseCandidates(flags.candidates);
  } else {
    std::set<double> c(observed.begin(), observed.end());
    for (double m = 1; m <= 2 * *observed.rbegin(); m *= 2) c.insert(m);
    query.candidates.assign(c.begin(), c.end());
  }
  ad::Plan result;
  try {
    result = ad::plan(models, query);
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }

  json out;
  const auto& rec = result.recommendation;
  out["recommendation"] = rec.found ? json{{"algorithm", rec.algorithm},
                                           {"m", rec.machines},
                                           {"predicted_seconds", rec.predictedSeconds},
                                           {"reason", rec.reason}}
                                    : json{{"algorithm", nullptr},
                                           {"m", nullptr},
                                           {"predicted_seconds", nullptr},
                                           {"reason", rec.reason}};
  out["predictions"] = json::array();
  for (const auto& p : result.predictions) {
    out["predictions"].push_back(
        {{"algorithm", p.algorithm},
         {"m", p.machines},
         {"seconds_per_iteration", p.secondsPerIteration},
         {"iterations_to_target", orNull(p.iterationsToTarget)},
         {"time_to_target_s", p.timeToTarget ? json(p.timeToTarget->value) : json(nullptr)},
         {"time_to_target_low_s", p.timeToTarget ? json(p.timeToTarget->low) : json(nullptr)},
         {"time_to_target_high_s", p.timeToTarget ? json(p.timeToTarget->high) : json(nullptr)},
         {"loss_at_budget", orNull(p.lossAtBudget)},
         {"machine_hours", orNull(p.machineHours)},
         {"cost", orNull(p.cost)},
         {"extrapolated", p.extrapolated}});
  }
  if (flags.json) {
    std::cout << out.dump(2) << std::endl;
  } else {
    for (const auto& m : models) {
      std::printf(
          "%s: f(m) = %.4g + %.4g*size/m + %.4g*log m + %.4g*m  (size %g, R^2 %.3f, %zu "
          "configurations)\n",
          m.algorithm.c_str(), m.system.theta()[0], m.system.theta()[1], m.system.theta()[2],
          m.system.theta()[3], m.size, m.system.rSquared(), m.system.configurations());
      std::printf("%s: log10(P - P*) = %.4g", m.algorithm.c_str(), m.convergence.lasso().intercept);
      const auto names = ad::convergenceFeatureNames();
      for (std::size_t j = 0; j < names.size(); ++j) {
        const double b = m.convergence.lasso().beta[static_cast<Eigen::Index>(j)];
        if (b != 0) std::printf(" %+.4g*%s", b, names[j].c_str());
      }
      std::printf("  (P* %.6g%s, R^2 %.3f, %zu points)\n", m.convergence.pStar(),
                  m.convergence.pStarEstimated() ? " estimated" : " given",
                  m.convergence.rSquared(), m.convergence.points());
    }
    std::printf("\n%-10s %6s %12s %14s %14s %14s %s\n", "algorithm", "m", "s/iter", "time_to_eps_s",
                "loss_at_T", "machine_hours", "");
    for (const auto& p : result.predictions) {
      auto num = [](const std::optional<double>& v) {
        char buf[32];
        if (!v) return std::string("-");
        std::snprintf(buf, sizeof buf, "%.4g", *v);
        return std::string(buf);
      };
      std::printf(
          "%-10s %6g %12.4g %14s %14s %14s %s\n", p.algorithm.c_str(), p.machines,
          p.secondsPerIteration,
          num(p.timeToTarget ? std::optional<double>(p.timeToTarget->value) : std::nullopt).c_str(),
          num(p.lossAtBudget).c_str(), num(p.machineHours).c_str(),
          p.extrapolated ? "(extrapolated)" : "");
    }
    if (rec.found) {
      std::printf("\nrecommendation: %s on %g machines, predicted %.4g s: %s\n",
                  rec.algorithm.c_str(), rec.machines, rec.predictedSeconds, rec.reason.c_str());
    } else {
      std::printf("\nno recommendation: %s\n", rec.reason.c_str());
    }
  }
  if (!flags.plots.empty()) writePlots(flags.plots, rows, models);
  if (!firstLog.empty()) {  // the recommendation joins the log it came from
    json record = out["recommendation"];
    record["event"] = "recommendation";
    record["target_loss"] = orNull(flags.targetLoss);
    record["time_budget_s"] = orNull(flags.timeBudget);
    std::ofstream log(firstLog, std::ios::app);
    log << record.dump() << '\n';
    log.flush();
  }
  return rec.found ? 0 : 3;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Hemingway: fit f and g and recommend an (algorithm, m)"};
  Flags f;
  app.add_option("inputs", f.inputs, "JSON Lines logs (*.jsonl) and CSV traces (*.csv)")
      ->required()
      ->check(CLI::ExistingFile);
  app.add_option("--target-loss", f.targetLoss, "loss to reach");
  app.add_option("--time-budget", f.timeBudget, "seconds available")->check(CLI::PositiveNumber);
  app.add_option("--p-star", f.pStar, "the optimum P* (estimated from the traces when absent)");
  app.add_option("--candidates", f.candidates, "machine counts to consider, e.g. 1,2,4,8");
  app.add_option("--price-per-machine-hour", f.price, "cost of one machine for one hour")
      ->check(CLI::PositiveNumber);
  app.add_flag("--json", f.json, "print the result as JSON");
  app.add_option("--plots", f.plots, "write PNG plots (gnuplot) into this directory");
  CLI11_PARSE(app, argc, argv);
  try {
    return report(f);
  } catch (const UsageError& e) {
    std::fprintf(stderr, "hemingway-report: %s\n", e.what());
    return 2;
  } catch (const ad::TraceError& e) {
    std::fprintf(stderr, "hemingway-report: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hemingway-report: %s\n", e.what());
    return 1;
  }
}
