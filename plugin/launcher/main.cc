// hemingway-run: the torchrun-shaped launcher. See launcher.h.
#include <cstdio>

#include "hemingway/hooks/cli.h"
#include "hemingway/plugin/launcher/launcher.h"

int main(int argc, char** argv) {
  return hemingway::cli::run("hemingway-run", [&] {
    hemingway::plugin::LaunchOptions options;
    std::string help;
    if (!hemingway::plugin::LaunchOptions::parse(argc, argv, options, help)) {
      std::fputs(help.c_str(), stdout);
      return 0;
    }
    return hemingway::plugin::launch(options);
  });
}
