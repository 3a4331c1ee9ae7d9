// tools/graft_main.cpp — `graft <command> [options]`: dispatch to the subcommands.
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

int cmd_bench(int argc, char** argv);  // tools/cmd_bench.cpp

namespace {
struct Command {
  const char* name;
  int (*run)(int argc, char** argv);  // receives the full argv; options start at argv[2]
  const char* help;
};
const Command kCommands[] = {
    {"bench", cmd_bench, "images/s of the models (inference, training, frozen backbone), optionally vs PyTorch"},
};
}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    std::printf("usage: graft <command> [options]\n\ncommands:\n");
    for (const Command& c : kCommands) std::printf("  %-10s %s\n", c.name, c.help);
    return argc < 2 ? 2 : 0;
  }
  for (const Command& c : kCommands)
    if (!std::strcmp(argv[1], c.name)) return c.run(argc, argv);
  std::fprintf(stderr, "graft: unknown command '%s' (see graft --help)\n", argv[1]);
  return 2;
}
