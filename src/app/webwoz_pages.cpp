#include "app/webwoz_pages.hpp"

#include <algorithm>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <fstream>
#include <sstream>

#include "net/http_server.hpp"
#include "net/request_target.hpp"
#include "web/assets.hpp"

namespace parley::app {

namespace fs = std::filesystem;
namespace http = boost::beast::http;
using net::Response;

namespace {

Response app_error(const net::Request& req, http::status status, std::string_view message) {
  boost::json::object o;
  o.emplace("error", message);
  Response res{status, req.version()};
  res.set(http::field::content_type, "application/json");
  res.body() = boost::json::serialize(o);
  res.keep_alive(req.keep_alive());
  res.prepare_payload();
  return res;
}

Response not_found(const net::Request& req) {
  return app_error(req, http::status::not_found, "Not Found");
}

bool safe_segment(std::string_view s) {
  return !s.empty() && s != "." && s != ".." && s.find_first_of(std::string_view("/\\\0", 3)) ==
                                                    std::string_view::npos;
}

std::string_view content_type(const fs::path& p) {
  return web::content_type_for(p.filename().string());
}

}  // namespace

WebWozPages::WebWozPages(fs::path frontend_dir) : dir_(std::move(frontend_dir)) {
  std::error_code ec;
  if (!dir_.empty()) root_ = fs::canonical(dir_, ec);
  if (ec) root_.clear();
}

boost::asio::awaitable<std::optional<Response>> WebWozPages::serve(net::HttpContext& ctx) {
  const auto& req = ctx.request;
  if (req.method() != http::verb::get && req.method() != http::verb::head) {
    co_return app_error(req, http::status::method_not_allowed,
                        "The method is not allowed for the requested URL.");
  }
  auto target = net::parse_request_target(req.target());
  if (!target || target->segments.empty()) co_return not_found(req);
  const auto& s = target->segments;
  for (const auto& seg : s) {
    if (!safe_segment(seg)) co_return not_found(req);
  }

  // The file to send: candidates in the app's order, relative to the folder.
  std::vector<fs::path> candidates;
  if (s[0] == "wizard" && s.size() <= 2) {
    if (root_.empty() || !fs::is_directory(root_ / "wizard")) {
      co_return app_error(req, http::status::not_found,
                          "Wizard app not available. Static files missing.");
    }
    candidates.push_back(fs::path("wizard") / "index.html");
  } else if (s[0] == "chat" && s.size() == 2) {
    if (root_.empty() || !fs::is_directory(root_ / "participant")) {
      co_return app_error(req, http::status::not_found,
                          "Participant app not available. Static files missing.");
    }
    candidates.push_back(fs::path("participant") / "index.html");
  } else if (s[0] == "static" && s.size() >= 2) {
    if (root_.empty()) co_return not_found(req);
    fs::path rest;
    const bool bundle = s.size() >= 3 && (s[1] == "p" || s[1] == "w");
    for (std::size_t i = bundle ? 2 : 1; i < s.size(); ++i) rest /= s[i];
    if (bundle) {
      candidates.push_back(fs::path("static") / s[1] / rest);
    } else {
      candidates.push_back(fs::path("static") / "w" / rest);
      candidates.push_back(fs::path("static") / "p" / rest);
      candidates.push_back(fs::path("static") / rest);
    }
  } else {
    co_return not_found(req);
  }

  for (const auto& relative : candidates) {
    std::error_code ec;
    const fs::path file = fs::canonical(root_ / relative, ec);
    if (ec || !fs::is_regular_file(file, ec)) continue;
    // Inside the folder once symlinks are resolved: a link out of it is not served.
    const auto [end, _] = std::mismatch(root_.begin(), root_.end(), file.begin(), file.end());
    if (end != root_.end()) continue;
    std::ifstream in(file, std::ios::binary);
    if (!in) continue;
    std::ostringstream body;
    body << in.rdbuf();
    Response res{http::status::ok, req.version()};
    res.set(http::field::content_type, content_type(file));
    res.set(http::field::cache_control, "no-cache");
    res.keep_alive(req.keep_alive());
    if (req.method() == http::verb::get) {
      res.body() = std::move(body).str();
      res.prepare_payload();
    } else {
      res.content_length(static_cast<std::uint64_t>(body.tellp()));
    }
    co_return res;
  }
  co_return not_found(req);
}

}  // namespace parley::app
