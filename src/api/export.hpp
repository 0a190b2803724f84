// Conversation export in the formats users download: json, jsonl, markdown, csv. Streams
// through a sink so memory stays flat however long the conversation is. Shared by the REST
// API and the `parley export` command.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "core/error.hpp"
#include "core/model.hpp"
#include "store/store.hpp"

namespace parley::api {

enum class ExportFormat { json, jsonl, markdown, csv };

std::optional<ExportFormat> parse_export_format(std::string_view name) noexcept;
std::string_view export_content_type(ExportFormat f) noexcept;
std::string_view export_extension(ExportFormat f) noexcept;

using Sink = std::function<void(std::string_view)>;

// Appends `v` as one CSV field (RFC 4180 quoting; formulas neutralised with a leading ').
void csv_field(std::string& out, std::string_view v);

// The pieces of one conversation's export, for a caller that pages through the messages
// itself (REST streams a page at a time): the head, each message in seq order (`first`
// for the first one written), the tail.
void export_head(std::string& out, const Conversation& conv, ExportFormat format);
void export_message(std::string& out, const StoredMessage& m, ExportFormat format, bool first);
void export_tail(std::string& out, ExportFormat format);

// Writes one conversation (header, then its messages in seq order) to `sink`.
[[nodiscard]] Result<void> export_conversation(store::Connection& c, const ConversationId& id,
                                               ExportFormat format, const Sink& sink);

}  // namespace parley::api
