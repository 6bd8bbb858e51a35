# Tight (encoding 7): fill, JPEG, and basic compression with copy, palette
# and gradient filters over four persistent zlib streams.

cdef enum:
    TIGHT_FILL = 8
    TIGHT_JPEG = 9
    TIGHT_MAX_TYPE = 9
    TIGHT_FILTER_COPY = 0
    TIGHT_FILTER_PALETTE = 1
    TIGHT_FILTER_GRADIENT = 2
    TIGHT_MIN_TO_COMPRESS = 12
    # JPEG rects of one update are spread over threads from this many pixels on
    JPEG_PARALLEL_PIXELS = 65536


cdef inline int read_compact_length(const uint8_t *p, Py_ssize_t avail,
                                    Py_ssize_t *value, Py_ssize_t *size) noexcept nogil:
    """Tight's compact length: 1-3 bytes, 7 bits each, low first; bit 7 = more."""
    cdef Py_ssize_t v
    if avail < 1:
        return DECODE_NEED_MORE
    v = p[0] & 0x7F
    size[0] = 1
    if p[0] & 0x80:
        if avail < 2:
            return DECODE_NEED_MORE
        v |= <Py_ssize_t>(p[1] & 0x7F) << 7
        size[0] = 2
        if p[1] & 0x80:
            if avail < 3:
                return DECODE_NEED_MORE
            v |= <Py_ssize_t>p[2] << 14
            size[0] = 3
    value[0] = v
    return DECODE_OK


cdef inline Py_ssize_t tight_basic_size(int w, int h, int filter_id, int colours) noexcept nogil:
    """Bytes of filtered pixel data a basic rect carries, before compression."""
    if filter_id == TIGHT_FILTER_PALETTE:
        if colours == 2:
            return <Py_ssize_t>((w + 7) // 8) * h
        return <Py_ssize_t>w * h
    return <Py_ssize_t>w * h * 3


cdef int frame_tight(UpdateDecoder d, const uint8_t *p, Py_ssize_t avail, int w, int h,
                     Py_ssize_t *length) noexcept nogil:
    """Find the length of a Tight rect's payload without decoding it."""
    cdef int kind, filter_id = TIGHT_FILTER_COPY, colours = 0
    cdef Py_ssize_t pos = 1, n = 0, size = 0, data
    if avail < 1:
        return DECODE_NEED_MORE
    kind = p[0] >> 4
    if kind == TIGHT_FILL:
        length[0] = 4
        return DECODE_OK
    if kind > TIGHT_MAX_TYPE:
        snprintf(d.detail, sizeof(d.detail), "invalid compression control 0x%02x", p[0])
        return DECODE_ERROR
    if kind != TIGHT_JPEG:
        if kind & 4:
            if avail < 2:
                return DECODE_NEED_MORE
            filter_id = p[1]
            pos = 2
            if filter_id > TIGHT_FILTER_GRADIENT:
                snprintf(d.detail, sizeof(d.detail), "invalid filter id %d", filter_id)
                return DECODE_ERROR
            if filter_id == TIGHT_FILTER_PALETTE:
                if avail < 3:
                    return DECODE_NEED_MORE
                colours = p[2] + 1
                pos = 3 + colours * 3
        data = tight_basic_size(w, h, filter_id, colours)
        if data < TIGHT_MIN_TO_COMPRESS:
            length[0] = pos + data
            return DECODE_OK
    if read_compact_length(p + pos, avail - pos, &n, &size) != DECODE_OK:
        return DECODE_NEED_MORE
    length[0] = pos + size + n
    return DECODE_OK


cdef int decode_tight(UpdateDecoder d, int x, int y, int w, int h,
                      const uint8_t *p, Py_ssize_t length) noexcept nogil:
    """Decode a framed Tight rect (length = its payload's size)."""
    cdef int ctl = p[0], kind = ctl >> 4, stream, i
    cdef int filter_id = TIGHT_FILTER_COPY, colours = 0
    cdef Py_ssize_t pos = 1, n = 0, size = 0, data
    cdef const uint8_t *palette = NULL
    cdef const uint8_t *src
    cdef size_t produced = 0
    cdef int rc
    for i in range(4):
        if ctl & (1 << i) and d.tight_streams[i].ready:
            vnc_inflater_reset(&d.tight_streams[i])
    if kind == TIGHT_FILL:
        fill_block(d.fb + y * d.pitch + <Py_ssize_t>x * 3, d.pitch, w, h, p + 1)
        return DECODE_OK
    if kind == TIGHT_JPEG:
        read_compact_length(p + 1, length - 1, &n, &size)
        return tight_jpeg(d, x, y, w, h, p + 1 + size, n)
    stream = kind & 3
    if kind & 4:
        filter_id = p[1]
        pos = 2
        if filter_id == TIGHT_FILTER_PALETTE:
            colours = p[2] + 1
            palette = p + 3
            pos = 3 + colours * 3
    data = tight_basic_size(w, h, filter_id, colours)
    if data < TIGHT_MIN_TO_COMPRESS:
        src = p + pos
    else:
        read_compact_length(p + pos, length - pos, &n, &size)
        # one byte of room past the rect's data: output that stops short of
        # it proves the stream holds no more, with no second inflate call
        if d._reserve_scratch(data + 1) != DECODE_OK:
            return DECODE_ERROR
        rc = vnc_inflate(&d.tight_streams[stream], p + pos + size, n, d.scratch, data + 1, &produced)
        if rc == VNC_INFLATE_ERROR:
            snprintf(d.detail, sizeof(d.detail), "corrupt zlib data on stream %d", stream)
            return DECODE_ERROR
        if rc == VNC_INFLATE_LONG or <Py_ssize_t>produced > data:
            snprintf(d.detail, sizeof(d.detail),
                     "zlib data on stream %d inflates to more than the %zd bytes the rect needs",
                     stream, data)
            return DECODE_ERROR
        if <Py_ssize_t>produced != data:
            snprintf(d.detail, sizeof(d.detail),
                     "zlib data on stream %d inflates to %zu bytes, the rect needs %zd",
                     stream, produced, data)
            return DECODE_ERROR
        src = d.scratch
    if filter_id == TIGHT_FILTER_PALETTE:
        return tight_palette(d, x, y, w, h, palette, colours, src)
    if filter_id == TIGHT_FILTER_GRADIENT:
        tight_gradient(d, x, y, w, h, src)
        return DECODE_OK
    for i in range(h):
        memcpy(d.fb + (y + i) * d.pitch + <Py_ssize_t>x * 3, src + <Py_ssize_t>i * w * 3,
               <Py_ssize_t>w * 3)
    return DECODE_OK


cdef int tight_palette(UpdateDecoder d, int x, int y, int w, int h, const uint8_t *palette,
                       int colours, const uint8_t *src) noexcept nogil:
    """Palette filter: 1-bit packed rows for 2 colours, a byte a pixel for 3-256."""
    cdef int row, idx
    cdef uint32_t palette32[256]
    cdef uint32_t marks = 0
    cdef NibbleTable nibbles
    cdef ByteTable *bytes_table
    cdef uint8_t *dst = d.fb + y * d.pitch + <Py_ssize_t>x * 3
    if w <= 0 or h <= 0:  # the row writers need a pixel; an empty rect has none
        return DECODE_OK
    for idx in range(colours):
        palette32[idx] = pixel32(palette + idx * 3)
    if colours == 2:
        bytes_table = d._byte_table(palette32, w, <Py_ssize_t>w * h)
        if bytes_table != NULL:
            for row in range(h):
                packed_row_bytes(dst + row * d.pitch, src + row * ((w + 7) >> 3), w, bytes_table)
        elif <Py_ssize_t>w * h >= NIBBLE_TABLE_MIN_PIXELS:
            build_nibble_table(&nibbles, 1, palette32, False)  # (2 colours: any 1-bit index is valid)
            for row in range(h):
                packed_row_nibbles(dst + row * d.pitch, src + row * ((w + 7) >> 3), w, 1, &nibbles, palette32,
                                   False)
        else:
            for row in range(h):
                packed_row(dst + row * d.pitch, src + row * ((w + 7) >> 3), w, 1, palette32)
        return DECODE_OK
    for idx in range(colours, 256):
        palette32[idx] = PALETTE_INVALID
    for row in range(h):
        marks |= index_row(dst + row * d.pitch, src + <Py_ssize_t>row * w, w, palette32)
    if marks & PALETTE_INVALID:
        for idx in range(<int>(<Py_ssize_t>w * h)):  # the first bad index, for the message
            if src[idx] >= colours:
                snprintf(d.detail, sizeof(d.detail), "palette index %d >= palette size %d", src[idx], colours)
                break
        return DECODE_ERROR
    return DECODE_OK


cdef void tight_gradient(UpdateDecoder d, int x, int y, int w, int h,
                         const uint8_t *src) noexcept nogil:
    """Undo the gradient filter: pixel = clamp(left + up - upleft) + data."""
    cdef int row, i, pred
    cdef Py_ssize_t rowbytes = <Py_ssize_t>w * 3
    cdef uint8_t *cur
    cdef const uint8_t *up
    for row in range(h):
        cur = d.fb + (y + row) * d.pitch + <Py_ssize_t>x * 3
        up = cur - d.pitch
        for i in range(rowbytes):
            if row == 0:
                pred = cur[i - 3] if i >= 3 else 0
            elif i < 3:
                pred = up[i]
            else:
                pred = <int>cur[i - 3] + up[i] - up[i - 3]
                if pred < 0:
                    pred = 0
                elif pred > 255:
                    pred = 255
            cur[i] = <uint8_t>(pred + src[i])
        src += rowbytes


cdef int tight_jpeg(UpdateDecoder d, int x, int y, int w, int h,
                    const uint8_t *jpeg, Py_ssize_t n) noexcept nogil:
    """Queue a JPEG rect; the update's JPEG rects are decoded together (jpegpool.h)."""
    cdef vnc_jpeg_job *job
    cdef vnc_jpeg_job *grown
    cdef int size
    if d.jpeg_batch.count and jpeg_overlaps(d, x, y, w, h):
        if jpeg_flush(d) != DECODE_OK:
            return DECODE_ERROR
    if d.jpeg_batch.count == d.jpeg_jobs_size:
        size = 2 * d.jpeg_jobs_size if d.jpeg_jobs_size else 16
        grown = <vnc_jpeg_job *>realloc(d.jpeg_batch.jobs, size * sizeof(vnc_jpeg_job))
        if grown == NULL:
            snprintf(d.detail, sizeof(d.detail), "out of memory queueing a JPEG rect")
            return DECODE_ERROR
        d.jpeg_batch.jobs = grown
        d.jpeg_jobs_size = size
    job = &d.jpeg_batch.jobs[d.jpeg_batch.count]
    d.jpeg_batch.count += 1
    job.jpeg = jpeg
    job.size = <unsigned long>n
    job.dst = d.fb + y * d.pitch + <Py_ssize_t>x * 3
    job.x, job.y, job.w, job.h = x, y, w, h
    job.pitch = <int>d.pitch
    job.index = <int>d.cur_index
    job.failed = 0
    d.jpeg_pending_pixels += <long long>w * h
    return DECODE_OK


cdef bint jpeg_overlaps(UpdateDecoder d, int x, int y, int w, int h) noexcept nogil:
    """Does (x, y, w, h) touch the region of a queued JPEG rect?"""
    cdef int i
    cdef vnc_jpeg_job *job
    for i in range(d.jpeg_batch.count):
        job = &d.jpeg_batch.jobs[i]
        if x < job.x + job.w and job.x < x + w and y < job.y + job.h and job.y < y + h:
            return True
    return False


cdef int jpeg_flush(UpdateDecoder d) noexcept nogil:
    """Decode the queued JPEG rects (in parallel when worth it); report the first failure."""
    cdef int i
    cdef vnc_jpeg_job *job
    if d.jpeg_batch.count == 0:
        return DECODE_OK
    if d.jpeg == NULL:
        d.jpeg = tjInitDecompress()
    vnc_jpeg_run(&d.jpeg_batch, d.jpeg, d.jpeg_pending_pixels >= JPEG_PARALLEL_PIXELS)
    d.jpeg_pending_pixels = 0
    for i in range(d.jpeg_batch.count):
        job = &d.jpeg_batch.jobs[i]
        if job.failed:
            d.jpeg_batch.count = 0
            d.cur_index = job.index
            d.cur_x, d.cur_y, d.cur_w, d.cur_h = job.x, job.y, job.w, job.h
            d.cur_encoding = ENC_TIGHT
            snprintf(d.detail, sizeof(d.detail), "%s", job.error)
            return DECODE_ERROR
    d.jpeg_batch.count = 0
    return DECODE_OK
