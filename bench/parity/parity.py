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
A float32 model runs in float32 with TF32 off; a bfloat16 model runs the way
a PyTorch user would: float32 parameters (stc keeps float32 master weights)
under bfloat16 autocast. Attention is dense with each head's pattern as a
boolean mask, so nothing is shared with stc's block-sparse kernels.
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
    def __init__(self, params, heads, layers, context, device):
        self.p = {k: v.to(device).requires_grad_(True) for k, v in params.items()}
        self.heads = heads
        q = torch.arange(context, device=device).view(-1, 1)
        k = torch.arange(context, device=device).view(1, -1)
        self.masks = []
        for pats in layers:
            per = heads // len(pats)
            m = torch.stack([pats[h // per](q, k) for h in range(heads)])
            self.masks.append(m)  # (heads, T, T)

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
    bf16 = model["dtype"] == "bf16"
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
        with torch.autocast(dev, dtype=torch.bfloat16, enabled=bf16):
            loss = net.loss(tokens, targets)
        loss.backward()
        return float(loss)

    # Step 1: loss and gradients. For a bfloat16 model, the same step in
    # float32 first: the exact gradients both bfloat16 runs approximate.
    exact = {}
    if bf16:
        tokens, targets = batch(1)
        net.loss(tokens, targets).backward()
        for name, p in net.p.items():
            exact[name] = p.grad.detach().float().cpu()
            p.grad = None
    loss1 = forward_backward(1)
    norms = {n: float(p.grad.norm()) for n, p in net.p.items()}
    floor = 1e-6 * math.sqrt(sum(v * v for v in norms.values()))
    grads = []
    for name, p in net.p.items():
        g = p.grad.detach().float().cpu()
        s = stc_grads[name]
        grads.append({"param": name, "rel_err": rel(s, g, floor),
                      "stc_vs_f32": rel(s, exact[name], floor) if exact else None,
                      "torch_vs_f32": rel(g, exact[name], floor) if exact else None,
                      "torch_norm": norms[name], "stc_norm": float(s.norm()),
                      "zero": norms[name] < floor})
    # Training: stc's clipping and AdamW, on stc's windows.
    m = {n: torch.zeros_like(p) for n, p in net.p.items()}
    v = {n: torch.zeros_like(p) for n, p in net.p.items()}
    torch_losses = []
    for step in range(1, a.steps + 1):
        loss = loss1 if step == 1 else forward_backward(step)
        torch_losses.append(loss)
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
            print(f"{a.name}: step {step}/{a.steps} torch {loss:.4f} "
                  f"stc {log[step - 1]['loss']:.4f} bits/byte", flush=True)

    stc_losses = [line["loss"] for line in log[: a.steps]]
    worst = max(grads, key=lambda r: r["rel_err"] if not r["zero"] else 0)
    result = {
        "name": a.name, "dtype": model["dtype"], "torch": torch.__version__,
        "device": dev, "batch": B, "context": T, "steps": a.steps,
        "first_loss_stc": stc_losses[0], "first_loss_torch": loss1,
        "first_loss_rel": abs(stc_losses[0] - loss1) / abs(loss1),
        "grad_max_rel_err": worst["rel_err"], "grad_worst_param": worst["param"],
        "grad_zero_params": [r["param"] for r in grads if r["zero"]],
        # bfloat16: each side's worst gradient error against float32.
        "grad_stc_vs_f32": max([r["stc_vs_f32"] for r in grads if not r["zero"]
                                and r["stc_vs_f32"] is not None], default=None),
        "grad_torch_vs_f32": max([r["torch_vs_f32"] for r in grads if not r["zero"]
                                  and r["torch_vs_f32"] is not None], default=None),
        # Those parameters' gradient differences over the whole gradient's norm.
        "grad_zero_max_err": max([r["rel_err"] * 1e-6 for r in grads if r["zero"]],
                                 default=0.0),
        "curve_max_abs_diff": max(abs(s - t) for s, t in zip(stc_losses, torch_losses)),
        "last_loss_stc": stc_losses[-1], "last_loss_torch": torch_losses[-1],
        "grads": grads, "stc_losses": stc_losses, "torch_losses": torch_losses,
        "stc_grads_step": gmeta.get("step"),
    }
    with open(a.out, "w") as f:
        json.dump(result, f)
    print(json.dumps({k: v for k, v in result.items()
                      if k not in ("grads", "stc_losses", "torch_losses")}))


if __name__ == "__main__":
    main()
