#include "hemingway/adaptive/report/traces.h"

#include <cmath>
#include <fstream>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "hemingway/hooks/job.h"

namespace hemingway::adaptive {
namespace {

[[noreturn]] void fail(const std::string& path, std::size_t line, const std::string& what) {
  std::ostringstream m;
  m << "'" << path << "'";
  if (line > 0) m << " line " << line;
  m << ": " << what;
  throw TraceError(m.str());
}

std::vector<std::string> readLines(const std::string& path, bool& lastTerminated) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, 0, "cannot open the file");
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string text = buffer.str();
  lastTerminated = text.empty() || text.back() == '\n';
  std::vector<std::string> lines;
  std::istringstream s(text);
  std::string line;
  while (std::getline(s, line)) lines.push_back(line);
  return lines;
}

// The bounds every trace value must meet, refused with the line that holds it.
constexpr double kMaxMachines = 1e9;
constexpr double kMaxIteration = 1e12;

void checkRow(const TraceRow& r, const std::string& path, std::size_t line) {
  if (!std::isfinite(r.machines) || r.machines < 1 || r.machines > kMaxMachines ||
      r.machines != std::floor(r.machines)) {
    fail(path, line, "the machine count is not a whole number in [1, 1e9]");
  }
  if (!std::isfinite(r.iteration) || r.iteration < 1 || r.iteration > kMaxIteration) {
    fail(path, line, "the iteration is not a number in [1, 1e12]");
  }
  if (!std::isfinite(r.loss)) fail(path, line, "the loss is not finite");
  if (r.iterSeconds && !(std::isfinite(*r.iterSeconds) && *r.iterSeconds > 0)) {
    fail(path, line, "the time per iteration is not a finite number of seconds > 0");
  }
  if (!(std::isfinite(r.size) && r.size > 0)) {
    fail(path, line, "the size (examples) is not a finite number > 0");
  }
  if (r.gap && !std::isfinite(*r.gap)) fail(path, line, "the duality gap is not finite");
}

// Cells of a CSV line; a trailing empty cell counts ("a,b," has three).
std::vector<std::string> splitCells(const std::string& line) {
  std::vector<std::string> cells(1);
  for (const char c : line) {
    if (c == ',') {
      cells.emplace_back();
    } else {
      cells.back() += c;
    }
  }
  return cells;
}

double finiteLoss(const nlohmann::json& v, const std::string& path, std::size_t line) {
  if (v.is_null()) fail(path, line, "the loss is null (NaN or missing)");
  const double x = v.get<double>();
  if (!std::isfinite(x)) fail(path, line, "the loss is not finite");
  return x;
}

}  // namespace

namespace {

// Reads a JSON Lines log record by record: iteration records are rows as
// they come; step records are summed per (run, step) over the ranks and
// become rows at the end.
class JsonlTraceReader {
 public:
  JsonlTraceReader(const std::string& path, JobConfigs* configs, JobCommands* commands)
      : path_(path), configs_(configs), commands_(commands) {}

  std::vector<TraceRow> read() {
    bool terminated = true;
    const auto lines = readLines(path_, terminated);
    for (std::size_t k = 0; k < lines.size(); ++k) {
      nlohmann::json j;
      if (!parse(lines[k], k + 1, k + 1 == lines.size() && !terminated, j)) continue;
      try {
        const std::string event = j.value("event", "");
        if (event == "run_start") {
          onRunStart(j);
        } else if (event == "step") {
          onStep(j, k + 1);
        } else if (event == "iteration") {
          onIteration(j, k + 1);
        }
      } catch (const TraceError&) {
        throw;
      } catch (const std::exception& e) {
        fail(path_, k + 1,
             std::string("a record lacks a field or has the wrong type: ") + e.what());
      }
    }
    addStepRows();
    if (rows_.empty()) fail(path_, 0, "holds no step or iteration records with a loss");
    return std::move(rows_);
  }

 private:
  struct StepAgg {
    std::string run;
    double machines = 1, lossSum = 0, count = 0, maxSeconds = 0, samples = 0;
  };

  // False for a line to skip: blank, the torn last line of a crashed writer,
  // or a line cut short by a crash and followed by records a later writer
  // appended. Anything else that is not JSON is an error.
  bool parse(const std::string& line, std::size_t number, bool tornLast, nlohmann::json& j) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) return false;
    try {
      j = nlohmann::json::parse(line);
      return true;
    } catch (const nlohmann::json::parse_error& e) {
      if (tornLast) return false;
      if (e.byte >= line.size() && line.rfind('{', 0) == 0) return false;
      fail(path_, number, std::string("not a JSON object: ") + e.what());
    } catch (const std::exception& e) {  // a number out of range, say
      fail(path_, number, std::string("not a JSON object: ") + e.what());
    }
    return false;
  }

  void onRunStart(const nlohmann::json& j) {
    const std::string run = j.at("run");
    algorithmOfRun_[run] = j.value("algorithm", "sgd");
    sizeOfRun_[run] = j.value("dataset_size", 1.0);
    std::map<std::string, std::string> config;
    if (j.contains("config") && j.at("config").is_object()) {
      for (const auto& [key, value] : j.at("config").items()) {
        config[key] = value.is_string() ? value.get<std::string>() : value.dump();
      }
    }
    std::string job = j.value("job", "");
    if (job.empty() && !config.empty()) job = hooks::jobFingerprint(config);
    jobOfRun_[run] = job;
    if (configs_ != nullptr && !job.empty()) {
      // The settings that name the job (what differs between two jobs or two
      // algorithms' problems): not the seed, threads, paths ...
      auto& named = (*configs_)[job];
      named.clear();
      for (const auto& [key, value] : config) {
        if (hooks::notJobKeys().count(key) == 0) named[key] = value;
      }
    }
    if (commands_ != nullptr && j.contains("command") && j.at("command").is_array() &&
        !commands_->count(job)) {
      std::vector<std::string> argv;
      for (const auto& a : j.at("command")) {
        if (a.is_string()) argv.push_back(a.get<std::string>());
      }
      (*commands_)[job] = argv;
    }
  }

  void onStep(const nlohmann::json& j, std::size_t number) {
    if (j.at("loss").is_null()) return;  // a step without a loss carries no progress
    // A step index is checked as a number before it becomes an integer.
    const double stepIndex = j.at("step").get<double>();
    if (!(stepIndex >= 0 && stepIndex < kMaxIteration) || stepIndex != std::floor(stepIndex)) {
      fail(path_, number, "the step is not a whole number in [0, 1e12)");
    }
    auto& a = steps_[{j.at("run").get<std::string>(), static_cast<long long>(stepIndex)}];
    a.run = j.at("run");
    a.machines = j.at("world_size");
    a.lossSum += finiteLoss(j.at("loss"), path_, number);
    a.count += 1;
    a.samples += j.value("samples", 0.0);
    a.maxSeconds = std::max(a.maxSeconds, j.at("step_ms").get<double>() / 1000);
    TraceRow check;
    check.machines = a.machines;
    check.iteration = stepIndex + 1;
    check.loss = a.lossSum;
    check.iterSeconds = j.at("step_ms").get<double>() / 1000;
    if (sizeOfRun_.count(a.run)) check.size = sizeOfRun_[a.run];
    checkRow(check, path_, number);
  }

  void onIteration(const nlohmann::json& j, std::size_t number) {
    TraceRow r;
    r.algorithm = j.at("algorithm");
    r.machines = j.at("world_size");
    r.iteration = j.at("iteration").get<double>() + 1;
    r.loss = finiteLoss(j.at("primal"), path_, number);
    if (!j.at("iter_ms").is_null()) r.iterSeconds = j.at("iter_ms").get<double>() / 1000;
    // A simulated cluster's clock: the iteration's simulated seconds.
    if (j.contains("simulated_s") && !j.at("simulated_s").is_null()) {
      const double now = j.at("simulated_s").get<double>();
      auto& last = simulatedOfRun_[j.value("run", "")];
      if (!r.iterSeconds) r.iterSeconds = now - last;
      last = now;
    }
    if (j.contains("gap") && !j.at("gap").is_null()) r.gap = j.at("gap").get<double>();
    const auto run = j.value("run", "");
    if (sizeOfRun_.count(run)) r.size = sizeOfRun_[run];
    if (jobOfRun_.count(run)) r.job = jobOfRun_[run];
    checkRow(r, path_, number);
    rows_.push_back(r);
  }

  void addStepRows() {
    for (const auto& [key, a] : steps_) {
      TraceRow r;
      r.algorithm = algorithmOfRun_.count(a.run) ? algorithmOfRun_[a.run] : "sgd";
      r.machines = a.machines;
      r.iteration = static_cast<double>(key.second) + 1;
      r.loss = a.lossSum / a.count;
      r.iterSeconds = a.maxSeconds;
      r.samples = a.samples;
      if (sizeOfRun_.count(a.run)) r.size = sizeOfRun_[a.run];
      if (jobOfRun_.count(a.run)) r.job = jobOfRun_[a.run];
      rows_.push_back(r);
    }
  }

  const std::string& path_;
  JobConfigs* configs_;
  JobCommands* commands_;
  std::map<std::string, std::string> algorithmOfRun_;
  std::map<std::string, double> sizeOfRun_;
  std::map<std::string, double> simulatedOfRun_;  // the last simulated_s of each run
  std::map<std::string, std::string> jobOfRun_;
  std::map<std::pair<std::string, long long>, StepAgg> steps_;
  std::vector<TraceRow> rows_;
};

}  // namespace

std::vector<TraceRow> readJsonlTraces(const std::string& path, JobConfigs* configs,
                                      JobCommands* commands) {
  return JsonlTraceReader(path, configs, commands).read();
}

PriorRuns readPrior(const std::string& path, const std::string& job, const std::string& algorithm) {
  PriorRuns out;
  for (auto& r : readJsonlTraces(path)) {
    if (r.job == job && r.algorithm == algorithm) out.rows.push_back(std::move(r));
  }
  if (out.rows.empty()) {
    fail(path, 0, "holds no " + algorithm + " run of this job (job " + job + ")");
  }
  bool terminated = true;
  std::map<std::string, std::string> jobOfRun;
  for (const auto& line : readLines(path, terminated)) {
    const auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_object() || !j.contains("run") || !j.at("run").is_string()) continue;
    const std::string event = j.value("event", "");
    if (event == "run_start" && j.contains("job") && j.at("job").is_string()) {
      jobOfRun[j.at("run")] = j.at("job");
    }
    const auto total = j.find("total_ms");
    if (event == "regroup" && jobOfRun[j.at("run")] == job && total != j.end() &&
        total->is_number() && std::isfinite(total->get<double>())) {
      out.rescaleSeconds.push_back(total->get<double>() / 1000);
    }
  }
  return out;
}

std::vector<TraceRow> readCsvTraces(const std::string& path) {
  bool terminated = true;
  const auto lines = readLines(path, terminated);
  if (lines.empty()) fail(path, 0, "is empty");
  auto header = lines[0];
  if (!header.empty() && header.back() == '\r') header.pop_back();
  const bool withSize = header == "algorithm,m,iteration,loss,iter_seconds,size";
  if (!withSize && header != "algorithm,m,iteration,loss,iter_seconds") {
    fail(path, 1, "the header must be algorithm,m,iteration,loss,iter_seconds (optionally ,size)");
  }
  std::vector<TraceRow> rows;
  for (std::size_t k = 1; k < lines.size(); ++k) {
    std::string line = lines[k];
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    const auto cells = splitCells(line);
    if (cells.size() != (withSize ? 6u : 5u)) {
      if (k + 1 == lines.size() && !terminated) break;  // torn last line
      fail(path, k + 1, "expected " + std::to_string(withSize ? 6 : 5) + " columns");
    }
    auto number = [&](std::size_t c, const char* name) {
      char* end = nullptr;
      const double v = std::strtod(cells[c].c_str(), &end);
      if (cells[c].empty() || *end != '\0')
        fail(path, k + 1, std::string(name) + " is not a number");
      return v;
    };
    TraceRow r;
    r.algorithm = cells[0];
    r.machines = number(1, "m");
    r.iteration = number(2, "iteration");
    r.loss = number(3, "loss");
    if (!cells[4].empty()) r.iterSeconds = number(4, "iter_seconds");
    if (withSize) r.size = number(5, "size");
    checkRow(r, path, k + 1);
    rows.push_back(r);
  }
  if (rows.empty()) fail(path, 0, "holds no trace rows");
  return rows;
}

std::vector<Timeline> readTimelines(const std::string& path) {
  bool terminated = true;
  const auto lines = readLines(path, terminated);
  std::map<std::string, Timeline> runs;
  std::map<std::string, double> startOf;
  std::vector<std::string> order;
  for (const auto& line : lines) {
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
      if (!j.is_object() || !j.contains("run") || !j.at("run").is_string()) continue;
      const std::string run = j.at("run");
      const std::string event = j.value("event", "");
      if (!runs.count(run)) {
        runs[run].run = run;
        order.push_back(run);
      }
      Timeline& t = runs[run];
      const double time = j.value("time", 0.0);
      if (!startOf.count(run)) startOf[run] = time;
      const auto since = [&] { return time - startOf[run]; };
      if (event == "run_start") {
        t.algorithm = j.value("algorithm", "");
        startOf[run] = time;
      } else if (event == "iteration" && !j.at("primal").is_null()) {
        TimelinePoint p;
        p.machines = j.at("world_size");
        p.loss = j.at("primal");
        if (j.contains("gap") && !j.at("gap").is_null()) p.gap = j.at("gap").get<double>();
        if (j.contains("simulated_s")) {
          t.simulated = true;
          p.seconds = j.at("simulated_s");
        } else {
          p.seconds = since();
        }
        t.points.push_back(p);
      } else if (event == "step" && j.value("rank", -1) == 0 && !j.at("loss").is_null()) {
        TimelinePoint p;
        p.machines = j.at("world_size");
        p.loss = j.at("loss");
        p.seconds = since();
        t.points.push_back(p);
      } else if (event == "decision") {
        TimelineDecision d;
        d.seconds = j.contains("simulated_s") ? j.at("simulated_s").get<double>() : since();
        d.step = j.at("step");
        d.worldSize = j.at("world_size");
        d.action = j.at("action");
        d.toWorldSize = j.at("to_world_size");
        d.reason = j.value("reason", "");
        d.rescaleCostS = j.value("rescale_cost_s", 0.0);
        t.decisions.push_back(d);
      }
    } catch (const std::exception&) {
      continue;  // judged by readJsonlTraces
    }
  }
  std::vector<Timeline> out;
  for (const auto& run : order) {
    if (!runs[run].decisions.empty()) out.push_back(runs[run]);
  }
  return out;
}

}  // namespace hemingway::adaptive
