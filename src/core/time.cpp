#include "core/time.hpp"

#include <charconv>
#include <chrono>
#include <cstdio>

namespace parley {

TimeMs now_ms() noexcept {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

void append_rfc3339(std::string& out, TimeMs t) {
  using namespace std::chrono;
  const sys_time<milliseconds> tp{milliseconds{t}};
  const auto day = floor<days>(tp);
  const year_month_day ymd{day};
  const hh_mm_ss hms{tp - day};
  const int year = static_cast<int>(ymd.year());
  if (year < 0 || year > 9999) {  // outside RFC 3339's four digits: as snprintf prints them
    char buf[48];
    const int n = std::snprintf(
        buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ", year,
        static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
        static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
        static_cast<int>(hms.seconds().count()), static_cast<int>(hms.subseconds().count()));
    out.append(buf, static_cast<std::size_t>(n));
    return;
  }
  // Fixed-width digits, not snprintf: a Socket.IO message carries three of these (its
  // broadcast, the sender's message-sent and ack), and snprintf took ~170 ns of each
  // (parley-microbench: the Socket.IO reply 1.79 -> 1.33 us; bench/README.md, run I).
  char buf[24] = {'0', '0', '0', '0', '-', '0', '0', '-', '0', '0', 'T', '0',
                  '0', ':', '0', '0', ':', '0', '0', '.', '0', '0', '0', 'Z'};
  const auto put = [&buf](std::size_t at, std::size_t width, long long v) {
    for (std::size_t i = at + width; i > at; --i) {
      buf[i - 1] = static_cast<char>('0' + v % 10);
      v /= 10;
    }
  };
  put(0, 4, year);
  put(5, 2, static_cast<unsigned>(ymd.month()));
  put(8, 2, static_cast<unsigned>(ymd.day()));
  put(11, 2, hms.hours().count());
  put(14, 2, hms.minutes().count());
  put(17, 2, hms.seconds().count());
  put(20, 3, hms.subseconds().count());
  out.append(buf, sizeof buf);
}

std::string format_rfc3339(TimeMs t) {
  std::string out;
  out.reserve(24);
  append_rfc3339(out, t);
  return out;
}

namespace {

bool read_int(std::string_view& s, std::size_t digits, int& value) {
  if (s.size() < digits) return false;
  for (std::size_t i = 0; i < digits; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
  }
  std::from_chars(s.data(), s.data() + digits, value);
  s.remove_prefix(digits);
  return true;
}

bool expect(std::string_view& s, char c) {
  if (s.empty() || s.front() != c) return false;
  s.remove_prefix(1);
  return true;
}

}  // namespace

std::optional<TimeMs> parse_rfc3339(std::string_view s) noexcept {
  using namespace std::chrono;
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
  if (!read_int(s, 4, y) || !expect(s, '-') || !read_int(s, 2, mo) || !expect(s, '-') ||
      !read_int(s, 2, d)) {
    return std::nullopt;
  }
  if (!s.empty()) {
    if (s.front() != 'T' && s.front() != 't' && s.front() != ' ') return std::nullopt;
    s.remove_prefix(1);
    if (!read_int(s, 2, h) || !expect(s, ':') || !read_int(s, 2, mi)) return std::nullopt;
    if (!s.empty() && s.front() == ':') {
      s.remove_prefix(1);
      if (!read_int(s, 2, sec)) return std::nullopt;
    }
  }
  int ms = 0;
  if (!s.empty() && (s.front() == '.' || s.front() == ',')) {
    s.remove_prefix(1);
    int scale = 100;
    std::size_t n = 0;
    while (!s.empty() && s.front() >= '0' && s.front() <= '9') {
      ms += (s.front() - '0') * scale;
      scale /= 10;
      s.remove_prefix(1);
      ++n;
    }
    if (n == 0) return std::nullopt;
  }
  int offset_min = 0;
  if (!s.empty()) {
    if (s.front() == 'Z' || s.front() == 'z') {
      s.remove_prefix(1);
    } else if (s.front() == '+' || s.front() == '-') {
      const int sign = s.front() == '-' ? -1 : 1;
      s.remove_prefix(1);
      int oh = 0, om = 0;
      if (!read_int(s, 2, oh)) return std::nullopt;
      if (!s.empty() && s.front() == ':') s.remove_prefix(1);
      if (!s.empty() && !read_int(s, 2, om)) return std::nullopt;
      offset_min = sign * (oh * 60 + om);
    } else {
      return std::nullopt;
    }
  }
  if (!s.empty()) return std::nullopt;
  const year_month_day ymd{year{y}, month{static_cast<unsigned>(mo)},
                           day{static_cast<unsigned>(d)}};
  if (!ymd.ok() || h > 23 || mi > 59 || sec > 60) return std::nullopt;
  const auto tp = sys_days{ymd} + hours{h} + minutes{mi} + seconds{sec} + milliseconds{ms} -
                  minutes{offset_min};
  return duration_cast<milliseconds>(tp.time_since_epoch()).count();
}

}  // namespace parley
