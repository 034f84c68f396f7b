"""Checks `stc sample --num-samples K` output against single draws.

usage: check_samples.py MANY.txt K SEED PROMPT ONE.txt INDEX

MANY.txt holds K samples, each after a '--- sample i of K (seed s) ---'
line (the first at the start, the others after a newline) and each
starting with PROMPT; ONE.txt is the draw of one sample with seed
SEED + INDEX - 1 (prompt echoed, then a newline). Prints SAMPLES-OK when
sample INDEX of MANY.txt is ONE.txt's bytes, byte for byte.
"""
import sys


def main():
    many_path, k, seed, prompt, one_path, index = sys.argv[1:7]
    k, seed, index = int(k), int(seed), int(index)
    many = open(many_path, "rb").read()
    samples = []
    rest = many
    for i in range(1, k + 1):
        header = ("--- sample %d of %d (seed %d) ---\n" % (i, k, seed + i - 1)).encode()
        if i > 1:
            header = b"\n" + header
        at = rest.find(header)
        if at < 0:
            sys.exit("no header for sample %d" % i)
        if i > 1:
            samples.append(rest[:at])
        rest = rest[at + len(header):]
    samples.append(rest[:-1])  # the final newline
    for i, s in enumerate(samples, 1):
        if not s.startswith(prompt.encode()):
            sys.exit("sample %d does not start with the prompt: %r" % (i, s[:20]))
    one = open(one_path, "rb").read()[:-1]
    if samples[index - 1] != one:
        sys.exit("sample %d differs from the single draw:\n%r\n%r" %
                 (index, samples[index - 1], one))
    print("SAMPLES-OK %d samples" % len(samples))


main()
