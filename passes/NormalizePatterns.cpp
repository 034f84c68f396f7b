//===- NormalizePatterns.cpp - stc-normalize-patterns ---------------------===//
//
// Rewrites the head groups of st.attention / st.attention_grad whose pattern
// has a cheaper exact form (passes/PatternAnalysis.h chooses, pattern/
// Normalize.h defines):
//  - strided(l) becomes fixed(n / l, 0) over a sequence reordered by residue
//    class. The reorderings are st.stride_permute ops around the attention;
//    the gradient reuses the forward's permuted q, k, v and o, so a training
//    step permutes q, k, v and dy once and permutes o, dq, dk and dv back
//    once.
//  - fixed(l, c) (every head group the same) becomes st.attention_split:
//    fixed(l, 0) over the keys plus gathered(l, c) over the summary columns
//    (st.gather_summaries of k and v), one softmax; the gradient scatters
//    the gathered keys' gradients back (st.scatter_summaries) and adds them.
//  - a union with a member strided(l) (every head group the same) becomes
//    st.attention_split with stride(l): the other members less strided(l)
//    (#st.minus) over the keys plus fixed(n / l, 0) over the stride
//    permutation (stc-lower-to-kernels permutes and restores); the gradient
//    adds the two sources' key gradients.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "llvm/ADT/DenseSet.h"

#include "dialect/st/StOps.h"
#include "passes/PatternAnalysis.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"

#include <map>
#include <tuple>
#include <type_traits>

namespace stc {
#define GEN_PASS_DEF_NORMALIZEPATTERNSPASS
#include "passes/Passes.h.inc"
} // namespace stc

using namespace mlir;
using namespace stc;
using namespace stc::st;

namespace {

/// One st.stride_permute: heads [begin, end) reordered by `stride`.
struct PermuteRun {
  int64_t begin, end, stride;
};

/// How one attention op (and its gradient) is rewritten.
struct Rewrite {
  ArrayAttr from;               ///< the op's per-group patterns (the memo key)
  ArrayAttr to;                 ///< the new per-group patterns
  SmallVector<PermuteRun> runs; ///< disjoint head ranges, ascending
  int64_t heads = 0;
};

struct NormalizePatternsPass
    : public stc::impl::NormalizePatternsPassBase<NormalizePatternsPass> {
  using Base::Base;

  /// The rewrite of an op whose heads have these patterns (one per head)
  /// over n positions, if any head group has a cheaper form.
  FailureOr<std::optional<Rewrite>>
  rewriteFor(Operation *op, ArrayRef<pattern::Pattern> headPatterns,
             ArrayAttr patterns, int64_t n, int64_t heads) {
    MLIRContext *ctx = op->getContext();
    SmallVector<Attribute> attrs(patterns.begin(), patterns.end());
    Rewrite rewrite;
    rewrite.from = patterns;
    rewrite.heads = heads;
    int64_t perGroup = heads / static_cast<int64_t>(attrs.size());
    if (static_cast<int64_t>(headPatterns.size()) != heads)
      return op->emitOpError() << "has " << headPatterns.size()
                               << " head patterns for " << heads << " heads";
    for (size_t g = 0; g < attrs.size(); ++g) {
      const pattern::Pattern &p = headPatterns[g * perGroup];
      const std::optional<GroupNormalization> &norm = choose(p, n, false);
      if (!norm || !norm->permuted)
        continue;
      const pattern::PermutedPattern &r = *norm->permuted;
      attrs[g] = FixedAttr::get(ctx, r.pattern.size(), r.pattern.summary());
      int64_t begin = static_cast<int64_t>(g) * perGroup;
      int64_t stride = r.permutation.stride;
      if (!rewrite.runs.empty() && rewrite.runs.back().end == begin &&
          rewrite.runs.back().stride == stride)
        rewrite.runs.back().end = begin + perGroup;
      else
        rewrite.runs.push_back({begin, begin + perGroup, stride});
    }
    if (rewrite.runs.empty())
      return std::optional<Rewrite>();
    rewrite.to = ArrayAttr::get(ctx, attrs);
    return std::optional<Rewrite>(std::move(rewrite));
  }

  /// The normalization of pattern p at n (memoized).
  const std::optional<GroupNormalization> &choose(const pattern::Pattern &p,
                                                  int64_t n, bool allowSplit) {
    auto key = std::make_tuple(p.str(), n, allowSplit);
    auto it = chosen.find(key);
    if (it == chosen.end())
      it = chosen
               .emplace(key, chooseNormalization(p, n, blockSize, allowSplit))
               .first;
    return it->second;
  }

  /// The split of an op whose head groups are all the same fixed pattern
  /// or union with a strided member, if the cost model takes it.
  const GroupNormalization *
  splitFor(ArrayAttr patterns, ArrayRef<pattern::Pattern> heads, int64_t n) {
    if (!llvm::all_equal(patterns) || heads.empty())
      return nullptr;
    const std::optional<GroupNormalization> &norm = choose(heads[0], n, true);
    if (!norm || (!norm->split && !norm->strideSplit))
      return nullptr;
    return &*norm;
  }

  /// The split's operands: the second source's keys and values (gathered
  /// where b inserts, or k and v themselves for a stride split), the two
  /// pattern arrays (one entry per head group, as before) and the stride.
  struct SplitOperands {
    Value ks, vs;
    ArrayAttr first, second;
    IntegerAttr stride;
  };
  template <typename OpT>
  SplitOperands splitOperands(OpBuilder &b, OpT op,
                              const GroupNormalization &norm) {
    MLIRContext *ctx = op.getContext();
    size_t groups = op.getPatterns().size();
    auto repeat = [&](Attribute a) {
      return ArrayAttr::get(ctx, SmallVector<Attribute>(groups, a));
    };
    if (const std::optional<pattern::SplitPattern> &sp = norm.split) {
      int64_t l = sp->gather.block, c = sp->gather.summary;
      // The backward gathers again rather than keep the forward's gathered
      // keys alive in between (two memory passes against 2 x |k| per
      // layer).
      auto gathered = [&](Value x) {
        return GatherSummariesOp::create(b, op.getLoc(), x,
                                         b.getI64IntegerAttr(l),
                                         b.getI64IntegerAttr(c))
            .getResult();
      };
      return {gathered(op.getK()), gathered(op.getV()),
              repeat(FixedAttr::get(ctx, l, 0)),
              repeat(GatheredAttr::get(ctx, l, c)), IntegerAttr()};
    }
    const pattern::StrideSplit &ss = *norm.strideSplit;
    int64_t l = ss.permutation.stride;
    // The union's members but the (first) strided(l), less strided(l).
    auto members = cast<UnionAttr>(op.getPatterns()[0]).getPatterns();
    SmallVector<Attribute> others;
    Attribute strided;
    for (Attribute m : members) {
      auto s = dyn_cast<StridedAttr>(m);
      if (!strided && s && s.getStride() == l)
        strided = m;
      else
        others.push_back(m);
    }
    Attribute rest = others.size() == 1
                         ? others.front()
                         : UnionAttr::get(ctx, ArrayAttr::get(ctx, others));
    return {op.getK(), op.getV(), repeat(MinusAttr::get(ctx, rest, strided)),
            repeat(FixedAttr::get(ctx, ss.permutation.segment(), 0)),
            b.getI64IntegerAttr(l)};
  }

  void splitAttention(AttentionOp attn, const GroupNormalization &norm) {
    OpBuilder b(attn);
    SplitOperands s = splitOperands(b, attn, norm);
    auto split = AttentionSplitOp::create(
        b, attn.getLoc(), attn.getResult().getType(), attn.getQ(), attn.getK(),
        attn.getV(), s.ks, s.vs, attn.getHeadsAttr(), s.first, s.second,
        s.stride, attn.getScaleAttr(), attn.getScoreModsAttr());
    attn.getResult().replaceAllUsesWith(split.getResult());
    attn.erase();
  }

  void splitGrad(AttentionGradOp grad, const GroupNormalization &norm) {
    OpBuilder b(grad);
    Location loc = grad.getLoc();
    SplitOperands s = splitOperands(b, grad, norm);
    auto g = AttentionSplitGradOp::create(
        b, loc, grad.getDout(), grad.getQ(), grad.getK(), grad.getV(), s.ks,
        s.vs, grad.getOut(), grad.getHeadsAttr(), s.first, s.second, s.stride,
        grad.getScaleAttr(), grad.getScoreModsAttr());
    // The second source's key gradients go back to their keys: gathered
    // summaries to their columns; a stride split's are in the sequence's
    // order already.
    auto back = [&](Value first, Value second) {
      if (const std::optional<pattern::SplitPattern> &sp = norm.split)
        second = ScatterSummariesOp::create(
            b, loc, second, b.getI64IntegerAttr(sp->gather.block),
            b.getI64IntegerAttr(sp->gather.summary));
      return AddOp::create(b, loc, first, second).getResult();
    };
    grad.getDq().replaceAllUsesWith(g.getDq());
    grad.getDk().replaceAllUsesWith(back(g.getDk(), g.getDks()));
    grad.getDv().replaceAllUsesWith(back(g.getDv(), g.getDvs()));
    grad.erase();
  }

  /// x reordered (or, with inverse, restored) for every run of `r`.
  Value permute(OpBuilder &b, Location loc, Value x, const Rewrite &r,
                bool inverse) {
    for (const PermuteRun &run : r.runs)
      x = StridePermuteOp::create(b, loc, x, b.getI64IntegerAttr(run.stride),
                                  b.getI64IntegerAttr(run.begin),
                                  b.getI64IntegerAttr(run.end),
                                  b.getI64IntegerAttr(r.heads),
                                  inverse ? b.getUnitAttr() : UnitAttr())
              .getResult();
    return x;
  }

  /// The permuted form of x for rewrite r: the one made before, if any.
  Value permuted(OpBuilder &b, Location loc, Value x, const Rewrite &r) {
    auto key = std::make_tuple(x.getAsOpaquePointer(),
                               r.from.getAsOpaquePointer(), r.heads);
    auto it = permutedOf.find(key);
    if (it != permutedOf.end())
      return it->second;
    Value p = permute(b, loc, x, r, /*inverse=*/false);
    permutedOf[key] = p;
    return p;
  }

  /// Replaces every use of `result` (computed in permuted order) with its
  /// restored form, and remembers that `result` is that form's permutation.
  void restore(OpBuilder &b, Location loc, Value result, const Rewrite &r) {
    b.setInsertionPointAfterValue(result);
    Value restored = permute(b, loc, result, r, /*inverse=*/true);
    // The first op of the chain is the one new user of `result`.
    Operation *first = restored.getDefiningOp();
    while (cast<StridePermuteOp>(first).getX() != result)
      first = cast<StridePermuteOp>(first).getX().getDefiningOp();
    SmallPtrSet<Operation *, 1> except{first};
    result.replaceAllUsesExcept(restored, except);
    permutedOf[std::make_tuple(restored.getAsOpaquePointer(),
                               r.from.getAsOpaquePointer(), r.heads)] = result;
  }

  /// Rewrites an st.attention or st.attention_grad: a summary split, or
  /// every operand permuted and every result restored (the forward's q, k,
  /// v; the gradient's dy, q, k, v, o, most of them made by the forward).
  template <typename OpT> LogicalResult rewrite(OpT op) {
    // ALiBi reads query and key positions, which the permuted and gathered
    // forms renumber: such attention runs as written.
    if (ArrayAttr mods = op.getScoreModsAttr())
      if (llvm::any_of(mods, [](Attribute m) { return isa<AlibiAttr>(m); })) {
        // Once per layer (its train and eval forwards share the location).
        if (std::is_same_v<OpT, AttentionOp> && remarked.insert(op.getLoc()).second)
          op.emitRemark() << "stc-normalize-patterns: runs as written: "
                             "#st.alibi reads positions, which the "
                             "normalized forms renumber";
        return success();
      }
    FailureOr<SmallVector<pattern::Pattern>> groups = op.headPatterns();
    if (failed(groups))
      return failure();
    int64_t n = cast<RankedTensorType>(op.getQ().getType()).getDimSize(1);
    if (const GroupNormalization *norm =
            splitFor(op.getPatterns(), *groups, n)) {
      if constexpr (std::is_same_v<OpT, AttentionOp>)
        splitAttention(op, *norm);
      else
        splitGrad(op, *norm);
      return success();
    }
    auto r = rewriteFor(op, *groups, op.getPatterns(), n,
                        static_cast<int64_t>(op.getHeads()));
    if (failed(r))
      return failure();
    if (!*r)
      return success();
    // Permuted tensors are remembered by the old patterns, so that the
    // gradient finds the forward's.
    const Rewrite &rw = **r;
    OpBuilder b(op);
    Location loc = op.getLoc();
    SmallVector<Value> operands;
    for (Value x : op->getOperands())
      operands.push_back(permuted(b, loc, x, rw));
    op->setOperands(operands);
    op.setPatternsAttr(rw.to);
    for (Value result : op->getResults())
      restore(b, loc, result, rw);
    return success();
  }

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (!abi::isAttentionBlockSize(blockSize)) {
      module.emitError() << "stc-normalize-patterns: block-size "
                         << static_cast<int64_t>(blockSize)
                         << " is not supported; valid: "
                         << abi::attentionBlockSizesText();
      return signalPassFailure();
    }
    // Program order: a forward attention before its gradient.
    SmallVector<Operation *> ops;
    module.walk([&](Operation *op) {
      if (isa<AttentionOp, AttentionGradOp>(op))
        ops.push_back(op);
    });
    for (Operation *op : ops) {
      LogicalResult ok = isa<AttentionOp>(op)
                             ? rewrite(cast<AttentionOp>(op))
                             : rewrite(cast<AttentionGradOp>(op));
      if (failed(ok))
        return signalPassFailure();
    }
  }

  std::map<std::tuple<std::string, int64_t, bool>,
           std::optional<GroupNormalization>>
      chosen;
  std::map<std::tuple<void *, const void *, int64_t>, Value> permutedOf;
  llvm::DenseSet<Location> remarked; ///< layers told why they run as written
};

} // namespace
