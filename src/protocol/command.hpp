// The transport-neutral vocabulary the hub understands. Front ends (native JSON at /ws,
// Socket.IO at /socket.io/) decode client requests into `Command`s, receive `Reply`s to
// them, and encode room `Event`s. The hub never sees a wire format, only a `WireFormat` tag
// that tells which encoder turns an event into bytes, once per format per fan-out.
#pragma once

#include <boost/system/error_code.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/model.hpp"

namespace parley::protocol {

enum class WireFormat : std::uint8_t {
  native = 0,     // PROTOCOL.md native JSON
  sio_messaging,  // Socket.IO, messaging-app vocabulary (seed 002)
  sio_woz,        // Socket.IO, Wizard-of-Oz vocabulary (seed 000)
};
inline constexpr std::size_t kWireFormats = 3;

enum class Op : std::uint8_t { auth, join, leave, send, edit, remove, read, typing, history, ping };

const char* op_name(Op op) noexcept;

// A client request. Fields not used by `op` are left empty.
struct Command {
  Op op = Op::ping;
  ConversationId conversation;
  // auth
  std::string token;
  User identity;  // open mode: id, name, avatar, role as the client states them
  // send, edit
  std::string content;
  std::string kind = "text";
  std::string meta = "{}";
  std::optional<std::string> client_id;
  // edit, remove, read
  Seq seq = 0;
  // read: the messages the reader named, when its vocabulary names them (radio-istic's
  // mark-as-read {messageIds}); `seq` is the highest of them. Carried to the read event.
  std::vector<MessageId> message_ids;
  // join, history
  std::optional<Seq> since;
  std::optional<Seq> before;
  std::optional<Seq> after;
  std::optional<std::size_t> limit;
  // typing
  bool on = false;
  // typing: what is being typed, for apps that show it live (WebWOz's participant_typing
  // {text}: the wizard watches the participant type); nullopt for a plain indicator.
  std::optional<std::string> typing_text;
};

using MessagePtr = std::shared_ptr<const StoredMessage>;

enum class ReplyType : std::uint8_t { ok, auth_ok, ack, history, error, pong };

// The answer to one Command, for its sender only.
struct Reply {
  ReplyType type = ReplyType::ok;
  ConversationId conversation;
  User user;                         // auth_ok
  MessagePtr message;                // ack
  bool duplicate = false;            // ack of a repeated client_id
  bool pending = false;              // ack: stored in the outage spool, final seq follows
  std::vector<MessagePtr> messages;  // history, oldest first
  bool has_more = false;
  Seq last_seq = 0;
  std::optional<Seq> read_seq;      // join only
  std::vector<UserId> online;       // join only: members online in the room
  boost::system::error_code error;  // error
  std::string error_message;

  static Reply make_error(boost::system::error_code ec, std::string message) {
    Reply r;
    r.type = ReplyType::error;
    r.error = ec;
    r.error_message = std::move(message);
    return r;
  }
};

// `left` goes to one session only: it was taken out of the room (never between servers).
enum class EventType : std::uint8_t { message, edited, deleted, read, typing, presence, left };

// The reason of a `left` event whose conversation's participants no longer admit the user.
inline constexpr std::string_view kLeftNotAParticipant = "not_a_participant";

// Something a room's members see. Immutable once fanned out.
struct Event {
  EventType type = EventType::message;
  ConversationId conversation;
  MessagePtr message;               // message, edited
  User user;                        // read, typing, presence (id and name)
  Seq seq = 0;                      // deleted, read
  std::vector<MessageId> message_ids;  // read: the ids the reader named (may be empty)
  bool on = false;                  // typing
  std::optional<std::string> typing_text;  // typing: Command::typing_text
  bool online = false;              // presence
  std::optional<TimeMs> last_seen;  // presence offline
  std::string reason;               // left: why (kLeftNotAParticipant)
};

}  // namespace parley::protocol
