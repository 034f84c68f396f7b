#!/usr/bin/env python3
"""Times PyTorch's attention on stc's inputs and checks stc's results.

    peers.py --stc STC.jsonl --dump DIR --out PEERS.jsonl [--budget SECONDS]

For every case of STC.jsonl (written by stc-bench-attention, with --dump):
  - reads the case's q, k, v, dout (B, T, H, D bf16) from DIR/<case>/;
  - times FlexAttention (torch.compile'd, the pattern as a block mask of
    block 128) forward and forward+backward, and for the causal cases SDPA
    with the cuDNN and the flash backends, with CUDA events, median of 20
    after warm-up;
  - computes a float32 reference of batch 0, head 0 (chunked over queries,
    exact softmax) and compares stc's o, dq, dk, dv: max |stc - ref| /
    max |ref| per tensor.
Writes one JSON line per (case, pass, peer) and deletes the case's dump.
"""
import argparse
import json
import math
import os
import pathlib
import shutil
import sys
import time

import torch
import torch._dynamo

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cases  # noqa: E402

REPEATS = 20
_flex = None


def compiled_flex():
    """torch.compile'd flex_attention, compiled once per process."""
    global _flex
    if _flex is None:
        from torch.nn.attention.flex_attention import flex_attention
        _flex = torch.compile(flex_attention, dynamic=False)
    return _flex


def bench(fn, repeats=REPEATS, warmup=3):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        a = torch.cuda.Event(enable_timing=True)
        b = torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b))
    times.sort()
    return times[len(times) // 2]


def load(d, name, shape):
    raw = torch.from_file(str(d / f"{name}.bin"), dtype=torch.bfloat16,
                          size=math.prod(shape))
    return raw.view(shape).cuda()


def reference_head(q, k, v, do, mask_mod, scale, cap=None, chunk=2048):
    """Exact float32 attention of one head (T, D) and its gradients; with
    `cap`, the scaled scores soft-capped (s -> cap tanh(s / cap))."""
    q, k, v, do = (x.float() for x in (q, k, v, do))
    n = q.shape[0]
    kpos = torch.arange(n, device=q.device)
    o = torch.empty_like(q)
    lse = torch.empty(n, device=q.device)
    dq = torch.empty_like(q)
    dk = torch.zeros_like(k)
    dv = torch.zeros_like(v)
    for s in range(0, n, chunk):
        e = min(n, s + chunk)
        qpos = torch.arange(s, e, device=q.device)
        allowed = mask_mod(qpos[:, None], kpos[None, :])
        sc = (q[s:e] @ k.T) * scale
        dcap = None
        if cap:
            t = torch.tanh(sc / cap)
            sc, dcap = cap * t, 1 - t * t
        sc = sc.masked_fill(~allowed, float("-inf"))
        m = sc.amax(dim=1, keepdim=True)
        m = torch.where(torch.isinf(m), torch.zeros_like(m), m)
        p = torch.exp(sc - m)
        l = p.sum(dim=1, keepdim=True)
        p = torch.where(l > 0, p / l.clamp_min(1e-30), torch.zeros_like(p))
        o[s:e] = p @ v
        lse[s:e] = (m + torch.log(l)).squeeze(1)
        dp = do[s:e] @ v.T
        delta = (do[s:e] * o[s:e]).sum(dim=1, keepdim=True)
        ds = p * (dp - delta)
        if dcap is not None:
            ds = ds * dcap
        dq[s:e] = (ds @ k) * scale
        dk += (ds.T @ q[s:e]) * scale
        dv += p.T @ do[s:e]
    return {"o": o, "dq": dq, "dk": dk, "dv": dv}


def rel_err(x, ref):
    scale = ref.abs().max().item()
    if not math.isfinite(x.float().abs().max().item()):
        return float("inf")
    return (x.float() - ref).abs().max().item() / max(scale, 1e-30)


def run_case(meta, d, out, deadline):
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.nn.attention.flex_attention import create_block_mask

    name, pattern = meta["case"], meta["case"].split("-")[0]
    base, cap = cases.split_name(pattern)
    n, b, h, dim = meta["n"], meta["batch"], meta["heads"], meta["head_dim"]
    shape = (b, n, h, dim)
    q, k, v, do = (load(d, x, shape) for x in ("q", "k", "v", "dout"))
    mask_mod = cases.PATTERNS[base][1]
    scale = 1.0 / math.sqrt(dim)
    rows = []

    def emit(pass_, peer, peer_ms, stc_ms, err):
        row = {"case": name, "pattern": pattern, "n": n, "batch": b,
               "heads": h, "head_dim": dim, "pass": pass_, "stc_ms": stc_ms,
               "peer": peer, "peer_ms": peer_ms,
               "speedup": (peer_ms / stc_ms) if peer_ms and stc_ms else None,
               "max_rel_err": err}
        rows.append(row)
        out.write(json.dumps(row) + "\n")
        out.flush()

    t0 = time.time()
    # stc's results against the float32 reference (batch 0, head 0).
    ref = reference_head(q[0, :, 0], k[0, :, 0], v[0, :, 0], do[0, :, 0],
                         mask_mod, scale, cap)
    errs = {}
    for t in ("o", "dq", "dk", "dv"):
        got = load(d, t, shape)[0, :, 0]
        errs[t] = rel_err(got, ref[t])
    del ref
    fwd_err = errs["o"]
    bwd_err = max(errs.values())
    print(f"  {name}: max rel err o {errs['o']:.2e} dq {errs['dq']:.2e} "
          f"dk {errs['dk']:.2e} dv {errs['dv']:.2e} "
          f"(reference in {time.time() - t0:.1f} s)", flush=True)

    # PyTorch layout: (B, H, T, D).
    qt, kt, vt, dot = (x.transpose(1, 2).contiguous() for x in (q, k, v, do))
    peers = []
    if time.time() < deadline:
        def mm(bb, hh, qi, ki):
            return mask_mod(qi, ki)
        t0 = time.time()
        # Eager: one (n x n) boolean grid, at most 4 GiB at n = 65536
        # (compiling it cost 220 s in a cold process; B and H are broadcast).
        block_mask = create_block_mask(mm, B=None, H=None, Q_LEN=n, KV_LEN=n,
                                       BLOCK_SIZE=128, device="cuda")
        print(f"  {name}: block mask in {time.time() - t0:.1f} s", flush=True)
        flex = compiled_flex()
        score_mod = None
        if cap:
            def score_mod(score, bb, hh, qi, ki):
                return cap * torch.tanh(score / cap)
        peers.append(("flex", lambda x, y, z: flex(x, y, z, score_mod=score_mod,
                                                    block_mask=block_mask)))
    if pattern == "causal":
        def sdpa(backend):
            def f(x, y, z):
                with sdpa_kernel(backend):
                    return torch.nn.functional.scaled_dot_product_attention(
                        x, y, z, is_causal=True)
            return f
        peers.append(("sdpa_cudnn", sdpa(SDPBackend.CUDNN_ATTENTION)))
        peers.append(("sdpa_flash", sdpa(SDPBackend.FLASH_ATTENTION)))
    if not peers:
        emit("fwd", None, None, meta["fwd_ms"], fwd_err)
        emit("fwd+bwd", None, None, meta["fwd_bwd_ms"], bwd_err)
    for peer, fn in peers:
        t0 = time.time()
        try:
            qg, kg, vg = (x.detach().requires_grad_(True) for x in (qt, kt, vt))
            fwd_ms = bench(lambda: fn(qt, kt, vt))

            def fb():
                o = fn(qg, kg, vg)
                o.backward(dot)
            fb_ms = bench(fb)
        except Exception as e:  # a peer that cannot run this case
            print(f"  {name}: {peer} failed: {type(e).__name__}: {e}",
                  flush=True)
            fwd_ms = fb_ms = None
        print(f"  {name}: {peer} fwd {fwd_ms} ms, fwd+bwd {fb_ms} ms "
              f"({time.time() - t0:.1f} s with compiles)", flush=True)
        emit("fwd", peer, fwd_ms, meta["fwd_ms"], fwd_err)
        emit("fwd+bwd", peer, fb_ms, meta["fwd_bwd_ms"], bwd_err)
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--stc", required=True)
    ap.add_argument("--dump", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--budget", type=float, default=1e9,
                    help="seconds; later cases get no FlexAttention peer")
    ap.add_argument("--keep", action="store_true", help="keep the dumps")
    args = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    # Every case is a new shape or mask (and fwd and fwd+bwd differ in
    # requires_grad): without a higher limit, dynamo stops compiling after
    # 8 and flex_attention falls back to its unfused, memory-hungry path.
    for knob in ("recompile_limit", "cache_size_limit",
                 "accumulated_recompile_limit", "accumulated_cache_size_limit"):
        if hasattr(torch._dynamo.config, knob):
            setattr(torch._dynamo.config, knob, 4096)
    deadline = time.time() + args.budget
    metas = [json.loads(l) for l in open(args.stc) if l.strip()]
    with open(args.out, "a") as out:
        for meta in metas:
            d = pathlib.Path(args.dump) / meta["case"]
            if not d.exists():
                print(f"  {meta['case']}: no dump in {d}", flush=True)
                continue
            t0 = time.time()
            run_case(meta, d, out, deadline)
            print(f"  {meta['case']}: peers done in {time.time() - t0:.1f} s",
                  flush=True)
            if not args.keep:
                shutil.rmtree(d, ignore_errors=True)
            torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
