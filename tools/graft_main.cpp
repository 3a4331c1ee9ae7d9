// tools/graft_main.cpp — `graft <command> [options]`: dispatch to the subcommands.
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

#include "commands.h"

namespace {

struct Command {
  const char* name;
  int (*run)(int, char**);
  const char* help;
};

// One line per subcommand; each lives in tools/cmd_<name>.cpp.
const Command kCommands[] = {
    {"demo", graft::cmd_demo, "transfer learning on Fashion-MNIST: frozen vs fine-tuned vs scratch"},
};

void usage(FILE* out) {
  std::fprintf(out, "usage: graft <command> [options]     (graft <command> --help for details)\n\ncommands:\n");
  for (const Command& c : kCommands) std::fprintf(out, "  %-10s %s\n", c.name, c.help);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  for (const Command& c : kCommands) {
    if (std::strcmp(argv[1], c.name) != 0) continue;
    try {
      return c.run(argc - 1, argv + 1);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "graft %s: error: %s\n", c.name, e.what());
      return 1;
    }
  }
  std::fprintf(stderr, "graft: unknown command '%s'\n\n", argv[1]);
  usage(stderr);
  return 2;
}
