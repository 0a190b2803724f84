// The rule every backend applies to a template set before storing it (store.hpp,
// Connection::replace_templates), so they refuse exactly the same sets.
#pragma once

#include <set>
#include <span>
#include <string_view>
#include <utility>

#include "store/store.hpp"

namespace parley::store::detail {

// A set is valid when every category is named, no (category, key) repeats, and a top-level
// entry (empty key) is the only entry under its name.
inline bool valid_templates(std::span<const Template> templates) {
  std::set<std::pair<std::string_view, std::string_view>> seen;
  std::set<std::string_view> top_level, keyed;
  for (const Template& t : templates) {
    if (t.category.empty()) return false;
    if (!seen.emplace(t.category, t.key).second) return false;
    (t.key.empty() ? top_level : keyed).insert(t.category);
  }
  for (std::string_view name : top_level) {
    if (keyed.contains(name)) return false;
  }
  return true;
}

}  // namespace parley::store::detail
