# Framebuffer: the preallocated RGB array that decoders write into.

import mmap as _mmap

cdef enum:
    HUGE_PAGE = 2 << 20
    # From this size on, pixels live in transparent huge pages: one page
    # fault (and one TLB entry) per 2 MiB instead of 512.
    HUGE_PAGE_MIN_BYTES = 1 << 20


cdef object zeroed_pixels(Py_ssize_t size):
    """A zeroed uint8 array of ``size`` bytes; big ones in huge pages.

    A big array is an anonymous mapping rounded up to whole 2 MiB pages at a
    2 MiB boundary, marked MADV_HUGEPAGE (at most one partly used huge page
    per framebuffer); where that is not possible, plain ``np.zeros``.
    """
    cdef Py_ssize_t span, offset
    if size >= HUGE_PAGE_MIN_BYTES and hasattr(_mmap, "MADV_HUGEPAGE"):
        span = (size + HUGE_PAGE - 1) // HUGE_PAGE * HUGE_PAGE
        try:
            # one spare huge page of address space, to start on a boundary
            region = _mmap.mmap(-1, span + HUGE_PAGE, flags=_mmap.MAP_PRIVATE | _mmap.MAP_ANONYMOUS)
            view = np.frombuffer(region, np.uint8)
            offset = (-<Py_ssize_t>cnp.PyArray_DATA(view)) % HUGE_PAGE
            region.madvise(_mmap.MADV_HUGEPAGE, offset, span)
            return view[offset:offset + size]
        except (OSError, ValueError):
            pass
    return np.zeros(size, dtype=np.uint8)


cdef class Framebuffer:
    """A ``(height, width, 3)`` uint8 RGB array, written in place by decoders.

    ``array`` is the live buffer.  :meth:`resize` replaces it by a new zeroed
    array; whoever holds the old one keeps valid, stale memory.
    """

    cdef readonly int width
    cdef readonly int height
    cdef readonly object array      # numpy (height, width, 3) uint8, C-contiguous
    cdef uint8_t *pixels
    cdef Py_ssize_t pitch           # bytes per row


    def __init__(self, int width, int height):
        self.array = None
        self.resize(width, height)

    cpdef resize(self, int width, int height):
        """Replace the array by a zeroed one of the new size."""
        cdef cnp.ndarray arr
        if width < 1 or height < 1 or width > 32767 or height > 32767:
            raise UsageError(f"framebuffer size must be 1..32767 x 1..32767, got {width}x{height}")
        arr = zeroed_pixels(<Py_ssize_t>width * height * 3).reshape(height, width, 3)
        self.array = arr
        self.pixels = <uint8_t *>cnp.PyArray_DATA(arr)
        self.width = width
        self.height = height
        self.pitch = <Py_ssize_t>width * 3

    def __repr__(self):
        return f"<Framebuffer {self.width}x{self.height} RGB>"
