// The built-in web pages (chat at "/", browser at "/admin"), compiled into the binary.
//
// Every file under the repository's web/ folder is embedded at build time by
// embed_assets.cmake. The table is immutable and built once; lookups are thread-safe and
// never allocate. The HTTP layer serves find_asset(path) for GET requests that match no API
// route, with Content-Type, ETag (If-None-Match -> 304) and `Cache-Control: no-cache`.
#pragma once

#include <cstddef>
#include <span>
#include <string_view>

namespace parley::web {

struct Asset {
  std::string_view path;          // "/index.html"
  std::string_view content_type;  // "text/html; charset=utf-8"
  std::string_view body;          // the file's bytes
  std::string_view etag;          // strong, quoted: "\"3f1a...\""
};

// Looks up "/index.html", "/app.js", ...; "/" maps to "/index.html", "/admin" and "/admin/"
// to "/admin.html". A query string or fragment is ignored. nullptr if none.
const Asset* find_asset(std::string_view path) noexcept;

// Every embedded asset, sorted by path.
std::span<const Asset> all_assets() noexcept;

// The Content-Type for a file name by its extension; "application/octet-stream" if unknown.
std::string_view content_type_for(std::string_view path) noexcept;

// True if `if_none_match` (an If-None-Match header value, possibly a list or "*") matches
// `etag`, so the response may be 304 Not Modified. Weak validators (W/"...") compare equal.
bool etag_matches(std::string_view if_none_match, std::string_view etag) noexcept;

}  // namespace parley::web
