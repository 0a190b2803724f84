#include "common.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <boost/json/serialize.hpp>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>

namespace parley::bench {

namespace {
constexpr std::size_t kLinear = 128;  // exact buckets for 0..127
constexpr int kSubBits = 6;           // 64 buckets per power of two above
constexpr int kMaxExponent = 42;      // 2^42 ns ~ 73 min
constexpr std::size_t kBuckets = kLinear + (kMaxExponent - 7 + 1) * (1u << kSubBits);
}  // namespace

Histogram::Histogram() : counts_(kBuckets, 0) {}

std::size_t Histogram::index(std::uint64_t v) {
  if (v < kLinear) return static_cast<std::size_t>(v);
  int e = 63 - std::countl_zero(v);
  if (e > kMaxExponent) return kBuckets - 1;
  const std::uint64_t sub = (v >> (e - kSubBits)) & ((1u << kSubBits) - 1);
  return kLinear + static_cast<std::size_t>(e - 7) * (1u << kSubBits) + sub;
}

std::int64_t Histogram::value_at(std::size_t i) {
  if (i < kLinear) return static_cast<std::int64_t>(i);
  const std::size_t j = i - kLinear;
  const int e = static_cast<int>(j >> kSubBits) + 7;
  const std::uint64_t sub = j & ((1u << kSubBits) - 1);
  const std::uint64_t width = std::uint64_t{1} << (e - kSubBits);
  const std::uint64_t low = (std::uint64_t{1} << e) + sub * width;
  return static_cast<std::int64_t>(low + width / 2);
}

void Histogram::record(std::int64_t ns) {
  if (ns < 0) ns = 0;
  ++counts_[index(static_cast<std::uint64_t>(ns))];
  ++total_;
  max_ = std::max(max_, ns);
}

void Histogram::merge(const Histogram& other) {
  for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
  total_ += other.total_;
  max_ = std::max(max_, other.max_);
}

std::int64_t Histogram::percentile(double p) const {
  if (total_ == 0) return 0;
  const auto target = std::max<std::uint64_t>(
      1, static_cast<std::uint64_t>(std::ceil(p / 100.0 * static_cast<double>(total_))));
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < counts_.size(); ++i) {
    seen += counts_[i];
    if (seen >= target) return std::min(value_at(i), max_);
  }
  return max_;
}

namespace {
double ms(std::int64_t ns) { return std::round(static_cast<double>(ns) / 1e3) / 1e3; }
}  // namespace

boost::json::object latency_json(const Histogram& h) {
  boost::json::object o;
  o["count"] = h.count();
  o["p50_ms"] = ms(h.percentile(50));
  o["p90_ms"] = ms(h.percentile(90));
  o["p99_ms"] = ms(h.percentile(99));
  o["p999_ms"] = ms(h.percentile(99.9));
  o["max_ms"] = ms(h.max());
  return o;
}

std::string latency_text(const Histogram& h) {
  char buf[200];
  std::snprintf(buf, sizeof buf, "p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f ms (n=%llu)",
                ms(h.percentile(50)), ms(h.percentile(90)), ms(h.percentile(99)),
                ms(h.percentile(99.9)), ms(h.max()), static_cast<unsigned long long>(h.count()));
  return buf;
}

namespace {
// utime+stime of a /proc/.../stat file, in seconds.
std::optional<double> stat_cpu_seconds(const std::string& path) {
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto close = text.rfind(')');
  if (!in.good() && text.empty()) return std::nullopt;
  if (close == std::string::npos) return std::nullopt;
  // Fields after the command: state(3) ppid(4) ... utime(14) stime(15).
  std::istringstream rest(text.substr(close + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  static const long ticks = sysconf(_SC_CLK_TCK);
  return static_cast<double>(utime + stime) / static_cast<double>(ticks);
}
}  // namespace

std::optional<double> process_tree_cpu_seconds(pid_t pid) {
  static const long ticks = sysconf(_SC_CLK_TCK);
  // Fields after "(comm) ": state(3) ppid(4) ... utime(14) stime(15) cutime(16) cstime(17).
  auto fields = [](const std::string& path) {
    std::ifstream in(path);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::vector<std::string> out;
    const auto close = text.rfind(')');
    if (close == std::string::npos || close + 2 > text.size()) return out;
    std::istringstream rest(text.substr(close + 2));
    std::string f;
    while (rest >> f) out.push_back(f);
    return out;  // out[0] is field 3
  };
  const auto own = fields("/proc/" + std::to_string(pid) + "/stat");
  if (own.size() < 15) return std::nullopt;
  unsigned long long total =
      std::stoull(own[11]) + std::stoull(own[12]) + std::stoull(own[13]) + std::stoull(own[14]);
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const auto name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    const auto f = fields(entry.path().string() + "/stat");
    if (f.size() < 13 || f[1] != std::to_string(pid)) continue;
    total += std::stoull(f[11]) + std::stoull(f[12]);
  }
  return static_cast<double>(total) / static_cast<double>(ticks);
}

std::optional<double> process_cpu_seconds(pid_t pid) {
  return stat_cpu_seconds("/proc/" + std::to_string(pid) + "/stat");
}

std::map<std::string, double> thread_cpu_seconds(pid_t pid) {
  std::map<std::string, double> out;
  std::error_code ec;
  const std::filesystem::path dir = "/proc/" + std::to_string(pid) + "/task";
  for (const auto& task : std::filesystem::directory_iterator(dir, ec)) {
    std::ifstream comm(task.path() / "comm");
    std::string name;
    std::getline(comm, name);
    if (auto s = stat_cpu_seconds((task.path() / "stat").string()); s && !name.empty()) {
      out[name] += *s;
    }
  }
  return out;
}

std::optional<std::int64_t> process_rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      std::istringstream s(line.substr(6));
      std::int64_t kib = 0;
      s >> kib;
      return kib;
    }
  }
  return std::nullopt;
}

double self_cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto sec = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return sec(u.ru_utime) + sec(u.ru_stime);
}

void CpuWindow::start() {
  self_start_ = self_cpu_seconds();
  if (pid_ <= 0) return;
  start_ = process_cpu_seconds(pid_).value_or(-1);
  threads_start_ = thread_cpu_seconds(pid_);
}

std::map<std::string, double> CpuWindow::by_thread() const {
  std::map<std::string, double> out;
  if (pid_ <= 0) return out;
  for (const auto& [name, s] : thread_cpu_seconds(pid_)) {
    const auto it = threads_start_.find(name);
    out[name] = s - (it != threads_start_.end() ? it->second : 0.0);
  }
  return out;
}

double CpuWindow::seconds() const {
  if (pid_ <= 0 || start_ < 0) return -1;
  auto now = process_cpu_seconds(pid_);
  if (!now) return -1;
  return *now - start_;
}

void print_result(const boost::json::object& result) {
  std::cout << "RESULT " << boost::json::serialize(result) << std::endl;
}

std::string run_id() {
  std::random_device rd;
  std::uniform_int_distribution<unsigned> d(0, 0xffffff);
  char buf[16];
  std::snprintf(buf, sizeof buf, "%06x", d(rd));
  return buf;
}

std::optional<std::int64_t> int_field(std::string_view text, std::string_view key,
                                      std::size_t from) {
  const auto at = text.find(key, from);
  if (at == std::string_view::npos) return std::nullopt;
  const char* begin = text.data() + at + key.size();
  const char* end = text.data() + text.size();
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(begin, end, v);
  if (ec != std::errc() || p == begin) return std::nullopt;
  return v;
}

std::optional<std::string_view> str_field(std::string_view text, std::string_view key,
                                          std::size_t from) {
  const auto at = text.find(key, from);
  if (at == std::string_view::npos) return std::nullopt;
  const auto begin = at + key.size();
  const auto end = text.find('"', begin);
  if (end == std::string_view::npos) return std::nullopt;
  return text.substr(begin, end - begin);
}

std::string_view frame_type(std::string_view text) {
  constexpr std::string_view kPrefix = "{\"type\":\"";
  if (!text.starts_with(kPrefix)) {
    auto v = str_field(text, "\"type\":\"");
    return v ? *v : std::string_view();
  }
  const auto end = text.find('"', kPrefix.size());
  if (end == std::string_view::npos) return {};
  return text.substr(kPrefix.size(), end - kPrefix.size());
}

}  // namespace parley::bench
