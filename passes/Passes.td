//===- Passes.td - stc passes -------------------------------*- tablegen -*-===//

#ifndef STC_PASSES_PASSES_TD
#define STC_PASSES_PASSES_TD

include "mlir/Pass/PassBase.td"

//===----------------------------------------------------------------------===//
// Pattern analysis
//===----------------------------------------------------------------------===//

def VerifyPatternsPass : Pass<"stc-verify-patterns", "::mlir::ModuleOp"> {
  let summary = "Checks attention patterns: no empty rows, every position reachable";
  let description = [{
    For every `st.model` and every function holding `st.attention` ops:
    - rejects a pattern that leaves some query row with nothing to attend to
      at the model's context (a row with no allowed key has no softmax);
    - computes, through the stack of layers in order (each layer's heads
      merged), whether every key j <= i is reachable from every query i and
      the number of leading layers needed for that (the paper's p + 1 hops);
      unreachable positions are a warning, or an error with
      `unreachable-is-error`.
    Reachability is analysed over the first `reach-limit` positions (exact
    there: paths never leave [j, i]). The result is attached to the model or
    function as `st.reachability = {analyzed, max_hops, unreachable_pairs}`
    (max_hops = -1 when some pair is never reached).
    Patterns that read the future are rejected earlier, by the `st.pattern`
    verifier.
  }];
  let options = [
    Option<"unreachableIsError", "unreachable-is-error", "bool",
           /*default=*/"false",
           "Report unreachable positions as an error instead of a warning">,
    Option<"reachLimit", "reach-limit", "int64_t", /*default=*/"2048",
           "Analyse reachability over at most this many leading positions">,
  ];
}

//===----------------------------------------------------------------------===//
// Model to training step
//===----------------------------------------------------------------------===//

def ExpandModelPass : Pass<"stc-expand-model", "::mlir::ModuleOp"> {
  let dependentDialects = ["::mlir::func::FuncDialect", "::stc::st::StDialect"];
  let summary = "Expands an st.model into parameters and a forward function";
  let description = [{
    Turns the module's `st.model` into `st.parameter`s (with the paper's
    initialisation: N(0, 0.02) weights, the attention output projection and
    the second feed-forward matrix scaled by sqrt(1 / (2 N)) for N blocks,
    unit layer-norm gains, zero biases) and a function `@forward(tokens,
    targets) -> loss` of tensor-level st ops at a fixed `batch`. The loss is
    the mean cross-entropy in bits per byte. Weight decay applies to matrices
    and embeddings, not to biases and layer-norm parameters. Attention is
    written as the paper defines it: `st.attention_scores` (scale * q k^T),
    `st.masked_softmax` over the pattern, `st.attention_weighted_sum` with v;
    stc-fuse-softmax fuses it.
  }];
  let options = [
    Option<"batch", "batch", "int64_t", /*default=*/"4",
           "Sequences per training step">,
  ];
}

def AutodiffPass : Pass<"stc-autodiff", "::mlir::ModuleOp"> {
  let dependentDialects = ["::mlir::func::FuncDialect", "::stc::st::StDialect"];
  let summary = "Builds the train, eval and sample steps from @forward";
  let description = [{
    From `@forward`: `@train_step` (forward, loss, the backward of every op in
    reverse order, global gradient norm and one AdamW update per parameter),
    `@eval_step` (the loss, dropout off) and `@sample_step` (one position of
    `sample-batch` sequences at once: embeds each sequence's token at the
    shared sampling position, appends each block's keys and values to
    per-block `st.kv_cache`s of [sequences, context, width] and returns the
    next position's logits, [sequences, 1, vocab]). `@forward` is removed.
  }];
  let options = [
    Option<"beta1", "beta1", "double", /*default=*/"0.9", "AdamW beta1">,
    Option<"beta2", "beta2", "double", /*default=*/"0.95", "AdamW beta2">,
    Option<"eps", "eps", "double", /*default=*/"1e-8", "AdamW epsilon">,
    Option<"weightDecay", "weight-decay", "double", /*default=*/"0.01",
           "Decoupled weight decay">,
    Option<"clip", "clip", "double", /*default=*/"1.0",
           "Clip the global gradient norm to this">,
    Option<"sampleBatch", "sample-batch", "int64_t", /*default=*/"0",
           "Sequences the sample step draws at once (0: @forward's batch)">,
  ];
}

//===----------------------------------------------------------------------===//
// Tiling and lowering
//===----------------------------------------------------------------------===//

def NormalizePatternsPass : Pass<"stc-normalize-patterns", "::mlir::ModuleOp"> {
  let summary = "Rewrites attention into cheaper exact forms";
  let description = [{
    For every `st.attention` and `st.attention_grad` (the training and
    evaluation steps; the sampling step's `st.decode_attention` keeps the
    original patterns), rewrites each head group whose pattern has a cheaper
    equivalent form at `block-size` (pattern/Normalize.h, chosen by the
    blocks the kernels would compute):

    - `strided(l)` with l dividing the sequence length: q, k, v (and dy) are
      reordered by residue class with `st.stride_permute`, the heads run
      `fixed(n / l, 0)` (block-diagonal causal) attention, and the result
      (and dq, dk, dv) is reordered back. Each query sums the same terms in
      the same order as before.

    - `fixed(l, c)` on every head group of the op: `st.attention_split`
      runs `fixed(l, 0)` over the keys and `gathered(l, c)` over the summary
      columns of k and v (`st.gather_summaries`), with one softmax; its
      gradient's summary-key gradients go back through
      `st.scatter_summaries`. At the paper's enwik8 shape (l = 128, c = 32,
      n = 12288) this computes 27% of the causal blocks instead of all.

    The backward reuses the forward's permuted tensors. Head groups with
    nothing cheaper (and unions, for now) are left as they are.
  }];
  let options = [
    Option<"blockSize", "block-size", "int64_t",
           /*default=*/"::stc::abi::kDefaultAttentionBlockSize",
           "Block size the cost model compares layouts at">,
  ];
}

def FuseSoftmaxPass : Pass<"stc-fuse-softmax", "::mlir::ModuleOp"> {
  let summary = "Fuses scores, masked softmax and weighted sum into st.attention";
  let description = [{
    Finds `st.attention_scores` -> `st.masked_softmax` ->
    `st.attention_weighted_sum` chains over the same patterns and replaces
    each with one `st.attention` (the online-softmax kernels never hold the
    [B, H, T, T] scores; its gradient is the fused backward). A chain whose
    scores or probabilities are used by anything else, or whose softmax
    masks other patterns than its scores were computed for, is left as it
    is (and named in a remark); stc-autodiff then explains what it cannot
    differentiate.
  }];
}

def ScheduleRecomputePass
    : Pass<"stc-schedule-recompute", "::mlir::ModuleOp"> {
  let summary = "Recomputes activations in the backward instead of keeping them";
  let description = [{
    Decides, per forward value the training step's backward reads, whether
    the backward keeps it (its live range spans the step) or recomputes it
    from kept values just before its first backward use. Policies:

    - `none`: every value is kept.
    - `cheap`: only layer norms and elementwise ops (residual sums, dropout,
      GELU) are recomputed from the values around them; GEMM and attention
      outputs are kept. Almost no extra work, about half the activations of
      a block.
    - `gemm`: the paper policy without recomputing attention: each block's
      attention output (and its statistics) is kept, everything else the
      backward reads is recomputed from the block's input and it. The GEMMs
      run again; attention, the costliest op per byte, does not.
    - `paper` (Child et al., section 5.4): the values marked
      `st.checkpoint` (stc-expand-model marks the embedding and each residual
      block's output) are kept, and every other value a block's backward
      reads (layer norms, projections, attention output and statistics,
      GELU, dropout) is recomputed from the block's input, once per block,
      right before the first backward op that reads one of them. Dropout
      replays its mask from its salt, so the recomputed values are the
      stored ones, bit for bit.

    Values after the last checkpoint (the final layer norm and logits) are
    read at once by the backward and are kept. `blocks=N` applies the policy
    to the first N blocks only (their activations live longest); `rest`
    (none, cheap or gemm, no more than the policy) is what the other blocks
    recompute. Reports the recomputed blocks, ops and GEMM FLOPs with a
    remark.
  }];
  let options = [
    Option<"policy", "policy", "std::string", /*default=*/"\"none\"",
           "none, cheap, gemm or paper">,
    Option<"blocks", "blocks", "int64_t", /*default=*/"-1",
           "paper: recompute only the first N blocks (-1: all); what "
           "`stc compile --recompute auto` searches for a memory budget">,
    Option<"rest", "rest", "std::string", /*default=*/"\"none\"",
           "with blocks=N: the policy of the other blocks: none, cheap or "
           "gemm">,
  ];
}

def TileAttentionPass : Pass<"stc-tile-attention", "::mlir::ModuleOp"> {
  let summary = "Gives every attention op the block layout of its patterns";
  let description = [{
    For each distinct (pattern, sequence length) of the attention ops,
    tiles the sequence in blocks of `block-size` and classifies every block
    of the grid with the pattern library: `full` (no mask needed), `partial`
    (masked inline), `empty` (nothing allowed) and `upper` (above the
    diagonal), as an `st.layout` symbol; sets the op's `st.layouts` to the
    layouts of its head groups. Rejects a context that a pattern cannot tile
    (e.g. an `#st.blocks` layout whose block size does not divide it).
    stc-eliminate-upper-triangle chooses the blocks kernels visit.
  }];
  let options = [
    Option<"blockSize", "block-size", "int64_t",
           /*default=*/"::stc::abi::kDefaultAttentionBlockSize",
           "Block size of the layouts (abi::kAttentionBlockSizes)">,
  ];
}

def EliminateUpperTrianglePass
    : Pass<"stc-eliminate-upper-triangle", "::mlir::ModuleOp"> {
  let summary = "Drops the blocks above the diagonal and the empty blocks";
  let description = [{
    Every `st.layout` that stc-tile-attention classified gets the blocks its
    kernels visit: the full and partial ones, none above the diagonal (a
    query never sees a later key) and none empty. Sets `blocks` and the
    fingerprint of their tables (`fnv1a64`), which the runtime checks when
    it rebuilds them; keeps the classification, so the IR shows what was
    dropped. A layout that already lists its blocks is left as it is.
  }];
}

def LowerToKernelsPass : Pass<"stc-lower-to-kernels", "::mlir::ModuleOp"> {
  let dependentDialects = ["::stc::stk::StkDialect"];
  let summary = "Lowers the step functions to the stk kernel program";
  let description = [{
    Every tensor of `@train_step`, `@eval_step` and `@sample_step` becomes an
    `stk.buffer`, every st op one or more `stk.launch`es (kernels, cuBLASLt
    GEMMs), every parameter an `stk.parameter` with gradient and AdamW
    moment buffers. Checks what the kernels support (head sizes) first.

    Attention gradients that run on the tensor-core kernels (bf16,
    abi::attentionOnTensorCores) lower to the fast backward:
    `attention_bwd_prep` (delta, zeroed fp32 dq), `attention_bwd_atomic`
    per key set (dq added with fp32 atomics) and a `cast` to dq. With
    `deterministic`, and everywhere else, `attention_bwd` computes them
    without atomics: bit-identical from run to run. The sample step's
    attention splits each query's keys over several CTAs
    (`attention_decode_split` + `attention_decode_combine`, flash-decoding)
    when its sequences and heads alone would leave the GPU idle and the
    pattern gives each query enough keys (`decode-splits` forces a count).
  }];
  let options = [
    Option<"deterministic", "deterministic", "bool", /*default=*/"false",
           "Attention backward without atomics (bit-reproducible steps)">,
    Option<"decodeSplits", "decode-splits", "int64_t", /*default=*/"0",
           "Key splits of the sampling attention (0: chosen from the "
           "pattern, the sequences and the heads; 1: none)">,
  ];
}

def FuseAccumulatePass : Pass<"stc-fuse-accumulate", "::mlir::ModuleOp"> {
  let summary = "Folds gradient sums into the ops that produce them";
  let description = [{
    An `add` of two activations whose later operand has a single writer
    with an accumulating form (an OutAcc argument in abi/Ops.def: gemm
    `beta`, layer_norm_bwd / gelu_bwd / summary_scatter `accumulate`)
    becomes that writer accumulating into the other operand's buffer, when
    nothing else reads the folded operand and nothing touches the other
    between the writer and the add or after it. Where the other operand is
    still read after the add (the forward's residual stream), a writer with
    a `residual` input (dropout_fwd) takes it there and writes the sum
    itself. The add and its buffers disappear; the module gets
    `stk.folded_adds`.
  }];
}

def FoldSummaryGathersPass
    : Pass<"stc-fold-summary-gathers", "::mlir::ModuleOp"> {
  let summary = "Folds the fixed split's summary gathers and scatters into "
                "the attention kernels";
  let description = [{
    An attention launch whose k and v each come from a `summary_gather` of
    the same (block, summary) reads the gathered tensors' sources itself
    (abi/Ops.def: `gather_block`, `gather_summary`); gathers nobody reads
    any more go. Such an attention backward whose dk and dv go only to
    accumulating `summary_scatter`s adds them into the scatters' targets
    itself (`accumulate`); the scatters go. Sets `stk.folded_summary_ops`,
    the launches removed.
  }];
}

def FuseLayerNormDropoutPass
    : Pass<"stc-fuse-layer-norm-dropout", "::mlir::ModuleOp"> {
  let summary = "Fuses each layer norm with the dropout beside it";
  let description = [{
    A `dropout_fwd` with a residual followed by the `layer_norm_fwd` of its
    sum becomes one `dropout_layer_norm_fwd`; a `layer_norm_bwd` followed
    by the `dropout_bwd` of its dx becomes the `layer_norm_bwd` with
    `dropout` (dbranch). Same buffers, one pass over the rows instead of
    two. Sets `stk.fused_layer_norms`, the launches removed.
  }];
}

def FuseGemmEpiloguesPass
    : Pass<"stc-fuse-gemm-epilogues", "::mlir::ModuleOp"> {
  let summary = "Moves GELU, its gradient and bias gradients into GEMM epilogues";
  let description = [{
    A `gemm` followed by the `gelu_fwd` of its output becomes one gemm with
    `gelu` (and `gelu_pre`, keeping the argument, when the backward reads
    it); a gemm followed by the `gelu_bwd` of its output becomes one with
    `dgelu`; a weight-gradient gemm beside the `bias_grad` of its B becomes
    one with `bias_grad`. Only adjacent launches fuse. Sets
    `stk.fused_gemm_epilogues`, the launches removed.
  }];
}

def GroupGemmsPass : Pass<"stc-group-gemms", "::mlir::ModuleOp"> {
  let summary = "Makes gemms of one shape that share A one gemm_group";
  let description = [{
    A layer's Q, K and V projections (and their weight gradients) read the
    same A: up to 8 such gemms within 8 launches become one `gemm_group`,
    run where the last of them ran. Records each list of the group's
    buffers (B, C, biases, bias gradients) in `stk.buffer_groups`, which
    stc-plan-memory places side by side so that the CUDA executor runs the
    group as one strided-batched GEMM. Sets `stk.grouped_gemms`.
  }];
}

def PlanMemoryPass : Pass<"stc-plan-memory", "::mlir::ModuleOp"> {
  let summary = "Packs buffers into one arena by lifetime";
  let description = [{
    Gives every `stk.buffer` an `offset`: persistent buffers first, then the
    others packed by their live ranges within each program (buffers that are
    never live at the same time share bytes). The buffers of each list in
    `stk.buffer_groups` (stc-group-gemms) lie side by side, in order, at
    equal distances. Sets `stk.arena_bytes` and
    `stk.persistent_bytes` on the module and reports the peak with a remark. Fails if the arena exceeds
    `budget` bytes (0: no budget).
  }];
  let options = [
    Option<"budget", "budget", "int64_t", /*default=*/"0",
           "Largest arena allowed, in bytes (0: no limit)">,
  ];
}

#endif // STC_PASSES_PASSES_TD
