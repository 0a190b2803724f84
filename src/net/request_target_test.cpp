#include "net/request_target.hpp"

#include <gtest/gtest.h>

namespace parley::net {
namespace {

TEST(RequestTarget, SegmentsAndParametersAreDecoded) {
  auto t = parse_request_target("/api/conversations/a%2Fb/messages/?q=hello%20world&flag&x=");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->segments, (std::vector<std::string>{"api", "conversations", "a/b", "messages"}));
  ASSERT_EQ(t->params.size(), 3u);
  EXPECT_EQ(t->params[0].second, "hello world");
  EXPECT_FALSE(t->params[1].second.has_value());  // "flag": no '='
  EXPECT_EQ(t->params[2].second, "");
  EXPECT_EQ(t->last("flag"), "");
  EXPECT_FALSE(t->last("missing"));
  EXPECT_EQ(t->first("missing"), nullptr);
}

TEST(RequestTarget, FirstAndLastOfARepeatedKey) {
  auto t = parse_request_target("/ws?token=one&token=two");
  ASSERT_TRUE(t);
  ASSERT_NE(t->first("token"), nullptr);
  EXPECT_EQ(*t->first("token"), "one");
  EXPECT_EQ(t->last("token"), "two");
}

TEST(RequestTarget, RefusesWhatIsNotOriginForm) {
  EXPECT_FALSE(parse_request_target(""));
  EXPECT_FALSE(parse_request_target("api/conversations"));
  EXPECT_FALSE(parse_request_target("http://example.com/api"));
  EXPECT_FALSE(parse_request_target("/a b"));
  EXPECT_FALSE(parse_request_target("/x?q=%zz"));  // a broken percent escape
  auto root = parse_request_target("/");
  ASSERT_TRUE(root);
  EXPECT_TRUE(root->segments.empty());
}

}  // namespace
}  // namespace parley::net
