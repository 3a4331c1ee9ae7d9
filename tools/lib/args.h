// tools/lib/args.h — a small command-line parser for graft's subcommands.
//
// Each subcommand declares its options once (long name, type, default, description) and gets
// parsing, validation and its `--help` text from that one declaration:
//
//   ArgParser p("graft train", "Train an image classifier.");
//   p.add_string("data", "", "ImageFolder with one folder per class", /*required=*/true);
//   p.add_int("epochs", 10, "number of passes over the training set");
//   p.add_float("lr", 1e-3, "learning rate");
//   p.add_flag("resume", "continue from <out>/last.h5");
//   p.add_positional("images", "image files", /*required=*/true, /*many=*/true);
//   p.add_example("graft train --data flowers --model resnet18", "fine-tune ResNet18");
//   Args a = p.parse(argc - 1, argv + 1);        // throws ArgError with a user-facing message
//   if (a.help()) { std::fputs(p.help().c_str(), stdout); return 0; }
//   int64_t epochs = a.get_int("epochs");
//
// Accepted forms: `--name value`, `--name=value`, `--flag`, `--no-flag` (a flag turned off),
// `--` (everything after it is positional), `-h`/`--help`. Values are checked when parsed, so
// errors name the option: "graft train: option --epochs expects an integer, got 'x'" and typos
// get a suggestion: "graft train: unknown option '--lrr' (did you mean '--lr'?)".
#pragma once

#include <cstdint>
#include <cstdio>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "data/text.h"

namespace graft::tools {

// A user error on the command line; what() is the whole message, ready to print.
struct ArgError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Did-you-mean for option names: closest_match (data/text.h).

// Joins words into one shell command line, single-quoting those that need it, for reports:
// {"graft", "train", "--head", "linear(n) logsoftmax"} -> "graft train --head 'linear(n) logsoftmax'".
std::string shell_join(const std::vector<std::string>& words);

class Args;

class ArgParser {
 public:
  enum class Type { String, Int, Float, Flag };

  // `command` is how the user typed it ("graft train"): it starts every error message.
  ArgParser(std::string command, std::string description);

  // `choices` (strings only): the value must be one of them.
  ArgParser& add_string(const std::string& name, const std::string& def, const std::string& help,
                        bool required = false, std::vector<std::string> choices = {});
  ArgParser& add_int(const std::string& name, int64_t def, const std::string& help, bool required = false);
  ArgParser& add_float(const std::string& name, double def, const std::string& help, bool required = false);
  ArgParser& add_flag(const std::string& name, const std::string& help);
  // Positional arguments in order; `many` (last one only) takes all remaining words.
  ArgParser& add_positional(const std::string& name, const std::string& help, bool required = true,
                            bool many = false);
  ArgParser& add_example(const std::string& command_line, const std::string& what);

  // Parses the words after the subcommand name. Throws ArgError. With -h/--help anywhere,
  // returns at once with help() true and no validation (so `graft train --help` always works).
  Args parse(const std::vector<std::string>& words) const;
  Args parse(int argc, const char* const* argv) const;

  // "usage: graft train [options] ..." + description + options table + examples.
  std::string help() const;
  const std::string& command() const { return command_; }

  struct Option {
    std::string name, help, def, metavar;
    Type type = Type::String;
    bool required = false;
    std::vector<std::string> choices;
  };
  struct Positional {
    std::string name, help;
    bool required = true, many = false;
  };

 private:
  [[noreturn]] void fail(const std::string& what) const;
  const Option* find(const std::string& name) const;
  void check_value(const Option& o, const std::string& value) const;
  ArgParser& add(Option o);

  std::string command_, description_;
  std::vector<Option> options_;
  std::vector<Positional> positionals_;
  std::vector<std::pair<std::string, std::string>> examples_;
};

// The parsed values. Every declared option has a value (its default when not given).
class Args {
 public:
  bool help() const { return help_; }
  bool given(const std::string& name) const;  // typed by the user (not the default)
  const std::string& get(const std::string& name) const;  // any option, as text
  int64_t get_int(const std::string& name) const;
  double get_float(const std::string& name) const;
  bool flag(const std::string& name) const;
  // A positional's words (one word unless `many`; empty if optional and absent).
  const std::vector<std::string>& positional(const std::string& name) const;
  // "--epochs 10 --lr 0.001 ..." for reports: every option with its final value (shell-quoted).
  std::string summary() const;
  // Name/value pairs of every option (defaults included), in declaration order.
  const std::vector<std::pair<std::string, std::string>>& values() const { return ordered_; }

 private:
  friend class ArgParser;
  std::string command_;
  bool help_ = false;
  std::map<std::string, std::string> values_;
  std::vector<std::pair<std::string, std::string>> ordered_;
  std::map<std::string, bool> given_;
  std::map<std::string, std::vector<std::string>> positionals_;
  [[noreturn]] void missing(const std::string& name) const;
};

// Prints the parser's help (ending with a newline) when `args` asked for it; true if it did.
// Every subcommand starts with: `if (tools::print_help_if_asked(parser, args)) return 0;`
bool print_help_if_asked(const ArgParser& parser, const Args& args, std::FILE* out = stdout);

// ---- the top-level dispatcher -----------------------------------------------------------------
// `graft <command> [options]`: each subcommand is a function of the words after its name that
// returns the exit code. dispatch() prints the command list for `graft`/`graft --help`, suggests
// the closest command for a typo ("graft: unknown command 'trian' (did you mean 'train'?)"), and
// turns exceptions into one-line messages: ArgError -> exit 2, any other std::exception ->
// "graft train: error: <what>" and exit 1.
struct Command {
  std::string name, summary;
  int (*run)(const std::vector<std::string>& words);
};
// Help goes to `out`, errors to `err`.
int dispatch(int argc, const char* const* argv, const std::vector<Command>& commands, std::FILE* out = stdout,
             std::FILE* err = stderr);

}  // namespace graft::tools
