# C declarations the core uses: byte order helpers, the inflater, TurboJPEG.

from libc.stdint cimport int32_t, uint8_t, uint16_t, uint32_t


cdef extern from "hton.h" nogil:
    uint16_t vnc_be16(const uint8_t *p)
    uint32_t vnc_be32(const uint8_t *p)
    int32_t vnc_be32s(const uint8_t *p)


cdef extern from "inflate.h" nogil:
    const char *VNC_INFLATER_NAME
    enum:
        VNC_INFLATE_OK
        VNC_INFLATE_LONG
        VNC_INFLATE_ERROR
    ctypedef struct vnc_inflater:
        int ready
    void vnc_inflater_reset(vnc_inflater *s)
    void vnc_inflater_free(vnc_inflater *s)
    int vnc_inflate(vnc_inflater *s, const uint8_t *inp, size_t in_len,
                    uint8_t *out, size_t out_cap, size_t *produced)


cdef extern from "palette_rows.h" nogil:
    int vnc_shuffle_on
    int vnc_bits_on
    int vnc_shuffle_init()
    int vnc_shuffle_use(int on)
    int vnc_rows2_uses_index3(const uint8_t *src, int w, int h)
    void vnc_rows1_rect(uint8_t *dst, Py_ssize_t pitch, const uint8_t *src, int w, int h,
                        const uint32_t *palette32)
    void vnc_rows2_tile(uint8_t *dst, Py_ssize_t pitch, const uint8_t *src, int w, int h,
                        const uint32_t *palette32)
    uint8_t vnc_max_index(const uint8_t *src, size_t n)
    void vnc_copy_pixels(uint8_t *dst, const uint8_t *src, int k)
    void vnc_copy_short(uint8_t *dst, const uint8_t *src, size_t n)
    void vnc_index_rect(uint8_t *dst, Py_ssize_t pitch, const uint8_t *src, int w, int h,
                        const uint32_t *palette32, int colours)


cdef extern from "turbojpeg.h" nogil:
    ctypedef void *tjhandle
    enum:
        TJPF_RGB
        TJERR_WARNING
        TJERR_FATAL
    tjhandle tjInitDecompress()
    int tjDestroy(tjhandle handle)
    int tjDecompressHeader3(tjhandle handle, const unsigned char *jpegBuf,
                            unsigned long jpegSize, int *width, int *height,
                            int *jpegSubsamp, int *jpegColorspace)
    int tjDecompress2(tjhandle handle, const unsigned char *jpegBuf,
                      unsigned long jpegSize, unsigned char *dstBuf, int width,
                      int pitch, int height, int pixelFormat, int flags)
    int tjGetErrorCode(tjhandle handle)
    char *tjGetErrorStr2(tjhandle handle)


cdef extern from "jpegpool.h" nogil:
    ctypedef struct vnc_jpeg_job:
        const uint8_t *jpeg
        unsigned long size
        uint8_t *dst
        int x, y, w, h, pitch
        int index
        int failed
        char error[160]
    ctypedef struct vnc_jpeg_batch:
        vnc_jpeg_job *jobs
        int count
    void vnc_jpeg_run(vnc_jpeg_batch *batch, tjhandle handle, int parallel)
