// libFuzzer target: the MongoDB dump readers of `parley import` (cli/import_mongo.cpp), fed as
// `parley import` reads them. The first byte picks the format: even, mongodump (the rest is
// messages.bson, read with libbson); odd, mongoexport (the rest is messages.json, Extended
// JSON a line). Bit 1 of the first byte adds a conversations file holding one conversation,
// so both the grouped and the conversation-less paths run. Checks: nothing crashes, every
// conversation handed over has a valid id, each mark points at a message, each read seq at
// one, and the reader's counts agree with what it handed over.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "cli/importers.hpp"
#include "core/ids.hpp"

namespace fs = std::filesystem;
using namespace parley;
using namespace parley::cli;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "parley-mongo-fuzz-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) __builtin_trap();
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

void write(const fs::path& file, const char* data, std::size_t size) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out.write(data, static_cast<std::streamsize>(size));
  if (!out) __builtin_trap();
}

// One conversation {_id: ObjectId("65f0000000000000000000c1"), participants: []} as BSON and
// as Extended JSON: messages naming it are grouped under it.
const unsigned char kConversationBson[] = {
    0x29, 0,    0,   0,                                                     // length 41
    0x07, '_',  'i', 'd', 0,                                                // ObjectId _id
    0x65, 0xf0, 0,   0,   0,   0,   0,   0,   0,   0,   0,   0xc1,          // 12 bytes
    0x04, 'p',  'a', 'r', 't', 'i', 'c', 'i', 'p', 'a', 'n', 't',  's', 0,  // array
    0x05, 0,    0,   0,   0,                                                // empty array
    0x00};
const char kConversationJson[] =
    "{\"_id\":{\"$oid\":\"65f0000000000000000000c1\"},\"participants\":[]}\n";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static TempDir dir;
  if (size == 0) return 0;
  const bool bson = (data[0] & 1) == 0;
  const bool with_conversations = (data[0] & 2) != 0;
  const auto format = bson ? importers::Format::mongodump : importers::Format::mongoexport;
  const std::string ext = bson ? ".bson" : ".json";
  std::error_code ec;
  for (const char* c : {"messages", "conversations", "users"}) fs::remove(dir.path / (c + ext), ec);
  write(dir.path / ("messages" + ext), reinterpret_cast<const char*>(data) + 1, size - 1);
  if (with_conversations) {
    if (bson) {
      write(dir.path / "conversations.bson", reinterpret_cast<const char*>(kConversationBson),
            sizeof kConversationBson);
    } else {
      write(dir.path / "conversations.json", kConversationJson, sizeof kConversationJson - 1);
    }
  }
  importers::ParseReport report;
  std::size_t conversations = 0, messages = 0;
  importers::parse(
      format, dir.path,
      [&](importers::ParsedConversation&& c) {
        if (!is_valid_id(c.whole.id)) __builtin_trap();
        for (const auto& mark : c.marks) {
          if (mark.index >= c.whole.messages.size()) __builtin_trap();
        }
        for (const auto& [user, seq] : c.reads) {
          if (seq < 1 || static_cast<std::size_t>(seq) > c.whole.messages.size()) __builtin_trap();
        }
        ++conversations;
        messages += c.whole.messages.size();
        return true;
      },
      report);
  if (report.conversations != conversations || report.messages != messages) __builtin_trap();
  for (const auto& issue : report.issues) (void)importers::to_string(issue);
  return 0;
}
