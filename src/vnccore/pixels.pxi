# Pixel writers shared by the decoders.  The framebuffer is RGB, 3 bytes a
# pixel; callers have checked that every write stays inside it.

cdef enum:
    # result codes of the nogil decoders
    DECODE_OK = 0
    DECODE_NEED_MORE = 1
    DECODE_RESIZE = 2
    DECODE_ERROR = -1

cdef enum:
    ENC_RAW = 0
    ENC_COPYRECT = 1
    ENC_TIGHT = 7
    ENC_ZRLE = 16
    ENC_DESKTOP_SIZE = -223
    ENC_LAST_RECT = -224
    ENC_CURSOR = -239
    ENC_EXTENDED_DESKTOP_SIZE = -308


cdef inline uint32_t pixel32(const uint8_t *rgb) noexcept nogil:
    """An RGB pixel as the 4 bytes R, G, B, 0 (little-endian), for wide stores."""
    return <uint32_t>rgb[0] | (<uint32_t>rgb[1] << 8) | (<uint32_t>rgb[2] << 16)


cdef inline void store3(uint8_t *dst, uint32_t pixel) noexcept nogil:
    """Write one pixel's 3 bytes exactly."""
    dst[0] = <uint8_t>pixel
    dst[1] = <uint8_t>(pixel >> 8)
    dst[2] = <uint8_t>(pixel >> 16)


cdef enum:
    # spans this long or longer are written 5 pixels (a 16-byte store) a step
    FILL_WIDE_MIN_PIXELS = 8


cdef inline void fill_span(uint8_t *dst, Py_ssize_t n, uint32_t pixel) noexcept nogil:
    """Write the pixel32 value `pixel` n times from dst on.

    Long spans go 5 pixels a step as 16-byte stores of the pattern RGBRGB...R
    (the 16th byte is the next pixel's, rewritten next) while a sixth pixel
    follows; the rest are 4-byte stores whose spare byte the next pixel
    overwrites, and the last pixel is written with 3 bytes, so nothing past
    the span is touched.
    """
    cdef Py_ssize_t i
    cdef uint8_t pattern[20]
    if n <= 0:
        return
    if n >= FILL_WIDE_MIN_PIXELS:
        for i in range(6):
            memcpy(pattern + 3 * i, &pixel, 4)
        while n > 5:
            memcpy(dst, pattern, 16)
            dst += 15
            n -= 5
    for i in range(n - 1):
        memcpy(dst, &pixel, 4)
        dst += 3
    store3(dst, pixel)


cdef inline void fill_block(uint8_t *dst, Py_ssize_t pitch, int w, int h,
                            const uint8_t *rgb) noexcept nogil:
    """Fill a w x h block whose top-left pixel is dst with one colour.

    Each row goes 16 pixels a step, as three 16-byte stores of a 48-byte
    pattern of the colour, and its last 0-15 pixels are copied exactly from
    the pattern: nothing past the row is touched.
    """
    cdef int row, i
    cdef uint32_t pixel = pixel32(rgb)
    cdef uint8_t pattern[52]
    cdef Py_ssize_t left
    cdef uint8_t *d
    if h <= 0 or w <= 0:
        return
    for i in range(17):
        memcpy(pattern + 3 * i, &pixel, 4)
    for row in range(h):
        d = dst + row * pitch
        left = <Py_ssize_t>w * 3
        while left >= 48:
            memcpy(d, pattern, 16)
            memcpy(d + 16, pattern + 16, 16)
            memcpy(d + 32, pattern + 32, 16)
            d += 48
            left -= 48
        if left:
            vnc_copy_short(d, pattern, <size_t>left)


cdef struct TileCursor:
    # where the next run of a w-wide RLE tile starts: its row's first pixel and column
    uint8_t *row
    int col


cdef inline void fill_run(TileCursor *at, Py_ssize_t pitch, int tile_w, Py_ssize_t n,
                          uint32_t pixel) noexcept nogil:
    """Fill the next n pixels of an RLE tile (wrapping at its right edge) with
    the pixel32 value `pixel`; the caller has checked they lie in the tile."""
    cdef Py_ssize_t chunk
    while n > 0:
        chunk = tile_w - at.col
        if chunk > n:
            chunk = n
        fill_span(at.row + at.col * 3, chunk, pixel)
        n -= chunk
        at.col += <int>chunk
        if at.col == tile_w:
            at.col = 0
            at.row += pitch


cdef enum:
    # a palette32 entry for an index past the palette's end: the byte a real
    # entry leaves 0.  Rows OR their entries together, so one test after the
    # loop finds a bad index without a check per pixel.
    PALETTE_INVALID = 0xFF000000


cdef inline uint32_t packed_row(uint8_t *dst, const uint8_t *src, int w, int bits,
                                const uint32_t *palette32) noexcept nogil:
    """One row of `bits`-bit palette indices, MSB first (ZRLE packed tiles, Tight's 2 colours).

    Whole source bytes first (their pixels as 4-byte stores), then the rest;
    the row's last pixel is written with exactly 3 bytes.  Returns the OR of
    the entries used (PALETTE_INVALID set if an index was out of range).
    """
    cdef int per_byte = 8 // bits
    cdef int mask = (1 << bits) - 1
    cdef int whole = (w - 1) // per_byte
    cdef int i, k, col
    cdef uint8_t byte
    cdef uint32_t v, marks = 0
    for i in range(whole):
        byte = src[i]
        for k in range(per_byte):
            v = palette32[(byte >> (8 - bits * (k + 1))) & mask]
            marks |= v
            memcpy(dst, &v, 4)
            dst += 3
    byte = src[whole]  # holds the rest of the row, the last pixel included
    for col in range(whole * per_byte, w - 1):
        v = palette32[(byte >> (8 - bits)) & mask]
        marks |= v
        memcpy(dst, &v, 4)
        byte = <uint8_t>(byte << bits)
        dst += 3
    v = palette32[(byte >> (8 - bits)) & mask]
    store3(dst, v)
    return marks | v


cdef inline void index_row(uint8_t *dst, const uint8_t *src, int w,
                           const uint32_t *palette32) noexcept nogil:
    """One row of 8-bit palette indices (Tight's palette filter, 3-256 colours),
    checked by the caller.

    Four pixels a step, as two 8-byte stores of two pixels each (14 bytes:
    the 2 past the fourth pixel are rewritten next), while another pixel
    follows; then one by one, the last with exactly 3 bytes.
    """
    cdef const uint8_t *last = src + w - 1  # the row's last index
    cdef uint32_t a, b, c, e
    cdef uint64_t pair
    while src + 4 <= last:
        a = palette32[src[0]]
        b = palette32[src[1]]
        c = palette32[src[2]]
        e = palette32[src[3]]
        pair = <uint64_t>a | (<uint64_t>b << 24)
        memcpy(dst, &pair, 8)
        pair = <uint64_t>c | (<uint64_t>e << 24)
        memcpy(dst + 6, &pair, 8)
        dst += 12
        src += 4
    while src < last:
        memcpy(dst, &palette32[src[0]], 4)
        dst += 3
        src += 1
    store3(dst, palette32[last[0]])


cdef enum:
    # 1- and 2-bit rects or tiles this big or bigger go through a
    # NibbleTable (its 16 entries cost about as much as 64 pixels one by one)
    NIBBLE_TABLE_MIN_PIXELS = 64


cdef struct NibbleTable:
    # the pixels one 4-bit group of indices stands for: 4 pixels at 1 bit an
    # index, 2 at 2 bits; 16 bytes a row so one wide store writes a group
    uint8_t px[16][16]


cdef inline void build_nibble_table(NibbleTable *t, int bits, const uint32_t *palette32) noexcept nogil:
    """The table of 1- or 2-bit packed rows for one palette (every index valid).

    Entries are built from the 4 two-pixel pairs (6 bytes in a 64-bit word):
    an entry is 2 pairs at 1 bit an index, 1 pair at 2 bits.
    """
    cdef int nib
    cdef uint64_t pairs[16]
    cdef uint64_t hi, lo
    if bits == 1:
        for nib in range(4):
            pairs[nib] = <uint64_t>palette32[nib >> 1] | (<uint64_t>palette32[nib & 1] << 24)
        for nib in range(16):
            hi = pairs[nib >> 2]
            lo = pairs[nib & 3]
            memcpy(&t.px[nib][0], &hi, 8)
            memcpy(&t.px[nib][6], &lo, 8)
    else:
        for nib in range(16):
            hi = <uint64_t>palette32[nib >> 2] | (<uint64_t>palette32[nib & 3] << 24)
            memcpy(&t.px[nib][0], &hi, 8)


cdef inline void packed_row_nibbles(uint8_t *dst, const uint8_t *src, int w, int bits,
                                    const NibbleTable *t) noexcept nogil:
    """Like packed_row for 1- and 2-bit indices, a 4-bit group per table lookup.

    A group's store writes 16 (1 bit) or 8 (2 bits) bytes, up to 4 or 2 past
    its pixels, so groups go this way only while 2 (1 pixel) more pixels of
    the row follow; the rest are exact copies of their table entries.  The
    caller has checked the indices.
    """
    cdef int per_nib = 4 // bits
    cdef int nib_bytes = per_nib * 3
    cdef int spare = 2 if bits == 1 else 1
    cdef int groups = (w - spare) // per_nib if w > spare else 0
    cdef int i, k, col, nib
    cdef uint8_t byte
    for i in range(groups >> 1):
        byte = src[i]
        memcpy(dst, t.px[byte >> 4], 16 if bits == 1 else 8)
        dst += nib_bytes
        memcpy(dst, t.px[byte & 15], 16 if bits == 1 else 8)
        dst += nib_bytes
    col = groups * per_nib
    if groups & 1:
        memcpy(dst, t.px[src[groups >> 1] >> 4], 16 if bits == 1 else 8)
        dst += nib_bytes
    while col < w:  # the last 1 or 2 groups (2 to 5 pixels; 1 or 2 at 2 bits)
        k = w - col
        if k > per_nib:
            k = per_nib
        nib = (src[(col * bits) >> 3] >> (4 - ((col * bits) & 4))) & 15
        vnc_copy_pixels(dst, t.px[nib], k)
        dst += k * 3
        col += k


cdef enum:
    # 1-bit tiles/rects at least this wide go through a ByteTable (8 pixels
    # a lookup) when one is kept for their two colours.  A table is built
    # for a tile this big, or for colours met lately (building one costs
    # about as much as 2048 pixels by nibbles, so it must be used again);
    # the decoder keeps BYTE_TABLES of them, for the pairs met most lately,
    # and remembers RECENT_PAIRS more pairs without a table.
    BYTE_TABLE_MIN_WIDTH = 8
    BYTE_TABLE_MIN_PIXELS = 2048
    BYTE_TABLES = 16
    RECENT_PAIRS = 32
    # with AVX2, 1-bit rows this wide or wider go by vectors instead, 32
    # pixels a step (palette_rows.h)
    BITS_VECTOR_MIN_WIDTH = 32


cdef struct ByteTable:
    # the 8 pixels one byte of 1-bit indices stands for (24 bytes; 32 a row)
    uint8_t px[256][32]


cdef inline uint64_t colour_pair(const uint32_t *palette32) noexcept nogil:
    """The first two palette32 entries as one key."""
    return <uint64_t>palette32[0] | (<uint64_t>palette32[1] << 32)


cdef inline void build_byte_table(ByteTable *b, const uint32_t *palette32) noexcept nogil:
    """The table of 1-bit rows for a 2-colour palette (from its nibble table)."""
    cdef NibbleTable nibbles
    cdef int byte
    build_nibble_table(&nibbles, 1, palette32)
    for byte in range(256):
        memcpy(&b.px[byte][0], nibbles.px[byte >> 4], 16)
        memcpy(&b.px[byte][12], nibbles.px[byte & 15], 16)


cdef inline void packed_row_bytes(uint8_t *dst, const uint8_t *src, int w,
                                  const ByteTable *b) noexcept nogil:
    """A row of 1-bit indices (2 colours), 8 pixels a lookup, exact stores."""
    cdef int i, j
    cdef int whole = w >> 3
    cdef int rest = w & 7
    cdef const uint8_t *entry
    for i in range(whole):
        memcpy(dst, b.px[src[i]], 24)
        dst += 24
    if rest:
        entry = b.px[src[whole]]
        for j in range(rest):
            memcpy(dst, entry + 3 * j, 3)
            dst += 3
