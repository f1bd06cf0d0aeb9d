// A write to the rendezvous store that another process must see once this
// one has moved on. c10d's TCPStore answers no set(): set() returns once the
// bytes left this process, and the store's thread applies them whenever it
// next reads this connection, possibly after it answered another client's
// later question. It answers a question on one connection only after it
// applied every earlier request on that connection.
#pragma once

#include <string>

namespace c10d {
class Store;
}  // namespace c10d

namespace hemingway::elastic::detail {

// Sets `key` and returns once the store holds it: a question asked on
// another connection after this returns sees it (one round trip).
void setVisible(c10d::Store& store, const std::string& key, const std::string& value);

}  // namespace hemingway::elastic::detail
