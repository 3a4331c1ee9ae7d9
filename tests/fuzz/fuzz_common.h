// tests/fuzz/fuzz_common.h — what every fuzz target shares (see tests/fuzz/README.md).
//
// A fuzz target feeds bytes to one of graft's readers or parsers and accepts exactly one
// outcome besides success: the exception type that API documents for bad input, with a
// message that says what is wrong. Anything else is a finding, and libFuzzer keeps the input:
//   a crash, a sanitizer report (ASan: out-of-bounds, use-after-free, leaks; UBSan: overflow,
//   bad shifts, float-to-int casts out of range), a hang (-timeout), memory beyond -rss_limit_mb,
//   or another exception type escaping (std::out_of_range from a stoll, std::bad_alloc, ...).
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <typeinfo>
#include <exception>

namespace fuzz {

// Runs f(); an exception of one of the Expected types is the documented answer to bad input,
// and its message must not be empty (graft's messages say what was wrong). Any other exception
// is printed with its type and aborts the run: libFuzzer keeps the input as a crash.
template <class... Expected, class F>
void expect_only(F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    if (!(... || (dynamic_cast<const Expected*>(&e) != nullptr))) {
      std::fprintf(stderr, "fuzz: unexpected exception %s: %s\n", typeid(e).name(), e.what());
      std::abort();
    }
    static const bool verbose = std::getenv("FUZZ_VERBOSE") != nullptr;  // to see why a seed is refused
    if (verbose) std::fprintf(stderr, "fuzz: refused: %s\n", e.what());
    if (std::string_view(e.what()).empty()) {
      std::fprintf(stderr, "fuzz: an error with an empty message (%s)\n", typeid(e).name());
      std::abort();
    }
  }
}

// Stops the run with a message (an invariant of a successful result does not hold).
[[noreturn]] inline void fail(const std::string& why) {
  std::fprintf(stderr, "fuzz: %s\n", why.c_str());
  std::abort();
}

// A folder of this process's own for the files a target writes (in /dev/shm when there is one:
// the readers take paths, and a file per input on a real disk is slow). Removed at exit.
inline const std::filesystem::path& scratch_dir() {
  static const std::filesystem::path dir = [] {
    namespace fs = std::filesystem;
    fs::path base = fs::is_directory("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path();
    fs::path d = base / ("graft-fuzz-" + std::to_string(::getpid()));
    fs::create_directories(d);
    std::atexit([] {
      std::error_code ec;
      fs::remove_all(scratch_dir(), ec);
    });
    return d;
  }();
  return dir;
}

inline std::string write_file(const std::string& name, const uint8_t* data, size_t size) {
  const std::string path = (scratch_dir() / name).string();
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  if (!f) fail("cannot write " + path);
  return path;
}

// Reads the fuzz input from the front: small numbers that steer a target (shapes, choices).
struct Bytes {
  const uint8_t* p;
  size_t n;
  bool empty() const { return n == 0; }
  uint8_t u8() {
    if (!n) return 0;
    --n;
    return *p++;
  }
  uint32_t u32() { return uint32_t(u8()) | uint32_t(u8()) << 8 | uint32_t(u8()) << 16 | uint32_t(u8()) << 24; }
  std::string str(size_t max_len) {
    size_t len = u8() % (max_len + 1);
    len = len < n ? len : n;
    std::string s(reinterpret_cast<const char*>(p), len);
    p += len, n -= len;
    return s;
  }
};

}  // namespace fuzz
