#include <zlib.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>

#include "hemingway/hooks/error.h"
#include "hemingway/plugin/data/datasets.h"

namespace hemingway::data {
namespace {

bool isSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// Parses one line into the set; `line` is NUL-terminated.
void parseLine(char* line, const std::string& path, std::int64_t lineNo, std::int64_t features,
               std::int64_t maxFeatures, SparseSet& set) {
  char* p = line;
  while (isSpace(*p)) ++p;
  if (*p == '\0' || *p == '#') return;  // blank or comment line
  char* end = nullptr;
  errno = 0;
  const double label = std::strtod(p, &end);
  HEMINGWAY_CHECK(end != p && (isSpace(*end) || *end == '\0') && std::isfinite(label),
                  "'{}' line {}: the label is not a number", path, lineNo);
  HEMINGWAY_CHECK(std::fabs(label) <= std::numeric_limits<float>::max(),
                  "'{}' line {}: the label {} overflows single precision", path, lineNo, label);
  set.labels.push_back(label);
  p = end;
  std::int64_t last = 0;
  for (;;) {
    while (isSpace(*p)) ++p;
    if (*p == '\0' || *p == '#') break;
    errno = 0;
    const long long idx = std::strtoll(p, &end, 10);
    HEMINGWAY_CHECK(end != p && *end == ':', "'{}' line {}: expected index:value, got '{}'", path,
                    lineNo, std::string(p, std::strcspn(p, " \t\r\n")));
    HEMINGWAY_CHECK(idx >= 1 && idx <= std::numeric_limits<std::int32_t>::max(),
                    "'{}' line {}: feature index {} is out of range (indices start at 1)", path,
                    lineNo, idx);
    HEMINGWAY_CHECK(idx > last, "'{}' line {}: feature indices must increase ({} after {})", path,
                    lineNo, idx, last);
    HEMINGWAY_CHECK(features == 0 || idx <= features,
                    "'{}' line {}: feature index {} exceeds the {} features expected", path, lineNo,
                    idx, features);
    HEMINGWAY_CHECK(idx <= maxFeatures,
                    "'{}' line {}: feature index {} exceeds the limit of {} features (the model "
                    "keeps a dense weight per feature; raise the limit with --max-features)",
                    path, lineNo, idx, maxFeatures);
    p = end + 1;
    const double value = std::strtod(p, &end);
    HEMINGWAY_CHECK(end != p && (isSpace(*end) || *end == '\0') && std::isfinite(value),
                    "'{}' line {}: the value of feature {} is not a finite number", path, lineNo,
                    idx);
    HEMINGWAY_CHECK(std::fabs(value) <= std::numeric_limits<float>::max(),
                    "'{}' line {}: the value {} of feature {} overflows single precision "
                    "(|v| > 3.4e38)",
                    path, lineNo, value, idx);
    p = end;
    last = idx;
    set.index.push_back(static_cast<std::int32_t>(idx - 1));
    set.value.push_back(static_cast<float>(value));
    set.features = std::max(set.features, static_cast<std::int64_t>(idx));
  }
  set.rowStart.push_back(static_cast<std::int64_t>(set.index.size()));
}

}  // namespace

std::vector<float> SparseSet::toDense() const {
  std::vector<float> dense(static_cast<std::size_t>(rows() * features), 0.0f);
  for (std::int64_t r = 0; r < rows(); ++r) {
    for (auto k = rowStart[r]; k < rowStart[r + 1]; ++k) dense[r * features + index[k]] = value[k];
  }
  return dense;
}

SparseSet readLibsvm(const std::string& path, std::int64_t features, std::int64_t maxFeatures) {
  HEMINGWAY_CHECK(features >= 0, "readLibsvm: features must be >= 0, got {}", features);
  HEMINGWAY_CHECK(maxFeatures >= 1 && maxFeatures <= std::numeric_limits<std::int32_t>::max(),
                  "readLibsvm: the feature limit must be in [1, 2^31 - 1], got {}", maxFeatures);
  gzFile f = gzopen(path.c_str(), "rb");
  HEMINGWAY_CHECK(f != nullptr, "cannot open '{}': {}", path, std::strerror(errno));
  struct Closer {
    gzFile f;
    ~Closer() { gzclose(f); }
  } closer{f};
  SparseSet set;
  set.rowStart.push_back(0);
  std::string line;
  std::vector<char> chunk(1 << 16);
  std::int64_t lineNo = 0;
  for (;;) {
    line.clear();
    bool gotAny = false;
    while (gzgets(f, chunk.data(), static_cast<int>(chunk.size())) != nullptr) {
      gotAny = true;
      line += chunk.data();
      if (!line.empty() && line.back() == '\n') break;
    }
    int code = 0;
    const char* msg = gzerror(f, &code);
    HEMINGWAY_CHECK(code == Z_OK || code == Z_STREAM_END, "'{}' is corrupt near line {}: {}", path,
                    lineNo + 1, msg);
    if (!gotAny) break;
    ++lineNo;
    parseLine(line.data(), path, lineNo, features, maxFeatures, set);
  }
  HEMINGWAY_CHECK(set.rows() > 0, "'{}' holds no examples", path);
  if (features > 0) set.features = features;
  return set;
}

}  // namespace hemingway::data
