// tools/commands.h — the subcommands of the `graft` program, one file each (tools/cmd_*.cpp).
// Each takes the arguments after the command name (argv[0] is the command) and returns the
// process exit code; errors are thrown and reported by main.
#pragma once

namespace graft {
int cmd_demo(int argc, char** argv);
}  // namespace graft
