/* Inflate an RFB-like zlib stream the way the vncenv client does, and time it.
 *
 * The input file (made by make_data.py) holds one per-connection zlib stream
 * cut into per-rect chunks, each ending with a sync flush.  A run opens one
 * stream, feeds it the chunks in order, each into the same reused output
 * buffer (sized for the largest rect), and checks that every chunk inflates
 * to exactly its rect's size.  Time is the process's CPU time
 * (CLOCK_PROCESS_CPUTIME_ID); the figure is the median of the timed runs.
 * Before timing, one untimed run checks the CRC-32 of all output against the
 * one make_data.py stored, so every inflater is checked to give the same
 * bytes; -o FILE also writes the output for a byte-for-byte cmp.
 *
 * Backend, chosen when compiling:
 *   -DBENCH_ZLIB     zlib's inflate()                    (-lz)
 *   -DBENCH_ZLIBNG   zlib-ng's native zng_inflate()      (libz-ng.a)
 *   -DBENCH_ISAL     ISA-L's isal_inflate()              (-lisal)
 * With -DVIA_INFLATE_H as well, each chunk goes through vnc_inflate() of
 * src/vnccore/inflate.h instead (the decode core's own code path).
 *
 * Usage: inflate_bench FILE [-r RUNS] [-o OUTFILE]
 * Prints one line: key=value pairs (MB = 10^6 bytes).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(VIA_INFLATE_H)
#  if defined(BENCH_ISAL)
#    define VNC_INFLATE_ISAL 1
#  elif defined(BENCH_ZLIBNG)
#    define VNC_INFLATE_ZLIBNG 1
#  else
#    define VNC_INFLATE_ZLIB 1
#  endif
#  include "inflate.h"
#  define BACKEND_NAME VNC_INFLATER_NAME "(inflate.h)"
#elif defined(BENCH_ISAL)
#  include <isa-l/igzip_lib.h>
#  define BACKEND_NAME "isal"
#elif defined(BENCH_ZLIBNG)
#  include <zlib-ng.h>
#  define BACKEND_NAME "zlib-ng"
#elif defined(BENCH_ZLIB)
#  include <zlib.h>
#  define BACKEND_NAME "zlib"
#else
#  error "define BENCH_ZLIB, BENCH_ZLIBNG or BENCH_ISAL"
#endif

typedef struct {
    const uint8_t *in;
    uint32_t in_len, out_len;
} chunk;

static void die(const char *msg)
{
    fprintf(stderr, "inflate_bench: %s\n", msg);
    exit(2);
}

/* ------------------------------------------------------------ backends */

#if defined(VIA_INFLATE_H)
typedef vnc_inflater stream;
static void st_open(stream *s) { memset(s, 0, sizeof(*s)); }
static void st_close(stream *s) { vnc_inflater_free(s); }
static int st_chunk(stream *s, const chunk *c, uint8_t *out, size_t cap, size_t *produced)
{
    return vnc_inflate(s, c->in, c->in_len, out, cap, produced) == VNC_INFLATE_OK ? 0 : -1;
}
#elif defined(BENCH_ISAL)
typedef struct inflate_state stream;
static void st_open(stream *s)
{
    isal_inflate_init(s);
    s->crc_flag = ISAL_ZLIB;
}
static void st_close(stream *s) { (void)s; }
static int st_chunk(stream *s, const chunk *c, uint8_t *out, size_t cap, size_t *produced)
{
    s->next_in = (uint8_t *)c->in;
    s->avail_in = c->in_len;
    s->next_out = out;
    s->avail_out = (uint32_t)cap;
    int rc = isal_inflate(s);
    *produced = cap - s->avail_out;
    return rc < 0 || s->avail_in ? -1 : 0;
}
#elif defined(BENCH_ZLIBNG)
typedef zng_stream stream;
static void st_open(stream *s)
{
    memset(s, 0, sizeof(*s));
    if (zng_inflateInit(s) != Z_OK)
        die("zng_inflateInit failed");
}
static void st_close(stream *s) { zng_inflateEnd(s); }
static int st_chunk(stream *s, const chunk *c, uint8_t *out, size_t cap, size_t *produced)
{
    s->next_in = c->in;
    s->avail_in = c->in_len;
    s->next_out = out;
    s->avail_out = (uint32_t)cap;
    int rc = zng_inflate(s, Z_SYNC_FLUSH);
    *produced = cap - s->avail_out;
    return (rc != Z_OK && rc != Z_STREAM_END) || s->avail_in ? -1 : 0;
}
#else
typedef z_stream stream;
static void st_open(stream *s)
{
    memset(s, 0, sizeof(*s));
    if (inflateInit(s) != Z_OK)
        die("inflateInit failed");
}
static void st_close(stream *s) { inflateEnd(s); }
static int st_chunk(stream *s, const chunk *c, uint8_t *out, size_t cap, size_t *produced)
{
    s->next_in = (Bytef *)c->in;
    s->avail_in = c->in_len;
    s->next_out = out;
    s->avail_out = (uInt)cap;
    int rc = inflate(s, Z_SYNC_FLUSH);
    *produced = cap - s->avail_out;
    return (rc != Z_OK && rc != Z_STREAM_END) || s->avail_in ? -1 : 0;
}
#endif

/* ------------------------------------------------------------- helpers */

static uint32_t crc_table[256];

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
}

static uint32_t crc32_update(uint32_t crc, const uint8_t *p, size_t n)
{
    crc = ~crc;
    while (n--)
        crc = crc_table[(crc ^ *p++) & 0xFF] ^ (crc >> 8);
    return ~crc;
}

static double cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static uint32_t rd32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t rd64(const uint8_t *p) { return rd32(p) | (uint64_t)rd32(p + 4) << 32; }

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* One pass over the whole stream.  With crc/dump set, also checks/writes. */
static void run_once(const chunk *chunks, uint32_t n, uint8_t *out, size_t cap,
                     uint32_t *crc, FILE *dump)
{
    stream s;
    st_open(&s);
    for (uint32_t i = 0; i < n; i++) {
        size_t produced = 0;
        if (st_chunk(&s, &chunks[i], out, cap, &produced) != 0 || produced != chunks[i].out_len) {
            fprintf(stderr, "inflate_bench: rect %u: inflate failed or gave %zu bytes, not %u\n",
                    i, produced, chunks[i].out_len);
            exit(1);
        }
        if (crc)
            *crc = crc32_update(*crc, out, produced);
        if (dump && fwrite(out, 1, produced, dump) != produced)
            die("write failed");
    }
    st_close(&s);
}

int main(int argc, char **argv)
{
    const char *path = NULL, *dump_path = NULL;
    int runs = 9;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-r") && i + 1 < argc)
            runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-o") && i + 1 < argc)
            dump_path = argv[++i];
        else if (!path)
            path = argv[i];
        else
            die("usage: inflate_bench FILE [-r RUNS] [-o OUTFILE]");
    }
    if (!path || runs < 1)
        die("usage: inflate_bench FILE [-r RUNS] [-o OUTFILE]");

    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "inflate_bench: %s: %s\n", path, strerror(errno));
        return 2;
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *file = malloc(size);
    if (!file || fread(file, 1, size, f) != (size_t)size)
        die("read failed");
    fclose(f);

    enum { HDR = 8 + 4 + 4 + 8 + 8 + 4 + 4 };
    if (size < HDR || memcmp(file, "RFBZINF1", 8))
        die("not an RFBZINF1 file (make it with make_data.py)");
    uint32_t n = rd32(file + 8), max_out = rd32(file + 12), want_crc = rd32(file + 32);
    uint64_t total_in = rd64(file + 16), total_out = rd64(file + 24);
    chunk *chunks = calloc(n, sizeof(chunk));
    size_t pos = HDR;
    for (uint32_t i = 0; i < n; i++) {
        if (pos + 8 > (size_t)size)
            die("truncated file");
        chunks[i].in_len = rd32(file + pos);
        chunks[i].out_len = rd32(file + pos + 4);
        chunks[i].in = file + pos + 8;
        pos += 8 + (size_t)chunks[i].in_len;
        if (pos > (size_t)size)
            die("truncated file");
    }
    uint8_t *out = malloc(max_out);
    if (!out || !chunks)
        die("out of memory");

    /* Untimed: check the output (and warm the caches). */
    crc_init();
    uint32_t crc = 0;
    FILE *dump = dump_path ? fopen(dump_path, "wb") : NULL;
    if (dump_path && !dump)
        die("cannot open the output file");
    run_once(chunks, n, out, max_out, &crc, dump);
    if (dump)
        fclose(dump);
    if (crc != want_crc) {
        fprintf(stderr, "inflate_bench: CRC mismatch: got %08x, want %08x\n", crc, want_crc);
        return 1;
    }

    double *t = calloc(runs, sizeof(double));
    for (int r = 0; r < runs; r++) {
        double t0 = cpu_seconds();
        run_once(chunks, n, out, max_out, NULL, NULL);
        t[r] = cpu_seconds() - t0;
    }
    qsort(t, runs, sizeof(double), cmp_double);
    double med = runs % 2 ? t[runs / 2] : (t[runs / 2 - 1] + t[runs / 2]) / 2;

    const char *base = strrchr(path, '/');
    printf("inflater=%s data=%s rects=%u in_bytes=%llu out_bytes=%llu runs=%d "
           "median_ms=%.2f min_ms=%.2f max_ms=%.2f out_MBps=%.1f in_MBps=%.1f crc32=%08x\n",
           BACKEND_NAME, base ? base + 1 : path, n, (unsigned long long)total_in,
           (unsigned long long)total_out, runs, med * 1e3, t[0] * 1e3, t[runs - 1] * 1e3,
           total_out / med / 1e6, total_in / med / 1e6, crc);
    free(t);
    free(out);
    free(chunks);
    free(file);
    return 0;
}
