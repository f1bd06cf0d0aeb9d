// The command-line conventions every Hemingway tool follows (header-only; it
// needs CLI11, libcli11-dev):
// - `--help` shows every flag's default;
// - a usage error prints one line that names the flag and exits 2;
// - a ConfigError (bad env, impossible target) exits 2, any other error 1,
//   each as one line "tool: message"; the source location of the error is
//   added only at HEMINGWAY_LOG_LEVEL=debug.
#pragma once

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "hemingway/hooks/error.h"
#include "hemingway/hooks/log.h"

namespace hemingway::cli {

inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

// A new app whose options show their defaults in --help.
inline void showDefaults(CLI::App& app) { app.option_defaults()->always_capture_default(); }

// Numbers that must be finite (NaN and infinity are usage errors).
inline const CLI::Validator kFinitePositive(
    [](const std::string& text) -> std::string {
      double v = 0;
      if (!CLI::detail::lexical_cast(text, v) || !std::isfinite(v) || v <= 0) {
        return "'" + text + "' is not a finite number > 0";
      }
      return {};
    },
    "FINITE > 0");
inline const CLI::Validator kFiniteNonNegative(
    [](const std::string& text) -> std::string {
      double v = 0;
      if (!CLI::detail::lexical_cast(text, v) || !std::isfinite(v) || v < 0) {
        return "'" + text + "' is not a finite number >= 0";
      }
      return {};
    },
    "FINITE >= 0");

// Parses argv. Returns an exit code to leave with (0 after --help, kExitUsage
// after a usage error, printed as "tool: message"), or nullopt to go on.
inline std::optional<int> parse(CLI::App& app, int argc, char** argv, const char* tool) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::fputs(app.help().c_str(), stdout);
    return 0;
  } catch (const CLI::CallForAllHelp&) {
    std::fputs(app.help("", CLI::AppFormatMode::All).c_str(), stdout);
    return 0;
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "%s: %s\nRun '%s --help' for the flags and their defaults.\n", tool,
                 e.what(), tool);
    return kExitUsage;
  }
  return std::nullopt;
}

// One line for a person; the source location only at debug log level.
inline std::string describe(const std::exception& e) {
  const auto* error = dynamic_cast<const Error*>(&e);
  if (error != nullptr && !error->where().empty() && hooks::logLevel() >= hooks::LogLevel::kDebug) {
    return std::string(e.what()) + " [" + error->where() + "]";
  }
  return e.what();
}

// "peer_lost", "timeout", "config" or "error": what the launcher needs to
// tell a failure of its own from one caused by another rank.
inline const char* errorKind(const std::exception& e) {
  if (dynamic_cast<const PeerLostError*>(&e) != nullptr) return "peer_lost";
  if (dynamic_cast<const TimeoutError*>(&e) != nullptr) return "timeout";
  if (dynamic_cast<const ConfigError*>(&e) != nullptr) return "config";
  return "error";
}

// Under a launcher (hemingway-run or torchrun), reports the error to the file
// it names in TORCHELASTIC_ERROR_FILE, in torchrun's JSON shape.
inline void reportError(const std::exception& e) {
  const char* path = std::getenv("TORCHELASTIC_ERROR_FILE");
  if (path == nullptr || *path == '\0') return;
  std::string text;
  for (const char c : std::string(e.what())) {
    if (c == '"' || c == '\\') {
      text += '\\';
      text += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      text += fmt::format("\\u{:04x}", static_cast<unsigned char>(c));
    } else {
      text += c;
    }
  }
  if (std::FILE* f = std::fopen(path, "w")) {
    std::fprintf(f, "{\"message\": {\"message\": \"%s\", \"extraInfo\": {\"kind\": \"%s\"}}}\n",
                 text.c_str(), errorKind(e));
    std::fclose(f);
  }
}

// Runs `body` (returning an exit code) and turns an escaping exception into
// one line on stderr and the exit code of its kind.
template <typename Body>
int run(const char* tool, Body&& body) {
  try {
    return body();
  } catch (const ConfigError& e) {
    reportError(e);
    std::fprintf(stderr, "%s: %s\n", tool, describe(e).c_str());
    return kExitUsage;
  } catch (const std::exception& e) {
    reportError(e);
    std::fprintf(stderr, "%s: %s\n", tool, describe(e).c_str());
    return kExitFailure;
  }
}

}  // namespace hemingway::cli
