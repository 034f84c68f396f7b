"""Checks that stc inspect's memory plan is the arena stc compile wrote.

usage: check_memory.py ARTIFACT_DIR INSPECT_JSON
"""
import json
import sys

manifest = json.load(open(sys.argv[1] + "/manifest.json"))
memory = json.load(open(sys.argv[2]))["memory"]
arena = manifest["arena_bytes"]
if memory.get("arena_bytes") != arena:
    sys.exit(f"inspect plans {memory} but compile wrote an arena of {arena}")
if not 0 < memory["persistent_bytes"] < arena:
    sys.exit(f"persistent bytes {memory['persistent_bytes']} not in (0, {arena})")
print(f"MEMORY-OK arena {arena} persistent {memory['persistent_bytes']}")
