//===- Args.h - Command-line flags for the stc driver -----------*- C++ -*-===//
//
// A small flag parser shared by every stc command, in both builds (with and
// without the compiler), so it needs no LLVM. Flags are `--name value`,
// `--name=value` or bare `--name` for booleans; anything else is positional.
//
//===----------------------------------------------------------------------===//

#ifndef STC_FRONTEND_STC_ARGS_H
#define STC_FRONTEND_STC_ARGS_H

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace stc::cli {

struct FlagSpec {
  std::string name;  ///< without the leading dashes
  bool takesValue;   ///< false for boolean switches
  std::string help;  ///< one line, shown by --help
};

class Args {
public:
  /// Parses argv[first..argc). On error returns nullopt and sets *error to a
  /// message naming the bad flag and the valid ones.
  static std::optional<Args> parse(int argc, char **argv, int first,
                                   const std::vector<FlagSpec> &specs,
                                   std::string *error);

  bool has(const std::string &name) const { return flags_.count(name) != 0; }
  std::string get(const std::string &name, const std::string &dflt = "") const;
  const std::vector<std::string> &positional() const { return positional_; }

  /// Integer flag in [min, max]; on error sets *error naming the flag, the
  /// value and the valid range.
  std::optional<int64_t> getInt(const std::string &name, int64_t dflt,
                                int64_t min, int64_t max,
                                std::string *error) const;
  std::optional<double> getDouble(const std::string &name, double dflt,
                                  double min, double max,
                                  std::string *error) const;
  /// The attention block size flag (--block-size, or --block for inspect):
  /// one of abi::kAttentionBlockSizes, default abi::kDefaultAttentionBlockSize.
  std::optional<int64_t> getBlockSize(const std::string &name,
                                      std::string *error) const;
  /// A flag whose value is one of `choices` (default `dflt`); on error sets
  /// *error to "--name must be a, b or c, got 'x'".
  std::optional<std::string> getChoice(const std::string &name,
                                       const std::string &dflt,
                                       const std::vector<std::string> &choices,
                                       std::string *error) const;

private:
  std::map<std::string, std::string> flags_;
  std::vector<std::string> positional_;
};

/// How a flag is written: "-o" for the output flag, "--name" otherwise.
std::string flagSpelling(const std::string &name);

/// The help line of a block-size flag: the valid sizes and the default.
std::string blockSizeHelp();

/// "  --name VALUE   help" lines for a command's usage text.
std::string describeFlags(const std::vector<FlagSpec> &specs);

} // namespace stc::cli

#endif // STC_FRONTEND_STC_ARGS_H
