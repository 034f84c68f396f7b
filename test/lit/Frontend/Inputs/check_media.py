"""Decodes what stc sample --png / --wav wrote with Python's own readers and
compares it with the sample's bytes (the prompt, then the --out bytes).

usage: check_media.py PROMPT_TEXT OUT_FILE [--png FILE H W C] [--wav FILE RATE]
"""
import struct
import sys
import wave
import zlib

prompt = sys.argv[1].encode()
sample = prompt + open(sys.argv[2], "rb").read()
args = sys.argv[3:]
while args:
    if args[0] == "--png":
        path, h, w, c = args[1], int(args[2]), int(args[3]), int(args[4])
        args = args[5:]
        data = open(path, "rb").read()
        assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
        at, idat, header = 8, b"", None
        while at < len(data):
            n, kind = struct.unpack(">I4s", data[at:at + 8])
            body = data[at + 8:at + 8 + n]
            crc = struct.unpack(">I", data[at + 8 + n:at + 12 + n])[0]
            assert crc == zlib.crc32(kind + body), f"bad CRC in {kind}"
            if kind == b"IHDR":
                header = struct.unpack(">IIBBBBB", body)
            elif kind == b"IDAT":
                idat += body
            at += 12 + n
        width, height, depth, color = header[:4]
        assert (width, height, depth) == (w, h, 8), header
        assert color == {1: 0, 3: 2, 4: 6}[c], header
        raw = zlib.decompress(idat)
        rows = [raw[y * (w * c + 1):(y + 1) * (w * c + 1)] for y in range(h)]
        assert all(r[0] == 0 for r in rows), "filtered rows"
        pixels = b"".join(r[1:] for r in rows)
        want = sample[:h * w * c].ljust(h * w * c, b"\x80")
        assert pixels == want, "pixels differ from the sample's bytes"
        print(f"png ok {w}x{h}x{c}")
    elif args[0] == "--wav":
        path, rate = args[1], int(args[2])
        args = args[3:]
        with wave.open(path, "rb") as wv:
            assert (wv.getnchannels(), wv.getsampwidth(), wv.getframerate()) == (1, 1, rate)
            frames = wv.readframes(wv.getnframes())
        assert frames == sample, "samples differ from the sample's bytes"
        print(f"wav ok {len(frames)} samples at {rate} Hz")
    else:
        sys.exit("unknown argument " + args[0])
