"""Take an FBS recording apart for bench/limits/limits.c.

    python3 bench/limits/extract.py FILE.fbs OUT.lim

Walks the stream with bench/rfbwalk.py (not vncenv's parser) and writes, in
stream order, little-endian records::

    header  "VNCLIM01", u32 width, u32 height, u32 nrecords
    record  u8 kind, u8 stream, u8 resets, u8 0, u16 x, y, w, h,
            u32 outlen, u32 inlen, inlen bytes

    kind 1  ZRLE zlib payload (outlen: the buffer the core reserves for it;
            stream 1: it joins the previous one's run, the consecutive ZRLE
            rects of an update the core inflates in one call)
    kind 2  Tight zlib payload on `stream` (bits 0-1; outlen: exactly the
            rect's data; bit 7: it joins the previous one's run, the
            consecutive Tight rects the core inflates a stream at a time)
    kind 3  Tight JPEG data of the rect x, y, w, h
    kind 4  a rect that writes pixels other than by JPEG (Raw, CopyRect,
            ZRLE, Tight fill/basic): its geometry, for the memcpy pass
    kind 5  Tight stream resets (bits 0-3 of a rect's control byte)
"""

from __future__ import annotations

import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import rfbwalk  # noqa: E402

_REC = struct.Struct("<BBBxHHHHII")
K_ZRLE, K_TIGHT_ZLIB, K_JPEG, K_PIXELS, K_TIGHT_RESET = 1, 2, 3, 4, 5
ZRLE_TILE_OVERHEAD = 1 + 127 * 3
ZRLE_RUN_MAX_INFLATED = ZRLE_RUN_MAX_ZLIB = 1 << 20  # the core's caps on a run (src/vnccore/zrle.pyx)
TIGHT_RUN_MAX_INFLATED = TIGHT_RUN_MAX_ZLIB = 1 << 20  # (src/vnccore/tight.pyx)


def extract(data: bytes, out_path: str) -> dict:
    hs = rfbwalk.handshake(data)
    width, height = hs.width, hs.height
    parts: list[bytes] = []
    n = 0

    def add(kind, x=0, y=0, w=0, h=0, stream=0, resets=0, outlen=0, payload=b""):
        nonlocal n
        parts.append(_REC.pack(kind, stream, resets, x, y, w, h, outlen, len(payload)))
        if payload:
            parts.append(payload)
        n += 1

    for msg in rfbwalk.walk(data, hs):
        run_bound = run_zlib = None  # the ZRLE run the previous rect belongs to, if any
        tight_run = None  # (filtered bytes, zlib bytes) of the Tight run the previous rect belongs to
        for r in msg.rects:
            if r.encoding != rfbwalk.ZRLE:
                run_bound = run_zlib = None
            if r.encoding != rfbwalk.TIGHT or r.tight_ctl & 0x0F:
                tight_run = None
            if r.encoding == rfbwalk.EXT_DESKTOP_SIZE and r.y == 0 or r.encoding == rfbwalk.DESKTOP_SIZE:
                width, height = max(width, r.w), max(height, r.h)
                continue
            if r.encoding not in rfbwalk.PIXEL_ENCODINGS:
                continue
            if r.encoding == rfbwalk.ZRLE:
                tiles = ((r.w + 63) // 64) * ((r.h + 63) // 64)
                bound = tiles * ZRLE_TILE_OVERHEAD + r.w * r.h * 4
                joins = (run_bound is not None and run_bound + bound <= ZRLE_RUN_MAX_INFLATED
                         and run_zlib + r.zlib_length <= ZRLE_RUN_MAX_ZLIB)  # fmt: skip
                run_bound, run_zlib = (run_bound + bound, run_zlib + r.zlib_length) if joins else (bound, r.zlib_length)
                add(K_ZRLE, r.x, r.y, r.w, r.h, stream=int(joins), outlen=bound,
                    payload=data[r.zlib_offset : r.zlib_offset + r.zlib_length])  # fmt: skip
            elif r.encoding == rfbwalk.TIGHT:
                if r.tight_ctl & 0x0F:
                    add(K_TIGHT_RESET, resets=r.tight_ctl & 0x0F)
                if r.tight_kind == "jpeg":
                    add(K_JPEG, r.x, r.y, r.w, r.h, payload=data[r.zlib_offset : r.zlib_offset + r.zlib_length])
                    continue
                if r.zlib_length:
                    joins = (tight_run is not None and tight_run[0] + r.raw_size <= TIGHT_RUN_MAX_INFLATED
                             and tight_run[1] + r.zlib_length <= TIGHT_RUN_MAX_ZLIB)  # fmt: skip
                    tight_run = (tight_run[0] + r.raw_size, tight_run[1] + r.zlib_length) if joins else (
                        r.raw_size, r.zlib_length)  # fmt: skip
                    add(K_TIGHT_ZLIB, r.x, r.y, r.w, r.h, stream=(r.tight_ctl >> 4) & 3 | (0x80 if joins else 0),
                        outlen=r.raw_size, payload=data[r.zlib_offset : r.zlib_offset + r.zlib_length])  # fmt: skip
            add(K_PIXELS, r.x, r.y, r.w, r.h)
    tmp = out_path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(b"VNCLIM01" + struct.pack("<III", width, height, n))
        for p in parts:
            f.write(p)
    os.replace(tmp, out_path)
    return {"records": n, "width": width, "height": height}


def main() -> int:
    from vncenv.vnc.fbs import FBSReader

    src, out = sys.argv[1], sys.argv[2]
    with FBSReader(src) as reader:
        data = reader.read_all()
    print(extract(data, out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
