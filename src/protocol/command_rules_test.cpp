#include "protocol/command_rules.hpp"

#include <gtest/gtest.h>

#include "core/error.hpp"

namespace parley::protocol {
namespace {

Command send(std::string content) {
  Command c;
  c.op = Op::send;
  c.conversation = "room";
  c.content = std::move(content);
  return c;
}

TEST(CommandRules, OneSendIsJudgedTheSameWhateverSentIt) {
  Limits limits;
  std::string why;
  auto ok = send("hi");
  EXPECT_FALSE(check(ok, limits, why));

  // Issue 13: an oversized meta was reported natively as "content is larger".
  auto meta = send("hi");
  meta.meta = "{\"x\":\"" + std::string(limits.max_meta_bytes, 'm') + "\"}";
  EXPECT_EQ(check(meta, limits, why), Errc::too_large);
  EXPECT_EQ(why, "meta is larger than 16384 bytes");

  auto big = send(std::string(limits.max_content_bytes + 1, 'c'));
  EXPECT_EQ(check(big, limits, why), Errc::too_large);
  EXPECT_EQ(why, "content is larger than 65536 bytes");

  // Issue 13: an empty kind was refused natively and defaulted over Socket.IO.
  auto empty_kind = send("hi");
  empty_kind.kind = "";
  EXPECT_FALSE(check(empty_kind, limits, why));
  EXPECT_EQ(empty_kind.kind, "text");
  auto video = send("hi");
  video.kind = "video";
  EXPECT_EQ(check(video, limits, why), Errc::invalid_argument);

  auto long_id = send("hi");
  long_id.client_id = std::string(kMaxClientIdBytes + 1, 'i');
  EXPECT_EQ(check(long_id, limits, why), Errc::invalid_argument);
  long_id.client_id = std::string(kMaxClientIdBytes, 'i');
  EXPECT_FALSE(check(long_id, limits, why));
}

TEST(CommandRules, ConversationIdsHaveOneForm) {
  Limits limits;
  std::string why;
  for (const char* bad : {"", "bad id", "../x", "a/b"}) {
    auto c = send("x");
    c.conversation = bad;
    EXPECT_EQ(check(c, limits, why), Errc::invalid_argument) << bad;
  }
  Command auth;
  auth.op = Op::auth;  // names no conversation
  EXPECT_FALSE(check(auth, limits, why));
}

TEST(CommandRules, HistoryLimitsAreClampedAgainstOneSetting) {
  Limits limits;
  limits.default_history_limit = 50;
  limits.max_history_limit = 200;
  std::string why;
  Command c;
  c.op = Op::history;
  c.conversation = "room";
  EXPECT_FALSE(check(c, limits, why));
  EXPECT_EQ(c.limit, 50u);  // absent: the default
  c.limit = 0;
  EXPECT_FALSE(check(c, limits, why));
  EXPECT_EQ(c.limit, 50u);  // 0: the default too
  c.limit = 10'000;
  EXPECT_FALSE(check(c, limits, why));
  EXPECT_EQ(c.limit, 200u);
  c.op = Op::join;
  c.limit = 7;
  EXPECT_FALSE(check(c, limits, why));
  EXPECT_EQ(c.limit, 7u);
  EXPECT_EQ(history_limit(std::nullopt, limits), 50u);
}

TEST(CommandRules, EditsAndDeletesNameAMessage) {
  Limits limits;
  std::string why;
  Command c;
  c.op = Op::remove;
  c.conversation = "room";
  EXPECT_EQ(check(c, limits, why), Errc::invalid_argument);
  c.seq = 3;
  EXPECT_FALSE(check(c, limits, why));
  c.op = Op::edit;
  c.content = std::string(limits.max_content_bytes + 1, 'x');
  EXPECT_EQ(check(c, limits, why), Errc::too_large);
}

}  // namespace
}  // namespace parley::protocol
