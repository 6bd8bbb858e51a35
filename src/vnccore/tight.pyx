# Tight (encoding 7): fill, JPEG, and basic compression with copy, palette
# and gradient filters over four persistent zlib streams.
#
# As with ZRLE, consecutive Tight rects of one update are a *run*: a
# compressed rect starts one, and the Tight rects after it join while none
# resets a stream and the run's filtered data and zlib data stay within the
# caps.  Each stream's zlib data in the run is inflated by one call, to
# exactly the bytes its rects need; each rect then takes its share in order.

cdef enum:
    TIGHT_FILL = 8
    TIGHT_JPEG = 9
    TIGHT_MAX_TYPE = 9
    TIGHT_FILTER_COPY = 0
    TIGHT_FILTER_PALETTE = 1
    TIGHT_FILTER_GRADIENT = 2
    TIGHT_MIN_TO_COMPRESS = 12
    # queued JPEG rects are spread over threads from this many pixels on
    JPEG_PARALLEL_PIXELS = 65536
    # JPEG rects queued at most (each rect is checked against them all)
    JPEG_QUEUE_MAX = 256
    # a run grows while its rects' filtered data and their zlib data stay within these
    TIGHT_RUN_MAX_INFLATED = 1 << 20
    TIGHT_RUN_MAX_ZLIB = 1 << 20


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


cdef inline void tight_basic(const uint8_t *p, Py_ssize_t length, int w, int h, TightBasic *b) noexcept nogil:
    """Take a framed basic rect's payload apart (framing checked every field)."""
    cdef int kind = p[0] >> 4
    cdef Py_ssize_t pos = 1, size = 0
    b.stream = kind & 3
    b.filter_id = TIGHT_FILTER_COPY
    b.colours = 0
    b.palette = NULL
    if kind & 4:
        b.filter_id = p[1]
        pos = 2
        if b.filter_id == TIGHT_FILTER_PALETTE:
            b.colours = p[2] + 1
            b.palette = p + 3
            pos = 3 + b.colours * 3
    b.size = tight_basic_size(w, h, b.filter_id, b.colours)
    b.zlib_length = 0
    if b.size >= TIGHT_MIN_TO_COMPRESS:
        read_compact_length(p + pos, length - pos, &b.zlib_length, &size)
        pos += size
    b.data = p + pos


cdef int start_tight_run(UpdateDecoder d, const TightBasic *first, int w, int h) noexcept nogil:
    """Inflate the zlib data of the run of Tight rects that starts with the one
    being decoded: the Tight rects after it join while none resets a stream and
    the caps allow; each stream's data is inflated by one call (tight.pyx's
    header and ARCHITECTURE.md)."""
    cdef Py_ssize_t need[4]
    cdef Py_ssize_t given[4]
    cdef size_t in_base[4]
    cdef size_t total_in = 0, total_out = 0
    cdef Py_ssize_t k = d.decode_rects, pos = d.decode_pos, count = 1, basics = 0, i
    cdef const uint8_t *q
    cdef TightBasic *b
    cdef int s, kind, rc
    if d._reserve_run_basics(d.scan_rects - d.decode_rects) != DECODE_OK:
        return DECODE_ERROR
    for s in range(4):
        need[s] = 0
        given[s] = 0
    need[first.stream] = first.size
    given[first.stream] = first.zlib_length
    total_out = first.size
    total_in = first.zlib_length
    while d.decode_msg != NULL and k < d.scan_rects:
        q = d.decode_msg + pos
        if vnc_be32s(q + 8) != ENC_TIGHT or q[RECT_HEADER] & 0x0F:
            break
        kind = q[RECT_HEADER] >> 4
        if kind < TIGHT_FILL:
            b = &d.run_basics[basics]
            tight_basic(q + RECT_HEADER, d.rect_lengths[k], vnc_be16(q + 4), vnc_be16(q + 6), b)
            if b.size >= TIGHT_MIN_TO_COMPRESS:
                if (total_out + b.size > TIGHT_RUN_MAX_INFLATED
                        or total_in + b.zlib_length > TIGHT_RUN_MAX_ZLIB):
                    break
                need[b.stream] += b.size
                given[b.stream] += b.zlib_length
                total_out += b.size
                total_in += b.zlib_length
            basics += 1
        count += 1
        pos += RECT_HEADER + d.rect_lengths[k]
        k += 1
    d.tight_run_left = count
    d.run_basics_next = 0
    # each stream's zlib data gathered in one piece (in_base), its output at
    # d.tight_pos (one spare byte after each: output reaching it is too long)
    if d._reserve_run_input(total_in) != DECODE_OK or d._reserve_scratch(total_out + 4) != DECODE_OK:
        return DECODE_ERROR
    total_in = 0
    total_out = 0
    for s in range(4):
        in_base[s] = total_in
        total_in += given[s]
        d.tight_pos[s] = total_out
        total_out += need[s] + 1
    if count == 1:  # (nothing to gather)
        return tight_inflate_stream(d, first.stream, first.data, first.zlib_length, need[first.stream], 1)
    memcpy(d.run_input + in_base[first.stream], first.data, first.zlib_length)
    in_base[first.stream] += first.zlib_length
    for i in range(basics):
        b = &d.run_basics[i]
        memcpy(d.run_input + in_base[b.stream], b.data, b.zlib_length)
        in_base[b.stream] += b.zlib_length
    for s in range(4):
        if need[s] or given[s]:
            rc = tight_inflate_stream(d, s, d.run_input + in_base[s] - given[s], given[s], need[s], count)
            if rc != DECODE_OK:
                return rc
    return DECODE_OK


cdef int tight_inflate_stream(UpdateDecoder d, int stream, const uint8_t *data, Py_ssize_t n,
                              Py_ssize_t need, Py_ssize_t rects) noexcept nogil:
    """Inflate n bytes of stream's zlib data (of a run of `rects` rects) to
    exactly need bytes at d.scratch + d.tight_pos[stream]."""
    cdef size_t produced = 0
    cdef char what[56]
    # one byte of room past what is needed: output that stops short of it
    # proves the stream holds no more, with no second inflate call
    cdef int rc = vnc_inflate(&d.tight_streams[stream], data, n, d.scratch + d.tight_pos[stream], need + 1,
                              &produced)
    if rc == VNC_INFLATE_ERROR:
        snprintf(d.detail, sizeof(d.detail), "corrupt zlib data on stream %d", stream)
        return DECODE_ERROR
    if rc != VNC_INFLATE_LONG and <Py_ssize_t>produced == need:
        return DECODE_OK
    if rects == 1:
        snprintf(what, sizeof(what), "the rect needs")
    else:
        snprintf(what, sizeof(what), "the run of %zd Tight rects from this one needs", rects)
    if rc == VNC_INFLATE_LONG or <Py_ssize_t>produced > need:
        snprintf(d.detail, sizeof(d.detail),
                 "zlib data on stream %d inflates to more than the %zd bytes %s", stream, need, what)
    else:
        snprintf(d.detail, sizeof(d.detail),
                 "zlib data on stream %d inflates to %zu bytes, %s %zd", stream, produced, what, need)
    return DECODE_ERROR


cdef int decode_tight(UpdateDecoder d, int x, int y, int w, int h,
                      const uint8_t *p, Py_ssize_t length) noexcept nogil:
    """Decode a framed Tight rect (length = its payload's size)."""
    cdef int ctl = p[0], kind = ctl >> 4, i
    cdef Py_ssize_t n = 0, size = 0
    cdef const uint8_t *src
    cdef TightBasic b
    cdef bint in_run = d.tight_run_left > 0
    if ctl & 0x0F:
        for i in range(4):
            if ctl & (1 << i) and d.tight_streams[i].ready:
                vnc_inflater_reset(&d.tight_streams[i])
    if in_run:
        d.tight_run_left -= 1
    if kind == TIGHT_FILL:
        fill_block(d.fb + y * d.pitch + <Py_ssize_t>x * 3, d.pitch, w, h, p + 1)
        return DECODE_OK
    if kind == TIGHT_JPEG:
        read_compact_length(p + 1, length - 1, &n, &size)
        return tight_jpeg(d, x, y, w, h, p + 1 + size, n)
    if in_run:  # (taken apart when the run started)
        b = d.run_basics[d.run_basics_next]
        d.run_basics_next += 1
    else:
        tight_basic(p, length, w, h, &b)
    if b.size < TIGHT_MIN_TO_COMPRESS:
        src = b.data
    else:
        if not in_run:
            if start_tight_run(d, &b, w, h) != DECODE_OK:
                d.tight_run_left = 0
                return DECODE_ERROR
            d.tight_run_left -= 1  # (this rect)
        src = d.scratch + d.tight_pos[b.stream]
        d.tight_pos[b.stream] += b.size
    if b.filter_id == TIGHT_FILTER_PALETTE:
        return tight_palette(d, x, y, w, h, b.palette, b.colours, src)
    if b.filter_id == TIGHT_FILTER_GRADIENT:
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
    cdef NibbleTable nibbles
    cdef ByteTable *bytes_table
    cdef uint8_t *dst = d.fb + y * d.pitch + <Py_ssize_t>x * 3
    if w <= 0 or h <= 0:  # the row writers need a pixel; an empty rect has none
        return DECODE_OK
    for idx in range(colours):
        palette32[idx] = pixel32(palette + idx * 3)
    if colours == 2 and vnc_bits_on and w >= BITS_VECTOR_MIN_WIDTH:
        vnc_rows1_rect(dst, d.pitch, src, w, h, palette32)
        return DECODE_OK
    if colours == 2:
        bytes_table = d._byte_table(palette32, w, <Py_ssize_t>w * h)
        if bytes_table != NULL:
            for row in range(h):
                packed_row_bytes(dst + row * d.pitch, src + row * ((w + 7) >> 3), w, bytes_table)
        elif <Py_ssize_t>w * h >= NIBBLE_TABLE_MIN_PIXELS:
            build_nibble_table(&nibbles, 1, palette32)  # (2 colours: any 1-bit index is valid)
            for row in range(h):
                packed_row_nibbles(dst + row * d.pitch, src + row * ((w + 7) >> 3), w, 1, &nibbles)
        else:
            for row in range(h):
                packed_row(dst + row * d.pitch, src + row * ((w + 7) >> 3), w, 1, palette32)
        return DECODE_OK
    if colours < 256 and vnc_max_index(src, <size_t>w * h) >= colours:
        for idx in range(<int>(<Py_ssize_t>w * h)):  # the first bad index, for the message
            if src[idx] >= colours:
                snprintf(d.detail, sizeof(d.detail), "palette index %d >= palette size %d", src[idx], colours)
                break
        return DECODE_ERROR
    if colours <= 5 and vnc_shuffle_on:
        vnc_index_rect(dst, d.pitch, src, w, h, palette32, colours)
        return DECODE_OK
    for row in range(h):
        index_row(dst + row * d.pitch, src + <Py_ssize_t>row * w, w, palette32)
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
    """Queue a JPEG rect; queued ones are decoded together (jpegpool.h)."""
    cdef vnc_jpeg_job *job
    if d.jpeg_batch.jobs == NULL:  # the first JPEG rect: room for a full queue
        d.jpeg_batch.jobs = <vnc_jpeg_job *>malloc(JPEG_QUEUE_MAX * sizeof(vnc_jpeg_job))
        d.jpeg_tallies = <FeedTally *>malloc(JPEG_QUEUE_MAX * sizeof(FeedTally))
        if d.jpeg_batch.jobs == NULL or d.jpeg_tallies == NULL:
            free(d.jpeg_batch.jobs)
            free(d.jpeg_tallies)
            d.jpeg_batch.jobs = NULL
            d.jpeg_tallies = NULL
            snprintf(d.detail, sizeof(d.detail), "out of memory queueing a JPEG rect")
            return DECODE_ERROR
    if d.jpeg_batch.count and (d.jpeg_batch.count == JPEG_QUEUE_MAX or jpeg_overlaps(d, x, y, w, h)):
        if jpeg_flush(d) != DECODE_OK:
            return DECODE_ERROR
    d.jpeg_tallies[d.jpeg_batch.count] = d.tally
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
            d.tally = d.jpeg_tallies[i]  # the updates before its own
            return DECODE_ERROR
    d.jpeg_batch.count = 0
    return DECODE_OK
