// The secret of a single-node elastic run, for hemingway-ctl on the same host
// and of the same user: ${TMPDIR:-/tmp}/hemingway-UID/PORT.secret, mode 0600,
// written by hemingway-run and removed when the run ends.
#pragma once

#include <string>

namespace hemingway::elastic::detail {

std::string secretFilePath(int port);
// Writes the file; returns its path, or "" when the directory is not this
// user's alone (hemingway-ctl then needs HEMINGWAY_RUN_SECRET).
std::string writeSecretFile(int port, const std::string& secret);
// HEMINGWAY_RUN_SECRET, else the file of the run on `port`; throws
// ConfigError naming the file when neither is there.
std::string readSecret(int port);

}  // namespace hemingway::elastic::detail
