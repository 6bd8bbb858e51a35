# Raw, CopyRect and the Cursor pseudo-encoding.


cdef int decode_raw(UpdateDecoder d, int x, int y, int w, int h,
                    const uint8_t *p) noexcept nogil:
    """Raw: w*h pixels of R, G, B, X."""
    cdef int row, col
    cdef uint8_t *dst
    for row in range(h):
        dst = d.fb + (y + row) * d.pitch + <Py_ssize_t>x * 3
        for col in range(w):
            dst[0] = p[0]
            dst[1] = p[1]
            dst[2] = p[2]
            dst += 3
            p += 4
    return DECODE_OK


cdef int decode_copyrect(UpdateDecoder d, int x, int y, int w, int h,
                         const uint8_t *p) noexcept nogil:
    """CopyRect: copy a same-sized block from (src_x, src_y); overlap-safe."""
    cdef int src_x = vnc_be16(p), src_y = vnc_be16(p + 2)
    cdef int row
    cdef Py_ssize_t rowbytes = <Py_ssize_t>w * 3
    cdef uint8_t *src
    cdef uint8_t *dst
    if src_x + w > d.width or src_y + h > d.height:
        snprintf(d.detail, sizeof(d.detail),
                 "CopyRect source %dx%d at %d,%d lies outside the %dx%d framebuffer",
                 w, h, src_x, src_y, d.width, d.height)
        return DECODE_ERROR
    if w == 0 or h == 0:
        return DECODE_OK
    src = d.fb + src_y * d.pitch + <Py_ssize_t>src_x * 3
    dst = d.fb + y * d.pitch + <Py_ssize_t>x * 3
    if y <= src_y:
        for row in range(h):
            memmove(dst + row * d.pitch, src + row * d.pitch, rowbytes)
    else:
        for row in range(h - 1, -1, -1):
            memmove(dst + row * d.pitch, src + row * d.pitch, rowbytes)
    return DECODE_OK


cdef int decode_cursor(UpdateDecoder d, int x, int y, int w, int h,
                       const uint8_t *p) noexcept nogil:
    """Cursor: w*h RGBX pixels then a 1-bit mask, rows padded to a byte."""
    cdef Py_ssize_t npix = <Py_ssize_t>w * h
    cdef Py_ssize_t mask_pitch = (w + 7) // 8
    cdef const uint8_t *mask = p + npix * 4
    cdef uint8_t *rgba
    cdef int row, col
    rgba = <uint8_t *>realloc(d.cursor_rgba, npix * 4 if npix else 4)
    if rgba == NULL:
        snprintf(d.detail, sizeof(d.detail), "out of memory for a %dx%d cursor", w, h)
        return DECODE_ERROR
    d.cursor_rgba = rgba
    for row in range(h):
        for col in range(w):
            rgba[0] = p[0]
            rgba[1] = p[1]
            rgba[2] = p[2]
            rgba[3] = 255 if (mask[row * mask_pitch + (col >> 3)] >> (7 - (col & 7))) & 1 else 0
            rgba += 4
            p += 4
    d.cursor_w = w
    d.cursor_h = h
    d.cursor_hot_x = x
    d.cursor_hot_y = y
    d.has_cursor = True
    d.update_cursor_changed = True
    return DECODE_OK
