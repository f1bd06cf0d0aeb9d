// hemingway-run's flags, parsed by hand so that every error names its flag.
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>

#include "hemingway/hooks/error.h"
#include "hemingway/plugin/env.h"
#include "hemingway/plugin/launcher/launcher.h"

namespace hemingway::plugin {
namespace {

constexpr const char* kUsage =
    "usage: hemingway-run [flags] -- PROGRAM ARGS...\n"
    "\n"
    "Starts workers with MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE, LOCAL_RANK and\n"
    "LOCAL_WORLD_SIZE set, as torchrun does (every variable it sets is in the README).\n"
    "Node 0 hosts the rendezvous store. A PROGRAM ending in .py runs with python3.\n"
    "When a worker fails, the others get SIGTERM, then SIGKILL after the grace period,\n"
    "and hemingway-run names the rank that failed first and exits with its code.\n"
    "SIGINT, SIGTERM and SIGHUP stop the workers; a second SIGINT kills them at once.\n"
    "\n"
    "flags (default in brackets):\n"
    "  --nproc-per-node N|auto  workers on this node; auto: one per CPU core [required]\n"
    "  --standalone             a single node on loopback with a free port [on unless --nnodes > "
    "1]\n"
    "  --nnodes K               nodes in the run [1]\n"
    "  --node-rank R            this node's index, 0..K-1 [0]\n"
    "  --master-addr A          node 0's address; its store listens only there [127.0.0.1]\n"
    "  --master-port P          the store's port [a free port; required with --nnodes > 1]\n"
    "  --timeout SECONDS        rendezvous and collective timeout of the workers\n"
    "                           [$HEMINGWAY_TIMEOUT_SECONDS if set, else 30]\n"
    "  --grace SECONDS          from SIGTERM to SIGKILL when stopping workers [5]\n"
    "  --run-id ID              run id shared by all ranks [generated]\n"
    "  --log-dir DIR            write each rank's output to DIR/RUN_ID/rank_R/{stdout,stderr}.log\n"
    "  --tee 0|1|2|3            with --log-dir, streams also shown here: 1 stdout, 2 stderr,\n"
    "                           3 both [0 with --log-dir; without it everything is shown]\n"
    "  --no-python              run PROGRAM directly even if it ends in .py\n"
    "\n"
    "elastic runs (single node; the program uses hemingway::plugin::Elastic):\n"
    "  --max-workers B          start B workers: --nproc-per-node of them train, the others\n"
    "                           wait parked, warm, for a rescale (hemingway-ctl scale N)\n"
    "  --min-workers A          fewer members than A after failures ends the run [1]\n"
    "  --on-failure stop|shrink|replace\n"
    "                           a dead worker stops the run, or the others go on without\n"
    "                           it, or a parked worker takes its place and a new parked\n"
    "                           one starts [shrink for elastic programs, else stop]\n"
    "  --heartbeat-timeout SECONDS\n"
    "                           a worker silent this long (stopped, frozen) is killed and\n"
    "                           counts as dead [off]\n"
    "  -h, --help               this text\n";

std::chrono::milliseconds toMs(double seconds) {
  return std::chrono::milliseconds(static_cast<long long>(std::ceil(seconds * 1000)));
}

bool isFlag(const std::string& arg, const char* dashed) {
  // torchrun spells flags with underscores too (--nproc_per_node).
  std::string under = dashed;
  for (auto& c : under) c = c == '-' ? '_' : c;
  under.replace(0, 2, "--");
  return arg == dashed || arg == under;
}

}  // namespace

std::chrono::milliseconds LaunchOptions::effectiveTimeout() const {
  if (timeout) return *timeout;
  if (auto env = envSeconds("HEMINGWAY_TIMEOUT_SECONDS")) return toMs(*env);
  return std::chrono::milliseconds(30000);
}

namespace {

// What the flags said beyond the options themselves.
struct Seen {
  bool port = false, addr = false, standalone = false, tee = false;
};

// Applies one flag that takes a value; throws ConfigError for an unknown one.
void applyFlag(const std::string& arg, const std::string& value, LaunchOptions& o, Seen& seen) {
  if (isFlag(arg, "--nproc-per-node")) {
    o.nprocPerNode = value == "auto"
                         ? static_cast<int>(std::max(1L, ::sysconf(_SC_NPROCESSORS_ONLN)))
                         : static_cast<int>(parseInt(arg, value, 1, 1024));
  } else if (isFlag(arg, "--nnodes")) {
    o.nnodes = static_cast<int>(parseInt(arg, value, 1, 65536));
  } else if (isFlag(arg, "--node-rank")) {
    o.nodeRank = static_cast<int>(parseInt(arg, value, 0, 65535));
  } else if (isFlag(arg, "--master-addr")) {
    HEMINGWAY_CHECK_AS(ConfigError, !value.empty(), "--master-addr is empty");
    o.masterAddr = value;
    seen.addr = true;
  } else if (isFlag(arg, "--master-port")) {
    o.masterPort = static_cast<int>(parseInt(arg, value, 1, 65535));
    seen.port = true;
  } else if (arg == "--timeout") {
    o.timeout = toMs(parseSeconds(arg, value));
  } else if (arg == "--grace") {
    o.grace = toMs(parseSeconds(arg, value));
  } else if (isFlag(arg, "--run-id")) {
    HEMINGWAY_CHECK_AS(ConfigError, !value.empty() && value.find('/') == std::string::npos,
                       "--run-id '{}' must be non-empty and contain no '/'", value);
    o.runId = value;
  } else if (isFlag(arg, "--log-dir")) {
    HEMINGWAY_CHECK_AS(ConfigError, !value.empty(), "--log-dir is empty");
    o.logDir = value;
  } else if (isFlag(arg, "--max-workers")) {
    o.maxWorkers = static_cast<int>(parseInt(arg, value, 1, 1024));
  } else if (isFlag(arg, "--min-workers")) {
    o.minWorkers = static_cast<int>(parseInt(arg, value, 1, 1024));
  } else if (isFlag(arg, "--on-failure")) {
    HEMINGWAY_CHECK_AS(ConfigError, value == "stop" || value == "shrink" || value == "replace",
                       "--on-failure must be stop, shrink or replace, got '{}'", value);
    o.onFailure = value;
  } else if (isFlag(arg, "--heartbeat-timeout")) {
    o.heartbeatTimeout = toMs(parseSeconds(arg, value));
  } else if (arg == "--tee") {
    o.tee = static_cast<int>(parseInt(arg, value, 0, 3));
    seen.tee = true;
  } else {
    HEMINGWAY_FAIL_AS(ConfigError, "unknown flag {} (see --help)", arg);
  }
}

// The rules between flags, once all are read.
void checkTogether(LaunchOptions& o, const Seen& seen) {
  HEMINGWAY_CHECK_AS(ConfigError, o.nprocPerNode >= 1,
                     "--nproc-per-node is required (a number or auto; see --help)");
  HEMINGWAY_CHECK_AS(ConfigError, !o.command.empty(), "no program given after '--'");
  HEMINGWAY_CHECK_AS(ConfigError, !seen.standalone || (o.nnodes == 1 && !seen.addr && !seen.port),
                     "--standalone is a single node on loopback: drop --nnodes, --master-addr "
                     "and --master-port");
  HEMINGWAY_CHECK_AS(ConfigError, o.nodeRank < o.nnodes,
                     "--node-rank {} is out of range for --nnodes {}", o.nodeRank, o.nnodes);
  HEMINGWAY_CHECK_AS(ConfigError, o.nnodes == 1 || seen.port,
                     "--master-port is required with --nnodes > 1 (all nodes must agree on it)");
  HEMINGWAY_CHECK_AS(ConfigError, !seen.tee || !o.logDir.empty(),
                     "--tee chooses what --log-dir also shows on the console: give --log-dir");
  if (!o.logDir.empty() && !seen.tee) o.tee = 0;
  const bool elastic = o.maxWorkers > 0;
  HEMINGWAY_CHECK_AS(
      ConfigError,
      elastic || (o.onFailure.empty() && o.minWorkers == 1 && o.heartbeatTimeout.count() == 0),
      "--min-workers, --on-failure and --heartbeat-timeout are for elastic runs: "
      "give --max-workers");
  HEMINGWAY_CHECK_AS(ConfigError, !elastic || o.maxWorkers >= o.nprocPerNode,
                     "--max-workers {} is smaller than --nproc-per-node {}", o.maxWorkers,
                     o.nprocPerNode);
  HEMINGWAY_CHECK_AS(ConfigError, !elastic || o.minWorkers <= o.nprocPerNode,
                     "--min-workers {} is larger than --nproc-per-node {}", o.minWorkers,
                     o.nprocPerNode);
  HEMINGWAY_CHECK_AS(ConfigError, !elastic || o.nnodes == 1,
                     "--max-workers: elastic runs are single-node for now (drop --nnodes)");
}

}  // namespace

bool LaunchOptions::parse(int argc, const char* const* argv, LaunchOptions& out,
                          std::string& help) {
  LaunchOptions o;
  Seen seen;
  int i = 1;
  for (; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--") {
      ++i;
      break;
    }
    if (arg == "-h" || arg == "--help") {
      help = kUsage;
      return false;
    }
    if (arg.rfind("--", 0) != 0) break;  // the program, as torchrun takes it
    if (arg == "--standalone") {
      seen.standalone = true;
      continue;
    }
    if (isFlag(arg, "--no-python")) {
      o.noPython = true;
      continue;
    }
    std::string value;
    const auto eq = arg.find('=');
    if (eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
    } else {
      HEMINGWAY_CHECK_AS(ConfigError, i + 1 < argc, "flag {} needs a value (see --help)", arg);
      value = argv[++i];
    }
    applyFlag(arg, value, o, seen);
  }
  for (; i < argc; ++i) o.command.emplace_back(argv[i]);
  checkTogether(o, seen);
  out = std::move(o);
  return true;
}

}  // namespace hemingway::plugin
