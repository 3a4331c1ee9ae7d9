// tools/lib/args.cpp — see args.h.
#include "args.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "data/text.h"
#include "tensor/check.h"

namespace graft::tools {

std::string shell_join(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& w : words) {
    bool plain = !w.empty() && w.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                                                   "-_./=:,+@%") == std::string::npos;
    std::string q = "'";
    for (char c : w) q += c == '\'' ? std::string("'\\''") : std::string(1, c);  // ' -> '\''
    out += (out.empty() ? "" : " ") + (plain ? w : q + "'");
  }
  return out;
}

namespace {

const char* type_metavar(ArgParser::Type t) {
  switch (t) {
    case ArgParser::Type::Int: return "N";
    case ArgParser::Type::Float: return "X";
    case ArgParser::Type::Flag: return "";
    default: return "TEXT";
  }
}

bool parse_int(const std::string& s, int64_t& out) {
  if (s.empty()) return false;
  errno = 0;
  char* end = nullptr;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (errno != 0 || *end != '\0') return false;
  out = v;
  return true;
}

bool parse_float(const std::string& s, double& out) {
  if (s.empty()) return false;
  errno = 0;
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (errno != 0 || *end != '\0' || !std::isfinite(v)) return false;
  out = v;
  return true;
}

std::string join(const std::vector<std::string>& v, const std::string& sep) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? sep : "") + v[i];
  return s;
}

// Shortest text that reads back as the same double ("0.001", not "0.0010000000000000").
std::string format_double(double v) {
  std::ostringstream os;
  os.precision(15);
  os << v;
  return os.str();
}

}  // namespace

ArgParser::ArgParser(std::string command, std::string description)
    : command_(std::move(command)), description_(std::move(description)) {}

void ArgParser::fail(const std::string& what) const { throw ArgError(command_ + ": " + what); }

ArgParser& ArgParser::add(Option o) {
  GRAFT_ASSERT(!find(o.name), command_, "option --", o.name, " declared twice");
  GRAFT_ASSERT(o.name != "help", command_, "--help is built in");
  if (o.metavar.empty()) o.metavar = type_metavar(o.type);
  options_.push_back(std::move(o));
  return *this;
}

ArgParser& ArgParser::add_string(const std::string& name, const std::string& def, const std::string& help,
                                 bool required, std::vector<std::string> choices) {
  Option o{name, help, def, "", Type::String, required, std::move(choices)};
  if (!o.choices.empty()) o.metavar = join(o.choices, "|");
  return add(std::move(o));
}

ArgParser& ArgParser::add_int(const std::string& name, int64_t def, const std::string& help, bool required) {
  return add(Option{name, help, std::to_string(def), "", Type::Int, required, {}});
}

ArgParser& ArgParser::add_float(const std::string& name, double def, const std::string& help, bool required) {
  return add(Option{name, help, format_double(def), "", Type::Float, required, {}});
}

ArgParser& ArgParser::add_flag(const std::string& name, const std::string& help) {
  return add(Option{name, help, "false", "", Type::Flag, false, {}});
}

ArgParser& ArgParser::add_positional(const std::string& name, const std::string& help, bool required, bool many) {
  GRAFT_ASSERT(positionals_.empty() || !positionals_.back().many, command_, "no positional may follow '",
               positionals_.back().name, "...'");
  positionals_.push_back({name, help, required, many});
  return *this;
}

ArgParser& ArgParser::add_example(const std::string& command_line, const std::string& what) {
  examples_.emplace_back(command_line, what);
  return *this;
}

const ArgParser::Option* ArgParser::find(const std::string& name) const {
  for (const auto& o : options_)
    if (o.name == name) return &o;
  return nullptr;
}

void ArgParser::check_value(const Option& o, const std::string& value) const {
  int64_t i;
  double f;
  if (o.type == Type::Int && !parse_int(value, i))
    fail("option --" + o.name + " expects an integer, got '" + value + "'");
  if (o.type == Type::Float && !parse_float(value, f))
    fail("option --" + o.name + " expects a number, got '" + value + "'");
  if (!o.choices.empty() && std::find(o.choices.begin(), o.choices.end(), value) == o.choices.end()) {
    std::string hint = closest_match(value, o.choices);
    fail("option --" + o.name + " expects one of " + join(o.choices, ", ") + ", got '" + value + "'" +
         (hint.empty() ? "" : " (did you mean '" + hint + "'?)"));
  }
}

Args ArgParser::parse(int argc, const char* const* argv) const {
  return parse(std::vector<std::string>(argv, argv + argc));
}

Args ArgParser::parse(const std::vector<std::string>& words) const {
  Args a;
  a.command_ = command_;
  for (const auto& w : words)
    if (w == "--") break;
    else if (w == "-h" || w == "--help") {
      a.help_ = true;
      return a;
    }

  for (const auto& o : options_) a.values_[o.name] = o.def;
  std::vector<std::string> loose;  // positional words, in order
  bool only_positional = false;
  for (size_t i = 0; i < words.size(); ++i) {
    const std::string& w = words[i];
    if (only_positional || w.size() < 2 || w[0] != '-' || (w[1] != '-' && !std::isalpha((unsigned char)w[1]))) {
      loose.push_back(w);  // also "-" (stdin) and negative numbers like "-3"
      continue;
    }
    if (w == "--") {
      only_positional = true;
      continue;
    }
    if (w[1] != '-') fail("unknown option '" + w + "' (options are long: --name value; see " + command_ + " --help)");
    std::string name = w.substr(2), value;
    bool has_value = false;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_value = true;
    }
    const Option* o = find(name);
    bool negated = false;
    if (!o && name.rfind("no-", 0) == 0) {  // --no-flag
      const Option* f = find(name.substr(3));
      if (f && f->type == Type::Flag) o = f, negated = true;
    }
    if (!o) {
      std::vector<std::string> names;
      for (const auto& x : options_) names.push_back(x.name);
      std::string hint = closest_match(name, names);
      fail("unknown option '--" + name + "'" + (hint.empty() ? " (see " + command_ + " --help)" : " (did you mean '--" + hint + "'?)"));
    }
    if (o->type == Type::Flag) {
      if (has_value) fail("option --" + o->name + " is a flag and takes no value (got '" + value + "')");
      value = negated ? "false" : "true";
    } else if (!has_value) {
      if (i + 1 >= words.size()) fail("option --" + o->name + " needs a value (" + o->metavar + ")");
      value = words[++i];
    }
    check_value(*o, value);
    a.values_[o->name] = value;
    a.given_[o->name] = true;
  }

  for (const auto& o : options_)
    if (o.required && !a.given_.count(o.name))
      fail("missing required option --" + o.name + " (" + o.help + "; see " + command_ + " --help)");

  size_t k = 0;
  for (const auto& p : positionals_) {
    auto& dst = a.positionals_[p.name];
    if (p.many)
      while (k < loose.size()) dst.push_back(loose[k++]);
    else if (k < loose.size())
      dst.push_back(loose[k++]);
    if (p.required && dst.empty()) fail("missing argument <" + p.name + "> (" + p.help + "; see " + command_ + " --help)");
  }
  if (k < loose.size()) fail("unexpected argument '" + loose[k] + "' (see " + command_ + " --help)");

  for (const auto& o : options_) a.ordered_.emplace_back(o.name, a.values_[o.name]);
  return a;
}

std::string ArgParser::help() const {
  std::ostringstream os;
  os << "usage: " << command_ << " [options]";
  for (const auto& p : positionals_) {
    std::string n = "<" + p.name + ">" + (p.many ? "..." : "");
    os << " " << (p.required ? n : "[" + n + "]");
  }
  os << "\n\n" << description_ << "\n";
  if (!positionals_.empty()) {
    os << "\narguments:\n";
    for (const auto& p : positionals_) os << "  <" << p.name << ">" << (p.many ? "..." : "") << "\n      " << p.help << "\n";
  }
  os << "\noptions:\n";
  for (const auto& o : options_) {
    os << "  --" << o.name << (o.type == Type::Flag ? "" : " " + o.metavar) << "\n      " << o.help;
    if (o.required) os << " (required)";
    else if (o.type != Type::Flag && !o.def.empty()) os << " (default: " << o.def << ")";
    os << "\n";
  }
  os << "  -h, --help\n      show this help and exit\n";
  if (!examples_.empty()) {
    os << "\nExamples:\n";
    for (const auto& [cmd, what] : examples_) os << "  # " << what << "\n  " << cmd << "\n";
  }
  return os.str();
}

// ---- Args --------------------------------------------------------------------------------

void Args::missing(const std::string& name) const {
  GRAFT_ASSERT(false, command_, "the program asked for option '", name, "', which it never declared");
}

bool Args::given(const std::string& name) const { return given_.count(name) > 0; }

const std::string& Args::get(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end()) missing(name);
  return it->second;
}

int64_t Args::get_int(const std::string& name) const {
  int64_t v = 0;
  if (!parse_int(get(name), v)) throw ArgError(command_ + ": option --" + name + " expects an integer, got '" + get(name) + "'");
  return v;
}

double Args::get_float(const std::string& name) const {
  double v = 0;
  if (!parse_float(get(name), v)) throw ArgError(command_ + ": option --" + name + " expects a number, got '" + get(name) + "'");
  return v;
}

bool Args::flag(const std::string& name) const { return get(name) == "true"; }

const std::vector<std::string>& Args::positional(const std::string& name) const {
  auto it = positionals_.find(name);
  if (it == positionals_.end()) {
    static const std::vector<std::string> none;
    if (help_) return none;
    missing(name);
  }
  return it->second;
}

std::string Args::summary() const {
  std::vector<std::string> words;
  for (const auto& [n, v] : ordered_) words.insert(words.end(), {"--" + n, v});
  return shell_join(words);
}

// ---- dispatch -----------------------------------------------------------------------------

bool print_help_if_asked(const ArgParser& parser, const Args& args, std::FILE* out) {
  if (!args.help()) return false;
  const std::string help = parser.help();
  std::fputs(help.c_str(), out);
  if (!help.empty() && help.back() != '\n') std::fputc('\n', out);
  return true;
}

int dispatch(int argc, const char* const* argv, const std::vector<Command>& commands, std::FILE* out,
             std::FILE* err) {
  std::vector<std::string> words(argv + 1, argv + argc);
  auto usage = [&] {
    std::string s = "usage: graft <command> [options]   (graft <command> --help for its options)\n\ncommands:\n";
    size_t w = 0;
    for (const auto& c : commands) w = std::max(w, c.name.size());
    for (const auto& c : commands) s += "  " + c.name + std::string(w - c.name.size() + 2, ' ') + c.summary + "\n";
    return s;
  };
  if (words.empty() || words[0] == "--help" || words[0] == "-h" || words[0] == "help") {
    std::fputs(usage().c_str(), words.empty() ? err : out);
    return words.empty() ? 2 : 0;
  }
  const Command* cmd = nullptr;
  std::vector<std::string> names;
  for (const auto& c : commands) {
    names.push_back(c.name);
    if (c.name == words[0]) cmd = &c;
  }
  if (!cmd) {
    std::string hint = closest_match(words[0], names);
    std::fprintf(err, "graft: unknown command '%s'%s\n", words[0].c_str(),
                 hint.empty() ? " (see graft --help)" : (" (did you mean '" + hint + "'?)").c_str());
    return 2;
  }
  try {
    return cmd->run(std::vector<std::string>(words.begin() + 1, words.end()));
  } catch (const ArgError& e) {
    std::fprintf(err, "%s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(err, "graft %s: error: %s\n", cmd->name.c_str(), e.what());
    return 1;
  }
}

}  // namespace graft::tools
