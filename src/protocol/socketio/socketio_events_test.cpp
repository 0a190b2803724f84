#include "protocol/socketio/socketio_events.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "protocol/event_encoder.hpp"
#include "protocol/socketio/webwoz_vocabulary.hpp"

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

  // radio-istic's own (lib/websocket-context.tsx:250-257, 264-273, 310-314).
  r = ok(R"(["send-message",{"conversationId":"c1","recipientId":"u2","message":"salut",)"
         R"("senderId":"u1","senderName":"A B","tempId":"temp-1-0.5"}])");
  EXPECT_EQ(r.command.op, Op::send);
  EXPECT_EQ(r.command.content, "salut");
  EXPECT_EQ(r.command.client_id, "temp-1-0.5");
  EXPECT_EQ(r.temp_id, "temp-1-0.5");
  EXPECT_EQ(r.recipient, "u2");
  r = ok(R"(["typing-start",{"conversationId":"c1","recipientId":"","userName":"A"}])");
  EXPECT_EQ(r.command.op, Op::typing);
  EXPECT_TRUE(r.command.on);
  EXPECT_FALSE(r.recipient);  // "" is no recipient, as in the app
  r = ok(R"(["typing-stop",{"conversationId":"c1","recipientId":"u2"}])");
  EXPECT_FALSE(r.command.on);
  EXPECT_EQ(r.recipient, "u2");
  r = ok(R"(["mark-as-read",{"conversationId":"c1","messageIds":["m1","m2"],"recipientId":"u2"}])");
  EXPECT_EQ(r.command.op, Op::read);
  EXPECT_EQ(r.message_ids, (std::vector<MessageId>{"m1", "m2"}));
  EXPECT_EQ(ok(R"(["get-online-users"])").event, "get-online-users");

  r = ok(R"(["typing",{"conversationId":"c1","isTyping":false}])");
  EXPECT_EQ(r.command.op, Op::typing);
  EXPECT_FALSE(r.command.on);
  r = ok(R"(["typing",{"conversationId":"c1"}])");
  EXPECT_TRUE(r.command.on);
}

TEST(SocketIoEvents, WebWozRequestsAreTheFrontEnds) {
  // frontend-wizard/src/hooks/useSocket.js
  auto r = ok(R"(["join",{"room":"abc12345","type":"wizard"}])");
  EXPECT_EQ(r.format, WireFormat::sio_woz);
  EXPECT_EQ(r.command.op, Op::join);
  EXPECT_EQ(r.command.conversation, "abc12345");
  EXPECT_EQ(r.role, "wizard");
  EXPECT_TRUE(socketio::webwoz::is_wizard_join(r));
  // frontend-participant/src/app.js
  r = ok(R"(["join",{"room":"abc12345","type":"participant"}])");
  EXPECT_EQ(r.role, "participant");
  EXPECT_FALSE(socketio::webwoz::is_wizard_join(r));
  // data.get("room", "default_room"), data.get("type", "unknown")
  r = ok(R"(["join",{}])");
  EXPECT_EQ(r.command.conversation, "default_room");
  EXPECT_EQ(r.role, "unknown");
  EXPECT_EQ(ok(R"(["join",{"room":"r","role":"wizard"}])").role, "wizard");  // earlier name

  r = ok(R"(["participant_typing",{"room":"abc12345","text":"Hel"}])");
  EXPECT_EQ(r.command.op, Op::typing);
  EXPECT_TRUE(r.command.on);
  EXPECT_EQ(r.command.typing_text, "Hel");
  r = ok(R"(["participant_typing",{"room":"abc12345","text":""}])");
  EXPECT_FALSE(r.command.on);
  EXPECT_EQ(r.command.typing_text, "");

  r = ok(R"(["wizard_response",{"room":"abc12345","text":"*hi*"}])");
  EXPECT_EQ(r.command.op, Op::send);
  EXPECT_EQ(r.role, "wizard");
  EXPECT_EQ(r.command.content, "*hi*");
  EXPECT_EQ(ok(R"(["participant_message",{"room":"r","text":"t"}])").role, "participant");
  EXPECT_EQ(ok(R"(["bot_message",{"room":"r","text":"t"}])").role, "bot");
  EXPECT_EQ(ok(R"(["leave",{"room":"previous"}])").command.op, Op::leave);
}

TEST(SocketIoEvents, BadRequests) {
  EXPECT_EQ(fails(R"(["no-such-event",{}])"), Errc::not_found);
  EXPECT_EQ(fails(R"(["send-message",{"conversationId":"c1"}])"), Errc::invalid_argument);
  EXPECT_EQ(fails(R"(["join",{"room":5.5}])"), Errc::invalid_argument);
  EXPECT_EQ(fails(R"(["join-conversation"])"), Errc::invalid_argument);
  EXPECT_EQ(fails(R"(["mark-as-read",{"conversationId":"c1"}])"), Errc::invalid_argument);
  EXPECT_EQ(fails(R"(["mark-as-read",{"conversationId":"c1","messageIds":[1]}])"),
            Errc::invalid_argument);
  EXPECT_EQ(fails(R"(["authenticate",{}])"), Errc::invalid_argument);
}

TEST(SocketIoEvents, MessagingEventsKeepTextByteForByte) {
  Event e;
  e.type = EventType::message;
  e.conversation = "room1";
  e.message = std::make_shared<const StoredMessage>(sample());
  auto a = packet_args(socketio::encode_event(WireFormat::sio_messaging, e));
  ASSERT_EQ(a.size(), 2u);
  // websocket-server.js:195-212: receive-message, the app's message with its tempId.
  EXPECT_EQ(a[0].as_string(), "receive-message");
  const auto& m = a[1].as_object();
  EXPECT_EQ(m.at("id").as_string(), "0123");
  EXPECT_EQ(m.at("content").as_string(), sample().content);
  EXPECT_EQ(m.at("conversationId").as_string(), "room1");
  EXPECT_EQ(m.at("seq").as_int64(), 7);
  EXPECT_EQ(m.at("senderId").as_string(), "u1");
  EXPECT_EQ(m.at("senderName").as_string(), "Ann");
  EXPECT_EQ(m.at("senderAvatar").as_string(), "/a.png");
  EXPECT_EQ(m.at("timestamp").as_string(), "2023-11-14T22:13:20.123Z");
  EXPECT_EQ(m.at("status").as_string(), "sent");
  EXPECT_EQ(m.at("type").as_string(), "text");
  EXPECT_EQ(m.at("tempId").as_string(), "c-1");
  EXPECT_FALSE(m.contains("deleted"));

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
  e.on = false;  // typing-stop has no userName (websocket-server.js:270-277)
  EXPECT_EQ(socketio::encode_event(WireFormat::sio_messaging, e),
            R"(2["user-typing",{"conversationId":"c1","userId":"u2","isTyping":false}])");
  e.type = EventType::read;
  e.seq = 9;
  e.message_ids = {"m1", "m2"};
  EXPECT_EQ(
      socketio::encode_event(WireFormat::sio_messaging, e),
      R"(2["messages-read",{"conversationId":"c1","messageIds":["m1","m2"],"readBy":"u2","seq":9}])");
  // socket.to(room): not to the reader's own sockets.
  EXPECT_FALSE(protocol::echoes_to_actor(WireFormat::sio_messaging, e));
  EXPECT_TRUE(protocol::echoes_to_actor(WireFormat::native, e));
  e.type = EventType::presence;
  e.online = false;
  e.last_seen = 0;
  EXPECT_TRUE(socketio::encode_event(WireFormat::sio_messaging, e).empty());  // no room presence
  e.conversation.clear();
  EXPECT_EQ(
      socketio::encode_event(WireFormat::sio_messaging, e),
      R"(2["user-status-change",{"userId":"u2","status":"offline","lastSeen":"1970-01-01T00:00:00.000Z"}])");
  e.online = true;
  EXPECT_EQ(
      socketio::encode_event(WireFormat::sio_messaging, e),
      R"(2["user-status-change",{"userId":"u2","status":"online","userInfo":{"id":"u2","name":"Bob","firstName":"Bob","lastName":"","avatar":"/avatars/default-avatar.jpg"}}])");
  EXPECT_EQ(
      protocol::encode_online_users(WireFormat::sio_messaging,
                                    {User{"u3", "Dhia Eddine Ben Salah", "/x.png", "", std::nullopt}}),
      R"(2["online-users",[{"id":"u3","name":"Dhia Eddine Ben Salah","firstName":"Dhia","lastName":"Eddine Ben Salah","avatar":"/x.png"}]])");
  EXPECT_TRUE(protocol::encode_online_users(WireFormat::sio_woz, {}).empty());
  e.type = EventType::deleted;
  e.conversation = "c1";
  e.seq = 3;
  EXPECT_EQ(socketio::encode_event(WireFormat::sio_messaging, e),
            R"(2["message-deleted",{"conversationId":"c1","seq":3}])");
}

// A session taken out of a room (its conversation restricted to others, issue 14): the app's
// own refusal, with the conversation named. WebWOz has no such event.
TEST(SocketIoEvents, LeftIsTheAppsRefusalWithItsConversation) {
  Event e;
  e.type = EventType::left;
  e.conversation = "c1";
  e.reason = protocol::kLeftNotAParticipant;
  EXPECT_EQ(
      socketio::encode_event(WireFormat::sio_messaging, e),
      R"(2["error",{"message":"You are not part of this conversation","conversationId":"c1"}])");
  EXPECT_TRUE(socketio::encode_event(WireFormat::sio_woz, e).empty());
}

TEST(SocketIoEvents, WebWozEventsAreTheAppsShapes) {
  Event e;
  e.type = EventType::message;
  e.conversation = "room1";
  StoredMessage sm = sample();
  sm.conversation = "room1";
  e.message = std::make_shared<const StoredMessage>(sm);
  // {sender, text, timestamp, room}: exactly the app's keys, its timestamp format.
  EXPECT_EQ(socketio::encode_event(WireFormat::sio_woz, e),
            R"(2["new_message",{"sender":"wizard","text":)" +
                boost::json::serialize(boost::json::value(sm.content)) +
                R"(,"timestamp":"2023-11-14T22:13:20+00:00","room":"room1"}])");

  e.type = EventType::typing;
  EXPECT_TRUE(socketio::encode_event(WireFormat::sio_woz, e).empty());  // no text to show
  e.typing_text = "Hel";
  EXPECT_EQ(socketio::encode_event(WireFormat::sio_woz, e),
            R"(2["participant_is_typing",{"text":"Hel","room":"room1"}])");
  e.type = EventType::presence;
  EXPECT_TRUE(socketio::encode_event(WireFormat::sio_woz, e).empty());

  EXPECT_EQ(socketio::webwoz::encode_bot_status("room1"),
            R"(2["bot_status_changed",{"room":"room1","active":false,"available":false,)"
            R"("progress":"Bot service unavailable"}])");
  const std::vector<Template> templates{{"General", "hi", "Hello"}, {"flat", "", "x"}};
  EXPECT_EQ(socketio::webwoz::encode_templates(templates),
            R"(2["templates",{"General":{"hi":"Hello"},"flat":"x"}])");
}

TEST(SocketIoEvents, RepliesAndAcks) {
  auto join = ok(R"(["join",{"room":"r1","type":"participant"}])");
  Reply h;
  h.type = ReplyType::history;
  h.conversation = "r1";
  h.messages.push_back(std::make_shared<const StoredMessage>(sample()));
  h.messages.push_back(std::make_shared<const StoredMessage>(sample()));
  h.last_seq = 7;
  // The app's history: one new_message per stored message, to the joiner.
  auto events = encode_reply_events(join, h);
  ASSERT_EQ(events.size(), 2u);
  for (const auto& ev : events) {
    auto a = packet_args(ev);
    EXPECT_EQ(a[0].as_string(), "new_message");
    EXPECT_EQ(a[1].at("sender").as_string(), "wizard");
  }
  EXPECT_EQ(ack_payload(join, h).as_object().at("messages").as_array().size(), 2u);
  auto jc = ok(R"(["join-conversation",{"conversationId":"r1"}])");
  jc.actor = "u9";
  auto a = packet_args(encode_reply_event(jc, h));
  EXPECT_EQ(a[0].as_string(), "conversation-history");
  EXPECT_EQ(a[1].at("conversationId").as_string(), "r1");
  EXPECT_EQ(a[1].at("lastSeq").as_int64(), 7);
  // websocket-server.js:127: read by the joiner, or not yet.
  EXPECT_EQ(a[1].at("messages").as_array()[0].at("status").as_string(), "delivered");
  h.read_seq = 7;
  a = packet_args(encode_reply_event(jc, h));
  EXPECT_EQ(a[1].at("messages").as_array()[0].at("status").as_string(), "read");
  EXPECT_FALSE(a[1].at("messages").as_array()[0].as_object().contains("tempId"));

  auto send = ok(R"(["send-message",{"conversationId":"r1","content":"x"}])");
  Reply ack;
  ack.type = ReplyType::ack;
  ack.message = h.messages[0];
  a = packet_args(encode_reply_event(send, ack));  // line 209: message-sent, with the tempId
  EXPECT_EQ(a[0].as_string(), "message-sent");
  EXPECT_EQ(a[1].at("tempId").as_string(), "c-1");
  EXPECT_EQ(a[1].at("status").as_string(), "sent");
  // An outsider's send is `error` {message}; any other failed send is message-error.
  auto app_send = ok(R"(["send-message",{"conversationId":"r1","message":"x","tempId":"t9"}])");
  EXPECT_EQ(encode_reply_event(app_send, Reply::make_error(Errc::permission_denied, "no")),
            R"(2["error",{"message":"You are not part of this conversation"}])");
  EXPECT_EQ(encode_reply_event(app_send, Reply::make_error(Errc::unavailable, "down")),
            R"(2["message-error",{"tempId":"t9","message":"Failed to send message","error":"down"}])");
  EXPECT_EQ(encode_reply_event(jc, Reply::make_error(Errc::permission_denied, "no")),
            R"(2["error",{"message":"You are not part of this conversation"}])");
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
