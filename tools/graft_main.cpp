// tools/graft_main.cpp — `graft <command> [options]`: dispatch to the subcommands.
//
// Each subcommand lives in its own file (tools/cmd_<name>.cpp) as a function of the words after
// the command name that returns the exit code (the same signature as tools/commands.h on main,
// where cmd_bench joins the command table).
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace graft {
int cmd_bench(const std::vector<std::string>& words);  // tools/cmd_bench.cpp
}

namespace {
struct Command {
  const char* name;
  const char* help;
  int (*run)(const std::vector<std::string>& words);
};
const Command kCommands[] = {
    {"bench", "images/s of the models (inference, training, frozen backbone), optionally vs PyTorch",
     graft::cmd_bench},
};
}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    std::printf("usage: graft <command> [options]\n\ncommands:\n");
    for (const Command& c : kCommands) std::printf("  %-10s %s\n", c.name, c.help);
    return argc < 2 ? 2 : 0;
  }
  for (const Command& c : kCommands)
    if (!std::strcmp(argv[1], c.name)) return c.run(std::vector<std::string>(argv + 2, argv + argc));
  std::fprintf(stderr, "graft: unknown command '%s' (see graft --help)\n", argv[1]);
  return 2;
}
