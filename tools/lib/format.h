// tools/lib/format.h — one printf-formatted number as a std::string, for the tools' text output
// (progress lines, the report's tables and CSV).
#pragma once

#include <cstdio>
#include <string>

namespace graft::tools {

// fmt("%.1f", 2.25) == "2.2" (printf rounding); f takes exactly one double.
inline std::string fmt(const char* f, double v) {
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

// One CSV field (RFC 4180): as it is, or in double quotes (inner quotes doubled) when it holds a
// comma, a quote or a line break. csv_field("a,b") == "\"a,b\"".
inline std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

}  // namespace graft::tools
