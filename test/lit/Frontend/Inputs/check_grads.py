#!/usr/bin/env python3
"""check_grads.py ARTIFACT INIT GRADS MOMENTS LOG DATA: what `stc export`
(no --ckpt), `stc train --save-grads` and `--log-json` write, checked with
the standard library only.

INIT: the initial parameters. Each has the manifest's shape and dtype;
ones and zeros initialisations hold exactly 1 and 0; normal ones have the
manifest's standard deviation (within 10%) and mean about 0.

GRADS: step 1's gradients under the parameter names ("contents":
"gradients"). MOMENTS: `stc export --optimizer` of the checkpoint written
after that one step. AdamW's first moment after one step is
(1 - beta1) * g * clip, clip = min(1, 1 / |g|) over all gradients, so
adam_m / (0.1 * clip) must equal GRADS: an independent check that GRADS
holds the gradients the optimizer used.

LOG: step 1's "windows" are starts in DATA that leave room for a whole
window (context + 1 bytes). Prints a summary; exits 1 on any failure.
"""
import json
import math
import os
import struct
import sys

artifact, init_path, grads_path, moments_path, log_path, data_path = sys.argv[1:7]
manifest = json.load(open(os.path.join(artifact, "manifest.json")))
buffers = manifest["buffers"]


def read(path):
    blob = open(path, "rb").read()
    (n,) = struct.unpack_from("<Q", blob, 0)
    header = json.loads(blob[8:8 + n])
    meta = header.pop("__metadata__", {})
    out = {}
    for name, t in header.items():
        assert t["dtype"] == "F32", f"{path}: {name} is {t['dtype']} (test model is f32)"
        begin, end = t["data_offsets"]
        raw = blob[8 + n + begin:8 + n + end]
        out[name] = (t["shape"], struct.unpack(f"<{len(raw) // 4}f", raw))
    return meta, out


failures = []
imeta, init = read(init_path)
gmeta, grads = read(grads_path)
_, moments = read(moments_path)
if imeta.get("contents") != "parameters" or imeta.get("step") != "0":
    failures.append(f"init metadata {imeta}")
if gmeta.get("contents") != "gradients" or gmeta.get("step") != "1":
    failures.append(f"grads metadata {gmeta}")

total = sum(x * x for _, g in grads.values() for x in g)
clip = min(1.0, 1.0 / math.sqrt(total))
worst = 0.0
for p in manifest["params"]:
    name, shape = p["name"], buffers[p["buffer"]]["shape"]
    missing = [what for what, table in (("init", init), ("grads", grads),
                                        ("moments", moments))
               if (name + (".adam_m" if what == "moments" else "")) not in table
               or table[name + (".adam_m" if what == "moments" else "")][0] != shape]
    if missing:
        failures.append(f"{name}: missing or not of shape {shape} in {missing}")
        continue
    values = init[name][1]
    dist = p["init"]["dist"]
    if dist in ("ones", "zeros"):
        want = 1.0 if dist == "ones" else 0.0
        if any(v != want for v in values):
            failures.append(f"init: {name} is not all {want}")
    else:
        mean = sum(values) / len(values)
        std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
        if abs(std / p["init"]["std"] - 1) > 0.1 or abs(mean) > 0.2 * std:
            failures.append(f"init: {name} has mean {mean:.3g}, std {std:.3g} "
                            f"(wanted 0, {p['init']['std']})")
    g = grads[name][1]
    m = moments[name + ".adam_m"][1]
    scale = math.sqrt(sum(x * x for x in g)) or 1.0
    err = math.sqrt(sum((mi / (0.1 * clip) - gi) ** 2 for mi, gi in zip(m, g))) / scale
    worst = max(worst, err)
    if err > 1e-5:
        failures.append(f"grads: {name} differs from adam_m / (0.1 clip) by {err:.2e}")

first = json.loads(open(log_path).readline())
size, context = os.path.getsize(data_path), manifest["model"]["context"]
windows = first.get("windows", [])
if len(windows) != manifest["model"]["batch"] or any(
        not 0 <= w <= size - context - 1 for w in windows):
    failures.append(f"log: step 1's windows {windows} (data {size} bytes)")

for f in failures:
    print("FAIL", f)
print(f"{len(manifest['params'])} parameters: initial values as the manifest "
      f"says, gradients = first moment / (0.1 clip) to {worst:.1e}, "
      f"{len(windows)} windows; {len(failures)} failures")
sys.exit(1 if failures else 0)
