//===- Random.h - Portable, documented random numbers -----------*- C++ -*-===//
//
// Everything random in the runtime (initial weights, data windows, sampling)
// comes from splitmix64 and the conversions below, never from std::
// distributions, whose output differs between standard libraries. The exact
// algorithms are part of docs/artifact-format.md ("Host random numbers"), so
// another implementation can reproduce a run bit for bit.
//
//===----------------------------------------------------------------------===//

#ifndef STC_RUNTIME_SUPPORT_RANDOM_H
#define STC_RUNTIME_SUPPORT_RANDOM_H

#include <cmath>
#include <cstdint>

namespace stc::rt {

/// The splitmix64 finalizer: a bijective 64-bit mix.
inline uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/// Derives an independent stream seed from a seed and a stream id.
inline uint64_t deriveSeed(uint64_t seed, uint64_t stream) {
  return mix64(seed ^ mix64(stream + 0x9e3779b97f4a7c15ull));
}

class SplitMix64 {
public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}

  uint64_t next() {
    state_ += 0x9e3779b97f4a7c15ull;
    return mix64(state_);
  }

  /// Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

  /// Uniform in (0, 1]: safe to take the log of.
  double uniformPositive() {
    return static_cast<double>((next() >> 11) + 1) * 0x1.0p-53;
  }

  /// Uniform integer in [0, n) for n >= 1, by the multiply-high method (no
  /// modulo; bias below 2^-64 * n, which no test of ours can see).
  uint64_t below(uint64_t n) {
    return static_cast<uint64_t>((static_cast<unsigned __int128>(next()) * n) >>
                                 64);
  }

  /// A pair of independent standard normals (Box-Muller), in the order
  /// r cos(2 pi u2), r sin(2 pi u2), r = sqrt(-2 ln u1), u1 drawn first.
  void normalPair(double &z0, double &z1) {
    double u1 = uniformPositive();
    double u2 = uniform();
    double r = std::sqrt(-2.0 * std::log(u1));
    double theta = 6.283185307179586476925 * u2;
    z0 = r * std::cos(theta);
    z1 = r * std::sin(theta);
  }

  uint64_t state() const { return state_; }

private:
  uint64_t state_;
};

} // namespace stc::rt

#endif // STC_RUNTIME_SUPPORT_RANDOM_H
