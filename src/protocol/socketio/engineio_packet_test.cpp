#include "protocol/socketio/engineio_packet.hpp"

#include <gtest/gtest.h>

namespace parley::protocol::engineio {
namespace {

TEST(EngineIoPacket, DecodesEveryTextType) {
  for (char t = '0'; t <= '6'; ++t) {
    auto p = decode_packet(std::string(1, t) + "x", false);
    ASSERT_TRUE(p) << t;
    EXPECT_EQ(static_cast<char>(p->type), t);
    EXPECT_EQ(p->data, "x");
    EXPECT_FALSE(p->binary);
  }
}

TEST(EngineIoPacket, RejectsUnknownTypeAndEmpty) {
  EXPECT_FALSE(decode_packet("", false));
  EXPECT_FALSE(decode_packet("7", false));
  EXPECT_FALSE(decode_packet("abc", false));
  // 'b' is binary only inside a polling payload.
  EXPECT_FALSE(decode_packet("bAQID", false));
}

TEST(EngineIoPacket, PollingBinaryRecordIsBase64) {
  auto p = decode_packet("bAQIDBA==", true);
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->binary);
  EXPECT_EQ(p->type, PacketType::message);
  EXPECT_EQ(p->data, std::string("\x01\x02\x03\x04", 4));
  EXPECT_FALSE(decode_packet("b@@@@", true));
}

TEST(EngineIoPacket, PayloadSplitsOnRecordSeparator) {
  auto packets = decode_payload(
      "4hello\x1e"
      "bAQIDBA==\x1e"
      "3");
  ASSERT_TRUE(packets);
  ASSERT_EQ(packets->size(), 3u);
  EXPECT_EQ((*packets)[0], (Packet{PacketType::message, "hello", false}));
  EXPECT_TRUE((*packets)[1].binary);
  EXPECT_EQ((*packets)[2].type, PacketType::pong);
}

TEST(EngineIoPacket, PayloadRejectsEmptyRecordsAndBadPackets) {
  EXPECT_FALSE(decode_payload(""));
  EXPECT_FALSE(decode_payload("4a\x1e"));
  EXPECT_FALSE(
      decode_payload("\x1e"
                     "4a"));
  EXPECT_FALSE(decode_payload("abc"));
  auto many = decode_payload(
      "6\x1e"
      "6\x1e"
      "6",
      2);
  ASSERT_FALSE(many);
  EXPECT_EQ(many.error(), Errc::too_large);
}

TEST(EngineIoPacket, PayloadRoundTrip) {
  std::vector<OutPacket> out{
      make_packet(PacketType::message, "test1"),
      make_packet(PacketType::message, std::string("\x01\x02\x03\x04", 4), true),
      make_packet(PacketType::ping)};
  std::string body;
  append_payload(body, out);
  EXPECT_EQ(body,
            "4test1\x1e"
            "bAQIDBA==\x1e"
            "2");
  auto back = decode_payload(body);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->size(), 3u);
}

TEST(EngineIoPacket, TextFrame) {
  EXPECT_EQ(encode_text_frame(make_packet(PacketType::pong, "probe")), "3probe");
  EXPECT_EQ(encode_text_frame(make_packet(PacketType::noop)), "6");
}

TEST(EngineIoPacket, Base64) {
  for (std::string s : {"", "f", "fo", "foo", "foob", "fooba", "foobar"}) {
    auto back = base64_decode(base64_encode(s));
    ASSERT_TRUE(back) << s;
    EXPECT_EQ(*back, s);
  }
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(*base64_decode("Zm9vYg"), "foob");  // missing padding is accepted
  EXPECT_FALSE(base64_decode("Zm9vY"));
  EXPECT_FALSE(base64_decode("Zm9v YmFy"));
}

TEST(EngineIoPacket, ErrorBody) {
  EXPECT_EQ(error_body(ErrorCode::unknown_sid), R"({"code":1,"message":"Session ID unknown"})");
  EXPECT_EQ(error_body(ErrorCode::bad_request), R"({"code":3,"message":"Bad request"})");
}

}  // namespace
}  // namespace parley::protocol::engineio
