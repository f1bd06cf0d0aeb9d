// hemingway-report: fits f (system) and g (convergence) per algorithm from
// logs or imported traces and recommends an (algorithm, m).
//   hemingway-report run.jsonl --target-loss 0.3
//   hemingway-report traces.csv --time-budget 60 --candidates 1,2,4,8,16 --json
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "hemingway/adaptive/fitting.h"
#include "hemingway/adaptive/planner.h"
#include "hemingway/adaptive/report/traces.h"
#include "hemingway/hooks/cli.h"

namespace ad = hemingway::adaptive;
using nlohmann::json;

namespace {

struct Flags {
  std::vector<std::string> inputs;
  std::optional<double> targetLoss, timeBudget, pStar, price;
  std::string candidates, plots, appendTo, metric = "loss";
  bool json = false, pool = false;
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
    if (cell.empty() || *end != '\0' || !(m >= 1 && m <= 1e9) || m != std::floor(m)) {
      throw UsageError("--candidates: '" + cell + "' is not a whole machine count in [1, 1e9]");
    }
    out.push_back(m);
  }
  if (out.empty()) throw UsageError("--candidates is empty");
  return out;
}

json orNull(const std::optional<double>& v) { return v ? json(*v) : json(nullptr); }
json pairOrNull(const std::optional<std::pair<double, double>>& v) {
  return v ? json::array({v->first, v->second}) : json(nullptr);
}

// The command that runs `argv` (a run's recorded command line) on `machines`
// for `iterations`: --virtual-workers changes for a virtual run, otherwise
// hemingway-run starts that many workers. Arguments are quoted for a POSIX
// shell where they need it (the user pastes the line; nothing runs it here).
std::string probeCommand(std::vector<std::string> argv, double machines, double iterations) {
  const auto set = [&argv](const std::string& flag, const std::string& value) {
    for (std::size_t k = 1; k < argv.size(); ++k) {
      if (argv[k] == flag && k + 1 < argv.size()) {
        argv[k + 1] = value;
        return true;
      }
      if (argv[k].rfind(flag + "=", 0) == 0) {
        argv[k] = flag + "=" + value;
        return true;
      }
    }
    return false;
  };
  // A probe is a static run: an adaptive run's controller flags go.
  for (std::size_t k = 1; k < argv.size();) {
    if (argv[k] == "--adaptive") {
      argv.erase(argv.begin() + static_cast<std::ptrdiff_t>(k));
    } else if (argv[k] == "--target-loss" && k + 1 < argv.size()) {
      argv.erase(argv.begin() + static_cast<std::ptrdiff_t>(k),
                 argv.begin() + static_cast<std::ptrdiff_t>(k + 2));
    } else {
      ++k;
    }
  }
  char m[32], n[32];
  std::snprintf(m, sizeof m, "%g", machines);
  std::snprintf(n, sizeof n, "%.0f", iterations);
  const bool virtualRun = set("--virtual-workers", m);
  if (!set("--iterations", n)) {
    argv.push_back("--iterations");
    argv.push_back(n);
  }
  std::string out = virtualRun ? "" : std::string("hemingway-run --nproc-per-node ") + m + " -- ";
  for (std::size_t k = 0; k < argv.size(); ++k) {
    const auto& a = argv[k];
    const bool plain = !a.empty() && a.find_first_not_of(
                                         "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLM"
                                         "NOPQRSTUVWXYZ0123456789_-+=/.,:@%") == std::string::npos;
    std::string quoted = "'";
    for (const char c : a) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
    out += (k ? " " : "") + (plain ? a : quoted + "'");
  }
  return out;
}

// The table's last column: what is extrapolated.
std::string flagsOf(const ad::CandidatePrediction& p) {
  std::string out;
  if (p.extrapolatedM) out += "m not measured";
  if (p.extrapolatedIterations) out += std::string(out.empty() ? "" : "; ") + "beyond the traces";
  if (p.knee) out += std::string(out.empty() ? "" : "; ") + "knee: target on a flat part";
  if (out.empty() && p.extrapolated) out = "extrapolated";
  return out.empty() ? "" : "(" + out + ")";
}

// " (median leave-one-m-out error ... 4.2% over 12 cases; level-set 4.2%,
// lasso 9.0%, shape 5.1%; beyond the measured m: level-set)".
std::string formNote(const ad::ConvergenceModel& g) {
  if (!g.heldOutError()) {
    return " (fewer than 3 machine counts: no form could be held out and compared; intervals at "
           "unmeasured m are the algorithm's slope bounds)";
  }
  char buf[200];
  std::snprintf(buf, sizeof buf,
                " (median leave-one-m-out error of iterations to a level %.1f%% over %zu cases;",
                100 * *g.heldOutError(), g.heldOutCases());
  std::string out = buf;
  const char* sep = " ";
  for (const auto& [form, error] : g.heldOutErrors()) {
    std::snprintf(buf, sizeof buf, "%s%s %.1f%%", sep, ad::formName(form), 100 * error);
    out += buf;
    sep = ", ";
  }
  const auto& machines = g.observedMachines();
  if (!machines.empty()) {
    out += std::string("; beyond the measured m: ") + ad::formName(g.formBeyondMeasured());
  }
  return out + ")";
}

// Appends one JSON line to `path`, starting on a new line even when the file
// ends in a torn line, in a single write.
void appendRecord(const std::string& path, const std::string& line) {
  bool needsNewline = false;
  {
    std::ifstream in(path, std::ios::binary | std::ios::ate);
    if (in && in.tellg() > 0) {
      in.seekg(-1, std::ios::end);
      needsNewline = in.get() != '\n';
    }
  }
  const std::string text = (needsNewline ? "\n" : "") + line + "\n";
  std::ofstream out(path, std::ios::app | std::ios::binary);
  out << text;
  out.flush();
  if (!out) throw std::runtime_error("cannot append to " + path);
}

// A file name from a name found in data: letters, digits, '.', '-', '_', '+'
// only, no leading dot, at most 64 characters: it cannot leave its folder.
std::string safeFileName(const std::string& name) {
  std::string out;
  for (const char c : name) {
    const bool ok =
        std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' || c == '+';
    out += ok ? c : '_';
    if (out.size() == 64) break;
  }
  while (!out.empty() && out.front() == '.') out.front() = '_';
  return out.empty() ? "unnamed" : out;
}

// A gnuplot single-quoted string: a quote is doubled, control characters dropped.
std::string gnuplotQuote(const std::string& text) {
  std::string out = "'";
  for (const char c : text) {
    if (c == '\'') {
      out += "''";
    } else if (static_cast<unsigned char>(c) >= 0x20) {
      out += c;
    }
  }
  return out + "'";
}

// Runs `argv` (no shell) and waits; returns its exit code, 127 if it cannot start.
int runProgram(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = 0;
  if (::posix_spawnp(&pid, argv[0], nullptr, nullptr, argv.data(), environ) != 0) return 127;
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string fmt(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

// The --plots folder (created) and a temporary folder for gnuplot's data and
// scripts, removed with this object.
struct PlotFolders {
  std::string work;
  explicit PlotFolders(const std::string& dir) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) throw UsageError("--plots: cannot create " + dir + ": " + ec.message());
    char tmpl[] = "/tmp/hemingway-report-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) throw std::runtime_error("cannot create a temporary folder");
    work = tmpl;
  }
  ~PlotFolders() {
    std::error_code ignored;
    std::filesystem::remove_all(work, ignored);
  }
  PlotFolders(const PlotFolders&) = delete;
  PlotFolders& operator=(const PlotFolders&) = delete;
};

// What the plots show besides the models.
struct PlotContext {
  bool gap = false;  // the metric is the duality gap
  std::optional<double> target;
  const ad::Plan* plan = nullptr;
};

// Writes PNG plots into `dir` (only the images: gnuplot's data and scripts go
// to a temporary folder) and runs gnuplot without a shell. Per algorithm:
// ALG-convergence.png (the metric per m, observed and fitted, one colour per
// m), ALG-system.png (median seconds per iteration per measured m and f with
// its interval band; unmeasured m beyond the dashed line) and, with a
// target, ALG-time-to-target.png (predicted time against m with its 80%
// band, the measured runs' times, the recommendation marked).
// The plots of one model: a gnuplot script with its data files.
class ModelPlots {
 public:
  ModelPlots(const std::string& dir, const std::string& work, const std::vector<ad::TraceRow>& rows,
             const ad::CompositeModel& model, const PlotContext& context)
      : rows_(rows),
        model_(model),
        context_(context),
        name_(safeFileName(model.algorithm)),
        base_(work + "/" + name_),
        out_(dir + "/" + name_),
        metric_(context.gap ? "duality gap" : "loss - P*"),
        pStar_(model.convergence.pStar()) {
    for (const auto& r : rows) {
      if (r.algorithm == model.algorithm) ms_.insert(r.machines);
    }
  }

  void write() {
    std::ofstream script(base_ + ".gp");
    script << "set terminal pngcairo size 1000,600\nset key outside right top\nset grid\n";
    convergence(script);
    system(script);
    if (context_.target && context_.plan != nullptr) timeToTarget(script);
    script.close();
    const int code = runProgram({"gnuplot", base_ + ".gp"});
    if (code == 127) throw std::runtime_error("cannot run gnuplot (install gnuplot-nox)");
    if (code != 0) throw std::runtime_error("gnuplot failed on the plots of " + name_);
  }

 private:
  std::optional<double> value(const ad::TraceRow& r) const {
    const double v = context_.gap ? r.gap.value_or(-1) : r.loss - pStar_;
    return v > 0 ? std::optional<double>(v) : std::nullopt;
  }

  // Observed points and g per measured m.
  void convergence(std::ofstream& script) {
    script << "set output " << gnuplotQuote(out_ + "-convergence.png")
           << "\nset logscale y\nset format y '10^{%L}'\n";
    // The lines are g as it serves at the measured counts (formAt), which
    // differs from the form chosen between them once the forms were compared.
    const auto& g = model_.convergence;
    const std::string drawn = ad::formName(g.formAt(ms_.empty() ? 1.0 : *ms_.begin()));
    const std::string serving = ad::formName(g.form());
    const std::string lines = drawn == serving ? drawn + " form, lines"
                                               : "lines: " + drawn + " form at measured m; " +
                                                     serving + " form between them";
    script << "set title "
           << gnuplotQuote(model_.algorithm + ": " + metric_ + " per m, observed (points) and g (" +
                           lines + ")")
           << "\nset xlabel 'iteration'\nset ylabel " << gnuplotQuote(metric_) << "\n";
    if (context_.target) {
      const double level = context_.gap ? *context_.target : *context_.target - pStar_;
      script << "set arrow from graph 0, first " << level << " to graph 1, first " << level
             << " nohead dt 2 lc rgb 'gray40'\n";
    }
    script << "plot ";
    int k = 0;
    for (double m : ms_) {
      const std::string obs = base_ + "-m" + std::to_string(k) + ".dat";
      std::ofstream o(obs), f(obs + ".fit");
      double maxI = 1;
      for (const auto& r : rows_) {
        if (r.algorithm != model_.algorithm || r.machines != m) continue;
        if (const auto v = value(r)) {
          o << r.iteration << ' ' << *v << '\n';
          maxI = std::max(maxI, r.iteration);
        }
      }
      for (double i = 1; i <= maxI; i = std::max(i + 1, i * 1.05)) {
        f << i << ' ' << std::pow(10.0, g.predictLog10(i, m)) << '\n';
      }
      script << (k ? ", " : "") << gnuplotQuote(obs) << " with points pt 7 ps 0.35 lc " << k + 1
             << " title 'm=" << m << "', " << gnuplotQuote(obs + ".fit") << " with lines lw 2 lc "
             << k + 1 << " notitle";
      ++k;
    }
    script << "\nunset arrow\nunset logscale y\nset format y '%g'\n";
  }

  // f(m): medians per measured m, the fit and its band.
  void system(std::ofstream& script) {
    const double maxM = ms_.empty() ? 2 : *ms_.rbegin() * 2;
    {
      std::ofstream pts(base_ + "-times.dat"), fit(base_ + "-times.fit");
      for (const auto& [m, seconds] : model_.measuredSeconds) pts << m << ' ' << seconds << '\n';
      for (double m = 1; m <= maxM; m += std::max(1.0, maxM / 100)) {
        const auto f = model_.system.predict(m, model_.size);
        fit << m << ' ' << f.value << ' ' << f.low << ' ' << f.high << '\n';
      }
    }
    script << "set output " << gnuplotQuote(out_ + "-system.png") << "\n";
    script << "set title " << gnuplotQuote(model_.algorithm + ": seconds per iteration f(m)")
           << "\nset xlabel 'machines m'\nset ylabel 'seconds per iteration'\n";
    if (!ms_.empty()) {
      script << "set arrow from " << *ms_.rbegin() << ", graph 0 to " << *ms_.rbegin()
             << ", graph 1 nohead dt 2 lc rgb 'gray40'\nset label 'extrapolated ->' at "
             << *ms_.rbegin() << ", graph 0.95 offset 1,0\n";
    }
    script << "plot " << gnuplotQuote(base_ + "-times.fit")
           << " using 1:3:4 with filledcurves lc rgb '#c6dbef' title 'f interval', "
           << gnuplotQuote(base_ + "-times.fit") << " using 1:2 with lines lw 2 lc rgb '#08519c' "
           << "title 'f(m)', " << gnuplotQuote(base_ + "-times.dat")
           << " with points pt 7 ps 1.2 lc rgb '#d62728' title 'measured median'\n";
    script << "unset arrow\nunset label\n";
  }

  // The data of the time-to-target plot; returns the number of predictions.
  int timeToTargetData() {
    std::ofstream pred(base_ + "-ttt.dat"), rec(base_ + "-rec.dat"), meas(base_ + "-ttt-meas.dat");
    int points = 0;
    for (const auto& p : context_.plan->predictions) {
      if (p.algorithm != model_.algorithm || !p.timeToTarget) continue;
      const auto band = p.timeToTargetInterval.value_or(
          std::make_pair(p.timeToTarget->value, p.timeToTarget->value));
      pred << p.machines << ' ' << p.timeToTarget->value << ' ' << band.first << ' ' << band.second
           << '\n';
      ++points;
      const auto& r = context_.plan->recommendation;
      if (r.found && r.algorithm == p.algorithm && r.machines == p.machines) {
        rec << p.machines << ' ' << p.timeToTarget->value << '\n';
      }
    }
    const double goal = context_.gap ? *context_.target : *context_.target - pStar_;
    for (const auto& [m, seconds] : model_.measuredSeconds) {  // what the runs themselves took
      std::optional<double> first;
      for (const auto& r : rows_) {
        if (r.algorithm != model_.algorithm || r.machines != m) continue;
        const auto v = value(r);
        if (v && *v <= goal && (!first || r.iteration < *first)) first = r.iteration;
      }
      if (first) meas << m << ' ' << *first * seconds << '\n';
    }
    return points;
  }

  // Time to the target per candidate m, with the 80% band and the choice.
  void timeToTarget(std::ofstream& script) {
    if (timeToTargetData() == 0) return;
    script << "set output " << gnuplotQuote(out_ + "-time-to-target.png") << "\n";
    script << "set title "
           << gnuplotQuote(model_.algorithm + ": seconds to " + metric_ + " target " +
                           std::to_string(*context_.target) + " against m")
           << "\nset xlabel 'machines m'\nset ylabel 'seconds to the target'\nset logscale x 2\n";
    script << "plot " << gnuplotQuote(base_ + "-ttt.dat")
           << " using 1:3:4 with filledcurves lc rgb '#fdd0a2' title "
           << (model_.convergence.intervalsFromSlopeBounds() ? "'slope-bound interval', "
                                                             : "'80% interval', ")
           << gnuplotQuote(base_ + "-ttt.dat")
           << " using 1:2 with linespoints lw 2 pt 7 lc rgb '#d94801' title 'predicted', "
           << gnuplotQuote(base_ + "-ttt-meas.dat")
           << " with points pt 9 ps 1.8 lc rgb '#238b45' title 'measured runs', "
           << gnuplotQuote(base_ + "-rec.dat")
           << " with points pt 6 ps 4 lw 3 lc rgb 'black' title 'recommended'\n";
    script << "unset logscale x\n";
  }

  const std::vector<ad::TraceRow>& rows_;
  const ad::CompositeModel& model_;
  const PlotContext& context_;
  const std::string name_, base_, out_, metric_;
  const double pStar_;
  std::set<double> ms_;
};

void writePlots(const std::string& dir, const std::vector<ad::TraceRow>& rows,
                const std::vector<ad::CompositeModel>& models, const PlotContext& context) {
  const PlotFolders folders(dir);
  for (const auto& model : models) ModelPlots(dir, folders.work, rows, model, context).write();
}

// The decision table of each adaptive run.
void printTimelines(const std::vector<ad::Timeline>& timelines) {
  for (const auto& t : timelines) {
    int changes = 0;
    for (const auto& d : t.decisions) changes += d.toWorldSize != d.worldSize ? 1 : 0;
    const auto& last = t.points.empty() ? ad::TimelinePoint{} : t.points.back();
    std::printf(
        "\nadaptive run %s (%s): %zu decisions, %d membership changes, ended on m = %d "
        "after %.4g %sseconds\n",
        t.run.c_str(), t.algorithm.c_str(), t.decisions.size(), changes, last.machines,
        last.seconds, t.simulated ? "simulated " : "");
    std::printf("%8s %10s %10s %8s %13s %14s  %s\n", "step", "seconds", "world_size", "action",
                "to_world_size", "rescale_cost_s", "reason");
    for (const auto& d : t.decisions) {
      std::printf("%8lld %10.4g %10d %8s %13d %14.4g  %s\n", d.step, d.seconds, d.worldSize,
                  d.action.c_str(), d.toWorldSize, d.rescaleCostS, d.reason.c_str());
    }
  }
}

// RUN-timeline.png: the metric (the duality gap when recorded, else the loss)
// against time, log scale, each membership change marked with its new m.
void writeTimelinePlot(const std::string& dir, const ad::Timeline& t) {
  if (t.points.empty()) return;
  const PlotFolders folders(dir);
  const std::string& work = folders.work;
  const bool gap = t.points.back().gap.has_value();
  std::ofstream data(work + "/timeline.dat");
  int most = 1;
  for (const auto& p : t.points) {
    const double v = gap ? p.gap.value_or(0) : p.loss;
    if (v > 0) data << p.seconds << ' ' << v << ' ' << p.machines << '\n';
    most = std::max(most, p.machines);
  }
  data.close();
  const std::string name = safeFileName("timeline-" + t.run);
  std::ofstream script(work + "/timeline.gp");
  script << "set terminal pngcairo size 1100,600\nset grid\nset key outside right top\n"
         << "set output " << gnuplotQuote(dir + "/" + name + ".png") << "\n"
         << "set title "
         << gnuplotQuote("adaptive run " + t.run + " (" + t.algorithm +
                         "): " + (gap ? "duality gap" : "loss") +
                         " against time; membership changes marked")
         << "\nset xlabel " << gnuplotQuote(t.simulated ? "simulated seconds" : "seconds")
         << "\nset ylabel " << gnuplotQuote(gap ? "duality gap" : "loss")
         << "\nset logscale y\nset format y '10^{%L}'\nset y2label 'machines m'\nset y2tics\n"
         << "set ytics nomirror\n"
         // Headroom above the largest m, so that its stretch is not the frame.
         << "set y2range [0:" << std::ceil(most * 1.15) << "]\n";
  int k = 1;
  for (const auto& d : t.decisions) {
    if (d.toWorldSize == d.worldSize) continue;
    script << "set arrow " << k++ << " from first " << d.seconds << ", graph 0 to first "
           << d.seconds << ", graph 1 nohead dt 2 lc rgb "
           << (d.action == "probe" ? "'#9e9ac8'" : "'#d94801'") << "\n";
    script << "set label " << k++ << " "
           << gnuplotQuote(d.action + " m=" + std::to_string(d.toWorldSize)) << " at first "
           << d.seconds << ", graph 0.97 rotate by 90 right offset character 0.9, 0 font ',8'\n";
  }
  script << "plot " << gnuplotQuote(work + "/timeline.dat")
         << " using 1:2 with lines lw 2 lc rgb '#08519c' title "
         << gnuplotQuote(gap ? "gap" : "loss") << ", " << gnuplotQuote(work + "/timeline.dat")
         << " using 1:3 axes x1y2 with fsteps lw 1 lc rgb '#636363' title 'm'\n";
  script.close();
  const int code = runProgram({"gnuplot", work + "/timeline.gp"});
  if (code == 127) throw std::runtime_error("cannot run gnuplot (install gnuplot-nox)");
  if (code != 0) throw std::runtime_error("gnuplot failed on the timeline of run " + t.run);
}

// Everything the inputs hold.
struct Inputs {
  std::vector<ad::TraceRow> rows;
  ad::JobConfigs configs;
  ad::JobCommands commands;
  std::vector<ad::Timeline> timelines;
};

Inputs readInputs(const std::vector<std::string>& paths) {
  Inputs in;
  for (const auto& path : paths) {
    const bool csv = endsWith(path, ".csv");
    auto part =
        csv ? ad::readCsvTraces(path) : ad::readJsonlTraces(path, &in.configs, &in.commands);
    in.rows.insert(in.rows.end(), part.begin(), part.end());
    if (!csv) {
      for (auto& t : ad::readTimelines(path)) in.timelines.push_back(std::move(t));
    }
  }
  return in;
}

// The fitted models, and what the candidates of the plan follow from.
struct Fits {
  std::vector<ad::FittedModel> fitted;
  std::vector<ad::CompositeModel> models;
  std::set<double> observed, timedOnly;
  bool identifiable = true;
  double smallestLoss = INFINITY;
};

Fits fitAll(const Inputs& in, const ad::FitOptions& fo) {
  Fits fits;
  try {
    fits.fitted = ad::fitModels(in.rows, in.configs, fo);
  } catch (const ad::FitError& e) {
    throw UsageError(e.what());
  }
  for (auto& f : fits.fitted) {
    fits.observed.insert(f.machines.begin(), f.machines.end());
    fits.identifiable = fits.identifiable && f.systemIdentifiable;
    for (const auto& [m, seconds] : f.model.measuredSeconds) fits.timedOnly.insert(m);
    fits.smallestLoss = std::min(fits.smallestLoss, f.smallestLoss);
    fits.models.push_back(f.model);
  }
  return fits;
}

ad::Plan planFor(const Flags& flags, const Fits& fits) {
  if (flags.targetLoss && *flags.targetLoss < fits.smallestLoss) {
    std::fprintf(stderr,
                 "hemingway-report: the target %g was never reached in any trace (smallest loss "
                 "%g): predictions extrapolate beyond the observed losses\n",
                 *flags.targetLoss, fits.smallestLoss);
  }
  ad::PlanQuery query;
  query.targetLoss = flags.targetLoss;
  query.timeBudgetSeconds = flags.timeBudget;
  query.pricePerMachineHour = flags.price;
  if (!fits.identifiable) {
    // One machine count with times: f is not identifiable, so only measured
    // counts are planned (the forward prediction), and probes come next.
    query.candidates.assign(fits.timedOnly.begin(), fits.timedOnly.end());
  } else if (!flags.candidates.empty()) {
    query.candidates = parseCandidates(flags.candidates);
  } else {
    std::set<double> c(fits.observed.begin(), fits.observed.end());
    for (double m = 1; m <= 2 * *fits.observed.rbegin(); m *= 2) c.insert(m);
    query.candidates.assign(c.begin(), c.end());
  }
  try {
    return ad::plan(fits.models, query);
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }
}

json recommendationJson(const ad::Recommendation& rec) {
  return rec.found ? json{{"algorithm", rec.algorithm},
                          {"m", rec.machines},
                          {"predicted_seconds", rec.predictedSeconds},
                          {"reason", rec.reason}}
                   : json{{"algorithm", nullptr},
                          {"m", nullptr},
                          {"predicted_seconds", nullptr},
                          {"reason", rec.reason}};
}

json heldOutErrorsJson(const ad::ConvergenceModel& g) {
  json out = json::object();
  for (const auto& [form, error] : g.heldOutErrors()) out[ad::formName(form)] = error;
  return out;
}

json modelsJson(const std::vector<ad::CompositeModel>& models) {
  json out = json::array();
  for (const auto& m : models) {
    out.push_back(
        {{"algorithm", m.algorithm},
         {"form", ad::formName(m.convergence.form())},
         {"held_out_error", orNull(m.convergence.heldOutError())},
         {"held_out_cases", m.convergence.heldOutCases()},
         {"held_out_errors", heldOutErrorsJson(m.convergence)},
         {"form_beyond_measured_m", m.convergence.observedMachines().empty()
                                        ? json(nullptr)
                                        : json(ad::formName(m.convergence.formBeyondMeasured()))},
         {"p_star", m.convergence.pStar()}});
  }
  return out;
}

json predictionJson(const ad::CandidatePrediction& p) {
  const auto& t = p.timeToTarget;
  return {{"algorithm", p.algorithm},
          {"m", p.machines},
          {"seconds_per_iteration", p.secondsPerIteration},
          {"seconds_per_iteration_measured", orNull(p.measuredSecondsPerIteration)},
          {"seconds_per_iteration_fit", p.fittedSecondsPerIteration},
          {"iterations_to_target", orNull(p.iterationsToTarget)},
          {"iterations_to_target_interval", pairOrNull(p.iterationsToTargetInterval)},
          {"time_to_target_interval_s", pairOrNull(p.timeToTargetInterval)},
          {"time_to_target_s", t ? json(t->value) : json(nullptr)},
          {"time_to_target_low_s", t ? json(t->low) : json(nullptr)},
          {"time_to_target_high_s", t ? json(t->high) : json(nullptr)},
          {"loss_at_budget", orNull(p.lossAtBudget)},
          {"loss_at_budget_interval", pairOrNull(p.lossAtBudgetInterval)},
          {"machine_hours", orNull(p.machineHours)},
          {"cost", orNull(p.cost)},
          {"extrapolated", p.extrapolated},
          {"extrapolated_m", p.extrapolatedM},
          {"extrapolated_iterations", p.extrapolatedIterations},
          {"knee", p.knee}};
}

// The next probes: JSON, and the lines of the text report.
json probesJson(const Fits& fits, const ad::JobCommands& commands,
                std::vector<std::string>& probeLines) {
  json out = json::array();
  for (const auto& f : fits.fitted) {
    const auto it = commands.find(f.job);
    for (const auto& probe : ad::nextProbes(f)) {
      const std::string command =
          it == commands.end() ? "" : probeCommand(it->second, probe.machines, probe.iterations);
      out.push_back({{"algorithm", f.model.algorithm},
                     {"m", probe.machines},
                     {"iterations", probe.iterations},
                     {"command", command.empty() ? json(nullptr) : json(command)}});
      char line[160];
      std::snprintf(line, sizeof line, "  %s: m = %g for %g iterations", f.model.algorithm.c_str(),
                    probe.machines, probe.iterations);
      probeLines.push_back(std::string(line) + (command.empty() ? "" : ":\n    " + command));
    }
  }
  return out;
}

json timelinesJson(const std::vector<ad::Timeline>& timelines) {
  json out = json::array();
  for (const auto& t : timelines) {
    json decisions = json::array();
    for (const auto& d : t.decisions) {
      decisions.push_back({{"seconds", d.seconds},
                           {"step", d.step},
                           {"world_size", d.worldSize},
                           {"action", d.action},
                           {"to_world_size", d.toWorldSize},
                           {"rescale_cost_s", d.rescaleCostS},
                           {"reason", d.reason}});
    }
    out.push_back({{"run", t.run},
                   {"algorithm", t.algorithm},
                   {"simulated", t.simulated},
                   {"decisions", decisions}});
  }
  return out;
}

void printModels(const std::vector<ad::CompositeModel>& models) {
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
                m.convergence.pStarEstimated() ? " estimated" : " given", m.convergence.rSquared(),
                m.convergence.points());
    std::printf("%s: g's form: %s%s\n", m.algorithm.c_str(), ad::formName(m.convergence.form()),
                formNote(m.convergence).c_str());
  }
}

void printPredictions(const std::vector<ad::CandidatePrediction>& predictions) {
  // The columns carry the names of the JSON fields.
  std::printf("\n%-10s %6s %30s %25s %20s %15s %25s %14s %23s %13s %s\n", "algorithm", "m",
              "seconds_per_iteration_measured", "seconds_per_iteration_fit", "iterations_to_target",
              "time_to_target_s", "time_to_target_interval_s", "loss_at_budget",
              "loss_at_budget_interval", "machine_hours", "");
  auto num = [](const std::optional<double>& v) {
    char buf[32];
    if (!v) return std::string("-");
    std::snprintf(buf, sizeof buf, "%.4g", *v);
    return std::string(buf);
  };
  auto pair = [&num](const std::optional<std::pair<double, double>>& v) {
    return v ? "[" + num(v->first) + ", " + num(v->second) + "]" : std::string("-");
  };
  for (const auto& p : predictions) {
    std::printf(
        "%-10s %6g %30s %25.4g %20s %15s %25s %14s %23s %13s %s\n", p.algorithm.c_str(), p.machines,
        num(p.measuredSecondsPerIteration).c_str(), p.fittedSecondsPerIteration,
        num(p.iterationsToTarget).c_str(),
        num(p.timeToTarget ? std::optional<double>(p.timeToTarget->value) : std::nullopt).c_str(),
        pair(p.timeToTargetInterval).c_str(), num(p.lossAtBudget).c_str(),
        pair(p.lossAtBudgetInterval).c_str(), num(p.machineHours).c_str(), flagsOf(p).c_str());
  }
}

void printText(const Fits& fits, const ad::Plan& result, const std::vector<std::string>& probeLines,
               const std::vector<ad::Timeline>& timelines) {
  printModels(fits.models);
  printPredictions(result.predictions);
  const auto& rec = result.recommendation;
  if (rec.found) {
    std::printf("\nrecommendation: %s on %g machines, predicted %.4g s: %s\n",
                rec.algorithm.c_str(), rec.machines, rec.predictedSeconds, rec.reason.c_str());
  } else {
    std::printf("\nno recommendation: %s\n", rec.reason.c_str());
  }
  if (!fits.identifiable) {
    std::printf(
        "\nOnly one machine count has times: the table is the forward prediction at the "
        "measured m. To compare machine counts, run next (the cheapest probes that make f "
        "identifiable and g's held-out error measurable), then report on the logs again:\n");
  } else if (!probeLines.empty()) {
    std::printf("\nTo measure g's held-out error, run next:\n");
  }
  for (const auto& line : probeLines) std::printf("%s\n", line.c_str());
  printTimelines(timelines);
}

int report(const Flags& flags) {
  const auto in = readInputs(flags.inputs);
  ad::FitOptions fo;
  fo.metric = flags.metric == "gap" ? ad::Metric::kGap : ad::Metric::kLoss;
  fo.pStar = flags.pStar;
  fo.pool = flags.pool;
  const auto fits = fitAll(in, fo);
  const auto result = planFor(flags, fits);

  json out;
  out["recommendation"] = recommendationJson(result.recommendation);
  out["models"] = modelsJson(fits.models);
  out["predictions"] = json::array();
  for (const auto& p : result.predictions) out["predictions"].push_back(predictionJson(p));
  std::vector<std::string> probeLines;
  out["probes"] = probesJson(fits, in.commands, probeLines);
  out["timelines"] = timelinesJson(in.timelines);
  if (flags.json) {
    std::cout << out.dump(2) << std::endl;
  } else {
    printText(fits, result, probeLines, in.timelines);
  }
  if (!flags.plots.empty()) {
    writePlots(flags.plots, in.rows, fits.models,
               {fo.metric == ad::Metric::kGap, flags.targetLoss, &result});
    for (const auto& t : in.timelines) writeTimelinePlot(flags.plots, t);
  }
  if (!flags.appendTo.empty()) {  // only when asked: the inputs are never written
    json record = out["recommendation"];
    record["event"] = "recommendation";
    record["target_loss"] = orNull(flags.targetLoss);
    record["time_budget_s"] = orNull(flags.timeBudget);
    appendRecord(flags.appendTo, record.dump());
  }
  return result.recommendation.found ? 0 : 3;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Hemingway: fit f and g and recommend an (algorithm, m)"};
  hemingway::cli::showDefaults(app);
  Flags f;
  app.add_option("inputs", f.inputs, "JSON Lines logs (*.jsonl) and CSV traces (*.csv)")
      ->required();
  app.add_option("--target-loss", f.targetLoss, "loss to reach")
      ->check(hemingway::cli::kFiniteNonNegative);
  app.add_option("--time-budget", f.timeBudget, "seconds available")
      ->check(hemingway::cli::kFinitePositive);
  app.add_option("--p-star", f.pStar, "the optimum P* (estimated from the traces when absent)")
      ->check(hemingway::cli::kFiniteNonNegative);
  app.add_option("--candidates", f.candidates, "machine counts to consider, e.g. 1,2,4,8");
  app.add_option("--price-per-machine-hour", f.price, "cost of one machine for one hour")
      ->check(hemingway::cli::kFinitePositive);
  app.add_flag("--json", f.json, "print the result as JSON");
  app.add_option("--plots", f.plots, "write PNG plots (gnuplot) into this directory");
  app.add_option("--metric", f.metric, "what g models: loss, or gap (duality gap, P* = 0)")
      ->check(CLI::IsMember({"loss", "gap"}));
  app.add_flag("--pool", f.pool, "fit runs of different jobs of one algorithm together");
  app.add_option("--append-to", f.appendTo,
                 "append the recommendation as a JSON line to this log (inputs are never written)");
  if (auto code = hemingway::cli::parse(app, argc, argv, "hemingway-report")) return *code;
  for (const auto& path : f.inputs) {
    if (!std::filesystem::is_regular_file(path)) {
      std::fprintf(stderr, "hemingway-report: input '%s' is not a file%s\n", path.c_str(),
                   path.rfind("-", 0) == 0 ? " (an unknown flag? see --help)" : "");
      return hemingway::cli::kExitUsage;
    }
  }
  return hemingway::cli::run("hemingway-report", [&] {
    try {
      return report(f);
    } catch (const UsageError& e) {
      throw hemingway::ConfigError(e.what());
    } catch (const ad::TraceError& e) {
      throw hemingway::ConfigError(e.what());
    }
  });
}
