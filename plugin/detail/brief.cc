#include "hemingway/plugin/detail/brief.h"

#include <c10/util/Exception.h>

namespace hemingway::plugin::detail {

std::string brief(const std::exception& e) {
  const auto* c10 = dynamic_cast<const c10::Error*>(&e);
  std::string text = c10 != nullptr ? c10->what_without_backtrace() : e.what();
  // c10 and Gloo sometimes put the trace or a second report after a newline.
  if (const auto nl = text.find("\nException raised from"); nl != std::string::npos) {
    text.erase(nl);
  }
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

}  // namespace hemingway::plugin::detail
