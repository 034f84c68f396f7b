"""Checks a `stc train --profile` JSON against the artifact it profiled:
one timing per op of the train entry, in order, with the op's kind; the
per-kind sums add up to the per-op times; launches and library calls
partition the ops. Prints one line per check, "ok ..." or "FAIL ..."."""
import json
import sys

artifact, profile = sys.argv[1], sys.argv[2]
manifest = json.load(open(artifact + "/manifest.json"))
p = json.load(open(profile))
ops = manifest["entries"]["train_step"]["ops"]
failed = False


def check(cond, what):
    global failed
    print(("ok " if cond else "FAIL ") + what)
    failed |= not cond


check(p["entry"] == "train_step", "entry " + p["entry"])
check(len(p["ops"]) == len(ops), "%d ops timed of %d" % (len(p["ops"]), len(ops)))
check(all(o["index"] == i and o["kind"] == ops[i]["op"]
          for i, o in enumerate(p["ops"])), "op kinds in order")
check(all(o["ms"] >= 0 for o in p["ops"]), "times non-negative")
kinds = {}
for o in ops:
    kinds[o["op"]] = kinds.get(o["op"], 0) + 1
check({k["kind"]: k["ops"] for k in p["by_kind"]} == kinds, "ops per kind")
total = sum(k["ms"] for k in p["by_kind"])
check(abs(total - p["op_sum_ms"]) <= 1e-6 * max(1.0, total), "kinds sum to the ops")
check(p["launches"] + p["library_calls"] == len(ops), "launches + library calls = ops")
check(p["library_calls"] == kinds.get("gemm", 0) + kinds.get("gemm_group", 0),
      "library calls are the gemms")
check(p["whole_ms"] > 0, "whole step timed")
sys.exit(1 if failed else 0)
