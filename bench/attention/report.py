#!/usr/bin/env python3
"""Table of the attention benchmark: peers.py's JSON lines -> markdown.

    report.py PEERS.jsonl [TABLE.md]

One row per (case, pass): stc's time, each peer's time, the speedup of stc
over each peer (peer_ms / stc_ms: above 1 stc is faster), the effective
TFLOP/s of stc (4 * allowed pairs * D * B * H / time, x 3.5 for fwd+bwd) and
stc's max relative error against the float32 reference.
"""
import json
import sys
from collections import OrderedDict


def allowed_pairs(pattern, n, l=128, c=32):
    pattern = pattern.split("_")[0]  # causal_softcap: causal's pairs
    if pattern == "causal":
        return n * (n + 1) // 2
    if pattern == "local":
        return sum(min(q + 1, l) for q in range(n))
    if pattern == "strided":
        return sum(q // l + 1 for q in range(n))
    if pattern == "fixed":
        total = 0
        for q in range(n):
            own = q % l + 1                      # same block, k <= q
            earlier = (q // l) * c               # summaries of earlier blocks
            total += own + earlier
        return total
    if pattern == "merged":
        # local(l) plus the strided keys beyond the window (q - k = j l, j >= 1)
        return sum(min(q + 1, l) + q // l for q in range(n))
    raise ValueError(pattern)


def main():
    rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
    table = OrderedDict()
    peers = []
    for r in rows:
        key = (r["case"], r["pass"])
        e = table.setdefault(key, {"r": r, "peers": {}})
        if r["peer"]:
            e["peers"][r["peer"]] = r["peer_ms"]
            if r["peer"] not in peers:
                peers.append(r["peer"])
    head = ["case", "pass", "stc ms"]
    for p in peers:
        head += [f"{p} ms", f"vs {p}"]
    head += ["stc TFLOP/s", "max rel err"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    pairs = {}
    for (case, pass_), e in table.items():
        r = e["r"]
        key = (r["pattern"], r["n"])
        if key not in pairs:
            pairs[key] = allowed_pairs(r["pattern"], r["n"])
        flops = 4 * pairs[key] * r["head_dim"] * r["batch"] * r["heads"]
        if pass_ != "fwd":
            flops *= 3.5
        stc = r["stc_ms"]
        cells = [case, pass_, f"{stc:.3f}"]
        for p in peers:
            ms = e["peers"].get(p)
            cells += [f"{ms:.3f}" if ms else "-",
                      f"{ms / stc:.2f}x" if ms and stc else "-"]
        cells += [f"{flops / (stc * 1e-3) / 1e12:.0f}" if stc else "-",
                  f"{r['max_rel_err']:.1e}" if r["max_rel_err"] is not None
                  else "-"]
        lines.append("| " + " | ".join(cells) + " |")
    text = "\n".join(lines) + "\n"
    if len(sys.argv) > 2:
        open(sys.argv[2], "w").write(text)
    print(text)


if __name__ == "__main__":
    main()
