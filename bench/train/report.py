#!/usr/bin/env python3
"""Table and JSON of one bench/train/run call.

    report.py --out DIR --warmup N --artifact ART

Reads DIR/stc.jsonl (stc train --log-json; also stc-f16.jsonl and
stc-opbyop.jsonl where present), DIR/stc-profile.json (stc train
--profile), DIR/peer-*.json (peer.py) and DIR/mem-*.log (nvidia-smi samples,
MiB) with DIR/mem-*.base; writes DIR/train-results.json and prints a
Markdown table whose last column is stc's speed over each run's.
"""
import argparse
import glob
import json
import os

# Op kinds counted as attention (cast: only the attention backward's dq
# conversion casts today).
ATTENTION = {"attention_fwd", "attention_bwd", "attention_bwd_prep",
             "attention_bwd_atomic", "cast", "attention_merge",
             "summary_gather", "summary_scatter", "stride_permute"}


def peak_mib(out, tag):
    try:
        base = int(open(os.path.join(out, "mem-%s.base" % tag)).read().split()[0])
        used = [int(x) for x in open(os.path.join(out, "mem-%s.log" % tag))
                .read().split() if x.strip().isdigit()]
        return max(used) - base if used else None
    except (OSError, ValueError, IndexError):
        return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--artifact", required=True)
    a = ap.parse_args()
    rows = []
    manifest = json.load(open(os.path.join(a.artifact, "manifest.json")))
    model = manifest["model"]
    def stc_row(run, log):
        r = {"run": run, "params": model["param_count"],
             "batch": model["batch"], "context": model["context"]}
        try:
            steps = [json.loads(l) for l in open(os.path.join(a.out, log))]
            steady = sorted(s["tokens_per_s"] for s in steps[a.warmup:])
            r["tokens_per_s"] = steady[len(steady) // 2]
            r["step_ms"] = 1e3 * model["batch"] * model["context"] / r["tokens_per_s"]
            r["losses"] = [s["loss"] for s in steps]
            r["arena_bytes"] = steps[-1].get("arena_bytes")
        except (OSError, ValueError, IndexError, KeyError):
            r["error"] = "no %s (see the train log)" % log
        return r

    stc = stc_row("stc", "stc.jsonl")
    stc["peak_mib"] = peak_mib(a.out, "stc")
    try:
        prof = json.load(open(os.path.join(a.out, "stc-profile.json")))
        total = prof["op_sum_ms"]
        share = {"attention": 0.0, "gemm": 0.0, "rest": 0.0}
        for k in prof["by_kind"]:
            part = ("attention" if k["kind"] in ATTENTION else
                    "gemm" if k["kind"] in ("gemm", "gemm_group") else "rest")
            share[part] += k["ms"]
        stc["profile"] = {
            "launches": prof["launches"], "library_calls": prof["library_calls"],
            "whole_ms": prof["whole_ms"], "op_sum_ms": total,
            "ms": share, "by_kind": prof["by_kind"]}
    except (OSError, ValueError, KeyError):
        pass
    rows.append(stc)
    if os.path.exists(os.path.join(a.out, "stc-f16.jsonl")):
        # The model in f16 with dynamic loss scaling (same shapes).
        r = stc_row("stc-f16", "stc-f16.jsonl")
        r["peak_mib"] = peak_mib(a.out, "stc-f16")
        rows.append(r)
    if os.path.exists(os.path.join(a.out, "stc-opbyop.jsonl")):
        # The same artifact launched op by op (STC_CUDA_GRAPHS=0).
        r = stc_row("stc-op-by-op", "stc-opbyop.jsonl")
        r["peak_mib"] = peak_mib(a.out, "stc-opbyop")
        rows.append(r)
    for path in sorted(glob.glob(os.path.join(a.out, "peer-*.json"))):
        p = json.load(open(path))
        p["run"] = p.pop("peer")
        p["peak_mib"] = peak_mib(a.out, p["run"].split("-", 1)[1])
        rows.append(p)
    json.dump(rows, open(os.path.join(a.out, "train-results.json"), "w"), indent=1)

    print("| run | params | step ms | tokens/s | peak GPU memory (nvidia-smi) | stc speed / this |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        if "tokens_per_s" not in r:
            print("| %s | - | failed | - | - | - |" % r["run"])
            continue
        ratio = (stc["tokens_per_s"] / r["tokens_per_s"]
                 if "tokens_per_s" in stc else float("nan"))
        mem = ("%.1f GiB" % (r["peak_mib"] / 1024)) if r.get("peak_mib") else "-"
        print("| %s | %.2fM | %.1f | %.0f | %s | %.2fx |" % (
            r["run"], r["params"] / 1e6, r["step_ms"], r["tokens_per_s"], mem, ratio))
    if "profile" in stc:
        p = stc["profile"]
        t = p["op_sum_ms"]
        print()
        print("stc's training step: %d kernel launches + %d library calls; "
              "%.1f ms timed whole, %.1f ms op by op: attention %.1f ms (%.0f%%), "
              "GEMMs %.1f ms (%.0f%%), the rest %.1f ms (%.0f%%)" % (
                  p["launches"], p["library_calls"], p["whole_ms"], t,
                  p["ms"]["attention"], 100 * p["ms"]["attention"] / t,
                  p["ms"]["gemm"], 100 * p["ms"]["gemm"] / t,
                  p["ms"]["rest"], 100 * p["ms"]["rest"] / t))
        print("by kind: " + ", ".join("%s %d x %.2f ms" % (k["kind"], k["ops"], k["ms"])
                                      for k in p["by_kind"]))


if __name__ == "__main__":
    main()
