// The Socket.IO events parley-bench speaks with `--protocol socketio`, in one place: the
// messaging vocabulary of docs/socketio.md (seed 002's), the one with an acknowledgement on
// the send and the room broadcast that both Parley and the reference peers
// (bench/peers/server.js, whose EVENTS table must say the same) understand. If the server's
// vocabulary changes, this header and that table are the two places to update.
#pragma once

#include <cstdint>
#include <string_view>

namespace parley::bench::sio {

// client -> server, with an ack callback: {conversationId, limit}; ack {ok, lastSeq, ...}.
inline constexpr std::string_view kJoin = "join-conversation";
// client -> server, with an ack callback: {conversationId, content, clientMsgId};
// ack {ok: true, seq, ...} or {ok: false, code, message}.
inline constexpr std::string_view kSend = "send-message";
// server -> every member of the room, the sender included: {seq, content, ...}.
inline constexpr std::string_view kBroadcast = "receive-message";
// server -> the sender, before its ack: the stored message with its tempId (radio-istic's
// websocket-server.js line 209; the reference peers do not send it). Not counted.
inline constexpr std::string_view kSenderEcho = "message-sent";
// client -> server, with an ack callback: {conversationId}; ack {ok}. The idle probes'
// ping (a room they never joined: nothing but the ack happens).
inline constexpr std::string_view kLeave = "leave-conversation";
// server -> the client whose event failed: {message, code, event}.
inline constexpr std::string_view kError = "error";

inline constexpr std::string_view kRoomField = "conversationId";
inline constexpr std::string_view kContentField = "content";
inline constexpr std::string_view kClientIdField = "clientMsgId";
inline constexpr std::string_view kSeqField = "seq";
inline constexpr std::string_view kLastSeqField = "lastSeq";
inline constexpr std::string_view kOkField = "ok";

// Ack ids: 0 for the join, 1 + n for send number n.
inline constexpr std::uint64_t kJoinAckId = 0;

}  // namespace parley::bench::sio
