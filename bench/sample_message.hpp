// The stored message the micro-benchmarks encode and fan out: the shape parley-bench's chat
// scenario sends (a short text with a client_id), so figures compare across benchmarks.
#pragma once

#include <memory>

#include "core/model.hpp"
#include "protocol/command.hpp"

namespace parley::bench {

inline protocol::MessagePtr sample_message(Seq seq) {
  auto m = std::make_shared<StoredMessage>();
  m->id = "0192f1a2b3c4d5e6f708192a3b4c5d6e";
  m->conversation = "room-17";
  m->seq = seq;
  m->sender = Sender{"user-3", "User Three", "user"};
  m->content = "b 3 1234 987654321098 xxxxxxxxxxxxxxxxxxxxxxxxxx";
  m->created_at = 1'763'800'000'123;
  m->client_id = "3-1234";
  return m;
}

}  // namespace parley::bench
