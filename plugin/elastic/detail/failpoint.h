// Fault injection for the elastic fault matrix (tests/bench): with
// HEMINGWAY_FAILPOINT=NAME:WORKER:GENERATION in its environment, the worker
// with that id kills itself with SIGKILL when it reaches the point NAME while
// entering that generation. Points: "form" (before forming the new Gloo
// group), "state" (in the middle of the state transfer), and "step", whose
// third field is a step, not a generation (before that step's body).
// Unset: a cached no-op.
#pragma once

#include <string>

namespace hemingway::elastic::detail {

void failpoint(const char* name, int workerId, int generation);

}  // namespace hemingway::elastic::detail
