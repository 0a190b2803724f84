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

// Writes one conversation (header, then its messages in seq order) to `sink`.
[[nodiscard]] Result<void> export_conversation(store::Connection& c, const ConversationId& id,
                                               ExportFormat format, const Sink& sink);

}  // namespace parley::api
