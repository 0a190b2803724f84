#include "core/repeat_filter.hpp"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <sstream>
#include <thread>

namespace parley {
namespace {

TEST(RepeatFilterSink, ARepeatedLineIsWrittenOnceThenCountedWhenItsWindowEnds) {
  std::ostringstream out;
  auto console = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
  console->set_pattern("%l %v");
  auto filter = std::make_shared<RepeatFilterSink>(console, std::chrono::seconds(1));
  spdlog::logger logger("test", filter);
  for (int i = 0; i < 1130; ++i)
    logger.error("sqlite: INSERT INTO messages: database or disk is full");
  logger.warn("room r1: loading failed");
  logger.warn("room r2: loading failed");
  EXPECT_EQ(out.str(),
            "error sqlite: INSERT INTO messages: database or disk is full\n"
            "warning room r1: loading failed\n"
            "warning room r2: loading failed\n");
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  out.str("");
  logger.info("next");
  logger.error("sqlite: INSERT INTO messages: database or disk is full");
  EXPECT_EQ(out.str(),
            "error (the line \"sqlite: INSERT INTO messages: database or disk is full\" was "
            "repeated 1129 more times)\n"
            "info next\n"
            "error sqlite: INSERT INTO messages: database or disk is full\n");
}

}  // namespace
}  // namespace parley
