// Hands a fuzz input to a parser that reads files: written to a file of this
// process's own in the working directory (run_fuzzers.sh runs in its work
// folder), rewritten for every input.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <string>

namespace hemingway::fuzz {

inline std::string inputPath(const char* name) {
  return "fuzz-input-" + std::to_string(::getpid()) + "-" + name;
}

inline const std::string& writeInput(const char* name, const std::uint8_t* data, std::size_t size) {
  static const std::string path = inputPath(name);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  return path;
}

}  // namespace hemingway::fuzz
