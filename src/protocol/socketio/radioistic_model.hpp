// radio-istic's data model (dhia-ui/radio-istic at b5e67e5, backend-api/models/) seen through
// Parley's: how a Parley user is the app's User (firstName, lastName, avatar), how a message's
// content is validated as the app's Message schema validates it, and the ids Parley mints for
// the app. Shared by the app's REST routes (api/radioistic_routes) and its Socket.IO
// vocabulary, so both apply the same rules. Pure functions: thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/model.hpp"

namespace parley::protocol::radioistic {

// The app's User.avatar default (models/User.js), shown for users Parley has no avatar for.
inline constexpr std::string_view kDefaultAvatar = "/avatars/default-avatar.jpg";

// Parley keeps one display name per user; the app shows `${firstName} ${lastName}` everywhere.
// The name is split at its first space: firstName is the first word, lastName the rest, so
// firstName + " " + lastName gives the stored name back byte for byte ("Mohamed Aziz Ben Ali"
// -> "Mohamed", "Aziz Ben Ali"). A name without a space is all firstName.
struct NameParts {
  std::string first;
  std::string last;
};
NameParts split_name(std::string_view name);
// The reverse, as the app writes it (`${firstName} ${lastName}`) for imports and upserts.
std::string join_name(std::string_view first, std::string_view last);

// models/Message.js `content`: {type: String, required, trim: true, maxlength: 2000}.
// Trims as JavaScript's String.prototype.trim does (ECMAScript white space and line
// terminators), then checks it is non-empty and at most 2000 UTF-16 code units (JavaScript
// string length). nullopt when valid (`content` trimmed in place), else the app's validator
// message ("Message content is required", "Message cannot exceed 2000 characters").
std::optional<std::string> normalize_content(std::string& content);
inline constexpr std::size_t kMaxContentUnits = 2000;

// models/Message.js `type` enum.
bool is_message_type(std::string_view type) noexcept;

// A new id shaped like a MongoDB ObjectId (24 lowercase hex digits: 4 bytes of seconds since
// the epoch, 8 random bytes), for conversations Parley creates for the app, so that ids the
// app's other code or a later move back to MongoDB sees are all of one shape.
std::string new_object_id(TimeMs now);

}  // namespace parley::protocol::radioistic
