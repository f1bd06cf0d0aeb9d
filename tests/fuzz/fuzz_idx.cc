// The IDX reader: the input's first byte splits the rest into an image file
// and a label file (each plain or gzip, as the bytes say).
#include <cstdint>
#include <fstream>

#include "hemingway/hooks/error.h"
#include "hemingway/plugin/data/datasets.h"
#include "hemingway/tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::size_t split = 1 + (size - 1) * data[0] / 255;
  const auto& images = hemingway::fuzz::writeInput("images.idx", data + 1, split - 1);
  static const std::string labels = hemingway::fuzz::inputPath("labels.idx");
  std::ofstream(labels, std::ios::binary | std::ios::trunc)
      .write(reinterpret_cast<const char*>(data + split),
             static_cast<std::streamsize>(size - split));
  try {
    hemingway::data::readIdx(images, labels, 10);
  } catch (const hemingway::Error&) {
  }
  return 0;
}
