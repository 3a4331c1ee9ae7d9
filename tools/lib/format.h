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

}  // namespace graft::tools
