#include "protocol/socketio/socketio_packet.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

namespace parley::protocol::socketio {
namespace {
namespace json = boost::json;

Packet ok(std::string_view text) {
  std::string why;
  auto p = decode(text, why);
  EXPECT_TRUE(p) << text << ": " << why;
  return p ? *p : Packet{};
}

bool bad(std::string_view text) {
  std::string why;
  auto p = decode(text, why);
  return !p && !why.empty();
}

TEST(SocketIoPacket, Connect) {
  auto p = ok("0");
  EXPECT_EQ(p.type, PacketType::connect);
  EXPECT_EQ(p.nsp, "/");
  EXPECT_FALSE(p.has_data);

  p = ok(R"(0{"token":"123"})");
  EXPECT_TRUE(p.has_data);
  EXPECT_EQ(json::serialize(p.data), R"({"token":"123"})");

  p = ok("0/custom,");
  EXPECT_EQ(p.nsp, "/custom");
  p = ok("0/custom");
  EXPECT_EQ(p.nsp, "/custom");
  p = ok(R"(0/custom,{"token":"abc"})");
  EXPECT_EQ(p.nsp, "/custom");
  EXPECT_EQ(p.data.at("token").as_string(), "abc");

  EXPECT_TRUE(bad("0[1]"));
  EXPECT_TRUE(bad(R"(0"x")"));
}

TEST(SocketIoPacket, Event) {
  auto p = ok(R"(2["message",1,"2",{"3":[true]}])");
  EXPECT_EQ(p.type, PacketType::event);
  EXPECT_FALSE(p.id);
  EXPECT_EQ(p.data.as_array().size(), 4u);

  p = ok(R"(2456["message-with-ack",1])");
  ASSERT_TRUE(p.id);
  EXPECT_EQ(*p.id, 456u);

  p = ok(R"(2/custom,12["x"])");
  EXPECT_EQ(p.nsp, "/custom");
  EXPECT_EQ(*p.id, 12u);

  EXPECT_TRUE(bad("2{}"));
  EXPECT_TRUE(bad("2[]"));
  EXPECT_TRUE(bad("2"));
  EXPECT_TRUE(bad(R"(2abc["message-with-ack",1])"));
  EXPECT_TRUE(bad(R"(2["connect"])"));
  EXPECT_TRUE(bad(R"(2[{"a":1}])"));
  EXPECT_TRUE(bad(R"(299999999999999999999["x"])"));
  EXPECT_TRUE(bad(R"(2["x",1e99999])"));  // read as infinity: not JSON once written back
}

TEST(SocketIoPacket, OtherTypes) {
  EXPECT_EQ(ok("1").type, PacketType::disconnect);
  EXPECT_EQ(ok("1/custom,").nsp, "/custom");
  EXPECT_TRUE(bad("1{}"));
  EXPECT_EQ(ok("3456[1]").type, PacketType::ack);
  EXPECT_TRUE(bad("3456{}"));
  EXPECT_EQ(ok(R"(4{"message":"no"})").type, PacketType::connect_error);
  EXPECT_TRUE(bad("7"));
  EXPECT_TRUE(bad("abc"));
  EXPECT_TRUE(bad(""));
}

TEST(SocketIoPacket, BinaryEvent) {
  auto p = ok(R"(52-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}])");
  EXPECT_EQ(p.type, PacketType::binary_event);
  EXPECT_EQ(p.attachment_count, 2u);
  EXPECT_FALSE(p.is_complete());
  p.attachments = {"\x01\x02\x03", "\x04\x05\x06"};
  EXPECT_TRUE(p.is_complete());
  EXPECT_EQ(encode(p),
            R"(52-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}])");

  p = ok(R"(62-789[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}])");
  EXPECT_EQ(p.type, PacketType::binary_ack);
  EXPECT_EQ(*p.id, 789u);

  EXPECT_TRUE(bad(R"(5["message"])"));
  EXPECT_TRUE(bad(R"(5x-["message"])"));
  EXPECT_TRUE(bad(R"(51-["message",{"_placeholder":true,"num":1}])"));
  EXPECT_TRUE(bad(R"(51-["message",{"_placeholder":true,"num":-1}])"));
  EXPECT_TRUE(bad(R"(51-["message",{"_placeholder":true}])"));
  EXPECT_TRUE(bad(R"(5999-["message"])"));
}

TEST(SocketIoPacket, EncodeShorthands) {
  json::array args{"message-back", 1, "2"};
  EXPECT_EQ(encode_event("/", args), R"(2["message-back",1,"2"])");
  EXPECT_EQ(encode_event("/custom", args, 7), R"(2/custom,7["message-back",1,"2"])");
  EXPECT_EQ(encode_ack("/", 456, json::array{1, "2"}), R"(3456[1,"2"])");
  EXPECT_EQ(encode_connect("/", json::object{{"sid", "abc"}}), R"(0{"sid":"abc"})");
  EXPECT_EQ(encode_connect_error("/random", "Invalid namespace"),
            R"(4/random,{"message":"Invalid namespace"})");
}

// The encoders serialize through a 2 KiB buffer: a history page (tens of KiB) comes out in
// many pieces, joined whole, escapes and multi-byte characters included.
TEST(SocketIoPacket, LargePayloadIsEncodedWhole) {
  std::string content;
  for (int i = 0; i < 3000; ++i) content += i % 7 == 0 ? "\"é\n" : "abc";
  json::array messages;
  for (int i = 0; i < 20; ++i) messages.emplace_back(json::object{{"seq", i}, {"content", content}});
  json::array args{"conversation-history", json::object{{"messages", messages}}};
  const std::string text = encode_event("/", args, 12);
  ASSERT_GT(text.size(), 20u * content.size());
  const auto back = ok(text);
  EXPECT_EQ(back.id, 12u);
  EXPECT_EQ(back.data, json::value(args));
  EXPECT_EQ(encode_ack("/", 12, args), "3" + text.substr(1));
}

TEST(SocketIoPacket, RoundTripKeepsText) {
  for (std::string_view s : {R"(2["a","**bold** _it_\n- item"])", R"(3/x,5[{"k":[1,2,null]}])",
                             R"(0{"token":"é"})", "1/custom,"}) {
    EXPECT_EQ(encode(ok(s)), s);
  }
}

}  // namespace
}  // namespace parley::protocol::socketio
