#include "hemingway/plugin/elastic/detail/store_write.h"

#include <gtest/gtest.h>
#include <torch/csrc/distributed/c10d/Store.hpp>

#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace hemingway::elastic::detail {
namespace {

using Bytes = std::vector<uint8_t>;

// One client connection to a store that orders requests as c10d's TCPStore
// does: a set() gets no answer and waits in the connection until the store
// reads it, which happens at the latest when this connection asks a question
// (the store answers in order); another connection's questions may be
// answered before that.
class OneWaySetConnection : public c10d::Store {
 public:
  explicit OneWaySetConnection(std::shared_ptr<std::map<std::string, Bytes>> held)
      : held_(std::move(held)) {}

  void set(const std::string& key, const Bytes& value) override {
    unread_.emplace_back(key, value);
  }
  Bytes compareSet(const std::string& key, const Bytes& expected, const Bytes& desired) override {
    read();
    auto& v = (*held_)[key];
    if (v == expected) v = desired;
    return v;
  }
  Bytes get(const std::string& key) override {
    read();
    return held_->at(key);
  }
  int64_t add(const std::string& key, int64_t value) override {
    read();
    auto& v = (*held_)[key];
    const auto n = (v.empty() ? 0 : std::stoll(std::string(v.begin(), v.end()))) + value;
    const auto text = std::to_string(n);
    v.assign(text.begin(), text.end());
    return n;
  }
  bool deleteKey(const std::string& key) override {
    read();
    return held_->erase(key) > 0;
  }
  bool check(const std::vector<std::string>& keys) override {
    read();
    for (const auto& k : keys) {
      if (held_->count(k) == 0) return false;
    }
    return true;
  }
  int64_t getNumKeys() override {
    read();
    return static_cast<int64_t>(held_->size());
  }
  void wait(const std::vector<std::string>& keys) override { wait(keys, timeout_); }
  void wait(const std::vector<std::string>& keys, const std::chrono::milliseconds&) override {
    if (!check(keys)) throw std::runtime_error("key not set");
  }

 private:
  void read() {
    for (auto& [k, v] : unread_) (*held_)[k] = v;
    unread_.clear();
  }
  std::shared_ptr<std::map<std::string, Bytes>> held_;
  std::deque<std::pair<std::string, Bytes>> unread_;
};

TEST(StoreWriteTest, AnotherConnectionSeesTheKeyOnceSetVisibleReturns) {
  auto held = std::make_shared<std::map<std::string, Bytes>>();
  OneWaySetConnection writer(held), reader(held);
  setVisible(writer, "switch_at", "7");
  ASSERT_TRUE(reader.check({"switch_at"}));
  const auto v = reader.get("switch_at");
  EXPECT_EQ(std::string(v.begin(), v.end()), "7");
}

// The reason setVisible exists: with a plain set the other connection may
// still find nothing (the model above is the store's real ordering).
TEST(StoreWriteTest, APlainSetMayStillBeUnseenByAnotherConnection) {
  auto held = std::make_shared<std::map<std::string, Bytes>>();
  OneWaySetConnection writer(held), reader(held);
  writer.set("switch_at", {'7'});
  EXPECT_FALSE(reader.check({"switch_at"}));
  EXPECT_TRUE(writer.check({"switch_at"})) << "the writer's own question comes after its set";
  EXPECT_TRUE(reader.check({"switch_at"}));
}

}  // namespace
}  // namespace hemingway::elastic::detail
