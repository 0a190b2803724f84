// WebWOz's two built React front ends, served where the app's back end serves them
// (backend/app.py at 5a94a67), from WEBWOZ_FRONTEND_DIR laid out as the app's dockerfile lays
// out backend/static/:
//   /wizard, /wizard/<room>  -> wizard/index.html
//   /chat/<room>             -> participant/index.html
//   /static/p/<path>         -> static/p/<path>     (the participant bundle's assets)
//   /static/w/<path>         -> static/w/<path>     (the wizard bundle's)
//   /static/<path>           -> static/w/<path>, else static/p/<path>, else static/<path>
// A missing folder answers as the app does (404 {"error": "... Static files missing."}).
// Paths are decoded once (net::parse_request_target); a segment that is empty, ".", "..",
// or holds '/', '\' or NUL is refused, and the file must resolve (symlinks followed) inside
// the folder, so nothing outside it is ever read.
#pragma once

#include <filesystem>

#include "net/endpoint.hpp"

namespace parley::app {

class WebWozPages final : public net::Endpoint {
 public:
  explicit WebWozPages(std::filesystem::path frontend_dir);
  boost::asio::awaitable<std::optional<net::Response>> serve(net::HttpContext& ctx) override;

 private:
  std::filesystem::path dir_;   // as configured
  std::filesystem::path root_;  // canonical, when it exists
};

}  // namespace parley::app
