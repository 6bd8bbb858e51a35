# Framebuffer: the preallocated RGB array that decoders write into.


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
        arr = np.zeros((height, width, 3), dtype=np.uint8)
        self.array = arr
        self.pixels = <uint8_t *>cnp.PyArray_DATA(arr)
        self.width = width
        self.height = height
        self.pitch = <Py_ssize_t>width * 3

    def __repr__(self):
        return f"<Framebuffer {self.width}x{self.height} RGB>"
