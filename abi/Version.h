//===- Version.h - stc's version --------------------------------*- C++ -*-===//
//
// One place for the version `stc --version` prints, the producer string of
// artifacts and the key of compiled-on-the-fly artifacts.
//
//===----------------------------------------------------------------------===//

#ifndef STC_ABI_VERSION_H
#define STC_ABI_VERSION_H

namespace stc::abi {

inline constexpr const char kStcVersion[] = "0.1.0";

} // namespace stc::abi

#endif // STC_ABI_VERSION_H
