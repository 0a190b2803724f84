#include "assets.hpp"

#include <algorithm>
#include <array>
#include <vector>

#include "web_assets_data.hpp"

namespace parley::web {
namespace {

struct TypeByExtension {
  std::string_view extension;
  std::string_view content_type;
};

// Text types carry a charset so browsers never sniff; the pages are UTF-8.
constexpr std::array<TypeByExtension, 22> kTypes{{
    {".html", "text/html; charset=utf-8"},
    {".htm", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".mjs", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".json", "application/json"},
    {".map", "application/json"},
    {".webmanifest", "application/manifest+json"},
    {".txt", "text/plain; charset=utf-8"},
    {".md", "text/markdown; charset=utf-8"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".jpg", "image/jpeg"},
    {".jpeg", "image/jpeg"},
    {".gif", "image/gif"},
    {".webp", "image/webp"},
    {".ico", "image/x-icon"},
    {".woff", "font/woff"},
    {".woff2", "font/woff2"},
    {".ttf", "font/ttf"},
    {".wasm", "application/wasm"},
    {".xml", "application/xml"},
}};

bool iequals(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c; };
           return lower(x) == lower(y);
         });
}

std::vector<Asset> build_table() {
  std::vector<Asset> table;
  table.reserve(detail::kRawAssetCount);
  for (std::size_t i = 0; i < detail::kRawAssetCount; ++i) {
    const detail::RawAsset& raw = detail::kRawAssets[i];
    std::string_view path = raw.path;
    table.push_back(Asset{
        .path = path,
        .content_type = content_type_for(path),
        .body = std::string_view(reinterpret_cast<const char*>(raw.data), raw.size),
        .etag = raw.etag,
    });
  }
  std::sort(table.begin(), table.end(),
            [](const Asset& a, const Asset& b) { return a.path < b.path; });
  return table;
}

const std::vector<Asset>& table() noexcept {
  static const std::vector<Asset> kTable = build_table();
  return kTable;
}

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

std::string_view content_type_for(std::string_view path) noexcept {
  const std::size_t slash = path.rfind('/');
  const std::string_view name = slash == std::string_view::npos ? path : path.substr(slash + 1);
  const std::size_t dot = name.rfind('.');
  if (dot != std::string_view::npos) {
    const std::string_view extension = name.substr(dot);
    for (const TypeByExtension& type : kTypes) {
      if (iequals(type.extension, extension)) return type.content_type;
    }
  }
  return "application/octet-stream";
}

std::span<const Asset> all_assets() noexcept { return table(); }

const Asset* find_asset(std::string_view path) noexcept {
  if (const std::size_t end = path.find_first_of("?#"); end != std::string_view::npos) {
    path = path.substr(0, end);
  }
  if (path.empty() || path == "/") {
    path = "/index.html";
  } else if (path == "/admin" || path == "/admin/") {
    path = "/admin.html";
  }
  const std::vector<Asset>& assets = table();
  const auto it = std::lower_bound(assets.begin(), assets.end(), path,
                                   [](const Asset& a, std::string_view p) { return a.path < p; });
  if (it == assets.end() || it->path != path) return nullptr;
  return &*it;
}

bool etag_matches(std::string_view if_none_match, std::string_view etag) noexcept {
  auto strip_weak = [](std::string_view tag) {
    if (tag.starts_with("W/")) tag.remove_prefix(2);
    return tag;
  };
  etag = strip_weak(etag);
  while (!if_none_match.empty()) {
    const std::size_t comma = if_none_match.find(',');
    const std::string_view item = trim(if_none_match.substr(0, comma));
    if (item == "*" || (!item.empty() && strip_weak(item) == etag)) return true;
    if (comma == std::string_view::npos) break;
    if_none_match.remove_prefix(comma + 1);
  }
  return false;
}

}  // namespace parley::web
