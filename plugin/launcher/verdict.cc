#include "hemingway/plugin/launcher/verdict.h"

#include <sys/wait.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace hemingway::plugin {

std::optional<WorkerError> readErrorFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::stringstream text;
  text << in.rdbuf();
  const auto doc = nlohmann::json::parse(text.str(), nullptr, false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("message")) return std::nullopt;
  WorkerError e;
  const auto& m = doc["message"];
  if (m.is_string()) {
    e.message = m.get<std::string>();
  } else if (m.is_object() && m.contains("message") && m["message"].is_string()) {
    e.message = m["message"].get<std::string>();
    if (m.contains("extraInfo") && m["extraInfo"].is_object()) {
      const auto& info = m["extraInfo"];
      if (info.contains("kind") && info["kind"].is_string()) e.kind = info["kind"];
    }
  } else {
    return std::nullopt;
  }
  // Keep the first line: a Python error carries its traceback after it.
  if (const auto nl = e.message.find('\n'); nl != std::string::npos) e.message.erase(nl);
  return e;
}

int exitCodeOf(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

std::string describeExit(int status, const std::optional<WorkerError>& error) {
  std::string what = WIFSIGNALED(status)
                         ? fmt::format("was killed by signal {} ({})", WTERMSIG(status),
                                       ::strsignal(WTERMSIG(status)))
                         : fmt::format("exited with code {}", exitCodeOf(status));
  if (error) what += ": " + error->message;
  return what;
}

Verdict judge(const std::vector<WorkerOutcome>& outcomes) {
  Verdict v;
  std::vector<const WorkerOutcome*> failed, own;
  for (const auto& o : outcomes) {
    if (exitCodeOf(o.status) == 0) continue;
    const bool reported = o.error && !o.error->consequence();
    // Before the stop, any failure that is not a lost peer is a cause; after
    // it (the launcher's SIGTERM), only one the worker reported as its own.
    if (!o.stoppedByUs) failed.push_back(&o);
    if ((!o.stoppedByUs && (!o.error || reported)) || (o.stoppedByUs && reported)) {
      own.push_back(&o);
    }
  }
  if (failed.empty()) return v;
  auto byTime = [](const auto* a, const auto* b) { return a->exitedAt < b->exitedAt; };
  std::sort(failed.begin(), failed.end(), byTime);
  std::sort(own.begin(), own.end(), byTime);
  const WorkerOutcome* first = failed.front();
  if (!own.empty()) {
    const WorkerOutcome* o = own.front();
    v.culprit = o->rank;
    v.exitCode = exitCodeOf(o->status);
    v.message =
        fmt::format("rank {} failed first: it {}", o->rank, describeExit(o->status, o->error));
    if (o != first) {
      v.message +=
          fmt::format(" (rank {} exited earlier only because it lost a peer)", first->rank);
    }
    return v;
  }
  v.exitCode = exitCodeOf(first->status);
  // Every failure was a lost peer: blame the ranks that were still running.
  std::vector<int> silent;
  for (const auto& o : outcomes) {
    if (o.stoppedByUs) silent.push_back(o.rank);
  }
  if (!silent.empty()) {
    v.culprit = silent.front();
    v.message = fmt::format(
        "rank{} {} stopped responding: still running when rank {} gave up on its peers ({})",
        silent.size() == 1 ? "" : "s", fmt::join(silent, ", "), first->rank, first->error->message);
    return v;
  }
  v.culprit = first->rank;
  v.message = fmt::format("rank {} failed first: it {}", first->rank,
                          describeExit(first->status, first->error));
  return v;
}

}  // namespace hemingway::plugin
