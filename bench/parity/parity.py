#!/usr/bin/env python3
"""The model stc builds from a .mlir spec, written again in PyTorch, fed what
stc was fed, and compared with what stc computed.

    parity.py --model M.mlir --artifact DIR --init INIT.safetensors
              --grads GRADS.safetensors --log STC.jsonl --data FILE
              --steps N --lr LR --min-lr LR --warmup W --name NAME
              --out RESULT.json [--device cuda|cpu]

stc's side (bench/parity/run does it): `stc export` writes the initial
parameters, `stc train --save-grads --log-json` trains N steps and writes
the first step's gradients and, per step, the loss and where each window
starts in the data. This script:
  1. loads the initial parameters by their stc names into the network
     below (the one stc-expand-model writes: token plus learned position
     embedding, pre-layer-norm blocks with q, k, v, o projections and a
     tanh-GELU feed-forward, final layer norm, output projection; loss in
     bits per byte);
  2. runs step 1 on the same windows and compares the loss and every
     parameter's gradient with stc's (relative L2 error);
  3. trains N steps with stc's optimizer (global-norm clipping at 1.0, AdamW
     betas 0.9/0.95, eps 1e-8, decay 0.01 on the parameters stc decays; the
     same warmup and cosine schedule) on the same windows, and records both
     loss curves.
A float32 model runs in float32 with TF32 off. A bfloat16 model gets two
references, each compared with stc and with the same step in float32:
  - "autocast": the way a PyTorch user would run it, float32 parameters
    (stc keeps float32 master weights) under bfloat16 autocast. It rounds
    other tensors than stc does (autocast keeps the residual stream and the
    layer norms' outputs in float32, stc stores every activation and every
    activation gradient in bfloat16), so it shows how far a typical bf16
    run is from stc's, not whether stc computes its program right;
  - "matched" (storage-matched, the parity check): float32 arithmetic
    rounded to bfloat16 exactly where stc's bf16 training step stores a
    bf16 buffer, forward and backward, in the order stc accumulates
    (Matched below lists each point and where stc does it); what remains
    is the order of float32 (CPU: double) sums, and on the GPU the
    attention kernels' internal roundings. Its loss and gradients decide
    the bfloat16 pass; its 200-step curve is reported beside autocast's.
Attention is dense with each head's pattern as a boolean mask, so nothing is
shared with stc's block-sparse kernels.
"""
import argparse
import json
import math
import re
import struct
import sys

import torch
import torch.nn.functional as F

LN2 = math.log(2.0)


# -- the spec ---------------------------------------------------------------

def parse_pattern(text):
    """#st.local<32>, #st.strided<16>, #st.fixed<block = 32, summary = 8>,
    #st.causal: a function (q, k) -> allowed, on index tensors."""
    m = re.fullmatch(r"#st\.(\w+)(?:<(.*)>)?", text.strip())
    if not m:
        sys.exit(f"parity.py: cannot read the pattern '{text}'")
    kind, body = m.group(1), m.group(2) or ""
    nums = [int(x) for x in re.findall(r"\d+", body)]
    if kind == "causal":
        return lambda q, k: k <= q
    if kind == "local":
        return lambda q, k: (k <= q) & (q - k < nums[0])
    if kind == "strided":
        return lambda q, k: (k <= q) & ((q - k) % nums[0] == 0)
    if kind == "fixed":
        l, c = nums
        return lambda q, k: (k <= q) & ((q // l == k // l) | (k % l >= l - c))
    sys.exit(f"parity.py: pattern kind '{kind}' is not in this reference "
             "(causal, local, strided, fixed)")


def parse_model(path):
    text = open(path).read()
    if "st.repeat" in text:
        sys.exit("parity.py: write the blocks out (no st.repeat)")
    head = re.search(r"st\.model\s+@\w+\s*\{(.*?)\}\s*\{", text, re.S)
    attrs = dict(re.findall(r"(\w+)\s*=\s*([\w.#<> =]+?)(?:,|$)",
                            head.group(1).replace("\n", " ")))
    layers = []
    for line in re.findall(r"st\.block\s+attention\s*\[(.*)\]", text):
        layers.append([parse_pattern(p) for p in
                       re.findall(r"#st\.\w+(?:<[^>]*>)?", line)])
    if float(attrs.get("dropout", "0")) != 0:
        sys.exit("parity.py: the model has dropout; stc's masks come from "
                 "its own hash (use dropout = 0.0)")
    if "learned" not in attrs.get("position", "#st.position<learned>"):
        sys.exit("parity.py: only learned positions are in this reference")
    return int(attrs["heads"]), layers


# -- safetensors ------------------------------------------------------------

def read_safetensors(path):
    blob = open(path, "rb").read()
    (n,) = struct.unpack_from("<Q", blob, 0)
    header = json.loads(blob[8:8 + n])
    data = memoryview(blob)[8 + n:]
    meta = header.pop("__metadata__", {})
    out = {}
    for name, t in header.items():
        begin, end = t["data_offsets"]
        raw = bytes(data[begin:end])
        if t["dtype"] == "F32":
            x = torch.frombuffer(bytearray(raw), dtype=torch.float32)
        elif t["dtype"] == "BF16":
            x = torch.frombuffer(bytearray(raw), dtype=torch.bfloat16).float()
        else:
            sys.exit(f"parity.py: {path}: {name} has dtype {t['dtype']}")
        out[name] = x.reshape(t["shape"]).clone()
    return out, meta


# -- the network ------------------------------------------------------------

class Net:
    def __init__(self, params, heads, layers, context, device, splits=None):
        """splits: {layer: (l, c)} for the fixed(l, c) layers stc runs split
        into their own block and the gathered summaries (split_layers);
        only the storage-matched loss reads it."""
        # A copy of its own: each reference trains its own parameters.
        self.p = {k: v.detach().clone().to(device).requires_grad_(True)
                  for k, v in params.items()}
        self.heads = heads
        q = torch.arange(context, device=device).view(-1, 1)
        k = torch.arange(context, device=device).view(1, -1)
        self.masks = []
        for pats in layers:
            per = heads // len(pats)
            m = torch.stack([pats[h // per](q, k) for h in range(heads)])
            self.masks.append(m)  # (heads, T, T)
        # Split fixed(l, c) layers: the keys of the gathered summaries (the
        # summary columns of earlier fixed blocks); the rest of the pattern
        # is the query's own block.
        self.summaries = [None] * len(layers)
        for i, (l, c) in (splits or {}).items():
            self.summaries[i] = (k % l >= l - c) & (k // l < q // l) & self.masks[i]

    def linear(self, x, name):
        return x @ self.p[name + ".w"] + self.p[name + ".b"]

    def norm(self, x, name):
        return F.layer_norm(x, x.shape[-1:], self.p[name + ".g"],
                            self.p[name + ".b"], 1e-5)

    def attend(self, q, k, v, mask):
        b, t, d = q.shape
        split = lambda y: y.view(b, t, self.heads, -1).transpose(1, 2)
        q, k, v = split(q), split(k), split(v)
        s = (q @ k.transpose(-1, -2)) / math.sqrt(q.shape[-1])
        s = s.float().masked_fill(~mask, float("-inf"))
        a = torch.softmax(s, dim=-1).to(v.dtype) @ v
        return a.transpose(1, 2).reshape(b, t, -1)

    def loss(self, tokens, targets):
        """Mean cross-entropy in bits per byte, as stc's losses are."""
        x = self.p["tok_emb"][tokens] + self.p["pos_emb0"][: tokens.shape[1]]
        for i, mask in enumerate(self.masks):
            p = f"block{i}."
            h = self.norm(x, p + "ln1")
            a = self.attend(self.linear(h, p + "attn.q"),
                            self.linear(h, p + "attn.k"),
                            self.linear(h, p + "attn.v"), mask)
            x = x + self.linear(a, p + "attn.o")
            u = F.gelu(self.linear(self.norm(x, p + "ln2"), p + "ffn.1"),
                       approximate="tanh")
            x = x + self.linear(u, p + "ffn.2")
        logits = self.linear(self.norm(x, "ln_f"), "out").float()
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                               targets.reshape(-1)) / LN2

    def matched_loss(self, tokens, targets):
        """The loss of stc's bfloat16 training step, storage-matched: float32
        arithmetic, rounded to bfloat16 where stc stores a bf16 buffer (see
        the section below for each point and stc's op that stores it)."""
        # The kernels read the bf16 parameters, AdamW's float32 master
        # weights rounded; their gradients are float32 (not rounded).
        P = {n: RoundValue.apply(p) for n, p in self.p.items()}
        linear = lambda x, n: x @ P[n + ".w"] + P[n + ".b"]
        norm = lambda x, n: F.layer_norm(x, x.shape[-1:], P[n + ".g"],
                                         P[n + ".b"], 1e-5)
        # embed_fwd: the sum of the two tables, rounded once.
        x = RoundValue.apply(P["tok_emb"][tokens] + P["pos_emb0"][: tokens.shape[1]])
        for i, mask in enumerate(self.masks):
            p = f"block{i}."
            # The residual stream's gradient: the add's (a bf16 buffer),
            # then layer_norm_bwd accumulates into it (rounded once).
            x_ln, x_res = Fork.apply(x, (1, 0))
            h = RoundValue.apply(norm(x_ln, p + "ln1"))
            # dh: the v gemm writes it, the k and q gemms add (beta 1).
            h_q, h_k, h_v = Fork.apply(h, (2, 1, 0))
            a = MatchedAttention.apply(Stored.apply(linear(h_q, p + "attn.q")),
                                       Stored.apply(linear(h_k, p + "attn.k")),
                                       Stored.apply(linear(h_v, p + "attn.v")),
                                       mask, self.summaries[i], self.heads)
            # The gemm's output and the add's, both bf16; their gradient is
            # the residual stream's.
            x = RoundValue.apply(x_res + RoundValue.apply(linear(a, p + "attn.o")))
            x_ln, x_res = Fork.apply(x, (1, 0))
            h2 = Stored.apply(norm(x_ln, p + "ln2"))
            u = GeluStored.apply(linear(h2, p + "ffn.1"))
            x = RoundValue.apply(x_res + RoundValue.apply(linear(u, p + "ffn.2")))
        # ln_f is the last stream value's only reader: layer_norm_bwd writes
        # its gradient (rounded).
        hf = Stored.apply(norm(RoundGrad.apply(x), "ln_f"))
        # xent_fwd_bwd reads the bf16 logits and writes bf16 dlogits.
        logits = Stored.apply(linear(hf, "out"))
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                               targets.reshape(-1)) / LN2


# -- the storage-matched bfloat16 reference ---------------------------------
#
# stc's bf16 training step (stc compile bench/parity/model-bf16.mlir --batch
# 4; its manifest's train_step) keeps every activation and every activation
# gradient in a bf16 buffer and computes inside each op in float32 (the CPU
# executor: double), rounding once when it stores (runtime/cpu/CpuExecutor.cpp
# FloatArgs: bf16 buffers widened per op, rounded on write-back). Where the
# reference rounds, and the op of stc that stores there:
#   forward
#     embed_fwd        x = bf16(tok_emb[t] + pos_emb[p])
#     layer_norm_fwd   h = bf16(LN(x)) (mean, rstd float32)
#     gemm_group       q, k, v = bf16(h W + b)
#     attention_fwd    o = bf16(attention); a split fixed layer's first half
#                      stores its own o1 (bf16) and the second merges it by lse
#                      with its own unrounded result (abi/Ops.def: merge)
#     gemm             bf16(a W_o + b_o); add: x = bf16(x + that)
#     gemm gelu        pre = bf16(h W_1 + b_1) (gelu_pre, what the backward
#                      reads); u = bf16(gelu(h W_1 + b_1)), gelu of the
#                      unrounded sum
#     gemm, add        as the attention's projection
#     gemm             logits = bf16(h_f W + b)
#   backward
#     xent_fwd_bwd     dlogits = bf16((softmax - onehot) / (rows ln 2))
#     gemm             d of each linear's input: bf16(dy W^T), except below
#     gemm dgelu       dpre = bf16((dy W_2^T) * gelu'(pre)): dy W_2^T is not
#                      stored
#     layer_norm_bwd   the residual stream's gradient, one bf16 buffer: ln_f
#                      writes it, then every layer norm adds its dx into it,
#                      rounded after each addition (accumulate); the adds'
#                      gradients are that buffer itself
#     attention_bwd_*  delta = rowsum(dO o) with o and dO as stored;
#                      dq = bf16(float32 sum), dk, dv bf16; a split layer's
#                      summaries half adds its dk, dv into the first half's
#                      stored ones (accumulate)
#     gemm beta 1      dh = bf16(bf16(bf16(dv W_v^T) + dk W_k^T) + dq W_q^T)
#   float32, not rounded: parameter gradients (weight gemms, bias, gamma,
#   beta and embedding sums), lse, layer-norm statistics, the losses.
# The stride permutations of the strided heads move bf16 values (exact).
# Inside an attention op nothing is rounded here, as in stc's CPU executor
# (runtime/cpu/CpuAttention.cpp, double). The GPU's tensor-core kernels
# also round their products' operands to bf16: the forward's P relative to
# a running maximum per key tile (codegen/device/attention_fwd_mma.cuh),
# the backward's P and dS (attention_bwd_mma.cuh). That is not mirrored
# (the forward's depends on the kernel's tiles; one reference serves both
# executors), so it is part of the cuda run's matched difference.

def bf16(x):
    """x rounded to bfloat16 (nearest even), kept in float32."""
    return x.to(torch.bfloat16).to(torch.float32)


class Stored(torch.autograd.Function):
    """A bf16 buffer stc writes in the forward whose gradient is a bf16
    buffer written (not accumulated) in the backward: both rounded."""

    @staticmethod
    def forward(ctx, x):
        return bf16(x)

    @staticmethod
    def backward(ctx, g):
        return bf16(g)


class RoundValue(torch.autograd.Function):
    """Forward rounded; the gradient passes as it is (rounded where stc
    stores it: by another op of this reference, or a float32 gradient)."""

    @staticmethod
    def forward(ctx, x):
        return bf16(x)

    @staticmethod
    def backward(ctx, g):
        return g


class RoundGrad(torch.autograd.Function):
    """The value as it is; the gradient rounded."""

    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, g):
        return bf16(g)


class Fork(torch.autograd.Function):
    """One bf16 value read by several ops: its copies, whose gradients stc
    sums in one bf16 buffer, rounding after each addition. order: the
    copies' indices in the order stc adds their gradients (the first one
    written, each later one added by an op that accumulates)."""

    @staticmethod
    def forward(ctx, x, order):
        ctx.order = order
        return tuple(x.clone() for _ in order)

    @staticmethod
    def backward(ctx, *grads):
        acc = bf16(grads[ctx.order[0]])
        for i in ctx.order[1:]:
            acc = bf16(acc + grads[i])
        return acc, None


GELU_C = math.sqrt(2.0 / math.pi)
GELU_A = 0.044715


class GeluStored(torch.autograd.Function):
    """gemm with gelu and gelu_pre, and its dgelu: u = bf16(gelu(pre)) of
    the unrounded pre; the backward takes the stored bf16(pre) and an
    unrounded incoming gradient (the dgelu gemm's product), and stores
    dpre rounded."""

    @staticmethod
    def forward(ctx, pre):
        ctx.save_for_backward(bf16(pre))
        return bf16(F.gelu(pre, approximate="tanh"))

    @staticmethod
    def backward(ctx, du):
        (x,) = ctx.saved_tensors
        t = torch.tanh(GELU_C * (x + GELU_A * x * x * x))
        d = 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * GELU_C * (1.0 + 3.0 * GELU_A * x * x)
        return bf16(du * d)


class MatchedAttention(torch.autograd.Function):
    """Dense masked attention in float32 with stc's storage: o rounded (a
    split layer's own-block half rounded before the merge), the backward
    from the stored o and a rounded dO (delta = rowsum(dO o)), dq, dk, dv
    rounded (a split layer's dk, dv: the own-block half's rounded, then the
    summaries' added and rounded again). q, k, v: [B, T, H * d]; mask:
    [H, T, T]; summaries: [H, T, T] (a split fixed layer's summary keys)
    or None."""

    @staticmethod
    def forward(ctx, q, k, v, mask, summaries, heads):
        b, t, w = q.shape
        split = lambda y: y.reshape(b, t, heads, -1).transpose(1, 2)
        qh, kh, vh = split(q), split(k), split(v)
        scale = 1.0 / math.sqrt(qh.shape[-1])
        s = ((qh @ kh.transpose(-1, -2)) * scale).masked_fill(~mask, float("-inf"))
        lse = torch.logsumexp(s, dim=-1, keepdim=True)
        p = torch.exp(s - lse)  # 0 off the pattern; every query has a key
        if summaries is None:
            o = p @ vh
        else:
            own = s.masked_fill(summaries, float("-inf"))
            lse1 = torch.logsumexp(own, dim=-1, keepdim=True)
            o1 = bf16(torch.exp(own - lse1) @ vh)  # attention_fwd's o_prev
            o = torch.exp(lse1 - lse) * o1 + p.masked_fill(~summaries, 0.0) @ vh
        out = bf16(o.transpose(1, 2).reshape(b, t, w))
        ctx.save_for_backward(qh, kh, vh, p, out)
        ctx.summaries, ctx.heads, ctx.scale = summaries, heads, scale
        return out

    @staticmethod
    def backward(ctx, dout):
        qh, kh, vh, p, out = ctx.saved_tensors
        summaries, heads, scale = ctx.summaries, ctx.heads, ctx.scale
        b, t, w = out.shape
        split = lambda y: y.reshape(b, t, heads, -1).transpose(1, 2)
        merge = lambda y: y.transpose(1, 2).reshape(b, t, w)
        do = split(bf16(dout))
        delta = (do * split(out)).sum(dim=-1, keepdim=True)
        ds = p * (do @ vh.transpose(-1, -2) - delta)
        dq = (ds @ kh) * scale
        if summaries is None:
            dk = (ds.transpose(-1, -2) @ qh) * scale
            dv = p.transpose(-1, -2) @ do
        else:
            # Transposed to [keys, queries], zero outside one half's keys.
            own = lambda y: y.masked_fill(summaries, 0.0).transpose(-1, -2)
            summ = lambda y: y.masked_fill(~summaries, 0.0).transpose(-1, -2)
            dk = bf16(bf16((own(ds) @ qh) * scale) + (summ(ds) @ qh) * scale)
            dv = bf16(bf16(own(p) @ do) + summ(p) @ do)
        return bf16(merge(dq)), bf16(merge(dk)), bf16(merge(dv)), None, None, None


def schedule(step, a):
    """stc's scheduledLearningRate: linear warmup, then cosine to min-lr."""
    if a.warmup > 0 and step <= a.warmup:
        return a.lr * step / a.warmup
    decay = a.steps - a.warmup
    if decay <= 0:
        return a.lr
    progress = min(1.0, max(0.0, (step - a.warmup) / decay))
    return a.min_lr + (a.lr - a.min_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))


def rel(a, b, floor):
    return float((a - b).norm() / max(float(b.norm()), floor))


def split_layers(manifest, n):
    """{layer: (l, c)}: the fixed(l, c) layers stc's training step runs split
    (stc-normalize-patterns): the layer's attention_fwd over its own keys,
    then one over the gathered summaries with `merge`. The forward's
    attention_fwd ops come in layer order, before the loss."""
    splits, layer = {}, -1
    for op in manifest["entries"]["train_step"]["ops"]:
        if op["op"] in ("xent_fwd_bwd", "xent_fwd"):
            break
        if op["op"] != "attention_fwd":
            continue
        attrs = op.get("attrs", {})
        if attrs.get("merge"):
            splits[layer] = (int(attrs["gather_block"]), int(attrs["gather_summary"]))
        else:
            layer += 1
    if layer != n - 1:
        sys.exit(f"parity.py: the artifact's training step has {layer + 1} "
                 f"attentions before its loss, the model {n} blocks")
    return splits


def compare(stc_grads, net, exact):
    """Step 1's gradients of one reference (net.p[..].grad) against stc's:
    per parameter the relative L2 error (and, for bfloat16, each side's
    against the float32 step `exact`). A parameter whose gradient is zero
    in exact arithmetic (below 1e-6 of the whole gradient's norm here, or
    in float32) is compared against the whole gradient's norm instead."""
    norms = {n: float(p.grad.norm()) for n, p in net.p.items()}
    total = math.sqrt(sum(v * v for v in norms.values()))
    floor = 1e-6 * total
    exact_floor = 1e-6 * math.sqrt(sum(float(g.norm()) ** 2 for g in exact.values()))
    rows = []
    for name, p in net.p.items():
        g = p.grad.detach().float().cpu()
        s = stc_grads[name]
        zero = norms[name] < floor or (exact and float(exact[name].norm()) < exact_floor)
        rows.append({"param": name, "rel_err": rel(s, g, floor),
                     "stc_vs_f32": rel(s, exact[name], floor) if exact else None,
                     "torch_vs_f32": rel(g, exact[name], floor) if exact else None,
                     "torch_norm": norms[name], "stc_norm": float(s.norm()),
                     "zero": bool(zero),
                     "zero_err": float((s - g).norm()) / total if zero else None})
    worst = max(rows, key=lambda r: r["rel_err"] if not r["zero"] else 0)
    summary = {
        "grad_max_rel_err": worst["rel_err"], "grad_worst_param": worst["param"],
        "grad_zero_params": [r["param"] for r in rows if r["zero"]],
        # bfloat16: each side's worst gradient error against float32.
        "grad_stc_vs_f32": max([r["stc_vs_f32"] for r in rows if not r["zero"]
                                and r["stc_vs_f32"] is not None], default=None),
        "grad_torch_vs_f32": max([r["torch_vs_f32"] for r in rows if not r["zero"]
                                  and r["torch_vs_f32"] is not None], default=None),
        # Those parameters' gradient differences over the whole gradient's norm.
        "grad_zero_max_err": max([r["zero_err"] for r in rows if r["zero"]],
                                 default=0.0),
    }
    return rows, summary


def train(net, forward_backward, loss1, a, decay, log, label):
    """Steps 1..N with stc's clipping and AdamW on stc's windows (step 1's
    gradients are already in net.p[..].grad); the losses."""
    m = {n: torch.zeros_like(p) for n, p in net.p.items()}
    v = {n: torch.zeros_like(p) for n, p in net.p.items()}
    losses = []
    for step in range(1, a.steps + 1):
        loss = loss1 if step == 1 else forward_backward(step)
        losses.append(loss)
        with torch.no_grad():
            gn = math.sqrt(sum(float((p.grad.double() ** 2).sum())
                               for p in net.p.values()))
            clip = 1.0 / gn if gn > 1.0 else 1.0
            lr = schedule(step, a)
            bc1, bc2 = 1 - 0.9 ** step, 1 - 0.95 ** step
            for n, p in net.p.items():
                g = p.grad * clip
                m[n].mul_(0.9).add_(g, alpha=0.1)
                v[n].mul_(0.95).addcmul_(g, g, value=0.05)
                upd = (m[n] / bc1) / ((v[n] / bc2).sqrt() + 1e-8)
                wd = 0.01 if decay[n] else 0.0
                p.sub_(lr * (wd * p + upd))
                p.grad = None
        if step % 50 == 0 or step == a.steps:
            print(f"{label}: step {step}/{a.steps} torch {loss:.4f} "
                  f"stc {log[step - 1]['loss']:.4f} bits/byte", flush=True)
    return losses


def main():
    ap = argparse.ArgumentParser()
    for f in ("model", "artifact", "init", "grads", "log", "data", "name", "out"):
        ap.add_argument("--" + f, required=True)
    ap.add_argument("--steps", type=int, required=True)
    ap.add_argument("--lr", type=float, required=True)
    ap.add_argument("--min-lr", type=float, required=True)
    ap.add_argument("--warmup", type=int, required=True)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    a = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.manual_seed(0)

    manifest = json.load(open(a.artifact + "/manifest.json"))
    model = manifest["model"]
    T, B = model["context"], model["batch"]
    is_bf16 = model["dtype"] == "bf16"
    heads, layers = parse_model(a.model)
    if len(layers) != model["layers"]:
        sys.exit(f"parity.py: {a.model} has {len(layers)} blocks, the "
                 f"artifact {model['layers']}")
    init, _ = read_safetensors(a.init)
    stc_grads, gmeta = read_safetensors(a.grads)
    log = [json.loads(line) for line in open(a.log)]
    data = torch.tensor(list(open(a.data, "rb").read()), dtype=torch.long)
    decay = {p["name"]: p["decay"] for p in manifest["params"]}
    if set(decay) != set(init):
        sys.exit("parity.py: the initial parameters and the manifest differ")

    net = Net(init, heads, layers, T, a.device)
    dev = a.device

    def batch(step):
        starts = log[step - 1]["windows"]
        idx = torch.tensor(starts).view(-1, 1) + torch.arange(T + 1).view(1, -1)
        seq = data[idx].to(dev)
        return seq[:, :-1], seq[:, 1:]

    def forward_backward(step):
        tokens, targets = batch(step)
        with torch.autocast(dev, dtype=torch.bfloat16, enabled=is_bf16):
            loss = net.loss(tokens, targets)
        loss.backward()
        return float(loss)

    # Step 1: loss and gradients. For a bfloat16 model, the same step in
    # float32 first: the exact gradients both bfloat16 runs approximate.
    exact = {}
    if is_bf16:
        tokens, targets = batch(1)
        net.loss(tokens, targets).backward()
        for name, p in net.p.items():
            exact[name] = p.grad.detach().float().cpu()
            p.grad = None
    loss1 = forward_backward(1)
    grads, summary = compare(stc_grads, net, exact)
    stc_losses = [line["loss"] for line in log[: a.steps]]
    result = {
        "name": a.name, "dtype": model["dtype"], "torch": torch.__version__,
        "device": dev, "batch": B, "context": T, "steps": a.steps,
        "first_loss_stc": stc_losses[0], "first_loss_torch": loss1,
        "first_loss_rel": abs(stc_losses[0] - loss1) / abs(loss1),
        **summary,
    }

    # bfloat16: the storage-matched reference, from the same initial
    # parameters (its own copy), step 1 and training.
    matched = None
    if is_bf16:
        net_m = Net(init, heads, layers, T, dev, split_layers(manifest, len(layers)))

        def forward_backward_matched(step):
            tokens, targets = batch(step)
            loss = net_m.matched_loss(tokens, targets)
            loss.backward()
            return float(loss)

        loss1_m = forward_backward_matched(1)
        grads_m, summary_m = compare(stc_grads, net_m, exact)
        for r, rm in zip(grads, grads_m):
            r.update({"rel_err_matched": rm["rel_err"],
                      "matched_vs_f32": rm["torch_vs_f32"],
                      "matched_norm": rm["torch_norm"], "zero_matched": rm["zero"]})
        result.update({
            "split_layers": [i for i, s in enumerate(net_m.summaries)
                             if s is not None],
            "first_loss_torch_matched": loss1_m,
            "first_loss_rel_matched": abs(stc_losses[0] - loss1_m) / abs(loss1_m),
            "grad_max_rel_err_matched": summary_m["grad_max_rel_err"],
            "grad_worst_param_matched": summary_m["grad_worst_param"],
            "grad_zero_params_matched": summary_m["grad_zero_params"],
            "grad_matched_vs_f32": summary_m["grad_torch_vs_f32"],
            "grad_zero_max_err_matched": summary_m["grad_zero_max_err"],
        })
        matched = train(net_m, forward_backward_matched, loss1_m, a, decay, log,
                        a.name + " (matched)")

    torch_losses = train(net, forward_backward, loss1, a, decay, log,
                         a.name + (" (autocast)" if is_bf16 else ""))
    result.update({
        "curve_max_abs_diff": max(abs(s - t) for s, t in zip(stc_losses, torch_losses)),
        "last_loss_stc": stc_losses[-1], "last_loss_torch": torch_losses[-1],
        "grads": grads, "stc_losses": stc_losses, "torch_losses": torch_losses,
        "stc_grads_step": gmeta.get("step"),
    })
    if matched is not None:
        result.update({
            "curve_max_abs_diff_matched": max(abs(s - t) for s, t in
                                              zip(stc_losses, matched)),
            "last_loss_torch_matched": matched[-1],
            "torch_losses_matched": matched,
        })
    with open(a.out, "w") as f:
        json.dump(result, f)
    print(json.dumps({k: v for k, v in result.items() if k not in
                      ("grads", "stc_losses", "torch_losses", "torch_losses_matched")}))


if __name__ == "__main__":
    main()
