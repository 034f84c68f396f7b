//===- AttentionRange.h - An attention op with its normalization ops -----===//
//
// stc-normalize-patterns may wrap an attention op of a program in ops of its
// own: stride_permute ops (strided heads over a permuted sequence), or a
// second attention after it (fixed split into its own blocks and the
// summaries, which reads its keys through the gather and merges the first's
// result: attention_fwd with merge; the backward's second attention adds
// into the first's dk, dv; older artifacts: summary_gather before,
// attention_merge after, summary_scatter and add), or both (a union split:
// the permuted strided part first, its o and lse restored, then the rest
// merging them; the backward's permuted part after the rest's, with its
// own attention_bwd_prep, its dq accumulated and its dk, dv restored and
// added). The fast backward adds attention_bwd_prep before its
// attention_bwd_atomic ops and a cast of dq after them. The benchmark and
// the row check both need the whole range, and the tensors in their
// original order: this finds them.
//
//===----------------------------------------------------------------------===//

#ifndef STC_BENCH_COMMON_ATTENTIONRANGE_H
#define STC_BENCH_COMMON_ATTENTIONRANGE_H

#include "runtime/Artifact.h"

#include <cstddef>

namespace stc::bench {

/// Ops [begin, end) of `entry`: the attention op at `op` with the
/// normalization ops right before and after it.
struct AttentionRange {
  const rt::Entry *entry = nullptr;
  size_t op = 0, begin = 0, end = 0;

  AttentionRange(const rt::Entry &e, size_t at) : entry(&e), op(at) {
    using rt::OpKind;
    auto pre = [&](size_t i) {
      OpKind k = e.ops[i].kind;
      return k == OpKind::StridePermute || k == OpKind::SummaryGather ||
             k == OpKind::AttentionBwdPrep;
    };
    // An add of the range's own results: scattered summary gradients, or
    // key gradients a stride split restored (stride_permute in the range).
    auto ownAdd = [&](size_t i) {
      const rt::Op &add = e.ops[i];
      if (e.ops[i - 1].kind == OpKind::SummaryScatter)
        return true;
      for (size_t j = begin; j < i; ++j)
        if (e.ops[j].kind == OpKind::StridePermute &&
            (e.ops[j].args[1] == add.args[0] || e.ops[j].args[1] == add.args[1]))
          return true;
      return false;
    };
    auto post = [&](size_t i) {
      OpKind k = e.ops[i].kind;
      if (k == OpKind::Add)
        return ownAdd(i);
      return k == OpKind::StridePermute || k == OpKind::AttentionFwd ||
             k == OpKind::AttentionBwd || k == OpKind::AttentionBwdAtomic ||
             k == OpKind::AttentionBwdPrep || k == OpKind::AttentionMerge ||
             k == OpKind::Accumulate || k == OpKind::SummaryScatter ||
             k == OpKind::Cast;
    };
    begin = at;
    end = at + 1;
    while (begin > 0 && pre(begin - 1))
      --begin;
    while (end < e.ops.size() && post(end))
      ++end;
  }

  /// Normalization ops in the range (besides the attention op itself).
  size_t extraOps() const { return end - begin - 1; }

  /// The buffer an input of the attention op was permuted from.
  int original(int buf) const {
    for (size_t i = op; i-- > begin;) {
      const rt::Op &o = entry->ops[i];
      if (o.kind == rt::OpKind::StridePermute && o.args[1] == buf)
        buf = o.args[0];
    }
    return buf;
  }

  /// The buffer an output of the attention op ends up in.
  int final(int buf) const {
    for (size_t i = op + 1; i < end; ++i) {
      const rt::Op &o = entry->ops[i];
      const auto &a = o.args;
      if (o.kind == rt::OpKind::StridePermute && a[0] == buf)
        buf = a[1];
      else if (o.kind == rt::OpKind::AttentionMerge && a[0] == buf)
        buf = a[4];
      else if (o.kind == rt::OpKind::AttentionFwd && o.attrs.merge &&
               a[5] == buf) // o_prev, merged into o
        buf = a[3];
      else if (o.kind == rt::OpKind::Cast && a[0] == buf)
        buf = a[1];
      else if (o.kind == rt::OpKind::Add && (a[0] == buf || a[1] == buf))
        buf = a[2];
    }
    return buf;
  }
};

} // namespace stc::bench

#endif // STC_BENCH_COMMON_ATTENTIONRANGE_H
