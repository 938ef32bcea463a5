#include "server/access_log.h"

#include <chrono>
#include <cmath>
#include <ctime>
#include <nlohmann/json.hpp>

#include "amanuensis/types.h"
#include "server/openai_format.h"

namespace amanuensis::server {
namespace {

// UTC, to the millisecond: 2026-12-05T17:55:45.123Z.
std::string now_utc() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  const int ms = int(
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
  return buf;
}

// A client's bytes in a plain line: printable ASCII, at most 200 of them,
// so that no request can forge or break a line.
std::string printable(const std::string& s) {
  std::string out;
  for (char c : s.substr(0, 200)) out += (c >= 0x21 && c <= 0x7e && c != '"') ? c : '?';
  return out.empty() ? "-" : out;
}

}  // namespace

AccessLog::AccessLog(const std::string& path, const std::string& format) : json_(format == "json") {
  if (format != "plain" && format != "json")
    throw Error("--access-log-format must be plain or json, not '" + format + "'");
  if (path.empty()) return;
  if (path == "-") {
    out_ = stderr;
    return;
  }
  out_ = std::fopen(path.c_str(), "a");
  if (!out_) throw Error("cannot open the access log " + path + " for appending");
  own_ = true;
}

AccessLog::~AccessLog() {
  if (own_) std::fclose(out_);
}

void AccessLog::write(const RequestHead& head, int status, const LogFigures& figures) {
  if (!out_) return;
  const double total =
      head.method.empty()
          ? 0.0
          : std::chrono::duration<double>(std::chrono::steady_clock::now() - head.arrived).count();
  const std::string forwarded = head.header("X-Forwarded-For");
  std::string line;
  if (json_) {
    nlohmann::json j = {{"time", now_utc()},     {"client", head.client},
                        {"method", head.method}, {"path", head.path()},
                        {"status", status},      {"seconds", std::round(total * 1000) / 1000}};
    if (!forwarded.empty()) j["forwarded_for"] = forwarded;
    for (const auto& [name, value] : figures) j[name] = std::round(value * 1000) / 1000;
    line = json_text(j);
  } else {
    char seconds[32];
    std::snprintf(seconds, sizeof seconds, "%.3f", total);
    line = now_utc() + " " + printable(head.client) + " " + printable(forwarded) + " \"" +
           printable(head.method) + " " + printable(head.path()) + "\" " + std::to_string(status) +
           " seconds=" + seconds;
    for (const auto& [name, value] : figures) {
      char v[32];
      std::snprintf(v, sizeof v, "%.3f", value);
      line += " " + name + "=" + v;
    }
  }
  std::lock_guard lock(mu_);
  std::fprintf(out_, "%s\n", line.c_str());
  std::fflush(out_);
}

}  // namespace amanuensis::server
