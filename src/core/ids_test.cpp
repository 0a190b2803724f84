#include "core/ids.hpp"

#include <gtest/gtest.h>

#include <set>

namespace parley {
namespace {

TEST(Ids, MessageIdsAreUniqueAndValid) {
  std::set<MessageId> seen;
  for (int i = 0; i < 10000; ++i) {
    auto id = new_message_id();
    EXPECT_EQ(id.size(), 32u);
    EXPECT_TRUE(is_valid_id(id));
    EXPECT_TRUE(seen.insert(id).second);
  }
}

TEST(Ids, ValidatesConversationIds) {
  EXPECT_TRUE(is_valid_id("general"));
  EXPECT_TRUE(is_valid_id("507f1f77bcf86cd799439011"));
  EXPECT_TRUE(is_valid_id("3f2b8c1e-9a1d-4c55-8d2f-0c1e2a3b4c5d"));
  EXPECT_FALSE(is_valid_id(""));
  EXPECT_FALSE(is_valid_id("../etc/passwd"));
  EXPECT_FALSE(is_valid_id("."));
  EXPECT_FALSE(is_valid_id(".."));
  EXPECT_TRUE(is_valid_id("..."));  // not a path step
  EXPECT_TRUE(is_valid_id(".hidden"));
  EXPECT_FALSE(is_valid_id("a b"));
  EXPECT_FALSE(is_valid_id(std::string(129, 'a')));
}

}  // namespace
}  // namespace parley
