// tools/graft_main.cpp — `graft <command> [options]`: dispatch to the subcommands.
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    std::printf("usage: graft <command> [options]\n\ncommands:\n  (none yet)\n");
    return argc < 2 ? 2 : 0;
  }
  std::fprintf(stderr, "graft: unknown command '%s' (see graft --help)\n", argv[1]);
  return 2;
}
