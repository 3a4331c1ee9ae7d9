// tools/commands.h — the subcommands of the `graft` program, one file each (tools/cmd_*.cpp).
// Each takes the words after the command name and returns the process exit code; errors are
// thrown (tools::ArgError for usage errors) and reported by tools::dispatch.
#pragma once

#include <string>
#include <vector>

namespace graft {
int cmd_demo(const std::vector<std::string>& words);
int cmd_bench(const std::vector<std::string>& words);   // tools/cmd_bench.cpp
int cmd_train(const std::vector<std::string>& words);     // tools/cmd_train.cpp
int cmd_lr_find(const std::vector<std::string>& words);   // tools/cmd_train.cpp (train --lr-find)
int cmd_features(const std::vector<std::string>& words);  // tools/cmd_features.cpp
int cmd_eval(const std::vector<std::string>& words);      // tools/cmd_eval.cpp
int cmd_predict(const std::vector<std::string>& words);   // tools/cmd_predict.cpp
int cmd_split(const std::vector<std::string>& words);     // tools/cmd_split.cpp
int cmd_summary(const std::vector<std::string>& words);   // tools/cmd_summary.cpp
int cmd_explain(const std::vector<std::string>& words);   // tools/cmd_explain.cpp
int cmd_export(const std::vector<std::string>& words);    // tools/cmd_export.cpp
}  // namespace graft
