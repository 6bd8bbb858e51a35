# UpdateDecoder: frames each whole FramebufferUpdate of a backlog, then
# decodes it, all in one nogil pass a feed() call.  Per-rect work never
# returns to Python, except to reallocate the framebuffer after a DesktopSize.

from vncenv.limits import DEFAULT_LIMITS

cdef dict ENCODING_NAMES = {
    ENC_RAW: "Raw", ENC_COPYRECT: "CopyRect", ENC_TIGHT: "Tight", ENC_ZRLE: "ZRLE",
    ENC_DESKTOP_SIZE: "DesktopSize", ENC_LAST_RECT: "LastRect", ENC_CURSOR: "Cursor",
    ENC_EXTENDED_DESKTOP_SIZE: "ExtendedDesktopSize",
}

cdef enum:
    UPDATE_HEADER = 4
    RECT_HEADER = 12
    NRECTS_UNTIL_LAST_RECT = 0xFFFF
    DETAIL_SIZE = 256  # an error message's room


cdef struct TightBasic:
    # where a framed Tight basic rect's parts lie (tight.pyx)
    int stream, filter_id, colours
    const uint8_t *palette
    Py_ssize_t size  # bytes of filtered data the rect needs
    const uint8_t *data  # its zlib data, or its raw data when size < TIGHT_MIN_TO_COMPRESS
    Py_ssize_t zlib_length  # (0 when raw)


cdef struct FeedTally:
    # the whole updates of one feed() call so far
    Py_ssize_t bytes, updates, rects
    long long pixels
    bint resized, cursor_changed


cdef int reserve_buffer(void **buf, size_t *capacity, size_t size, char *detail) noexcept nogil:
    """Make *buf hold at least size bytes (it only ever grows; DECODE_ERROR,
    with detail set, when out of memory)."""
    cdef void *grown
    if size <= capacity[0] and buf[0] != NULL:
        return DECODE_OK
    grown = realloc(buf[0], size if size else 1)
    if grown == NULL:
        snprintf(detail, DETAIL_SIZE, "out of memory reserving %zu bytes", size)
        return DECODE_ERROR
    buf[0] = grown
    capacity[0] = size
    return DECODE_OK


cdef class UpdateDecoder:
    """Decode FramebufferUpdate messages into a :class:`Framebuffer`.

    :param framebuffer: the framebuffer to write into (resized in place on
        DesktopSize).
    :param encodings: the encodings and pseudo-encodings the client asked
        for; rects in any other encoding are refused.
    :param limits: a :class:`vncenv.limits.Limits`.
    """

    cdef readonly Framebuffer framebuffer
    cdef readonly object limits
    cdef readonly bint failed
    cdef object deferred_error  # a later update's ProtocolError, for the next feed()

    # what the client asked for (everything else is refused)
    cdef bint allow_raw, allow_copyrect, allow_zrle, allow_tight
    cdef bint allow_desktop_size, allow_ext_desktop_size, allow_last_rect, allow_cursor

    # limits, copied from `limits`
    cdef int max_width, max_height, max_cursor
    cdef Py_ssize_t max_rects, max_update_bytes

    # the framebuffer being written (refreshed after a resize)
    cdef uint8_t *fb
    cdef int width, height
    cdef Py_ssize_t pitch

    # connection-lifetime decoder state
    cdef vnc_inflater zrle_stream
    cdef vnc_inflater tight_streams[4]
    cdef tjhandle jpeg
    cdef uint8_t *scratch
    cdef size_t scratch_size
    # the ZRLE run being painted (zrle.pyx): rects left, their inflated bytes scratch[pos:end]
    cdef Py_ssize_t zrle_run_left
    cdef size_t zrle_pos, zrle_end
    # the Tight run being decoded (tight.pyx): rects left, each stream's next bytes at scratch[tight_pos[s]]
    cdef Py_ssize_t tight_run_left
    cdef size_t tight_pos[4]
    cdef uint8_t *run_input  # a run's zlib data, gathered
    cdef size_t run_input_size
    # the Tight run's basic rects after its first, taken apart once (tight.pyx); the next to decode
    cdef TightBasic *run_basics
    cdef size_t run_basics_bytes
    cdef Py_ssize_t run_basics_next
    # 1-bit row tables (pixels.pxi) for the colour pairs met most lately (NULL until one is built)
    cdef ByteTable *byte_tables
    cdef uint64_t byte_table_pairs[BYTE_TABLES]
    cdef int byte_tables_used, byte_table_last, byte_table_victim
    cdef uint64_t recent_pairs[RECENT_PAIRS]  # pairs met without a table, a ring
    cdef int recent_next
    # JPEG rects waiting to be decoded together (jpegpool.h): those of a feed()
    # call's updates, until a rect touches their regions or the call ends;
    # beside each, the call's tally before its update (to report only the
    # updates before it if it fails)
    cdef vnc_jpeg_batch jpeg_batch
    cdef FeedTally *jpeg_tallies  # (both arrays hold JPEG_QUEUE_MAX, from the first JPEG rect on)
    cdef long long jpeg_pending_pixels

    # framing progress of the message being received (offsets from its start)
    cdef Py_ssize_t *rect_lengths  # payload length of each rect framed so far
    cdef Py_ssize_t rect_lengths_size
    cdef Py_ssize_t scan_pos
    cdef Py_ssize_t scan_rects
    cdef Py_ssize_t nrects_announced
    # decoding progress, to resume after a mid-update resize
    cdef const uint8_t *decode_msg  # the message being decoded (NULL outside _decode_rects)
    cdef Py_ssize_t decode_pos
    cdef Py_ssize_t decode_rects
    cdef int pending_width, pending_height

    # the rect being worked on, for error messages
    cdef Py_ssize_t cur_index
    cdef int cur_x, cur_y, cur_w, cur_h
    cdef int32_t cur_encoding
    cdef char detail[DETAIL_SIZE]

    # cursor image, RGBA
    cdef uint8_t *cursor_rgba
    cdef int cursor_w, cursor_h, cursor_hot_x, cursor_hot_y
    cdef bint has_cursor

    # the update being decoded, and the feed() call's whole updates so far
    cdef bint in_update  # framed, decoding begun (it resumes after a resize)
    cdef long long update_pixels
    cdef bint update_resized, update_cursor_changed
    cdef FeedTally tally

    # statistics
    cdef readonly Py_ssize_t last_rects, last_bytes, last_updates
    cdef readonly long long last_pixels
    cdef readonly bint resized, cursor_changed
    cdef readonly long long updates, rects, bytes, pixels_total

    def __cinit__(self):
        self.scratch = NULL
        self.run_input = NULL
        self.run_basics = NULL
        self.decode_msg = NULL
        self.rect_lengths = NULL
        self.cursor_rgba = NULL
        self.byte_tables = NULL
        self.jpeg = NULL
        self.jpeg_tallies = NULL
        memset(&self.zrle_stream, 0, sizeof(vnc_inflater))
        memset(self.tight_streams, 0, sizeof(self.tight_streams))
        memset(&self.jpeg_batch, 0, sizeof(vnc_jpeg_batch))

    def __init__(self, Framebuffer framebuffer not None, encodings, limits=None):
        cdef set wanted = {int(e) for e in encodings}
        if limits is None:
            limits = DEFAULT_LIMITS
        self.framebuffer = framebuffer
        self.limits = limits
        self.allow_raw = ENC_RAW in wanted
        self.allow_copyrect = ENC_COPYRECT in wanted
        self.allow_zrle = ENC_ZRLE in wanted
        self.allow_tight = ENC_TIGHT in wanted
        self.allow_desktop_size = ENC_DESKTOP_SIZE in wanted
        self.allow_ext_desktop_size = ENC_EXTENDED_DESKTOP_SIZE in wanted
        self.allow_last_rect = ENC_LAST_RECT in wanted
        self.allow_cursor = ENC_CURSOR in wanted
        self.max_width = limits.max_width
        self.max_height = limits.max_height
        self.max_cursor = limits.max_cursor_size
        self.max_rects = limits.max_rects
        self.max_update_bytes = limits.max_update_bytes
        self._reset_scan()

    def __dealloc__(self):
        cdef int i
        vnc_inflater_free(&self.zrle_stream)
        for i in range(4):
            vnc_inflater_free(&self.tight_streams[i])
        if self.jpeg != NULL:
            tjDestroy(self.jpeg)
        free(self.scratch)
        free(self.run_input)
        free(self.run_basics)
        free(self.rect_lengths)
        free(self.cursor_rgba)
        free(self.byte_tables)
        free(self.jpeg_batch.jobs)
        free(self.jpeg_tallies)

    # -- public API -------------------------------------------------------

    def feed(self, const uint8_t[::1] data not None, Py_ssize_t offset=0, Py_ssize_t max_updates=1):
        """Decode the FramebufferUpdate starting at ``data[offset]``.

        With ``max_updates`` > 1, go on with the FramebufferUpdates that
        follow it back to back, while they are whole (a backlog costs one
        call, not one per update).  ``last_*``, ``resized`` and
        ``cursor_changed`` then describe all the updates of the call, and
        ``last_updates`` says how many there were.  A malformed update after
        good ones ends the call with the good ones; the next call raises its
        error (so the good ones are reported first).

        :return: the bytes of the whole messages decoded, or 0 when the first
            one needs more data (nothing is written then).
        :raises vncenv.error.ProtocolError: on malformed input.
        """
        cdef Py_ssize_t avail
        cdef int rc
        if self.deferred_error is not None:
            error, self.deferred_error = self.deferred_error, None
            raise error
        if self.failed:
            raise ProtocolError("the decoder failed earlier; the connection must be closed")
        if offset < 0 or offset > data.shape[0]:
            raise UsageError(f"offset {offset} outside the {data.shape[0]}-byte buffer")
        if max_updates < 1:
            raise UsageError(f"max_updates must be at least 1, not {max_updates}")
        avail = data.shape[0] - offset
        if avail == 0:
            return 0
        memset(&self.tally, 0, sizeof(FeedTally))
        self._load_target()
        while True:  # one nogil pass for the whole backlog, left only to resize
            with nogil:
                rc = self._decode_backlog(&data[offset], avail, max_updates)
            if rc != DECODE_RESIZE:
                break
            try:
                self.framebuffer.resize(self.pending_width, self.pending_height)
            except BaseException:
                self._error()  # (the decoder is failed: the update cannot go on)
                raise
            self._load_target()
        if self.tally.updates:
            self.last_updates = self.tally.updates
            self.last_bytes = self.tally.bytes
            self.last_rects = self.tally.rects
            self.last_pixels = self.tally.pixels
            self.resized = self.tally.resized
            self.cursor_changed = self.tally.cursor_changed
            self.updates += self.tally.updates
            self.rects += self.tally.rects
            self.bytes += self.tally.bytes
            self.pixels_total += self.tally.pixels
        if rc == DECODE_ERROR:
            error = self._error()
            if self.tally.updates == 0:
                raise error
            self.deferred_error = error  # raised by the next call
        return self.tally.bytes

    def decode_rect(self, int x, int y, int w, int h, int encoding, const uint8_t[::1] payload not None):
        """Decode one rect's payload (the bytes after its 12-byte header).

        For microbenchmarks and tests; it shares this decoder's zlib streams.

        :return: the number of payload bytes the rect used.
        """
        cdef Py_ssize_t length = 0
        cdef const uint8_t *p = &payload[0] if payload.shape[0] else <const uint8_t *>b""
        cdef int rc, rc2
        if self.failed:
            raise ProtocolError("the decoder failed earlier; the connection must be closed")
        if not (0 <= x <= 0xFFFF and 0 <= y <= 0xFFFF and 0 <= w <= 0xFFFF and 0 <= h <= 0xFFFF):
            raise UsageError("x, y, w and h must be u16 values")
        self.cur_index = 0
        self.cur_x, self.cur_y, self.cur_w, self.cur_h = x, y, w, h
        self.cur_encoding = encoding
        rc = self._frame_rect(p, payload.shape[0], w, h, encoding, &length)
        if rc == DECODE_NEED_MORE or (rc == DECODE_OK and length > payload.shape[0]):
            snprintf(self.detail, sizeof(self.detail), "payload of %zd bytes is truncated",
                     payload.shape[0])
            rc = DECODE_ERROR
        elif rc == DECODE_OK:
            self._load_target()
            with nogil:
                rc = self._decode_rect(x, y, w, h, encoding, p, length)
                if rc != DECODE_ERROR:
                    rc2 = jpeg_flush(self)
                    if rc2 == DECODE_ERROR:
                        rc = rc2
                else:
                    self.jpeg_batch.count = 0
            if rc == DECODE_RESIZE:
                self.framebuffer.resize(self.pending_width, self.pending_height)
                rc = DECODE_OK
        if rc == DECODE_ERROR:
            raise self._error()
        return length

    @property
    def pixels(self):
        """Total pixels painted by Raw, CopyRect, ZRLE and Tight rects."""
        return self.pixels_total

    @property
    def cursor(self):
        """``None``, or ``(rgba, hotspot_x, hotspot_y)`` with rgba a new (h, w, 4) array."""
        if not self.has_cursor:
            return None
        rgba = np.empty((self.cursor_h, self.cursor_w, 4), dtype=np.uint8)
        if self.cursor_w and self.cursor_h:
            memcpy(cnp.PyArray_DATA(rgba), self.cursor_rgba, <size_t>self.cursor_w * self.cursor_h * 4)
        return rgba, self.cursor_hot_x, self.cursor_hot_y

    def __repr__(self):
        return (f"<UpdateDecoder {self.framebuffer.width}x{self.framebuffer.height} "
                f"updates={self.updates} rects={self.rects}{' failed' if self.failed else ''}>")

    # -- internals ----------------------------------------------------------

    cdef void _reset_scan(self) noexcept nogil:
        self.scan_pos = 0
        self.scan_rects = 0
        self.nrects_announced = 0

    cdef _load_target(self):
        self.fb = self.framebuffer.pixels
        self.width = self.framebuffer.width
        self.height = self.framebuffer.height
        self.pitch = self.framebuffer.pitch

    cdef _error(self):
        """Mark the decoder failed; the ProtocolError for the rect being worked on."""
        self.failed = True
        self.zrle_run_left = 0
        self.tight_run_left = 0
        self.in_update = False
        self.jpeg_batch.count = 0
        name = ENCODING_NAMES.get(self.cur_encoding, str(self.cur_encoding))
        detail = self.detail.decode("utf-8", "replace")
        self._reset_scan()
        return ProtocolError(
            f"FramebufferUpdate rect {self.cur_index} ({name} {self.cur_w}x{self.cur_h} "
            f"at {self.cur_x},{self.cur_y}): {detail}")

    cdef int _decode_backlog(self, const uint8_t *data, Py_ssize_t avail,
                             Py_ssize_t max_updates) noexcept nogil:
        """Frame and decode whole updates back to back from data[tally.bytes:]
        (at most max_updates in all), counting them in tally.  DECODE_OK when
        done or the next needs more data or is another message; DECODE_RESIZE
        to resize and call again (the update resumes); or DECODE_ERROR.

        Their JPEG rects are decoded together at the end (or sooner, where a
        rect touches one); when one fails, the tally goes back to the updates
        before its own."""
        cdef int rc = self._decode_updates(data, avail, max_updates)
        cdef int i = 0
        if rc == DECODE_RESIZE:
            return rc  # (the queue was run first)
        if rc == DECODE_ERROR:  # only the JPEG rects of whole updates still count
            while i < self.jpeg_batch.count and self.jpeg_tallies[i].updates < self.tally.updates:
                i += 1
            self.jpeg_batch.count = i
        if jpeg_flush(self) != DECODE_OK:
            return DECODE_ERROR  # an earlier error than rc's
        return rc

    cdef int _decode_updates(self, const uint8_t *data, Py_ssize_t avail,
                             Py_ssize_t max_updates) noexcept nogil:
        """_decode_backlog's loop, which leaves JPEG rects queued."""
        cdef const uint8_t *msg
        cdef int rc
        while self.tally.updates < max_updates and self.tally.bytes < avail:
            msg = data + self.tally.bytes
            if not self.in_update:
                if self.tally.updates and msg[0] != 0:  # not a FramebufferUpdate
                    return DECODE_OK
                rc = self._scan(msg, avail - self.tally.bytes)
                if rc == DECODE_NEED_MORE:
                    return DECODE_OK
                if rc == DECODE_ERROR:
                    return rc
                self.in_update = True
                self.update_pixels = 0
                self.update_resized = self.update_cursor_changed = False
                self.decode_pos = UPDATE_HEADER
                self.decode_rects = 0
                self.zrle_run_left = 0
                self.tight_run_left = 0
            rc = self._decode_rects(msg)
            if rc == DECODE_RESIZE:
                self.update_resized = True
            if rc != DECODE_OK:
                return rc
            self.in_update = False
            self.tally.updates += 1
            self.tally.rects += self.scan_rects
            self.tally.bytes += self.scan_pos
            self.tally.pixels += self.update_pixels
            self.tally.resized |= self.update_resized
            self.tally.cursor_changed |= self.update_cursor_changed
            self._reset_scan()
        return DECODE_OK

    cdef ByteTable *_byte_table(self, const uint32_t *palette32, int w, Py_ssize_t npix) noexcept nogil:
        """The byte table for a w-wide 2-colour tile/rect of npix pixels, or NULL
        where nibbles are cheaper: too narrow, or a table not worth building
        (a small tile in colours not met lately)."""
        cdef uint64_t pair
        cdef int i, slot
        if w < BYTE_TABLE_MIN_WIDTH:
            return NULL
        pair = colour_pair(palette32)
        if self.byte_tables != NULL:
            if self.byte_table_pairs[self.byte_table_last] == pair:
                return &self.byte_tables[self.byte_table_last]
            for i in range(self.byte_tables_used):
                if self.byte_table_pairs[i] == pair:
                    self.byte_table_last = i
                    return &self.byte_tables[i]
        if npix < BYTE_TABLE_MIN_PIXELS and not self._met_lately(pair):
            return NULL
        if self.byte_tables == NULL:
            self.byte_tables = <ByteTable *>malloc(BYTE_TABLES * sizeof(ByteTable))
            if self.byte_tables == NULL:
                return NULL  # (the callers fall back to nibbles)
        if self.byte_tables_used < BYTE_TABLES:
            slot = self.byte_tables_used
            self.byte_tables_used += 1
        else:  # the oldest built goes
            slot = self.byte_table_victim
            self.byte_table_victim = (slot + 1) % BYTE_TABLES
        build_byte_table(&self.byte_tables[slot], palette32)
        self.byte_table_pairs[slot] = pair
        self.byte_table_last = slot
        return &self.byte_tables[slot]

    cdef bint _met_lately(self, uint64_t pair) noexcept nogil:
        """Was this colour pair among the last RECENT_PAIRS met without a table?
        (If not, it is remembered now.)"""
        cdef int i
        for i in range(RECENT_PAIRS):
            if self.recent_pairs[i] == pair:
                return True
        self.recent_pairs[self.recent_next] = pair
        self.recent_next = (self.recent_next + 1) % RECENT_PAIRS
        return False

    cdef int _reserve_scratch(self, size_t size) noexcept nogil:
        return reserve_buffer(<void **>&self.scratch, &self.scratch_size, size, self.detail)

    cdef int _reserve_run_input(self, size_t size) noexcept nogil:
        """Room for a run's gathered zlib data."""
        return reserve_buffer(<void **>&self.run_input, &self.run_input_size, size, self.detail)

    cdef int _reserve_run_basics(self, Py_ssize_t count) noexcept nogil:
        """Room for count rects' TightBasic."""
        return reserve_buffer(<void **>&self.run_basics, &self.run_basics_bytes,
                              <size_t>count * sizeof(TightBasic), self.detail)

    cdef int _scan(self, const uint8_t *msg, Py_ssize_t avail) noexcept nogil:
        """Frame the message: DECODE_OK once whole, DECODE_NEED_MORE, or DECODE_ERROR."""
        cdef Py_ssize_t length = 0
        cdef int32_t encoding
        cdef int rc
        if self.scan_pos == 0:
            self.cur_index = -1
            self.cur_x = self.cur_y = self.cur_w = self.cur_h = 0
            self.cur_encoding = 0
            if msg[0] != 0:
                snprintf(self.detail, sizeof(self.detail),
                         "message type %d is not a FramebufferUpdate", msg[0])
                return DECODE_ERROR
            if avail < UPDATE_HEADER:
                return DECODE_NEED_MORE
            self.nrects_announced = vnc_be16(msg + 2)
            if (self.nrects_announced != NRECTS_UNTIL_LAST_RECT
                    and self.nrects_announced > self.max_rects):
                snprintf(self.detail, sizeof(self.detail),
                         "%zd rects exceed the limit of %zd", self.nrects_announced, self.max_rects)
                return DECODE_ERROR
            self.scan_pos = UPDATE_HEADER
        while self.nrects_announced == NRECTS_UNTIL_LAST_RECT or self.scan_rects < self.nrects_announced:
            if avail - self.scan_pos < RECT_HEADER:
                return DECODE_NEED_MORE
            if vnc_be32s(msg + self.scan_pos + 8) == ENC_LAST_RECT and self.allow_last_rect:
                # ends the update; a marker, not a rect
                if RECT_HEADER > self.max_update_bytes - self.scan_pos:
                    snprintf(self.detail, sizeof(self.detail),
                             "the update grows past the limit of %zd bytes", self.max_update_bytes)
                    return DECODE_ERROR
                self.scan_pos += RECT_HEADER
                break
            self.cur_index = self.scan_rects
            self.cur_x = vnc_be16(msg + self.scan_pos)
            self.cur_y = vnc_be16(msg + self.scan_pos + 2)
            self.cur_w = vnc_be16(msg + self.scan_pos + 4)
            self.cur_h = vnc_be16(msg + self.scan_pos + 6)
            encoding = vnc_be32s(msg + self.scan_pos + 8)
            self.cur_encoding = encoding
            if self.scan_rects >= self.max_rects:
                snprintf(self.detail, sizeof(self.detail),
                         "more than %zd rects in one update", self.max_rects)
                return DECODE_ERROR
            rc = self._frame_rect(msg + self.scan_pos + RECT_HEADER,
                                  avail - self.scan_pos - RECT_HEADER,
                                  self.cur_w, self.cur_h, encoding, &length)
            if rc != DECODE_OK:
                return rc
            if length > self.max_update_bytes - self.scan_pos - RECT_HEADER:
                snprintf(self.detail, sizeof(self.detail),
                         "the update grows past the limit of %zd bytes", self.max_update_bytes)
                return DECODE_ERROR
            if avail - self.scan_pos - RECT_HEADER < length:
                return DECODE_NEED_MORE
            if self.scan_rects == self.rect_lengths_size and self._grow_rect_lengths() != DECODE_OK:
                return DECODE_ERROR
            self.rect_lengths[self.scan_rects] = length  # the decoding pass does not frame again
            self.scan_pos += RECT_HEADER + length
            self.scan_rects += 1
        return DECODE_OK

    cdef int _grow_rect_lengths(self) noexcept nogil:
        """Room for twice as many rect lengths (at most max_rects; only ever grows)."""
        cdef Py_ssize_t size = self.rect_lengths_size * 2 if self.rect_lengths_size else 256
        cdef Py_ssize_t *grown
        if size > self.max_rects:
            size = self.max_rects if self.max_rects > self.rect_lengths_size else self.rect_lengths_size + 1
        grown = <Py_ssize_t *>realloc(self.rect_lengths, <size_t>size * sizeof(Py_ssize_t))
        if grown == NULL:
            snprintf(self.detail, sizeof(self.detail), "out of memory framing %zd rects", size)
            return DECODE_ERROR
        self.rect_lengths = grown
        self.rect_lengths_size = size
        return DECODE_OK

    cdef int _frame_rect(self, const uint8_t *p, Py_ssize_t avail, int w, int h,
                         int32_t encoding, Py_ssize_t *length) noexcept nogil:
        """Payload length of one rect (DECODE_NEED_MORE if it depends on unseen bytes)."""
        cdef Py_ssize_t need
        if encoding == ENC_RAW and self.allow_raw:
            length[0] = <Py_ssize_t>w * h * 4
        elif encoding == ENC_COPYRECT and self.allow_copyrect:
            length[0] = 4
        elif encoding == ENC_ZRLE and self.allow_zrle:
            if avail < 4:
                return DECODE_NEED_MORE
            need = vnc_be32(p)
            if need > self.max_update_bytes:
                snprintf(self.detail, sizeof(self.detail),
                         "zlib length %zd exceeds the update limit of %zd bytes", need, self.max_update_bytes)
                return DECODE_ERROR
            length[0] = 4 + need
        elif encoding == ENC_TIGHT and self.allow_tight:
            return frame_tight(self, p, avail, w, h, length)
        elif encoding == ENC_CURSOR and self.allow_cursor:
            if w > self.max_cursor or h > self.max_cursor:
                snprintf(self.detail, sizeof(self.detail),
                         "cursor larger than the limit of %dx%d", self.max_cursor, self.max_cursor)
                return DECODE_ERROR
            length[0] = <Py_ssize_t>w * h * 4 + <Py_ssize_t>((w + 7) // 8) * h
        elif encoding == ENC_EXTENDED_DESKTOP_SIZE and self.allow_ext_desktop_size:
            if avail < 1:
                return DECODE_NEED_MORE
            length[0] = 4 + 16 * <Py_ssize_t>p[0]
        elif ((encoding == ENC_DESKTOP_SIZE and self.allow_desktop_size)
              or (encoding == ENC_LAST_RECT and self.allow_last_rect)):
            length[0] = 0
        else:
            if encoding in (ENC_RAW, ENC_COPYRECT, ENC_ZRLE, ENC_TIGHT, ENC_CURSOR,
                            ENC_EXTENDED_DESKTOP_SIZE, ENC_DESKTOP_SIZE, ENC_LAST_RECT):
                snprintf(self.detail, sizeof(self.detail),
                         "the server used encoding %d, which the client did not request", encoding)
            else:
                snprintf(self.detail, sizeof(self.detail), "unsupported encoding %d", encoding)
            return DECODE_ERROR
        return DECODE_OK

    cdef int _decode_rects(self, const uint8_t *msg) noexcept nogil:
        """Decode the framed rects from decode_pos on; stop early for a resize.
        JPEG rects may be left queued (_decode_backlog runs them)."""
        cdef int x, y, w, h, rc
        cdef int32_t encoding
        cdef Py_ssize_t length = 0
        cdef const uint8_t *p
        self.decode_msg = msg  # (ZRLE runs look ahead)
        while self.decode_rects < self.scan_rects:
            p = msg + self.decode_pos
            x = vnc_be16(p)
            y = vnc_be16(p + 2)
            w = vnc_be16(p + 4)
            h = vnc_be16(p + 6)
            encoding = vnc_be32s(p + 8)
            self.cur_index = self.decode_rects
            self.cur_x, self.cur_y, self.cur_w, self.cur_h = x, y, w, h
            self.cur_encoding = encoding
            length = self.rect_lengths[self.decode_rects]  # framed by the scan
            self.decode_pos += RECT_HEADER + length
            self.decode_rects += 1
            rc = self._decode_rect(x, y, w, h, encoding, p + RECT_HEADER, length)
            if rc != DECODE_OK:
                self.decode_msg = NULL
                return rc
        self.decode_msg = NULL
        return DECODE_OK

    cdef int _check_bounds(self, int x, int y, int w, int h) noexcept nogil:
        if x + w > self.width or y + h > self.height:
            snprintf(self.detail, sizeof(self.detail),
                     "rect lies outside the %dx%d framebuffer", self.width, self.height)
            return DECODE_ERROR
        return DECODE_OK

    cdef int _resize_to(self, int w, int h) noexcept nogil:
        if w < 1 or h < 1 or w > self.max_width or h > self.max_height:
            snprintf(self.detail, sizeof(self.detail),
                     "desktop size %dx%d outside 1x1..%dx%d", w, h, self.max_width, self.max_height)
            return DECODE_ERROR
        if w == self.width and h == self.height:
            return DECODE_OK
        if jpeg_flush(self) != DECODE_OK:  # they write into the old framebuffer
            return DECODE_ERROR
        self.pending_width = w
        self.pending_height = h
        return DECODE_RESIZE

    cdef int _decode_rect(self, int x, int y, int w, int h, int32_t encoding,
                          const uint8_t *p, Py_ssize_t length) noexcept nogil:
        if encoding == ENC_DESKTOP_SIZE:
            return self._resize_to(w, h)
        if encoding == ENC_EXTENDED_DESKTOP_SIZE:
            if y != 0:  # status: a refused SetDesktopSize request changes nothing
                return DECODE_OK
            return self._resize_to(w, h)
        if encoding == ENC_LAST_RECT:
            return DECODE_OK
        if encoding == ENC_CURSOR:
            return decode_cursor(self, x, y, w, h, p)
        if self._check_bounds(x, y, w, h) != DECODE_OK:
            return DECODE_ERROR
        self.update_pixels += <long long>w * h
        if self.jpeg_batch.count and not (encoding == ENC_TIGHT and (p[0] >> 4) == TIGHT_JPEG):
            # a rect that touches a pending JPEG's region waits for it
            if jpeg_overlaps(self, x, y, w, h) or (
                    encoding == ENC_COPYRECT and jpeg_overlaps(self, vnc_be16(p), vnc_be16(p + 2), w, h)):
                if jpeg_flush(self) != DECODE_OK:
                    return DECODE_ERROR
        if encoding == ENC_RAW:
            return decode_raw(self, x, y, w, h, p)
        if encoding == ENC_COPYRECT:
            return decode_copyrect(self, x, y, w, h, p)
        if encoding == ENC_ZRLE:
            return decode_zrle(self, x, y, w, h, p)
        return decode_tight(self, x, y, w, h, p, length)
