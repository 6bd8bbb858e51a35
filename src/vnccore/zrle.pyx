# ZRLE (encoding 16): zlib-compressed 64x64 tiles on one connection-long stream.
#
# Consecutive ZRLE rects of one update are a *run*: their zlib data is
# inflated by one call (a flood of small rects costs one inflate, not one
# each), then each rect paints its tiles from where the previous one's ended.
# The run's tiles must use exactly the bytes it inflates to; where the
# server's flushes fall inside a run does not matter.

cdef enum:
    ZRLE_TILE = 64
    # worst case bytes of one tile beyond 4 bytes a pixel: subencoding + 127-colour palette
    ZRLE_TILE_OVERHEAD = 1 + 127 * 3
    # a run grows while its inflated bound and its zlib data stay within these
    ZRLE_RUN_MAX_INFLATED = 1 << 20
    ZRLE_RUN_MAX_ZLIB = 1 << 20


cdef inline size_t zrle_bound(int w, int h) noexcept nogil:
    """The most bytes a w x h rect's tiles can take."""
    cdef size_t tiles = <size_t>((w + ZRLE_TILE - 1) // ZRLE_TILE) * ((h + ZRLE_TILE - 1) // ZRLE_TILE)
    return tiles * ZRLE_TILE_OVERHEAD + <size_t>w * h * 4


cdef int zrle_inflate(UpdateDecoder d, const uint8_t *data, size_t length, size_t bound,
                      Py_ssize_t rects) noexcept nogil:
    """Inflate length bytes of zlib data (of a run of `rects` rects) into
    d.scratch[0:d.zrle_end] (at most bound)."""
    cdef size_t produced = 0
    cdef int rc
    cdef char what[48]
    # one byte of room past the bound: output that stops short of it proves
    # the stream holds no more, with no second inflate call
    if d._reserve_scratch(bound + 1) != DECODE_OK:
        return DECODE_ERROR
    rc = vnc_inflate(&d.zrle_stream, data, length, d.scratch, bound + 1, &produced)
    if rc == VNC_INFLATE_ERROR or rc == VNC_INFLATE_LONG or produced > bound:
        if rects == 1:
            snprintf(what, sizeof(what), "this rect")
        else:
            snprintf(what, sizeof(what), "the run of %zd ZRLE rects from this one", rects)
        if rc == VNC_INFLATE_ERROR:
            snprintf(d.detail, sizeof(d.detail), "corrupt zlib data (%s, %zu bytes)", what, length)
        else:
            snprintf(d.detail, sizeof(d.detail),
                     "zlib data (%s) inflates to more than the %zu bytes its tiles can take", what, bound)
        return DECODE_ERROR
    d.zrle_pos = 0
    d.zrle_end = produced
    return DECODE_OK


cdef int start_zrle_run(UpdateDecoder d, const uint8_t *first, int w, int h) noexcept nogil:
    """Inflate the run of ZRLE rects that starts with the one being decoded
    (payload at first; in an update, the rects framed after it join the run
    while the caps allow)."""
    cdef size_t bound = zrle_bound(w, h), length = vnc_be32(first)
    cdef size_t more_bound, more_length, at
    cdef Py_ssize_t k = d.decode_rects, pos = d.decode_pos, count = 1
    cdef const uint8_t *q
    while d.decode_msg != NULL and k < d.scan_rects:
        q = d.decode_msg + pos
        if vnc_be32s(q + 8) != ENC_ZRLE:
            break
        more_bound = zrle_bound(vnc_be16(q + 4), vnc_be16(q + 6))
        more_length = vnc_be32(q + RECT_HEADER)
        if bound + more_bound > ZRLE_RUN_MAX_INFLATED or length + more_length > ZRLE_RUN_MAX_ZLIB:
            break
        bound += more_bound
        length += more_length
        count += 1
        pos += RECT_HEADER + d.rect_lengths[k]
        k += 1
    d.zrle_run_left = count
    if count == 1:
        return zrle_inflate(d, first + 4, length, bound, 1)
    # the run's zlib data, gathered in one piece
    if d._reserve_run_input(length) != DECODE_OK:
        return DECODE_ERROR
    at = vnc_be32(first)
    memcpy(d.run_input, first + 4, at)
    pos = d.decode_pos
    for k in range(d.decode_rects, d.decode_rects + count - 1):
        q = d.decode_msg + pos + RECT_HEADER
        memcpy(d.run_input + at, q + 4, vnc_be32(q))
        at += vnc_be32(q)
        pos += RECT_HEADER + d.rect_lengths[k]
    return zrle_inflate(d, d.run_input, length, bound, count)


cdef int decode_zrle(UpdateDecoder d, int x, int y, int w, int h,
                     const uint8_t *p) noexcept nogil:
    """Paint a rect's tiles from its run's inflated data."""
    cdef size_t used = 0
    cdef int rc
    if d.zrle_run_left == 0 and start_zrle_run(d, p, w, h) != DECODE_OK:
        d.zrle_run_left = 0
        return DECODE_ERROR
    d.zrle_run_left -= 1
    rc = zrle_tiles(d, x, y, w, h, d.scratch + d.zrle_pos, d.zrle_end - d.zrle_pos, &used)
    if rc != DECODE_OK:
        d.zrle_run_left = 0
        return rc
    d.zrle_pos += used
    if d.zrle_run_left == 0 and d.zrle_pos != d.zrle_end:
        snprintf(d.detail, sizeof(d.detail),
                 "%zu bytes of inflated data left after the last tile", d.zrle_end - d.zrle_pos)
        return DECODE_ERROR
    return DECODE_OK


cdef inline int zrle_short(UpdateDecoder d, int tx, int ty) noexcept nogil:
    snprintf(d.detail, sizeof(d.detail), "inflated data ends inside the tile at %d,%d", tx, ty)
    return DECODE_ERROR


cdef int zrle_tiles(UpdateDecoder d, int x, int y, int w, int h,
                    const uint8_t *s, size_t n, size_t *used) noexcept nogil:
    """Paint the rect's tiles from s[0:n]; the bytes they took go to used."""
    cdef size_t pos = 0
    cdef int tx, ty, tw, th, row, col, sub, bits, idx, palette_size
    cdef Py_ssize_t npix, i, run, rowbytes
    cdef uint8_t *tile
    cdef uint8_t *dst
    cdef const uint8_t *palette
    cdef uint8_t byte
    cdef uint32_t palette32[128]
    cdef uint32_t marks
    cdef NibbleTable nibbles
    cdef ByteTable *bytes_table
    cdef TileCursor cursor
    ty = y
    while ty < y + h:
        th = y + h - ty
        if th > ZRLE_TILE:
            th = ZRLE_TILE
        tx = x
        while tx < x + w:
            tw = x + w - tx
            if tw > ZRLE_TILE:
                tw = ZRLE_TILE
            tile = d.fb + ty * d.pitch + <Py_ssize_t>tx * 3
            npix = <Py_ssize_t>tw * th
            if pos >= n:
                return zrle_short(d, tx, ty)
            sub = s[pos]
            pos += 1
            if sub == 0:  # raw CPIXELs
                rowbytes = <Py_ssize_t>tw * 3
                if n - pos < <size_t>(npix * 3):
                    return zrle_short(d, tx, ty)
                for row in range(th):
                    memcpy(tile + row * d.pitch, s + pos, rowbytes)
                    pos += rowbytes
            elif sub == 1:  # solid
                if n - pos < 3:
                    return zrle_short(d, tx, ty)
                fill_block(tile, d.pitch, tw, th, s + pos)
                pos += 3
            elif sub <= 16:  # packed palette
                palette_size = sub
                bits = 1 if sub == 2 else (2 if sub <= 4 else 4)
                rowbytes = (tw * bits + 7) // 8
                if n - pos < <size_t>(palette_size * 3 + rowbytes * th):
                    return zrle_short(d, tx, ty)
                for idx in range(palette_size):
                    palette32[idx] = pixel32(s + pos + idx * 3)
                pos += palette_size * 3
                for idx in range(palette_size, 1 << bits):  # invalid indices: marked entries
                    palette32[idx] = PALETTE_INVALID
                if palette_size == 3 and vnc_rows2_uses_index3(s + pos, tw, th):
                    snprintf(d.detail, sizeof(d.detail),
                             "palette index 3 >= palette size 3 in the tile at %d,%d", tx, ty)
                    return DECODE_ERROR
                # (a 2-bit tile's indices are valid now: its loops check nothing)
                marks = 0  # (only 4-bit rows check their indices as they go: marked entries)
                # a literal `bits` per call lets the compiler specialise the inlined loop
                if bits == 1 and vnc_bits_on and tw >= BITS_VECTOR_MIN_WIDTH:
                    vnc_rows1_rect(tile, d.pitch, s + pos, tw, th, palette32)
                    pos += rowbytes * th
                elif bits == 1 and (bytes_table := d._byte_table(palette32, tw, npix)) != NULL:
                    for row in range(th):
                        packed_row_bytes(tile + row * d.pitch, s + pos, tw, bytes_table)
                        pos += rowbytes
                elif bits == 2 and vnc_shuffle_on:
                    vnc_rows2_tile(tile, d.pitch, s + pos, tw, th, palette32)
                    pos += rowbytes * th
                elif bits == 1 and npix >= NIBBLE_TABLE_MIN_PIXELS:
                    build_nibble_table(&nibbles, 1, palette32)
                    for row in range(th):
                        packed_row_nibbles(tile + row * d.pitch, s + pos, tw, 1, &nibbles)
                        pos += rowbytes
                elif bits == 2 and npix >= NIBBLE_TABLE_MIN_PIXELS:
                    build_nibble_table(&nibbles, 2, palette32)
                    for row in range(th):
                        packed_row_nibbles(tile + row * d.pitch, s + pos, tw, 2, &nibbles)
                        pos += rowbytes
                else:
                    for row in range(th):
                        if bits == 1:
                            packed_row(tile + row * d.pitch, s + pos, tw, 1, palette32)
                        elif bits == 2:
                            packed_row(tile + row * d.pitch, s + pos, tw, 2, palette32)
                        else:
                            marks |= packed_row(tile + row * d.pitch, s + pos, tw, 4, palette32)
                        pos += rowbytes
                if marks & PALETTE_INVALID:
                    snprintf(d.detail, sizeof(d.detail),
                             "palette index >= palette size %d in the tile at %d,%d", palette_size, tx, ty)
                    return DECODE_ERROR
            elif sub == 128:  # plain RLE
                i = 0
                cursor.row = tile
                cursor.col = 0
                while i < npix:
                    if n - pos < 4:
                        return zrle_short(d, tx, ty)
                    palette = s + pos  # the run's colour
                    pos += 3
                    run = 1
                    while True:
                        if pos >= n:
                            return zrle_short(d, tx, ty)
                        byte = s[pos]
                        pos += 1
                        run += byte
                        if byte != 255:
                            break
                        if run > npix:
                            break
                    if run > npix - i:
                        snprintf(d.detail, sizeof(d.detail),
                                 "RLE run of %zd pixels passes the end of the tile at %d,%d",
                                 run, tx, ty)
                        return DECODE_ERROR
                    fill_run(&cursor, d.pitch, tw, run, pixel32(palette))
                    i += run
            elif sub >= 130:  # palette RLE
                palette_size = sub - 128
                if n - pos < <size_t>(palette_size * 3):
                    return zrle_short(d, tx, ty)
                for idx in range(palette_size):
                    palette32[idx] = pixel32(s + pos + idx * 3)
                pos += palette_size * 3
                i = 0
                cursor.row = tile
                cursor.col = 0
                while i < npix:
                    if pos >= n:
                        return zrle_short(d, tx, ty)
                    byte = s[pos]
                    pos += 1
                    idx = byte & 0x7F
                    if idx >= palette_size:
                        snprintf(d.detail, sizeof(d.detail),
                                 "palette index %d >= palette size %d in the tile at %d,%d",
                                 idx, palette_size, tx, ty)
                        return DECODE_ERROR
                    run = 1
                    if byte & 0x80:
                        while True:
                            if pos >= n:
                                return zrle_short(d, tx, ty)
                            byte = s[pos]
                            pos += 1
                            run += byte
                            if byte != 255 or run > npix:
                                break
                    if run > npix - i:
                        snprintf(d.detail, sizeof(d.detail),
                                 "RLE run of %zd pixels passes the end of the tile at %d,%d",
                                 run, tx, ty)
                        return DECODE_ERROR
                    fill_run(&cursor, d.pitch, tw, run, palette32[idx])
                    i += run
            else:
                snprintf(d.detail, sizeof(d.detail),
                         "invalid subencoding %d in the tile at %d,%d", sub, tx, ty)
                return DECODE_ERROR
            tx += ZRLE_TILE
        ty += ZRLE_TILE
    used[0] = pos
    return DECODE_OK
