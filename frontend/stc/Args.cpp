//===- Args.cpp - Command-line flags for the stc driver -------------------===//

#include "frontend/stc/Args.h"

#include "abi/Limits.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>

using namespace stc::cli;

std::string stc::cli::flagSpelling(const std::string &name) {
  return (name == "o" ? "-" : "--") + name;
}

std::optional<Args> Args::parse(int argc, char **argv, int first,
                                const std::vector<FlagSpec> &specs,
                                std::string *error) {
  Args args;
  auto findSpec = [&](const std::string &name) -> const FlagSpec * {
    for (const FlagSpec &s : specs)
      if (s.name == name)
        return &s;
    return nullptr;
  };
  for (int i = first; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "-h")
      arg = "--help";
    if (arg == "-o" || arg.compare(0, 3, "-o=") == 0)
      arg = "-" + arg; // the conventional output flag, also as --o
    if (arg.size() >= 2 && arg[0] == '-' && arg[1] != '-') {
      *error = "unknown flag " + arg + " (flags are written --name, except -o)";
      return std::nullopt;
    }
    if (arg.size() < 2 || arg.compare(0, 2, "--") != 0 || arg == "--") {
      args.positional_.push_back(arg);
      continue;
    }
    std::string name = arg.substr(2), value;
    bool inlineValue = false;
    if (size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      inlineValue = true;
    }
    const FlagSpec *spec = findSpec(name);
    if (!spec) {
      *error = "unknown flag " + flagSpelling(name) + "; valid flags:";
      for (const FlagSpec &s : specs)
        *error += " " + flagSpelling(s.name);
      return std::nullopt;
    }
    if (spec->takesValue && !inlineValue) {
      if (i + 1 >= argc) {
        *error = "flag " + flagSpelling(name) + " needs a value";
        return std::nullopt;
      }
      value = argv[++i];
    } else if (!spec->takesValue && inlineValue) {
      *error = "flag " + flagSpelling(name) + " takes no value";
      return std::nullopt;
    }
    if (args.flags_.count(name)) {
      *error = "flag " + flagSpelling(name) + " is given twice";
      return std::nullopt;
    }
    args.flags_[name] = spec->takesValue ? value : "1";
  }
  return args;
}

std::string Args::get(const std::string &name, const std::string &dflt) const {
  auto it = flags_.find(name);
  return it == flags_.end() ? dflt : it->second;
}

std::optional<int64_t> Args::getInt(const std::string &name, int64_t dflt,
                                    int64_t min, int64_t max,
                                    std::string *error) const {
  auto it = flags_.find(name);
  if (it == flags_.end())
    return dflt;
  const std::string &text = it->second;
  char *end = nullptr;
  errno = 0;
  long long v = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno == ERANGE || v < min || v > max) {
    *error = flagSpelling(name) + " must be an integer in [" + std::to_string(min) +
             ", " + std::to_string(max) + "], got '" + text + "'";
    return std::nullopt;
  }
  return static_cast<int64_t>(v);
}

std::optional<double> Args::getDouble(const std::string &name, double dflt,
                                      double min, double max,
                                      std::string *error) const {
  auto it = flags_.find(name);
  if (it == flags_.end())
    return dflt;
  const std::string &text = it->second;
  char *end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || !(v >= min && v <= max)) {
    auto show = [](double v) {
      char buf[32];
      std::snprintf(buf, sizeof(buf), "%g", v);
      return std::string(buf);
    };
    *error = flagSpelling(name) + " must be a number in [" + show(min) + ", " +
             show(max) + "], got '" + text + "'";
    return std::nullopt;
  }
  return v;
}

std::optional<int64_t> Args::getBlockSize(const std::string &name,
                                          std::string *error) const {
  auto it = flags_.find(name);
  if (it == flags_.end())
    return abi::kDefaultAttentionBlockSize;
  const std::string &text = it->second;
  char *end = nullptr;
  errno = 0;
  long long v = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno == ERANGE ||
      !abi::isAttentionBlockSize(v)) {
    *error = flagSpelling(name) + " must be one of " +
             abi::attentionBlockSizesText() + ", got '" + text + "'";
    return std::nullopt;
  }
  return static_cast<int64_t>(v);
}

std::optional<std::string>
Args::getChoice(const std::string &name, const std::string &dflt,
                const std::vector<std::string> &choices,
                std::string *error) const {
  std::string value = get(name, dflt);
  std::string valid;
  for (size_t i = 0; i < choices.size(); ++i) {
    if (choices[i] == value)
      return value;
    valid += (i == 0 ? "" : i + 1 == choices.size() ? " or " : ", ") +
             choices[i];
  }
  *error = flagSpelling(name) + " must be " + valid + ", got '" + value + "'";
  return std::nullopt;
}

std::string stc::cli::blockSizeHelp() {
  return "attention block size: " + abi::attentionBlockSizesText() +
         " (default " + std::to_string(abi::kDefaultAttentionBlockSize) + ")";
}

std::string stc::cli::describeFlags(const std::vector<FlagSpec> &specs) {
  std::string out;
  for (const FlagSpec &s : specs) {
    std::string left = "  " + flagSpelling(s.name) + (s.takesValue ? " VALUE" : "");
    if (left.size() < 24)
      left.resize(24, ' ');
    else
      left += "  ";
    out += left + s.help + "\n";
  }
  return out;
}
