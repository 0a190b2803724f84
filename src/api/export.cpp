#include "api/export.hpp"

#include <boost/json/serialize.hpp>

#include "api/json.hpp"

namespace parley::api {

namespace json = boost::json;

std::optional<ExportFormat> parse_export_format(std::string_view name) noexcept {
  if (name.empty() || name == "json") return ExportFormat::json;
  if (name == "jsonl" || name == "ndjson") return ExportFormat::jsonl;
  if (name == "markdown" || name == "md") return ExportFormat::markdown;
  if (name == "csv") return ExportFormat::csv;
  return std::nullopt;
}

std::string_view export_content_type(ExportFormat f) noexcept {
  switch (f) {
    case ExportFormat::json:
      return "application/json";
    case ExportFormat::jsonl:
      return "application/x-ndjson";
    case ExportFormat::markdown:
      return "text/markdown; charset=utf-8";
    case ExportFormat::csv:
      return "text/csv; charset=utf-8";
  }
  return "application/octet-stream";
}

std::string_view export_extension(ExportFormat f) noexcept {
  switch (f) {
    case ExportFormat::json:
      return "json";
    case ExportFormat::jsonl:
      return "jsonl";
    case ExportFormat::markdown:
      return "md";
    case ExportFormat::csv:
      return "csv";
  }
  return "txt";
}

// RFC 4180: a field with a comma, quote or line break is quoted, quotes doubled. A field a
// spreadsheet would take for a formula (starting with = + - @, a tab or a carriage
// return: `=HYPERLINK(...)`, `=cmd|' /C calc'!A0`) gets a leading ' and is quoted, as
// OWASP's "CSV injection" advice says, so it opens as the text it is.
void csv_field(std::string& out, std::string_view v) {
  const bool formula = !v.empty() && (v[0] == '=' || v[0] == '+' || v[0] == '-' ||
                                      v[0] == '@' || v[0] == '\t' || v[0] == '\r');
  if (!formula && v.find_first_of(",\"\r\n") == std::string_view::npos) {
    out.append(v);
    return;
  }
  out.push_back('"');
  if (formula) out.push_back('\'');
  for (char c : v) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
}

namespace {

void markdown_message(std::string& out, const StoredMessage& m) {
  out.append("**");
  out.append(m.sender.name.empty() ? m.sender.id : m.sender.name);
  out.append("**");
  if (!m.sender.role.empty()) {
    out.append(" (");
    out.append(m.sender.role);
    out.append(")");
  }
  out.append(" · ");
  append_rfc3339(out, m.created_at);
  out.append(" · #");
  out.append(std::to_string(m.seq));
  if (m.edited_at) out.append(" · edited");
  out.append("\n\n");
  if (m.deleted) {
    out.append("_(deleted)_");
  } else {
    out.append(m.content);
  }
  out.append("\n\n");
}

}  // namespace

void export_head(std::string& buf, const Conversation& conv, ExportFormat format) {
  switch (format) {
    case ExportFormat::json: {
      auto head = json::serialize(conversation_to_json(conv));
      head.pop_back();  // reopen the object to stream "messages" into it
      buf.append(head);
      buf.append(",\"messages\":[");
      break;
    }
    case ExportFormat::jsonl:
      break;
    case ExportFormat::markdown:
      buf.append("# ");
      buf.append(conv.title.empty() ? conv.id : conv.title);
      buf.append("\n\n- Conversation: `");
      buf.append(conv.id);
      buf.append("`\n- Created: ");
      append_rfc3339(buf, conv.created_at);
      buf.append("\n- Messages: ");
      buf.append(std::to_string(conv.message_count));
      buf.append("\n\n---\n\n");
      break;
    case ExportFormat::csv:
      buf.append(
          "conversation,seq,id,created_at,sender_id,sender_name,sender_role,kind,content,"
          "edited_at,deleted\r\n");
      break;
  }
}

void export_message(std::string& buf, const StoredMessage& m, ExportFormat format, bool first) {
  switch (format) {
    case ExportFormat::json:
      if (!first) buf.push_back(',');
      buf.append(json::serialize(message_json(m)));
      break;
    case ExportFormat::jsonl:
      buf.append(json::serialize(message_json(m)));
      buf.push_back('\n');
      break;
    case ExportFormat::markdown:
      markdown_message(buf, m);
      break;
    case ExportFormat::csv:
      csv_field(buf, m.conversation);
      buf.push_back(',');
      buf.append(std::to_string(m.seq));
      buf.push_back(',');
      csv_field(buf, m.id);
      buf.push_back(',');
      append_rfc3339(buf, m.created_at);
      buf.push_back(',');
      csv_field(buf, m.sender.id);
      buf.push_back(',');
      csv_field(buf, m.sender.name);
      buf.push_back(',');
      csv_field(buf, m.sender.role);
      buf.push_back(',');
      csv_field(buf, m.kind);
      buf.push_back(',');
      csv_field(buf, m.content);
      buf.push_back(',');
      if (m.edited_at) append_rfc3339(buf, *m.edited_at);
      buf.push_back(',');
      buf.append(m.deleted ? "true" : "false");
      buf.append("\r\n");
      break;
  }
}

void export_tail(std::string& buf, ExportFormat format) {
  if (format == ExportFormat::json) buf.append("]}");
}

Result<void> export_conversation(store::Connection& c, const ConversationId& id,
                                 ExportFormat format, const Sink& sink) {
  auto conv = c.get_conversation(id);
  if (!conv) return conv.error();
  std::string buf;
  buf.reserve(64 * 1024);
  export_head(buf, *conv, format);
  bool first = true;
  auto r = c.for_each_message(id, 0, [&](const StoredMessage& m) {
    export_message(buf, m, format, first);
    first = false;
    if (buf.size() >= 60 * 1024) {
      sink(buf);
      buf.clear();
    }
    return true;
  });
  if (!r) return r.error();
  export_tail(buf, format);
  if (!buf.empty()) sink(buf);
  return {};
}

}  // namespace parley::api
