// hemingway-run: the torchrun-shaped launcher. See launcher.h.
#include <cstdio>
#include <exception>

#include "hemingway/hooks/error.h"
#include "hemingway/plugin/launcher/launcher.h"

int main(int argc, char** argv) {
  try {
    hemingway::plugin::LaunchOptions options;
    std::string help;
    if (!hemingway::plugin::LaunchOptions::parse(argc, argv, options, help)) {
      std::fputs(help.c_str(), stdout);
      return 0;
    }
    return hemingway::plugin::launch(options);
  } catch (const hemingway::ConfigError& e) {
    std::fprintf(stderr, "hemingway-run: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hemingway-run: %s\n", e.what());
    return 1;
  }
}
