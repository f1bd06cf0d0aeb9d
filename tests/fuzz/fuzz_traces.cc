// hemingway-report's readers: a JSON Lines log (fuzz_jsonl) or a CSV trace (fuzz_csv).
#include <cstdint>

#include "hemingway/adaptive/report/traces.h"
#include "hemingway/tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
#ifdef HEMINGWAY_FUZZ_JSONL
  const auto& path = hemingway::fuzz::writeInput("log.jsonl", data, size);
#else
  const auto& path = hemingway::fuzz::writeInput("trace.csv", data, size);
#endif
  try {
#ifdef HEMINGWAY_FUZZ_JSONL
    hemingway::adaptive::readJsonlTraces(path);
#else
    hemingway::adaptive::readCsvTraces(path);
#endif
  } catch (const hemingway::adaptive::TraceError&) {
    // A clean refusal is the expected outcome for most inputs.
  }
  return 0;
}
