// `parley import SOURCE`: what SOURCE is, from its name and its first bytes, before anything
// is written. The operator sees the answer (and can name the format to overrule it).
#include <fcntl.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cstring>
#include <fstream>

#include "cli/importers.hpp"

namespace parley::cli::importers {

namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

std::string head_of(const fs::path& file, std::size_t n) {
  std::ifstream in(file, std::ios::binary);
  std::string s(n, '\0');
  in.read(s.data(), static_cast<std::streamsize>(n));
  s.resize(static_cast<std::size_t>(in.gcount()));
  return s;
}

// The first line of a JSON file, parsed alone: an object when the file holds one document a
// line (mongoexport, Parley's jsonl), nothing when the first document spans lines.
std::optional<json::object> first_line_object(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::string line;
  // A first line of a mongoexport holds one document (16 MiB at most); read 1 MiB to decide.
  line.resize(1 << 20);
  in.getline(line.data(), static_cast<std::streamsize>(line.size()));
  line.resize(std::strlen(line.c_str()));
  json::error_code ec;
  auto v = json::parse(line, ec);
  if (ec || !v.is_object()) return std::nullopt;
  return std::move(v.get_object());
}

std::optional<Detected> with(Format f, std::string what) { return Detected{f, std::move(what)}; }

}  // namespace

std::optional<Detected> detect(const std::string& source, std::string& why) {
  if (source.starts_with("postgres://") || source.starts_with("postgresql://") ||
      source.starts_with("env:")) {
    bool ok = false;
    auto what = detail::describe_sql(Format::postgres, source, ok);
    if (!ok) {
      why = what;
      return std::nullopt;
    }
    return with(Format::postgres, "a PostgreSQL database holding " + what);
  }
  std::error_code ec;
  const fs::path path(source);
  if (fs::is_directory(path, ec)) {
    bool ok = false;
    auto what = detail::describe_mongo(Format::mongodump, path, ok);
    if (ok) return with(Format::mongodump, "a mongodump of " + what);
    what = detail::describe_mongo(Format::mongoexport, path, ok);
    if (ok) return with(Format::mongoexport, "a mongoexport of " + what);
    const detail::WebwozLayout webwoz = detail::webwoz_layout(path);
    std::size_t rooms = 0;
    for (fs::directory_iterator it(webwoz.rooms, ec), end; !ec && it != end; it.increment(ec)) {
      if (detail::webwoz_room_name(it->path().filename().string())) ++rooms;
    }
    if (rooms > 0 || webwoz.templates) {
      what = "a directory of " + std::to_string(rooms) + " WebWOz room file(s) (seed 000)";
      if (webwoz.rooms != path) what += " in " + webwoz.rooms.string();
      if (webwoz.templates) what += ", with the app's templates in " + webwoz.templates->string();
      return with(Format::webwoz, std::move(what));
    }
    why = "a directory with no messages.bson, messages.json, room .json files or templates.json";
    return std::nullopt;
  }
  if (!fs::is_regular_file(path, ec)) {
    why = "no such file or directory (nor a postgres:// URL)";
    return std::nullopt;
  }
  const std::string head = head_of(path, 16);
  if (head == std::string("SQLite format 3\0", 16)) {
    bool ok = false;
    auto what = detail::describe_sql(Format::sqlite, source, ok);
    if (!ok) {
      why = "a SQLite file with " + what;
      return std::nullopt;
    }
    return with(Format::sqlite, "a SQLite file holding " + what);
  }
  const std::string ext = path.extension().string();
  if (ext == ".bson") {
    bool ok = false;
    auto what = detail::describe_mongo(Format::mongodump, path, ok);
    if (!ok) {
      why = what;
      return std::nullopt;
    }
    return with(Format::mongodump, "a mongodump of " + what);
  }
  const auto first = head.find_first_not_of(" \t\r\n");
  if (first == std::string::npos || (head[first] != '{' && head[first] != '[')) {
    why = "not SQLite, BSON or JSON";
    return std::nullopt;
  }
  if (auto o = first_line_object(path)) {
    if (o->contains("_id")) {
      bool ok = false;
      auto what = detail::describe_mongo(Format::mongoexport, path, ok);
      if (ok) return with(Format::mongoexport, "a mongoexport of " + what);
      why = what;
      return std::nullopt;
    }
    if (o->contains("conversation") && o->contains("seq")) {
      return with(Format::jsonl, "Parley's jsonl export (one message a line)");
    }
  }
  return with(Format::conversations_json,
              "a JSON file of conversations (seed 004's file, or Parley's json export)");
}

}  // namespace parley::cli::importers
