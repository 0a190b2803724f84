#include "protocol/socketio/radioistic_model.hpp"

#include <gtest/gtest.h>

namespace parley::protocol::radioistic {
namespace {

TEST(RadioisticModel, NameSplitsAtTheFirstSpaceAndJoinsBackByteForByte) {
  auto p = split_name("Mohamed Aziz Ben Ali");
  EXPECT_EQ(p.first, "Mohamed");
  EXPECT_EQ(p.last, "Aziz Ben Ali");
  EXPECT_EQ(join_name(p.first, p.last), "Mohamed Aziz Ben Ali");
  p = split_name("Cher");
  EXPECT_EQ(p.first, "Cher");
  EXPECT_EQ(p.last, "");
  p = split_name("");
  EXPECT_EQ(p.first, "");
  EXPECT_EQ(p.last, "");
}

// models/Message.js: content {required, trim: true, maxlength: 2000}; JavaScript's trim and
// length (UTF-16 code units).
TEST(RadioisticModel, ContentIsTrimmedAndLimitedAsTheAppsSchemaDoes) {
  std::string c = " \t hello world \n";
  EXPECT_FALSE(normalize_content(c));
  EXPECT_EQ(c, "hello world");
  c = "\xC2\xA0\xE3\x80\x80 caf\xC3\xA9 \xE2\x80\xA8";  // NBSP, ideographic space, LS
  EXPECT_FALSE(normalize_content(c));
  EXPECT_EQ(c, "caf\xC3\xA9");
  c = "  \n ";
  EXPECT_EQ(normalize_content(c), "Message content is required");
  c = std::string(2000, 'x');
  EXPECT_FALSE(normalize_content(c));
  c = std::string(2001, 'x');
  EXPECT_EQ(normalize_content(c), "Message cannot exceed 2000 characters");
  // 1000 emoji are 2000 UTF-16 units (4000 bytes): allowed; one more is not.
  std::string emoji;
  for (int i = 0; i < 1000; ++i) emoji += "\xF0\x9F\x98\x80";
  c = emoji;
  EXPECT_FALSE(normalize_content(c));
  c = emoji + "a";
  EXPECT_TRUE(normalize_content(c));
  // 2000 two-byte characters are 2000 units.
  c.clear();
  for (int i = 0; i < 2000; ++i) c += "\xC3\xA9";
  EXPECT_FALSE(normalize_content(c));
}

TEST(RadioisticModel, TypesAreTheSchemasEnum) {
  for (const char* t : {"text", "image", "file", "system"}) EXPECT_TRUE(is_message_type(t));
  EXPECT_FALSE(is_message_type("video"));
  EXPECT_FALSE(is_message_type(""));
}

TEST(RadioisticModel, ObjectIdsAreTwentyFourHexStartingWithTheSeconds) {
  const auto a = new_object_id(1'700'000'000'123);
  const auto b = new_object_id(1'700'000'000'123);
  EXPECT_EQ(a.size(), 24u);
  EXPECT_EQ(a.substr(0, 8), "6553f100");
  EXPECT_NE(a, b);
  for (char ch : a) EXPECT_TRUE((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f')) << a;
}

}  // namespace
}  // namespace parley::protocol::radioistic
