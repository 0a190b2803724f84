#include "protocol/socketio/socketio_events.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "protocol/event_encoder.hpp"

namespace parley::protocol::socketio {
namespace {
namespace json = boost::json;

json::array args(std::string_view text) { return json::parse(text).as_array(); }

ChatRequest ok(std::string_view text) {
  std::string why;
  auto r = decode_request(args(text), why);
  EXPECT_TRUE(r) << text << ": " << why;
  return r ? *r : ChatRequest{};
}

Errc fails(std::string_view text) {
  std::string why;
  auto r = decode_request(args(text), why);
  EXPECT_FALSE(r) << text;
  EXPECT_FALSE(why.empty());
  return r ? Errc{} : static_cast<Errc>(r.error().value());
}

StoredMessage sample() {
  StoredMessage m;
  m.id = "0123";
  m.conversation = "room1";
  m.seq = 7;
  m.sender = Sender{"u1", "Ann", "wizard"};
  m.content = "**Hello**\n- one\n- two \"quoted\" é";
  m.meta = R"({"avatar":"/a.png"})";
  m.created_at = 1'700'000'000'123;
  m.client_id = "c-1";
  return m;
}

json::array packet_args(const std::string& packet) {
  EXPECT_EQ(packet.substr(0, 1), "2");
  return json::parse(packet.substr(1)).as_array();
}

TEST(SocketIoEvents, MessagingRequests) {
  auto r = ok(R"(["authenticate",{"userId":"u1","name":"Ann","avatar":"/a.png"}])");
  EXPECT_EQ(r.format, WireFormat::sio_messaging);
  EXPECT_EQ(r.command.op, Op::auth);
  EXPECT_EQ(r.command.identity.id, "u1");
  EXPECT_EQ(r.command.identity.avatar, "/a.png");

  r = ok(R"(["authenticate","u2"])");
  EXPECT_EQ(r.command.identity.id, "u2");

  r = ok(R"(["join-conversation",{"conversationId":"c1","userId":"u1","since":4}])");
  EXPECT_EQ(r.command.op, Op::join);
  EXPECT_EQ(r.command.conversation, "c1");
  EXPECT_EQ(r.command.since, 4);
  EXPECT_EQ(r.claimed_user, "u1");

  r = ok(
      R"(["send-message",{"conversationId":"c1","content":"hi","type":"text","clientMsgId":"x"}])");
  EXPECT_EQ(r.command.op, Op::send);
  EXPECT_EQ(r.command.content, "hi");
  EXPECT_EQ(r.command.client_id, "x");

  r = ok(R"(["mark-as-read",{"conversationId":"c1","seq":3}])");
  EXPECT_EQ(r.command.op, Op::read);
  EXPECT_EQ(r.command.seq, 3);
  r = ok(R"(["mark-as-read",{"conversationId":"c1","messageId":"abc"}])");
  EXPECT_EQ(r.message_id, "abc");

  r = ok(R"(["typing",{"conversationId":"c1","isTyping":false}])");
  EXPECT_EQ(r.command.op, Op::typing);
  EXPECT_FALSE(r.command.on);
  r = ok(R"(["typing",{"conversationId":"c1"}])");
  EXPECT_TRUE(r.command.on);
}

TEST(SocketIoEvents, WozRequests) {
  auto r = ok(R"(["join",{"room":"abc12345","role":"wizard"}])");
  EXPECT_EQ(r.format, WireFormat::sio_woz);
  EXPECT_EQ(r.command.op, Op::join);
  EXPECT_EQ(r.role, "wizard");
  r = ok(R"(["join",{"room":"abc12345"}])");
  EXPECT_EQ(r.role, "participant");

  r = ok(R"(["bot_message",{"room":"abc12345","text":"*hi*"}])");
  EXPECT_EQ(r.command.op, Op::send);
  EXPECT_EQ(r.role, "bot");
  EXPECT_EQ(r.command.content, "*hi*");
  EXPECT_EQ(ok(R"(["wizard_message",{"room":"r","text":"t"}])").role, "wizard");
  EXPECT_EQ(ok(R"(["participant_message",{"room":"r","text":"t"}])").role, "participant");
}

TEST(SocketIoEvents, BadRequests) {
  EXPECT_EQ(fails(R"(["no-such-event",{}])"), Errc::not_found);
  EXPECT_EQ(fails(R"(["send-message",{"conversationId":"c1"}])"), Errc::invalid_argument);
  EXPECT_EQ(fails(R"(["join",{"room":5.5}])"), Errc::invalid_argument);
  EXPECT_EQ(fails(R"(["join-conversation"])"), Errc::invalid_argument);
  EXPECT_EQ(fails(R"(["mark-as-read",{"conversationId":"c1"}])"), Errc::invalid_argument);
  EXPECT_EQ(fails(R"(["authenticate",{}])"), Errc::invalid_argument);
}

TEST(SocketIoEvents, MessagingEventsKeepTextByteForByte) {
  Event e;
  e.type = EventType::message;
  e.conversation = "room1";
  e.message = std::make_shared<const StoredMessage>(sample());
  auto a = packet_args(socketio::encode_event(WireFormat::sio_messaging, e));
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[0].as_string(), "new-message");
  const auto& m = a[1].as_object();
  EXPECT_EQ(m.at("content").as_string(), sample().content);
  EXPECT_EQ(m.at("conversationId").as_string(), "room1");
  EXPECT_EQ(m.at("seq").as_int64(), 7);
  EXPECT_EQ(m.at("senderId").as_string(), "u1");
  EXPECT_EQ(m.at("senderName").as_string(), "Ann");
  EXPECT_EQ(m.at("senderAvatar").as_string(), "/a.png");
  EXPECT_EQ(m.at("timestamp").as_string(), "2023-11-14T22:13:20.123Z");
  EXPECT_EQ(m.at("type").as_string(), "text");
  EXPECT_TRUE(m.at("readBy").as_array().empty());
  EXPECT_FALSE(m.at("edited").as_bool());
  EXPECT_FALSE(m.at("deleted").as_bool());
  EXPECT_EQ(m.at("clientMsgId").as_string(), "c-1");

  // The hub's encoder dispatches Socket.IO formats here.
  EXPECT_EQ(protocol::encode_event(WireFormat::sio_messaging, e),
            socketio::encode_event(WireFormat::sio_messaging, e));
}

TEST(SocketIoEvents, MessagingRoomEvents) {
  Event e;
  e.conversation = "c1";
  e.user = User{"u2", "Bob", "", "", std::nullopt};
  e.type = EventType::typing;
  e.on = true;
  EXPECT_EQ(
      socketio::encode_event(WireFormat::sio_messaging, e),
      R"(2["user-typing",{"conversationId":"c1","userId":"u2","userName":"Bob","isTyping":true}])");
  e.type = EventType::read;
  e.seq = 9;
  EXPECT_EQ(socketio::encode_event(WireFormat::sio_messaging, e),
            R"(2["message-read",{"conversationId":"c1","userId":"u2","seq":9}])");
  e.type = EventType::presence;
  e.online = false;
  e.last_seen = 0;
  EXPECT_EQ(
      socketio::encode_event(WireFormat::sio_messaging, e),
      R"(2["user-status",{"userId":"u2","status":"offline","lastSeen":"1970-01-01T00:00:00.000Z","conversationId":"c1"}])");
  e.conversation.clear();
  e.online = true;
  EXPECT_EQ(socketio::encode_event(WireFormat::sio_messaging, e),
            R"(2["user-status",{"userId":"u2","status":"online"}])");
  e.type = EventType::deleted;
  e.conversation = "c1";
  e.seq = 3;
  EXPECT_EQ(socketio::encode_event(WireFormat::sio_messaging, e),
            R"(2["message-deleted",{"conversationId":"c1","seq":3}])");
}

TEST(SocketIoEvents, WozEvents) {
  Event e;
  e.type = EventType::message;
  e.conversation = "room1";
  e.message = std::make_shared<const StoredMessage>(sample());
  auto a = packet_args(socketio::encode_event(WireFormat::sio_woz, e));
  EXPECT_EQ(a[0].as_string(), "message");
  const auto& m = a[1].as_object();
  EXPECT_EQ(m.at("sender").as_string(), "wizard");
  EXPECT_EQ(m.at("text").as_string(), sample().content);
  EXPECT_EQ(m.at("room").as_string(), "room1");
  EXPECT_EQ(m.at("seq").as_int64(), 7);
  EXPECT_EQ(m.at("timestamp").as_string(), "2023-11-14T22:13:20.123Z");

  e.type = EventType::typing;
  EXPECT_TRUE(socketio::encode_event(WireFormat::sio_woz, e).empty());
  e.type = EventType::presence;
  EXPECT_TRUE(socketio::encode_event(WireFormat::sio_woz, e).empty());
}

TEST(SocketIoEvents, RepliesAndAcks) {
  auto join = ok(R"(["join",{"room":"r1","role":"participant"}])");
  Reply h;
  h.type = ReplyType::history;
  h.conversation = "r1";
  h.messages.push_back(std::make_shared<const StoredMessage>(sample()));
  h.last_seq = 7;
  auto a = packet_args(encode_reply_event(join, h));
  EXPECT_EQ(a[0].as_string(), "history");
  EXPECT_EQ(a[1].at("room").as_string(), "r1");
  EXPECT_EQ(a[1].at("messages").as_array().size(), 1u);
  EXPECT_EQ(a[1].at("messages").as_array()[0].at("sender").as_string(), "wizard");

  auto jc = ok(R"(["join-conversation",{"conversationId":"r1"}])");
  a = packet_args(encode_reply_event(jc, h));
  EXPECT_EQ(a[0].as_string(), "conversation-history");
  EXPECT_EQ(a[1].at("conversationId").as_string(), "r1");
  EXPECT_EQ(a[1].at("lastSeq").as_int64(), 7);

  auto send = ok(R"(["send-message",{"conversationId":"r1","content":"x"}])");
  Reply ack;
  ack.type = ReplyType::ack;
  ack.message = h.messages[0];
  EXPECT_TRUE(encode_reply_event(send, ack).empty());
  auto p = ack_payload(send, ack).as_object();
  EXPECT_TRUE(p.at("ok").as_bool());
  EXPECT_EQ(p.at("id").as_string(), "0123");
  EXPECT_EQ(p.at("seq").as_int64(), 7);

  auto err = Reply::make_error(Errc::unauthenticated, "authenticate first");
  p = ack_payload(send, err).as_object();
  EXPECT_FALSE(p.at("ok").as_bool());
  EXPECT_EQ(p.at("code").as_string(), "unauthorized");
  a = packet_args(encode_reply_event(send, err));
  EXPECT_EQ(a[0].as_string(), "error");
  EXPECT_EQ(a[1].at("message").as_string(), "authenticate first");
}

}  // namespace
}  // namespace parley::protocol::socketio
