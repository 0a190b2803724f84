#include "protocol/native/json_codec.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

namespace parley::protocol::native {
namespace {

namespace json = boost::json;

// A frame as /ws takes it: decoded (shapes, types), then checked by the rules every
// endpoint shares (hub::Client::submit calls protocol::check).
Result<Decoded> dec(std::string_view text, std::string* why_out = nullptr,
                    json::value* ref_out = nullptr) {
  json::value ref;
  std::string why;
  auto r = decode(text, ref, why);
  if (r) {
    if (auto ec = check(r->command, Limits{}, why)) r = ec;
  }
  if (why_out) *why_out = why;
  if (ref_out) *ref_out = ref;
  return r;
}

TEST(NativeCodec, DecodesSendWithEveryField) {
  auto r = dec(R"({"op":"send","ref":7,"conversation":"room-1","content":"hi **there**",
                  "kind":"text","meta":{"a":1},"client_id":"c1"})");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->command.op, Op::send);
  EXPECT_EQ(r->command.conversation, "room-1");
  EXPECT_EQ(r->command.content, "hi **there**");
  EXPECT_EQ(r->command.meta, R"({"a":1})");
  EXPECT_EQ(r->command.client_id, "c1");
  EXPECT_EQ(r->ref, json::value(7));
  auto s = dec(R"({"op":"ping","ref":"abc"})");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->ref, json::value("abc"));
}

TEST(NativeCodec, DecodesJoinAndHistoryCursors) {
  auto j = dec(R"({"op":"join","conversation":"r","since":5,"limit":20})");
  ASSERT_TRUE(j);
  EXPECT_EQ(j->command.since, 5);
  EXPECT_EQ(j->command.limit, 20u);
  auto h = dec(R"({"op":"history","conversation":"r","before":50})");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->command.before, 50);
  EXPECT_FALSE(h->command.after);
  auto big = dec(R"({"op":"history","conversation":"r","limit":999999})");
  ASSERT_TRUE(big);
  EXPECT_EQ(big->command.limit, 1000u);
}

TEST(NativeCodec, RejectsBadFramesWithReasonsAndKeepsRef) {
  std::string why;
  json::value ref;
  EXPECT_EQ(dec("{not json", &why).error(), Errc::invalid_argument);
  EXPECT_NE(why.find("malformed"), std::string::npos);
  EXPECT_EQ(dec("[1,2]", &why).error(), Errc::invalid_argument);
  EXPECT_EQ(dec(R"({"op":"fly","ref":"x"})", &why, &ref).error(), Errc::invalid_argument);
  EXPECT_EQ(why, "unknown op");
  EXPECT_EQ(ref, json::value("x"));
  EXPECT_EQ(dec(R"({"op":"send","conversation":"r"})", &why).error(), Errc::invalid_argument);
  EXPECT_EQ(why, "content is required");
  EXPECT_EQ(dec(R"({"op":"send","conversation":"../x","content":"a"})").error(),
            Errc::invalid_argument);
  EXPECT_EQ(dec(R"({"op":"edit","conversation":"r","seq":"1","content":"a"})").error(),
            Errc::invalid_argument);
  EXPECT_EQ(dec(R"({"op":"read","conversation":"r"})").error(), Errc::invalid_argument);
  EXPECT_EQ(dec(R"({"op":"send","conversation":"r","content":"a","kind":"video"})").error(),
            Errc::invalid_argument);
}

TEST(NativeCodec, RefusesNumbersThatWouldNotSerializeAsJson) {
  // 1e400 reads as infinity: echoed in meta or ref it would be written as `Infinity`.
  std::string why;
  EXPECT_EQ(
      dec(R"({"op":"send","conversation":"r","content":"a","meta":{"x":1e400}})", &why).error(),
      Errc::invalid_argument);
  EXPECT_EQ(why, "a number is out of range");
  EXPECT_EQ(dec(R"({"op":"ping","ref":-1e999})").error(), Errc::invalid_argument);
  // Integers as doubles: exact ones are accepted; huge ones are refused, never cast (UB).
  auto exact = dec(R"({"op":"join","conversation":"r","since":5.0})");
  ASSERT_TRUE(exact);
  EXPECT_EQ(exact->command.since, 5);
  EXPECT_EQ(dec(R"({"op":"join","conversation":"r","since":1e300})", &why).error(),
            Errc::invalid_argument);
  EXPECT_EQ(why, "since must be an integer");
  EXPECT_EQ(dec(R"({"op":"join","conversation":"r","since":2.5})").error(), Errc::invalid_argument);
  auto meta = dec(R"({"op":"send","conversation":"r","content":"a","meta":{"x":1.5e300}})");
  ASSERT_TRUE(meta);
  EXPECT_EQ(boost::json::parse(meta->command.meta).at("x").as_double(), 1.5e300);
}

TEST(NativeCodec, RejectsInvalidUtf8) {
  const std::string bad =
      std::string(R"({"op":"send","conversation":"r","content":")") + "\xff\xfe" + "\"}";
  EXPECT_EQ(dec(bad).error(), Errc::invalid_argument);
}

TEST(NativeCodec, RejectsContentOverTheLimit) {
  std::string big(70 * 1024, 'a');
  auto r = dec(R"({"op":"send","conversation":"r","content":")" + big + "\"}");
  EXPECT_EQ(r.error(), Errc::too_large);
}

TEST(NativeCodec, EncodesAckAndMessageEvent) {
  auto m = std::make_shared<StoredMessage>();
  m->id = "abc";
  m->conversation = "r";
  m->seq = 3;
  m->sender = {"u1", "Ann", "participant"};
  m->content = "héllo 👋";
  m->created_at = 1795343400123;
  Reply ack;
  ack.type = ReplyType::ack;
  ack.message = m;
  auto a = json::parse(encode_reply(json::value("r1"), ack)).as_object();
  EXPECT_EQ(a.at("type"), "ack");
  EXPECT_EQ(a.at("ref"), "r1");
  EXPECT_EQ(a.at("seq"), 3);
  EXPECT_EQ(a.at("created_at"), "2026-11-22T10:30:00.123Z");

  Event e;
  e.type = EventType::message;
  e.message = m;
  auto ev = json::parse(encode_event(e)).as_object();
  EXPECT_EQ(ev.at("type"), "message");
  const auto& msg = ev.at("message").as_object();
  EXPECT_EQ(msg.at("content"), "héllo 👋");
  EXPECT_EQ(msg.at("sender").at("name"), "Ann");
  EXPECT_TRUE(msg.at("edited_at").is_null());
  EXPECT_EQ(msg.at("deleted"), false);
}

TEST(NativeCodec, EncodesErrorsWithWireCodes) {
  auto e = json::parse(encode_error(json::value(1), Errc::permission_denied, "no")).as_object();
  EXPECT_EQ(e.at("code"), "forbidden");
  EXPECT_EQ(e.at("ref"), 1);
  auto u = json::parse(encode_error(json::value(), Errc::unauthenticated, "auth")).as_object();
  EXPECT_EQ(u.at("code"), "unauthorized");
  EXPECT_FALSE(u.contains("ref"));
}

TEST(NativeCodec, EncodesLeftWithItsReason) {
  Event e;
  e.type = EventType::left;
  e.conversation = "c1";
  e.reason = protocol::kLeftNotAParticipant;
  EXPECT_EQ(encode_event(e), R"({"type":"left","conversation":"c1","reason":"not_a_participant"})");
}

TEST(NativeCodec, StoredMetaWithAnInfiniteNumberIsSentAsAnEmptyObject) {
  // Stored by a version without the decoder's check: the event must still be JSON.
  auto m = std::make_shared<StoredMessage>();
  m->id = "abc";
  m->conversation = "r";
  m->seq = 1;
  m->meta = R"({"x":1e400})";
  Event e;
  e.type = EventType::message;
  e.message = m;
  const auto text = encode_event(e);
  EXPECT_EQ(text.find("Infinity"), std::string::npos) << text;
  boost::system::error_code ec;
  auto ev = json::parse(text, ec);
  ASSERT_FALSE(ec) << text;
  EXPECT_TRUE(ev.at("message").at("meta").as_object().empty());
}

}  // namespace
}  // namespace parley::protocol::native
