#!/usr/bin/env python3
"""The model of examples/enwik8-fixed.mlir in PyTorch, timed in training.

    peer.py --attention flex|cudnn --out FILE.json [--batch 2] [--steps 20]
            [--warmup 5] [--layers 30] [--width 512] [--heads 8]
            [--context 12288] [--dropout 0.4]

The same network as stc's stc-expand-model builds: byte embedding plus a
learned position table, pre-activation residual blocks (layer norm, q, k, v
projections with biases, attention, output projection, dropout; layer
norm, width x 4 GELU (tanh) feed-forward, dropout), a final layer norm and
an untied output projection. Attention is either FlexAttention with the
fixed(128, 32) pattern as a block mask (block 128) or dense causal SDPA on
the cuDNN backend. The whole model is torch.compile'd (or, with --compile blocks, each
residual block: PyTorch's regional compilation), runs under bf16
autocast, and trains with fused AdamW (betas 0.9, 0.95, weight decay 0.01
on the weight matrices) after global-norm clipping at 1.0, as stc does.

Timing: each step is bracketed by CUDA events; tokens/s is batch x context
over the median step time of the steps after --warmup. Peak memory is
torch.cuda.max_memory_allocated over the whole run (warm-up included).
The data are random bytes (the time of a step does not depend on them).
"""
import argparse
import json
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def fixed_mask(block, summary):
    def mask(b, h, q, k):
        return (k <= q) & ((q // block == k // block) |
                           (k % block >= block - summary))
    return mask


class Block(nn.Module):
    def __init__(self, width, heads, dropout, attend):
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(width)
        self.q = nn.Linear(width, width)
        self.k = nn.Linear(width, width)
        self.v = nn.Linear(width, width)
        self.o = nn.Linear(width, width)
        self.ln2 = nn.LayerNorm(width)
        self.ffn1 = nn.Linear(width, 4 * width)
        self.ffn2 = nn.Linear(4 * width, width)
        self.drop = nn.Dropout(dropout)
        self.attend = attend

    def forward(self, x):
        b, t, w = x.shape
        h = self.ln1(x)
        split = lambda y: y.view(b, t, self.heads, w // self.heads).transpose(1, 2)
        a = self.attend(split(self.q(h)), split(self.k(h)), split(self.v(h)))
        x = x + self.drop(self.o(a.transpose(1, 2).reshape(b, t, w)))
        u = F.gelu(self.ffn1(self.ln2(x)), approximate="tanh")
        return x + self.drop(self.ffn2(u))


class Model(nn.Module):
    def __init__(self, a, attend):
        super().__init__()
        self.tok = nn.Embedding(256, a.width)
        self.pos = nn.Parameter(torch.randn(a.context, a.width) * 0.02)
        self.blocks = nn.ModuleList(
            Block(a.width, a.heads, a.dropout, attend) for _ in range(a.layers))
        self.ln_f = nn.LayerNorm(a.width)
        self.out = nn.Linear(a.width, 256)
        for n, p in self.named_parameters():
            if p.dim() == 2 and n != "pos":
                nn.init.normal_(p, std=0.02)
            elif n.endswith("bias"):
                nn.init.zeros_(p)

    def forward(self, tokens, targets):
        x = self.tok(tokens) + self.pos
        for blk in self.blocks:
            x = blk(x)
        logits = self.out(self.ln_f(x)).float()
        return F.cross_entropy(logits.reshape(-1, 256), targets.reshape(-1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--attention", choices=["flex", "cudnn"], required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--layers", type=int, default=30)
    ap.add_argument("--width", type=int, default=512)
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--context", type=int, default=12288)
    ap.add_argument("--dropout", type=float, default=0.4)
    ap.add_argument("--compile", choices=["model", "blocks"], default="model",
                    help="torch.compile the whole model, or each residual "
                         "block (regional compilation: one block's graph "
                         "compiled once and reused, a far shorter compile)")
    a = ap.parse_args()
    torch.manual_seed(1)
    dev = "cuda"

    if a.attention == "flex":
        from torch.nn.attention.flex_attention import (create_block_mask,
                                                       flex_attention)
        mask = create_block_mask(fixed_mask(128, 32), None, None, a.context,
                                 a.context, device=dev, BLOCK_SIZE=128,
                                 _compile=True)

        def attend(q, k, v):
            return flex_attention(q, k, v, block_mask=mask)
    else:
        # cuDNN only, chosen globally (outside the compiled graph).
        torch.backends.cuda.enable_flash_sdp(False)
        torch.backends.cuda.enable_mem_efficient_sdp(False)
        torch.backends.cuda.enable_math_sdp(False)
        torch.backends.cuda.enable_cudnn_sdp(True)

        def attend(q, k, v):
            return F.scaled_dot_product_attention(q, k, v, is_causal=True)

    model = Model(a, attend).to(dev)
    params = sum(p.numel() for p in model.parameters())
    decay = [p for n, p in model.named_parameters() if p.dim() == 2 and n != "pos"]
    rest = [p for n, p in model.named_parameters() if not (p.dim() == 2 and n != "pos")]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01},
                             {"params": rest, "weight_decay": 0.0}],
                            lr=1e-4, betas=(0.9, 0.95), eps=1e-8, fused=True)
    if a.compile == "blocks":
        for blk in model.blocks:
            blk.compile()
        step_fn = model
    else:
        step_fn = torch.compile(model)

    gen = torch.Generator(device=dev).manual_seed(1)
    started = time.time()
    times, losses = [], []
    for step in range(a.steps):
        seq = torch.randint(0, 256, (a.batch, a.context + 1), device=dev,
                            generator=gen)
        t0 = torch.cuda.Event(enable_timing=True)
        t1 = torch.cuda.Event(enable_timing=True)
        t0.record()
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = step_fn(seq[:, :-1], seq[:, 1:])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        t1.record()
        t1.synchronize()
        times.append(t0.elapsed_time(t1))
        losses.append(loss.item() / math.log(2))
        print(f"{a.attention} step {step + 1}/{a.steps}: {times[-1]:.1f} ms, "
              f"loss {losses[-1]:.4f} bits/byte", flush=True)
    steady = sorted(times[a.warmup:])
    ms = steady[len(steady) // 2]
    result = {
        "peer": "pytorch-" + a.attention + ("-blocks" if a.compile == "blocks" else ""),
        "compile": a.compile,
        "torch": torch.__version__,
        "params": params,
        "batch": a.batch,
        "context": a.context,
        "steps": a.steps,
        "warmup": a.warmup,
        "step_ms": ms,
        "step_ms_all": times,
        "tokens_per_s": a.batch * a.context / (ms / 1e3),
        "peak_allocated_bytes": torch.cuda.max_memory_allocated(),
        "peak_reserved_bytes": torch.cuda.max_memory_reserved(),
        "first_step_s": times[0] / 1e3,
        "wall_s": time.time() - started,
        "losses": losses,
    }
    with open(a.out, "w") as f:
        json.dump(result, f)
    print(json.dumps({k: v for k, v in result.items()
                      if k not in ("step_ms_all", "losses")}))


if __name__ == "__main__":
    main()
