#!/usr/bin/env python3
"""Summarise inflate_bench lines (from run.sh) as a markdown table.

Per data set and inflater: the median over processes of each process's
median output and input MB/s, the lowest and highest process figure, and the
ratio of the median output MB/s to zlib's.
"""

from __future__ import annotations

import statistics
import sys
from collections import defaultdict

ORDER = ["zlib", "zlib(inflate.h)", "zlib-ng", "isal", "isal(inflate.h)"]


def main(paths: list[str]) -> None:
    rows: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
    sizes: dict[str, str] = {}
    for path in paths:
        with open(path) as f:
            for line in f:
                if not line.startswith("inflater="):
                    continue
                kv = dict(field.split("=", 1) for field in line.split())
                data = kv["data"].removesuffix(".rfbz")
                rows[data, kv["inflater"]].append((float(kv["out_MBps"]), float(kv["in_MBps"])))
                out, inp = int(kv["out_bytes"]), int(kv["in_bytes"])
                sizes[data] = f"{kv['rects']} rects, {out / 1e6:.1f} MB out, ratio {out / inp:.2f}"
    datas = sorted({d for d, _ in rows})
    names = sorted({n for _, n in rows}, key=lambda n: (ORDER.index(n) if n in ORDER else 99, n))
    print("| data | inflater | output MB/s | input MB/s | range of output MB/s | vs zlib 1.2.13 |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for data in datas:
        base = rows.get((data, "zlib"))
        zmed = statistics.median(o for o, _ in base) if base else None
        for name in names:
            v = rows.get((data, name))
            if not v:
                continue
            out = statistics.median(o for o, _ in v)
            inp = statistics.median(i for _, i in v)
            lo, hi = min(o for o, _ in v), max(o for o, _ in v)
            ratio = f"{out / zmed:.2f}x" if zmed else "-"
            print(f"| {data} | {name} | {out:.0f} | {inp:.0f} | {lo:.0f}-{hi:.0f} | {ratio} |")
    print()
    for data in datas:
        print(f"- {data}: {sizes[data]} (n={len(rows[data, names[0]])} processes each)")


if __name__ == "__main__":
    main(sys.argv[1:])
