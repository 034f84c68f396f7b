"""Checks that stc inspect's memory plan is the arena stc compile wrote, that
its device total adds exactly what the CUDA executor allocates besides (the
layouts' six int32 block tables, each 256-byte aligned, the column three
empty unless a backward reads the layout; the 32 MiB cuBLASLt workspace;
each of the three allocations in whole 2 MiB pages; 8 MiB for kernel code),
and that the sampling caches (session buffers) lie outside the persistent
buffers, in the bytes the training step's activations use.

usage: check_memory.py ARTIFACT_DIR INSPECT_JSON
"""
import json
import sys

manifest = json.load(open(sys.argv[1] + "/manifest.json"))
memory = json.load(open(sys.argv[2]))["memory"]
arena = manifest["arena_bytes"]
if memory.get("arena_bytes") != arena:
    sys.exit(f"inspect plans {memory} but compile wrote an arena of {arena}")
persistent = memory["persistent_bytes"]
if not 0 < persistent < arena:
    sys.exit(f"persistent bytes {persistent} not in (0, {arena})")
buffers = manifest["buffers"]
caches = [b for b in buffers if b.get("session")]
if not caches:
    sys.exit("no session buffers (sampling caches) in the artifact")
kept = [b for b in buffers if b["persistent"]]
end = max(b["offset"] for b in kept)
for c in caches:
    if c["persistent"]:
        sys.exit(f"cache {c['name']} is persistent")
    if c["offset"] <= end:
        sys.exit(f"cache {c['name']} at {c['offset']} is among the persistent "
                 f"buffers (last at {end})")


def extent(b):
    n = {"f32": 4, "i32": 4, "bf16": 2}[b["dtype"]]
    for d in b["shape"]:
        n *= d
    return b["offset"], b["offset"] + n


train = manifest["entries"]["train_step"]["ops"]
used = {a for op in train for a in op["args"]}
shared = 0
for c in caches:
    lo, hi = extent(c)
    if any(not buffers[i]["persistent"] and extent(buffers[i])[0] < hi and
           lo < extent(buffers[i])[1] for i in used):
        shared += 1

def aligned(entries):
    return (max(entries * 4, 4) + 255) // 256 * 256


read_by_backward = {name for e in manifest["entries"].values() for op in e["ops"]
                    if op["op"] in ("attention_bwd", "attention_bwd_atomic")
                    for name in op["attrs"].get("layouts", [])}
tables = 0
for l in manifest["layouts"]:
    side = aligned((l["n"] + l["block"] - 1) // l["block"] + 1) + 2 * aligned(l["blocks"])
    tables += 2 * side if l["name"] in read_by_backward else side + 3 * aligned(0)
def pages(b):
    return (max(b, 256) + (2 << 20) - 1) // (2 << 20) * (2 << 20)


device = pages(arena) + pages(tables) + pages(32 << 20) + (8 << 20)
if (memory.get("layout_table_bytes"), memory.get("device_bytes")) != (tables, device):
    sys.exit(f"inspect plans tables {memory.get('layout_table_bytes')} and "
             f"device {memory.get('device_bytes')}; the artifact needs {tables} "
             f"and {device}")
print(f"MEMORY-OK arena {arena} persistent {persistent} device {device}, {len(caches)} "
      f"caches outside it, {shared} sharing bytes with train_step buffers")
