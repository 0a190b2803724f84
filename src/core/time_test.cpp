#include "core/time.hpp"

#include <gtest/gtest.h>

namespace parley {
namespace {

TEST(Time, FormatsRfc3339WithMilliseconds) {
  EXPECT_EQ(format_rfc3339(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(format_rfc3339(1795343400123), "2026-11-22T10:30:00.123Z");
  EXPECT_EQ(format_rfc3339(951868799009), "2000-02-29T23:59:59.009Z");
  EXPECT_EQ(format_rfc3339(-1), "1969-12-31T23:59:59.999Z");  // before the epoch
  EXPECT_EQ(format_rfc3339(-62135596800000), "0001-01-01T00:00:00.000Z");
  // Past four digits of year (an imported date gone wrong): written out whole.
  EXPECT_EQ(format_rfc3339(253402300800000), "10000-01-01T00:00:00.000Z");
}

TEST(Time, ParsesWhatItFormats) {
  for (TimeMs t : {TimeMs{0}, TimeMs{1795343400123}, TimeMs{951782400999}}) {
    EXPECT_EQ(parse_rfc3339(format_rfc3339(t)), t);
  }
}

TEST(Time, ParsesSeedAppForms) {
  EXPECT_EQ(parse_rfc3339("2025-08-07T12:23:44+00:00"), parse_rfc3339("2025-08-07T12:23:44Z"));
  EXPECT_EQ(parse_rfc3339("2025-08-07T14:23:44+02:00"), parse_rfc3339("2025-08-07T12:23:44Z"));
  EXPECT_EQ(parse_rfc3339("2025-08-07 12:23:44.5"), parse_rfc3339("2025-08-07T12:23:44.500Z"));
  EXPECT_EQ(parse_rfc3339("2025-08-07T12:23:44.123456"), parse_rfc3339("2025-08-07T12:23:44.123Z"));
  EXPECT_TRUE(parse_rfc3339("2025-08-07").has_value());
}

TEST(Time, RejectsGarbage) {
  EXPECT_FALSE(parse_rfc3339("").has_value());
  EXPECT_FALSE(parse_rfc3339("yesterday").has_value());
  EXPECT_FALSE(parse_rfc3339("2025-13-07T12:23:44Z").has_value());
  EXPECT_FALSE(parse_rfc3339("2025-08-07T12:23:44Zjunk").has_value());
}

}  // namespace
}  // namespace parley
