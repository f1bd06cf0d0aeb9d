#include "hemingway/plugin/detail/store_write.h"

#include <torch/csrc/distributed/c10d/Store.hpp>

namespace hemingway::plugin::detail {

void setVisible(c10d::Store& store, const std::string& key, const std::string& value) {
  store.set(key, std::vector<uint8_t>(value.begin(), value.end()));
  // Answered only after the set above was applied.
  store.check({key});
}

}  // namespace hemingway::plugin::detail
