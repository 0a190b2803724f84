// WebWOz's HTTP routes (seed 000, tveigel/WoZChat backend/app.py at 5a94a67), served when
// COMPAT=webwoz or WEBWOZ_FRONTEND_DIR is set (docs/socketio.md, "WebWOz"):
//   POST /api/new_room; /api/conversations (list, stats, get, export, DELETE) in the app's
//   shapes; /api/templates (both key styles, categories; every change committed, then
//   broadcast as `templates` to every Socket.IO socket); /api/bot/... answering as the app
//   does without a bot; /health with the app's fields and Parley's. (The built front ends
//   are app/webwoz_pages.hpp's.)
// Any other /api/ path goes to Parley's own REST endpoint (also always at /api/v1/).
//
// Threads: serve() as any Endpoint. Template changes run as jobs on the storage writer
// thread (read, change, replace: one at a time, in arrival order), so two edits never lose
// one another, and the broadcast of each is made there after its commit, in commit order.
#pragma once

#include <functional>
#include <mutex>
#include <set>
#include <string>

#include "hub/hub.hpp"
#include "net/endpoint.hpp"

namespace parley::api {

struct WebWozOptions {
  // WEBWOZ_FRONTEND_DIR (app/webwoz_pages.hpp): /health says which of its folders exist.
  std::string frontend_dir;
  std::string data_dir;                  // reported by /health and /api/conversations/stats
  bool database_url_configured = false;  // /health's database.database_url_configured
  // Sends the app's `templates` event ({category: {key: value}}, JSON text) to every
  // Socket.IO socket, as socketio.emit("templates", TEMPLATES) does. Any thread.
  std::function<void(std::string templates_json)> broadcast_templates;
};

class WebWozEndpoint final : public net::Endpoint {
 public:
  // `parley_rest` serves the /api/ paths that are not WebWOz's, and /health's own fields.
  WebWozEndpoint(hub::Hub& hub, net::Endpoint& parley_rest, WebWozOptions options);
  boost::asio::awaitable<std::optional<net::Response>> serve(net::HttpContext& ctx) override;

 private:
  struct Call;
  boost::asio::awaitable<std::optional<net::Response>> route(net::HttpContext& ctx, Call& call);
  boost::asio::awaitable<net::Response> new_room(Call& call);
  boost::asio::awaitable<net::Response> health(net::HttpContext& ctx, Call& call);
  boost::asio::awaitable<net::Response> list_conversations(Call& call, bool stats);
  boost::asio::awaitable<net::Response> get_conversation(Call& call, const std::string& room,
                                                         bool as_export);
  boost::asio::awaitable<net::Response> delete_conversation(Call& call, const std::string& room);
  boost::asio::awaitable<net::Response> templates(Call& call);
  net::Response bot(Call& call);

  hub::Hub& hub_;
  net::Endpoint& parley_rest_;
  WebWozOptions options_;

  std::mutex rooms_mu_;  // guards reserved_rooms_
  // Ids handed out by /api/new_room and not stored yet (the app keeps them in `rooms`, so a
  // second new_room never repeats one before its first message).
  std::set<std::string> reserved_rooms_;
};

}  // namespace parley::api
