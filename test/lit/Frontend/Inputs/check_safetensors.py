#!/usr/bin/env python3
"""check_safetensors.py ARTIFACT CKPT FILE: an independent reader.

Parses FILE as safetensors (8-byte little-endian header length, a JSON
header, raw data) and the stc checkpoint CKPT as docs/artifact-format.md
describes it, with nothing but the standard library, and checks that every
parameter of ARTIFACT's manifest is in FILE under its model name with its
dtype, shape and exactly the checkpoint's bytes. Prints one line per tensor
and a summary; exits 1 on any difference.
"""
import json
import struct
import sys

artifact, ckpt_path, st_path = sys.argv[1:4]
manifest = json.load(open(artifact + "/manifest.json"))
buffers = manifest["buffers"]

# safetensors
blob = open(st_path, "rb").read()
(n,) = struct.unpack_from("<Q", blob, 0)
header = json.loads(blob[8:8 + n])
data = blob[8 + n:]
meta = header.pop("__metadata__", {})

# the checkpoint: magic, version, count, step, fingerprint, identity, run
# record (version 3), then records (name, dtype, bytes, data), checksum
c = open(ckpt_path, "rb").read()
assert c[:8] == b"STCCKPT\0", "not an stc checkpoint"
version, count = struct.unpack_from("<II", c, 8)
step, _fingerprint = struct.unpack_from("<QQ", c, 16)
pos = 32
(length,) = struct.unpack_from("<I", c, pos)
pos += 4 + length
if version >= 3:
    (length,) = struct.unpack_from("<I", c, pos)
    pos += 4 + length
records = {}
for _ in range(count):
    (length,) = struct.unpack_from("<I", c, pos)
    name = c[pos + 4:pos + 4 + length].decode()
    pos += 4 + length
    _dtype, size = struct.unpack_from("<IQ", c, pos)
    pos += 12
    records[name] = c[pos:pos + size]
    pos += size

names = {"f32": "F32", "bf16": "BF16", "f16": "F16", "i32": "I32"}
bad = 0
for p in manifest["params"]:
    b = buffers[p["buffer"]]
    t = header.get(p["name"])
    if t is None:
        print(f"MISSING {p['name']}")
        bad += 1
        continue
    begin, end = t["data_offsets"]
    same = (t["dtype"] == names[b["dtype"]] and t["shape"] == b["shape"]
            and data[begin:end] == records[b["name"]])
    print(f"{'ok' if same else 'DIFFERENT'} {p['name']} {t['dtype']} {t['shape']}")
    bad += 0 if same else 1
# An f16 model's loss-scaling state goes with the optimizer's.
if "loss_scale" in header and "loss_scale" in manifest:
    b = buffers[manifest["loss_scale"]["buffer"]]
    t = header["loss_scale"]
    begin, end = t["data_offsets"]
    same = (t["dtype"] == "F32" and t["shape"] == b["shape"] == [4]
            and data[begin:end] == records[b["name"]])
    scale = struct.unpack_from("<4f", data, begin)
    print(f"{'ok' if same else 'DIFFERENT'} loss_scale {list(scale)}")
    bad += 0 if same else 1
print(f"{len(manifest['params'])} parameters, {len(header)} tensors, "
      f"metadata step {meta.get('step')} (checkpoint step {step}), "
      f"format {meta.get('format')}, {bad} different")
sys.exit(1 if bad else 0)
