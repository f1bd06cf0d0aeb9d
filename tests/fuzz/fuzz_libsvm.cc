// The LIBSVM reader (plain or gzip), with and without a fixed width.
#include <cstdint>

#include "hemingway/hooks/error.h"
#include "hemingway/plugin/data/datasets.h"
#include "hemingway/tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto& path = hemingway::fuzz::writeInput("data.libsvm", data, size);
  try {
    auto set = hemingway::data::readLibsvm(path, size % 2 == 0 ? 0 : 64, 1 << 16);
    if (set.features * set.rows() <= (1 << 20)) set.toDense();
  } catch (const hemingway::Error&) {
  }
  return 0;
}
