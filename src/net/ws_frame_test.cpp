#include "net/ws_frame.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace parley::net::ws {
namespace {

// A client frame as a browser sends it: masked with `key`.
std::string client_frame(std::uint8_t first_byte, std::string_view payload,
                         std::uint32_t key = 0x37fa213d) {
  std::string out;
  out.push_back(static_cast<char>(first_byte));
  const std::size_t n = payload.size();
  if (n <= 125) {
    out.push_back(static_cast<char>(0x80 | n));
  } else if (n <= 0xffff) {
    out.push_back(static_cast<char>(0x80 | 126));
    out.push_back(static_cast<char>(n >> 8));
    out.push_back(static_cast<char>(n & 0xff));
  } else {
    out.push_back(static_cast<char>(0x80 | 127));
    for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>(n >> shift));
  }
  const unsigned char k[4] = {static_cast<unsigned char>(key >> 24),
                              static_cast<unsigned char>(key >> 16),
                              static_cast<unsigned char>(key >> 8),
                              static_cast<unsigned char>(key)};
  out.append(reinterpret_cast<const char*>(k), 4);
  for (std::size_t i = 0; i < n; ++i) out.push_back(static_cast<char>(payload[i] ^ k[i % 4]));
  return out;
}

constexpr std::uint8_t kFin = 0x80;
std::string text(std::string_view p) { return client_frame(kFin | 1, p); }

struct Recorder : FrameReader::Handler {
  std::vector<std::string> events;
  void on_message(std::string_view p, bool binary) override {
    events.push_back((binary ? "binary:" : "text:") + std::string(p));
  }
  void on_oversized(std::uint64_t size) override {
    events.push_back("oversized:" + std::to_string(size));
  }
  void on_ping(std::string_view p) override { events.push_back("ping:" + std::string(p)); }
  void on_pong() override { events.push_back("pong"); }
  void on_close(std::uint16_t code, std::string_view reason) override {
    events.push_back("close:" + std::to_string(code) + ":" + std::string(reason));
  }
};

// Feeds `wire` in pieces of `piece` bytes (0: all at once).
bool feed(FrameReader& reader, Recorder& rec, std::string wire, std::size_t piece = 0) {
  if (piece == 0) piece = wire.size();
  for (std::size_t at = 0; at < wire.size(); at += piece) {
    const std::size_t n = std::min(piece, wire.size() - at);
    if (!reader.feed(std::span<char>(wire.data() + at, n), rec)) return false;
  }
  return true;
}

TEST(WsFrameReader, DeliversMessagesWhateverTheReadBoundaries) {
  const std::string payload300(300, 'x');
  const std::string payload70k(70000, 'y');
  std::string wire = text("{\"op\":\"ping\"}") + client_frame(kFin | 2, "bin") + text(payload300) +
                     text(payload70k) + text("") + text("h\xc3\xa9llo");
  const std::vector<std::string> expected = {"text:{\"op\":\"ping\"}", "binary:bin",
                                             "text:" + payload300, "text:" + payload70k, "text:",
                                             "text:h\xc3\xa9llo"};
  for (std::size_t piece : {0, 1, 2, 3, 7, 13, 125, 4096}) {
    FrameReader reader(1 << 20, 64 << 20);
    Recorder rec;
    ASSERT_TRUE(feed(reader, rec, wire, piece)) << "piece " << piece;
    EXPECT_EQ(rec.events, expected) << "piece " << piece;
  }
}

// A held connection (WsConnection::hold_input) stops the feed at the next frame boundary;
// what it did not take is the wire bytes as they came, fed later from there.
TEST(WsFrameReader, APausedFeedStopsBetweenFramesAndTheRestFeedsLater) {
  struct Pausing : Recorder {
    bool pause = false;
    bool paused() const override { return pause; }
    void on_message(std::string_view p, bool binary) override {
      Recorder::on_message(p, binary);
      pause = true;  // as the hub holds a session whose join must wait
    }
  };
  const std::string first = text("{\"op\":\"join\"}");
  std::string wire = first + client_frame(1, "frag") + client_frame(kFin, "ment") + text("third");
  FrameReader reader(1 << 20, 64 << 20);
  Pausing rec;
  std::size_t used = 0;
  ASSERT_TRUE(reader.feed(std::span<char>(wire.data(), wire.size()), rec, &used));
  EXPECT_EQ(used, first.size());
  EXPECT_EQ(rec.events, (std::vector<std::string>{"text:{\"op\":\"join\"}"}));
  std::string rest = wire.substr(used);
  rec.pause = false;
  ASSERT_TRUE(reader.feed(std::span<char>(rest.data(), rest.size()), rec, &used));
  EXPECT_EQ(rec.events.back(), "text:fragment");
  rest = rest.substr(used);
  rec.pause = false;
  ASSERT_TRUE(reader.feed(std::span<char>(rest.data(), rest.size()), rec, &used));
  EXPECT_EQ(used, rest.size());
  EXPECT_EQ(rec.events, (std::vector<std::string>{"text:{\"op\":\"join\"}", "text:fragment",
                                                  "text:third"}));
  // Without `consumed` a feed never stops.
  FrameReader whole(1 << 20, 64 << 20);
  Pausing all;
  all.pause = true;
  std::string again = text("a") + text("b");
  ASSERT_TRUE(whole.feed(std::span<char>(again.data(), again.size()), all));
  EXPECT_EQ(all.events.size(), 2u);
}

TEST(WsFrameReader, AssemblesFragmentsWithControlFramesBetween) {
  const std::string wire = client_frame(1, "hel") + client_frame(kFin | 9, "are you there") +
                           client_frame(0, "") + client_frame(0, "lo ") +
                           client_frame(kFin | 10, "") + client_frame(kFin | 0, "world");
  for (std::size_t piece : {0, 1, 5}) {
    FrameReader reader(1 << 20, 64 << 20);
    Recorder rec;
    ASSERT_TRUE(feed(reader, rec, wire, piece));
    EXPECT_EQ(rec.events,
              (std::vector<std::string>{"ping:are you there", "pong", "text:hello world"}));
  }
}

TEST(WsFrameReader, DiscardsAMessageOverTheLimitAndCarriesOn) {
  FrameReader reader(100, 1000);
  Recorder rec;
  const std::string wire = client_frame(1, std::string(80, 'a')) +
                           client_frame(kFin | 0, std::string(80, 'b')) + text("after");
  ASSERT_TRUE(feed(reader, rec, wire, 9));
  EXPECT_EQ(rec.events, (std::vector<std::string>{"oversized:160", "text:after"}));
}

TEST(WsFrameReader, FailsAMessageOverTheHardCapWith1009) {
  FrameReader reader(100, 1000);
  Recorder rec;
  EXPECT_FALSE(feed(reader, rec, text(std::string(1001, 'a'))));
  EXPECT_EQ(reader.failure_code(), close_code::too_big);
  EXPECT_TRUE(rec.events.empty());
  // Every later call fails at once.
  EXPECT_FALSE(feed(reader, rec, text("x")));
  EXPECT_TRUE(rec.events.empty());
}

TEST(WsFrameReader, InvalidUtf8InATextMessageFailsWith1007EvenAcrossFragments) {
  {
    FrameReader reader(1 << 20, 64 << 20);
    Recorder rec;
    EXPECT_FALSE(feed(reader, rec, text("bad \xff byte")));
    EXPECT_EQ(reader.failure_code(), close_code::bad_payload);
    EXPECT_TRUE(rec.events.empty());
  }
  {
    // A code point split between two fragments is fine; a truncated one at the end is not.
    FrameReader reader(1 << 20, 64 << 20);
    Recorder rec;
    ASSERT_TRUE(feed(reader, rec, client_frame(1, "h\xc3") + client_frame(kFin, "\xa9"), 1));
    EXPECT_EQ(rec.events, (std::vector<std::string>{"text:h\xc3\xa9"}));
    EXPECT_FALSE(feed(reader, rec, text("cut \xc3")));
    EXPECT_EQ(reader.failure_code(), close_code::bad_payload);
  }
  {
    // Binary messages are not text: their bytes are the JSON parser's to judge.
    FrameReader reader(1 << 20, 64 << 20);
    Recorder rec;
    ASSERT_TRUE(feed(reader, rec, client_frame(kFin | 2, "\xff")));
    EXPECT_EQ(rec.events.size(), 1u);
  }
}

TEST(WsFrameReader, ProtocolViolationsFailWith1002) {
  std::string unmasked = text("x");
  unmasked[1] = static_cast<char>(unmasked[1] & 0x7f);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"unmasked", "\x81\x01x"},
      {"reserved bit", client_frame(kFin | 0x40 | 1, "x")},
      {"reserved opcode", client_frame(kFin | 3, "x")},
      {"reserved control opcode", client_frame(kFin | 0xb, "x")},
      {"fragmented ping", client_frame(9, "x")},
      {"ping over 125 bytes", client_frame(kFin | 9, std::string(126, 'p'))},
      {"continuation without a message", client_frame(kFin | 0, "x")},
      {"new message inside a fragmented one", client_frame(1, "a") + text("b")},
      {"one-byte close", client_frame(kFin | 8, "\x03")},
      {"close code 1005 on the wire", client_frame(kFin | 8, std::string("\x03\xed", 2))},
      {"16-bit length under 126", std::string("\x81\xfe\x00\x05\x00\x00\x00\x00hello", 13)},
  };
  for (const auto& [name, wire] : cases) {
    FrameReader reader(1 << 20, 64 << 20);
    Recorder rec;
    EXPECT_FALSE(feed(reader, rec, wire)) << name;
    EXPECT_EQ(reader.failure_code(), close_code::protocol_error) << name;
  }
}

TEST(WsFrameReader, CloseFrameEndsReading) {
  FrameReader reader(1 << 20, 64 << 20);
  Recorder rec;
  const std::string wire =
      text("a") + client_frame(kFin | 8, std::string("\x03\xe8" "bye", 5)) + text("ignored");
  ASSERT_TRUE(feed(reader, rec, wire, 3));
  EXPECT_TRUE(reader.closed());
  EXPECT_EQ(rec.events, (std::vector<std::string>{"text:a", "close:1000:bye"}));

  FrameReader empty(1 << 20, 64 << 20);
  Recorder rec2;
  ASSERT_TRUE(feed(empty, rec2, client_frame(kFin | 8, "")));
  EXPECT_EQ(rec2.events, (std::vector<std::string>{"close:0:"}));

  FrameReader bad_reason(1 << 20, 64 << 20);
  Recorder rec3;
  EXPECT_FALSE(feed(bad_reason, rec3, client_frame(kFin | 8, std::string("\x03\xe8\xff", 3))));
  EXPECT_EQ(bad_reason.failure_code(), close_code::bad_payload);
}

TEST(WsFrameWriter, WritesUnmaskedFinalFramesWithTheShortestLength) {
  std::string out;
  append_frame(out, Opcode::text, "hi");
  EXPECT_EQ(out, std::string("\x81\x02hi", 4));
  out.clear();
  append_frame(out, Opcode::text, std::string(126, 'a'));
  EXPECT_EQ(out.substr(0, 4), std::string("\x81\x7e\x00\x7e", 4));
  EXPECT_EQ(out.size(), 4u + 126u);
  out.clear();
  append_frame(out, Opcode::binary, std::string(70000, 'b'));
  EXPECT_EQ(out.substr(0, 10), std::string("\x82\x7f\x00\x00\x00\x00\x00\x01\x11\x70", 10));
  out.clear();
  append_frame(out, Opcode::close, close_payload(close_code::try_again_later, "slow"));
  EXPECT_EQ(out, std::string("\x88\x06\x03\xf5slow", 8));
}

TEST(WsFrameWriter, APrefixByteIsWrittenAsTheFirstByteOfThePayload) {
  // Engine.IO's websocket transport writes '4' + a Socket.IO packet encoded once per room.
  std::string prefixed, whole;
  append_frame(prefixed, Opcode::text, '4', R"(2["new-message",{}])");
  append_frame(whole, Opcode::text, R"(42["new-message",{}])");
  EXPECT_EQ(prefixed, whole);
  prefixed.clear();
  whole.clear();
  // The length crosses into the 16-bit form with the prefix counted.
  append_frame(prefixed, Opcode::text, '4', std::string(125, 'a'));
  append_frame(whole, Opcode::text, "4" + std::string(125, 'a'));
  EXPECT_EQ(prefixed, whole);
  EXPECT_EQ(prefixed.substr(0, 4), std::string("\x81\x7e\x00\x7e", 4));
}

}  // namespace
}  // namespace parley::net::ws
