//===- Status.h - Errors as values for the runtime API ----------*- C++ -*-===//
//
// The runtime never throws across its API: every fallible call returns a
// Status (success or a message) or an Expected<T> (a value or a Status). The
// message is for a person: it names what is wrong and what would be valid.
//
//===----------------------------------------------------------------------===//

#ifndef STC_RUNTIME_STATUS_H
#define STC_RUNTIME_STATUS_H

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace stc::rt {

class [[nodiscard]] Status {
public:
  /// Success.
  Status() = default;
  static Status ok() { return Status(); }
  static Status error(std::string message) {
    Status s;
    s.failed_ = true;
    s.message_ = std::move(message);
    return s;
  }

  bool isOk() const { return !failed_; }
  explicit operator bool() const { return !failed_; }
  const std::string &message() const { return message_; }

  /// Prefixes the message with context ("loading checkpoint 'x': ...").
  Status withContext(const std::string &context) const {
    if (!failed_)
      return *this;
    return error(context + ": " + message_);
  }

private:
  bool failed_ = false;
  std::string message_;
};

/// A value or the Status saying why there is none.
template <typename T> class [[nodiscard]] Expected {
public:
  Expected(T value) : v_(std::move(value)) {}
  Expected(Status error) : v_(std::move(error)) {
    assert(!std::get<Status>(v_).isOk() && "Expected built from a success");
  }

  bool hasValue() const { return v_.index() == 0; }
  explicit operator bool() const { return hasValue(); }

  T &value() { return std::get<T>(v_); }
  const T &value() const { return std::get<T>(v_); }
  T &operator*() { return value(); }
  const T &operator*() const { return value(); }
  T *operator->() { return &value(); }
  const T *operator->() const { return &value(); }

  /// The error; only valid when !hasValue().
  const Status &status() const { return std::get<Status>(v_); }
  Status takeStatus() const {
    return hasValue() ? Status::ok() : std::get<Status>(v_);
  }

private:
  std::variant<T, Status> v_;
};

} // namespace stc::rt

/// Returns the Status of a failed expression from the enclosing function.
#define STC_RETURN_IF_ERROR(expr)                                              \
  do {                                                                         \
    ::stc::rt::Status stcStatus_ = (expr);                                     \
    if (!stcStatus_.isOk())                                                    \
      return stcStatus_;                                                       \
  } while (false)

#endif // STC_RUNTIME_STATUS_H
