//===- RuntimeTestUtil.h - Helpers shared by the runtime tests --*- C++ -*-===//
//
// Random arrays, central finite differences, temporary directories, and a
// builder that writes small but complete artifacts (manifest + kernels) the
// way the compiler would, so the runtime can be tested without it.
//
//===----------------------------------------------------------------------===//

#ifndef STC_TEST_UNIT_RUNTIME_RUNTIMETESTUTIL_H
#define STC_TEST_UNIT_RUNTIME_RUNTIMETESTUTIL_H

#include "runtime/Artifact.h"
#include "runtime/support/Json.h"
#include "runtime/support/Random.h"

#include <cmath>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace stc::rt::test {

/// Uniform values in [-scale, scale), reproducible from seed.
inline std::vector<double> randomVec(size_t n, uint64_t seed,
                                     double scale = 1.0) {
  SplitMix64 rng(seed);
  std::vector<double> v(n);
  for (auto &x : v)
    x = (2.0 * rng.uniform() - 1.0) * scale;
  return v;
}

inline std::vector<float> toFloat(const std::vector<double> &v) {
  return std::vector<float>(v.begin(), v.end());
}

/// Central differences of a scalar function of x, one coordinate at a time.
inline std::vector<double> numericGrad(std::vector<double> &x,
                                       const std::function<double()> &f,
                                       double h = 1e-5) {
  std::vector<double> g(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    double old = x[i];
    x[i] = old + h;
    double fp = f();
    x[i] = old - h;
    double fm = f();
    x[i] = old;
    g[i] = (fp - fm) / (2 * h);
  }
  return g;
}

/// Largest |a - b| relative to max(1, max |b|).
inline double relError(const std::vector<double> &a,
                       const std::vector<double> &b) {
  double worst = 0, scale = 1;
  for (double x : b)
    scale = std::max(scale, std::abs(x));
  for (size_t i = 0; i < a.size() && i < b.size(); ++i)
    worst = std::max(worst, std::abs(a[i] - b[i]));
  return a.size() == b.size() ? worst / scale : 1e30;
}

inline double dotv(const std::vector<double> &a, const std::vector<double> &b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i)
    s += a[i] * b[i];
  return s;
}

/// A fresh empty directory under the system temp dir.
std::string makeTempDir(const std::string &tag);
void writeFile(const std::string &path, const std::string &data);

/// Builds an artifact directory piece by piece. Buffers get consecutive,
/// aligned, non-overlapping offsets unless placed explicitly with `at`.
class ArtifactBuilder {
public:
  ArtifactBuilder(std::string modelName, int64_t vocab, int64_t context,
                  int64_t width, int64_t batch);

  /// Adds a buffer; returns its name. atOffset >= 0 places it explicitly.
  std::string buffer(const std::string &name, const std::string &dtype,
                     std::vector<int64_t> shape, bool persistent,
                     int64_t atOffset = -1);
  int64_t offsetOf(const std::string &name) const;
  void setModelDtype(const std::string &dtype);
  void setSampleBatch(int64_t sequences);

  /// A parameter `name` with buffers name, name.grad, name.m, name.v.
  /// std > 0: normal(std); std == 0: zeros; std < 0: ones.
  void param(const std::string &name, std::vector<int64_t> shape, double std,
             bool decay);

  /// Adds a layout built from the pattern text with the pattern library.
  void layout(const std::string &name, const std::string &patternText,
              int64_t n, int64_t block);

  /// Appends an op to an entry; non-gemm ops get a kernel "k_<kind>" whose
  /// source is a stub written by write().
  json::Value &op(const std::string &entry, const std::string &kind,
                  std::vector<std::string> args, json::Value attrs);
  void io(const std::string &entry, const std::string &direction,
          const std::string &role, const std::string &buffer);

  json::Value manifest() const;
  /// Writes manifest.json and kernels/ into dir.
  void write(const std::string &dir) const;
  /// write() into a fresh temp dir; returns it.
  std::string writeTemp(const std::string &tag) const;

  static std::string kernelSource(const std::string &kind);

private:
  json::Value root_;
  int64_t next_ = 0;
  int64_t arenaEnd_ = 0;
  std::map<std::string, int64_t> offsets_;
  std::map<std::string, bool> kernels_;
  int64_t paramCount_ = 0;
};

/// The bigram model of the brief: embed (with one position component) ->
/// gemm -> xent, the gradients, sumsq and AdamW; B=4, T=16, V=256, D=32.
/// `logits` and `dx` share bytes (their lifetimes do not overlap).
/// `act` is the dtype of the activations x, logits, dlogits and dx ("bf16"
/// for a mixed-precision model; parameters stay f32).
ArtifactBuilder bigramBuilder(const std::string &act = "f32");

/// A one-layer attention model with two layouts (heads 0-1 `local(4)`,
/// heads 2-3 a predicate pattern): embed -> q,k,v -> attention -> residual
/// -> logits, full backward, AdamW; plus a KV-cache sample_step of
/// `sampleBatch` sequences.
ArtifactBuilder attentionBuilder(int64_t sampleBatch = 1);

/// Representative text for training tests: /usr/share/common-licenses/GPL-3
/// if present, else an embedded paragraph repeated.
std::string trainingText();

} // namespace stc::rt::test

#endif // STC_TEST_UNIT_RUNTIME_RUNTIMETESTUTIL_H
