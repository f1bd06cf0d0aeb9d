#include "hemingway/plugin/elastic/detail/store_write.h"

#include <torch/csrc/distributed/c10d/Store.hpp>

namespace hemingway::elastic::detail {

void setVisible(c10d::Store& store, const std::string& key, const std::string& value) {
  store.set(key, std::vector<uint8_t>(value.begin(), value.end()));
  // Answered only after the set above was applied.
  store.check({key});
}

}  // namespace hemingway::elastic::detail
