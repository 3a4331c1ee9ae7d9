// tools/graft_main.cpp — `graft <command> [options]`: dispatch to the subcommands.
//
// Each subcommand lives in its own file (tools/cmd_<name>.cpp) as a function of its words that
// returns the exit code; add it to the table below. tools/lib/args.h has the dispatcher and the
// option parser they share.
#include <vector>

#include "args.h"

int main(int argc, char** argv) {
  static const std::vector<graft::tools::Command> commands = {
      // {"train", "train or fine-tune a classifier", cmd_train},  (as the subcommands land)
  };
  return graft::tools::dispatch(argc, argv, commands);
}
