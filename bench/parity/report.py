#!/usr/bin/env python3
"""report.py [--png FILE] [--json FILE] PARITY.json...: the parity table.

One row per run (model dtype x stc executor): step 1's loss in stc and in
PyTorch and their relative difference, the worst relative L2 error of a
parameter's gradient, and the loss curves' largest gap; each against the
tolerance (float32: 1e-5; bfloat16: 1e-3). A bfloat16 run has two PyTorch
references (parity.py): "autocast" (the PyTorch columns: how a PyTorch
user's bf16 run compares) and "storage-matched" (its own column: rounded
where stc stores bf16), and passes on the storage-matched one; a float32
run passes on the PyTorch columns. --png draws the loss curves: one panel
per run (in the order given), stc as a wide blue line, PyTorch as a thin
orange one over it (bfloat16: autocast; the storage-matched run thin
green), horizontal lines at each whole bit per byte (labelled), steps left
to right. Standard library only.
"""
import argparse
import json
import struct
import zlib

TOLERANCE = {"f32": 1e-5, "bf16": 1e-3}

# 3x5 digits for the axis labels.
DIGITS = ["111101101101111", "010110010010111", "111001111100111",
          "111001111001111", "101101111001001", "111100111001111",
          "111100111101111", "111001001001001", "111101111101111",
          "111101111001111"]


def png(path, width, height, pixels):
    rows = b"".join(b"\0" + bytes(pixels[y * width * 3:(y + 1) * width * 3])
                    for y in range(height))

    def chunk(kind, data):
        c = kind + data
        return struct.pack(">I", len(data)) + c + struct.pack(">I", zlib.crc32(c))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)))
        f.write(chunk(b"IDAT", zlib.compress(rows, 9)))
        f.write(chunk(b"IEND", b""))


def plot(path, runs):
    pw, ph, margin = 560, 220, 24
    width, height = pw + 2 * margin, len(runs) * (ph + margin) + margin
    pix = bytearray([255]) * (width * height * 3)

    def put(x, y, color):
        if 0 <= x < width and 0 <= y < height:
            i = (y * width + x) * 3
            pix[i:i + 3] = bytes(color)

    def line(x0, y0, x1, y1, color, thick=0):
        n = max(abs(x1 - x0), abs(y1 - y0), 1)
        for i in range(n + 1):
            x, y = round(x0 + (x1 - x0) * i / n), round(y0 + (y1 - y0) * i / n)
            for dx in range(-thick, thick + 1):
                for dy in range(-thick, thick + 1):
                    put(x + dx, y + dy, color)

    def number(x, y, value):
        for d in str(value):
            bits = DIGITS[int(d)]
            for r in range(5):
                for c in range(3):
                    if bits[r * 3 + c] == "1":
                        put(x + c, y + r, (0, 0, 0))
            x += 4

    for i, r in enumerate(runs):
        top = margin + i * (ph + margin)
        curves = [r["stc_losses"], r["torch_losses"]]
        if r.get("torch_losses_matched"):
            curves.append(r["torch_losses_matched"])
        lo = int(min(min(c) for c in curves))
        hi = int(max(max(c) for c in curves)) + 1
        sy = lambda v: round(top + ph - (v - lo) / (hi - lo) * ph)
        for b in range(lo, hi + 1):
            line(margin, sy(b), margin + pw, sy(b), (220, 220, 220))
            number(4, sy(b) - 2, b)
        line(margin, top, margin, top + ph, (0, 0, 0))
        line(margin, top + ph, margin + pw, top + ph, (0, 0, 0))
        n = len(curves[0])
        # stc wide underneath, PyTorch thin on top: where they agree, a
        # thin orange (and green) line inside a blue band.
        for curve, color, thick in zip(curves, [(31, 119, 180), (255, 127, 14),
                                                (44, 160, 44)], [2, 0, 0]):
            pts = [(margin + round(k / max(n - 1, 1) * pw), sy(v))
                   for k, v in enumerate(curve)]
            for (x0, y0), (x1, y1) in zip(pts, pts[1:]):
                line(x0, y0, x1, y1, color, thick)
    png(path, width, height, pix)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--png")
    ap.add_argument("--json")
    ap.add_argument("runs", nargs="*")
    a = ap.parse_args()
    runs = [json.load(open(p)) for p in a.runs]
    print("| run | torch | step-1 loss stc | PyTorch | rel diff | worst grad rel err (param) "
          "| bf16 storage-matched: step-1 loss rel diff, worst grad rel err (param), "
          "curves' max gap "
          "| loss curves: max gap, last stc / PyTorch | tolerance | pass |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in runs:
        tol = TOLERANCE[r["dtype"]]
        matched = r.get("grad_max_rel_err_matched") is not None
        if matched:
            ok = r["first_loss_rel_matched"] <= tol and r["grad_max_rel_err_matched"] <= tol
            m = (f"{r['first_loss_rel_matched']:.1e}, {r['grad_max_rel_err_matched']:.1e} "
                 f"({r['grad_worst_param_matched']}), {r['curve_max_abs_diff_matched']:.4f}")
        else:
            ok = r["first_loss_rel"] <= tol and r["grad_max_rel_err"] <= tol
            m = "-"
        print(f"| {r['name']} | {r['torch']} | {r['first_loss_stc']:.7f} | "
              f"{r['first_loss_torch']:.7f} | {r['first_loss_rel']:.1e} | "
              f"{r['grad_max_rel_err']:.1e} ({r['grad_worst_param']}) | {m} | "
              f"{r['curve_max_abs_diff']:.4f}, {r['last_loss_stc']:.4f} / "
              f"{r['last_loss_torch']:.4f} | {tol:g} | {'yes' if ok else 'NO'} |")
    if any(r.get("grad_max_rel_err_matched") is not None for r in runs):
        print("\nPyTorch columns: float32 runs against PyTorch in float32 (TF32 off); "
              "bfloat16 runs against PyTorch under bf16 autocast with float32 parameters, "
              "the way a PyTorch user would train, which rounds other tensors than stc "
              "(it keeps the residual stream and the layer norms' outputs in float32, stc "
              "stores every activation and activation gradient in bf16): how far a typical "
              "PyTorch bf16 run is from stc's, not a check of stc. Storage-matched: the "
              "same network computed in float32 and rounded to bf16 exactly where stc's "
              "bf16 training step stores a bf16 tensor, forward and backward, in stc's "
              "order of accumulation (bench/parity/parity.py lists the points), so what "
              "is left is the order of float32 sums (and, in the cuda runs, the rounding "
              "inside stc's tensor-core attention): the parity check, and what decides "
              "a bfloat16 run's pass.")
    for r in runs:
        if r.get("grad_stc_vs_f32") is not None:
            line = (f"\n{r['name']}: against the same step in float32, the worst "
                    f"gradient error is {r['grad_stc_vs_f32']:.1e} for stc and "
                    f"{r['grad_torch_vs_f32']:.1e} for PyTorch under bfloat16 autocast")
            if r.get("grad_matched_vs_f32") is not None:
                line += f", {r['grad_matched_vs_f32']:.1e} for the storage-matched reference"
            print(line + ".")
    zero = sorted({p for r in runs
                   for p in r["grad_zero_params"] + r.get("grad_zero_params_matched", [])})
    if zero:
        worst = max(max(r.get("grad_zero_max_err", 0.0),
                        r.get("grad_zero_max_err_matched") or 0.0) for r in runs)
        print(f"\nGradients that are zero in exact arithmetic (the key bias: "
              f"softmax ignores a constant per query) and below 1e-6 of the "
              f"whole gradient's norm in PyTorch or in float32: {', '.join(zero)}; "
              f"compared against the whole gradient's norm, their difference from "
              f"stc's is at most {worst:.1e}.")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(runs, f)
    if a.png and runs:
        plot(a.png, runs)


if __name__ == "__main__":
    main()
