// Native protocol codec, per frame: decoding the requests a chat client sends most (send,
// ping) and encoding what the server sends most (the message event of a fan-out, the ack,
// a join's page of 100 messages). The same for the Socket.IO messaging vocabulary (seed
// 002's, the one parley-bench --protocol socketio speaks): a send-message EVENT decoded, its
// receive-message broadcast encoded (once per room and vocabulary, on the room's strand),
// and what the sender gets back (message-sent and the ack).

#include <benchmark/benchmark.h>

#include <string>

#include <boost/json.hpp>

#include "protocol/native/json_codec.hpp"
#include "protocol/socketio/socketio_events.hpp"
#include "protocol/socketio/socketio_packet.hpp"
#include "sample_message.hpp"

namespace {

using namespace parley;
using bench::sample_message;
namespace native = protocol::native;

const std::string kSend =
    R"({"op":"send","conversation":"room-17","content":"b 3 1234 987654321098 )"
    R"(xxxxxxxxxxxxxxxxxxxxxxxxxx","client_id":"3-1234","ref":1234})";

void BM_DecodeSend(benchmark::State& state) {
  const protocol::Limits limits;
  for (auto _ : state) {
    std::string ref;
    std::string why;
    // What /ws does with a frame: its shape decoded, then the rules checked.
    auto d = native::decode(kSend, ref, why);
    if (d) benchmark::DoNotOptimize(protocol::check(d->command, limits, why));
    benchmark::DoNotOptimize(d);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(kSend.size()));
}
BENCHMARK(BM_DecodeSend);

void BM_DecodePing(benchmark::State& state) {
  const std::string frame = R"({"op":"ping","ref":7})";
  for (auto _ : state) {
    std::string ref;
    std::string why;
    auto d = native::decode(frame, ref, why);
    benchmark::DoNotOptimize(d);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DecodePing);

// A fan-out's message event, encoded by `encode` (once per room and wire format).
template <class Encode>
void encode_message_event(benchmark::State& state, Encode encode) {
  protocol::Event e;
  e.type = protocol::EventType::message;
  e.conversation = "room-17";
  e.message = sample_message(42);
  std::size_t bytes = 0;
  for (auto _ : state) {
    auto text = encode(e);
    bytes = text.size();
    benchmark::DoNotOptimize(text);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(bytes));
}

void BM_EncodeMessageEvent(benchmark::State& state) {
  encode_message_event(state, [](const protocol::Event& e) { return native::encode_event(e); });
}
BENCHMARK(BM_EncodeMessageEvent);

void BM_EncodeAck(benchmark::State& state) {
  protocol::Reply r;
  r.type = protocol::ReplyType::ack;
  r.message = sample_message(42);
  const std::string ref = "1234";
  for (auto _ : state) {
    auto text = native::encode_reply(ref, r);
    benchmark::DoNotOptimize(text);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_EncodeAck);

const std::string kSioSend =
    R"(421234["send-message",{"conversationId":"room-17","content":"b 3 1234 987654321098 )"
    R"(xxxxxxxxxxxxxxxxxxxxxxxxxx","clientMsgId":"3-1234"}])";

void BM_SioDecodeSend(benchmark::State& state) {
  namespace sio = protocol::socketio;
  const protocol::Limits limits;
  // What /socket.io/ does with a message packet's payload: the Socket.IO packet, the event.
  const std::string_view packet = std::string_view(kSioSend).substr(1);
  for (auto _ : state) {
    std::string why;
    auto p = sio::decode(packet, why);
    if (p) {
      auto req = sio::decode_request(p->data.as_array(), why);
      if (req) benchmark::DoNotOptimize(protocol::check(req->command, limits, why));
      benchmark::DoNotOptimize(req);
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SioDecodeSend);

void BM_SioEncodeMessageEvent(benchmark::State& state) {
  encode_message_event(state, [](const protocol::Event& e) {
    return protocol::socketio::encode_event(protocol::WireFormat::sio_messaging, e);
  });
}
BENCHMARK(BM_SioEncodeMessageEvent);

void BM_SioEncodeAck(benchmark::State& state) {
  namespace sio = protocol::socketio;
  std::string why;
  auto p = sio::decode(std::string_view(kSioSend).substr(1), why);
  auto req = sio::decode_request(p->data.as_array(), why);
  protocol::Reply r;
  r.type = protocol::ReplyType::ack;
  r.message = sample_message(42);
  for (auto _ : state) {
    // ChatSocket::reply: the vocabulary's events for the reply, then the ack packet.
    auto events = sio::encode_reply_events(*req, r);
    boost::json::array args;
    args.emplace_back(sio::ack_payload(*req, r));
    auto ack = sio::encode_ack("/", 1234, args);
    benchmark::DoNotOptimize(events);
    benchmark::DoNotOptimize(ack);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SioEncodeAck);

void BM_EncodeHistory(benchmark::State& state) {
  protocol::Reply r;
  r.type = protocol::ReplyType::history;
  r.conversation = "room-17";
  for (Seq s = 1; s <= state.range(0); ++s) r.messages.push_back(sample_message(s));
  r.last_seq = state.range(0);
  r.read_seq = 0;
  const std::string ref = "9";
  for (auto _ : state) {
    auto text = native::encode_reply(ref, r);
    benchmark::DoNotOptimize(text);
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));  // messages encoded
}
BENCHMARK(BM_EncodeHistory)->Arg(100);

}  // namespace
