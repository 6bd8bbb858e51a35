/* The limits of decoding one recording, measured on its own data.
 *
 *   limits FILE.lim [-r RUNS] [-p PASS]
 *
 * FILE.lim is made by bench/limits/extract.py from an FBS recording: the
 * zlib payloads of its ZRLE and Tight rects (with the stream they belong to
 * and Tight's stream resets), its Tight JPEG rects, and the geometry of
 * every rect that writes pixels.  Timed passes, each over all of the data:
 *
 *   inflate:zlib     zlib 1.2.13 inflate() of every zlib payload, stream by
 *                    stream, as the client would (one ZRLE stream, four
 *                    Tight streams with their resets), into one reused
 *                    buffer;
 *   inflate:zlib-ng  the same with zlib-ng's native zng_inflate() (when
 *                    built with -DHAVE_ZLIBNG);
 *   inflate:zlib-ng-runs  the same, with each run of consecutive ZRLE
 *                    (Tight) rects of an update (marked by extract.py)
 *                    gathered and inflated by one call a stream, as the
 *                    decode core does;
 *   inflate:isal     the same through src/vnccore/inflate.h over ISA-L: the
 *                    decode core's own inflate code path;
 *   jpeg             TurboJPEG tjDecompress2() of every JPEG rect straight
 *                    into one RGB framebuffer at the rect's place and pitch;
 *   memcpy           memcpy of the pixels written by every non-JPEG pixel
 *                    rect, row by row into the RGB framebuffer (3 bytes a
 *                    pixel, the framebuffer's pitch) from a source buffer.
 *
 * Time is CPU time (CLOCK_PROCESS_CPUTIME_ID); each pass runs RUNS times
 * (default 7) after one untimed warm-up that also checks the data (every
 * Tight payload inflates to exactly its rect's size; all inflaters give the
 * same number of bytes).  -p PASS runs only the passes whose name contains
 * PASS (and skips the cross-inflater check).  Prints one JSON object: median
 * and min seconds per pass, and the byte and rect counts.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <turbojpeg.h>
#include <zlib.h>

#define VNC_INFLATE_ISAL 1
#include "inflate.h"


#include "limits.h"

rec *recs;
size_t nrecs;
static uint32_t fb_w, fb_h;
uint8_t *fb, *src, *outbuf;
static size_t outcap;

void die(const char *msg)
{
    fprintf(stderr, "limits: %s\n", msg);
    exit(1);
}

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint32_t rd32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }
static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

static void load(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        die("cannot open input");
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc(size);
    if (!buf || fread(buf, 1, size, f) != (size_t)size)
        die("cannot read input");
    fclose(f);
    if (size < 20 || memcmp(buf, "VNCLIM01", 8) != 0)
        die("not a VNCLIM01 file");
    fb_w = rd32(buf + 8);
    fb_h = rd32(buf + 12);
    nrecs = rd32(buf + 16);
    recs = calloc(nrecs ? nrecs : 1, sizeof(rec));
    size_t pos = 20;
    for (size_t i = 0; i < nrecs; i++) {
        if (pos + 20 > (size_t)size)
            die("truncated record");
        rec *r = &recs[i];
        const uint8_t *p = buf + pos;
        r->kind = p[0];
        r->stream = p[1];
        r->resets = p[2];
        r->x = rd16(p + 4);
        r->y = rd16(p + 6);
        r->w = rd16(p + 8);
        r->h = rd16(p + 10);
        r->outlen = rd32(p + 12);
        r->inlen = rd32(p + 16);
        r->data = p + 20;
        pos += 20 + r->inlen;
        if (pos > (size_t)size)
            die("truncated payload");
        if ((r->kind == K_ZRLE || r->kind == K_TIGHT_ZLIB) && r->outlen > outcap)
            outcap = r->outlen;
        if (r->kind == K_JPEG || r->kind == K_PIXELS) {
            if ((uint32_t)r->x + r->w > fb_w || (uint32_t)r->y + r->h > fb_h)
                die("rect outside the framebuffer");
        }
    }
}

/* ---- inflaters: each returns the total bytes produced ---- */

static unsigned long long run_zlib(void)
{
    z_stream zrle, tight[4];
    unsigned long long total = 0;
    memset(&zrle, 0, sizeof zrle);
    memset(tight, 0, sizeof tight);
    if (inflateInit(&zrle) != Z_OK)
        die("inflateInit");
    for (int i = 0; i < 4; i++)
        if (inflateInit(&tight[i]) != Z_OK)
            die("inflateInit");
    for (size_t i = 0; i < nrecs; i++) {
        rec *r = &recs[i];
        z_stream *zs;
        if (r->kind == K_TIGHT_RESET) {
            for (int s = 0; s < 4; s++)
                if (r->resets & (1 << s))
                    inflateReset(&tight[s]);
            continue;
        }
        if (r->kind == K_ZRLE)
            zs = &zrle;
        else if (r->kind == K_TIGHT_ZLIB)
            zs = &tight[r->stream & 3];
        else
            continue;
        zs->next_in = (Bytef *)r->data;
        zs->avail_in = r->inlen;
        zs->next_out = outbuf;
        zs->avail_out = r->outlen;
        int rc = inflate(zs, Z_SYNC_FLUSH);
        if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR)
            die("zlib inflate error");
        total += r->outlen - zs->avail_out;
    }
    inflateEnd(&zrle);
    for (int i = 0; i < 4; i++)
        inflateEnd(&tight[i]);
    return total;
}


static int check_exact;

static unsigned long long run_isal(void)
{
    static vnc_inflater zrle, tight[4];
    unsigned long long total = 0;
    memset(&zrle, 0, sizeof zrle);
    memset(tight, 0, sizeof tight);
    for (size_t i = 0; i < nrecs; i++) {
        rec *r = &recs[i];
        vnc_inflater *s;
        if (r->kind == K_TIGHT_RESET) {
            for (int k = 0; k < 4; k++)
                if ((r->resets & (1 << k)) && tight[k].ready)
                    vnc_inflater_reset(&tight[k]);
            continue;
        }
        if (r->kind == K_ZRLE)
            s = &zrle;
        else if (r->kind == K_TIGHT_ZLIB)
            s = &tight[r->stream & 3];
        else
            continue;
        size_t produced = 0;
        int rc = vnc_inflate(s, r->data, r->inlen, outbuf, r->outlen, &produced);
        if (rc != VNC_INFLATE_OK)
            die("isal inflate error");
        if (check_exact && r->kind == K_TIGHT_ZLIB && produced != r->outlen)
            die("a Tight payload does not inflate to its rect's size");
        total += produced;
    }
    return total;
}

static tjhandle tj;

static unsigned long long run_jpeg(void)
{
    unsigned long long n = 0;
    int pitch = (int)fb_w * 3;
    for (size_t i = 0; i < nrecs; i++) {
        rec *r = &recs[i];
        if (r->kind != K_JPEG)
            continue;
        if (tjDecompress2(tj, r->data, r->inlen, fb + (size_t)r->y * pitch + (size_t)r->x * 3, r->w, pitch, r->h,
                          TJPF_RGB, 0) != 0 &&
            tjGetErrorCode(tj) != TJERR_WARNING)
            die("JPEG decode failed");
        n += (unsigned long long)r->w * r->h;
    }
    return n;
}

static unsigned long long run_memcpy(void)
{
    unsigned long long n = 0;
    size_t pitch = (size_t)fb_w * 3;
    for (size_t i = 0; i < nrecs; i++) {
        rec *r = &recs[i];
        if (r->kind != K_PIXELS)
            continue;
        size_t row = (size_t)r->w * 3;
        uint8_t *d = fb + (size_t)r->y * pitch + (size_t)r->x * 3;
        const uint8_t *s = src + (size_t)r->y * pitch + (size_t)r->x * 3;
        for (int y = 0; y < r->h; y++)
            memcpy(d + y * pitch, s + y * pitch, row);
        n += row * r->h;
    }
    return n;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef unsigned long long (*pass_fn)(void);

static const char *only; /* -p: run only the passes whose name contains this */

static void measure(const char *name, pass_fn fn, int runs, int *first)
{
    if (only && !strstr(name, only))
        return;
    double *t = malloc(sizeof(double) * runs);
    unsigned long long result = fn(); /* warm-up */
    for (int i = 0; i < runs; i++) {
        double t0 = cpu_now();
        fn();
        t[i] = cpu_now() - t0;
    }
    qsort(t, runs, sizeof(double), cmp_double);
    printf("%s\n    \"%s\": {\"median_s\": %.6f, \"min_s\": %.6f, \"max_s\": %.6f, \"result\": %llu}",
           *first ? "" : ",", name, t[runs / 2], t[0], t[runs - 1], result);
    *first = 0;
    free(t);
}

int main(int argc, char **argv)
{
    int runs = 7;
    if (argc < 2)
        die("usage: limits FILE.lim [-r RUNS] [-p PASS]");
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "-r") && i + 1 < argc)
            runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-p") && i + 1 < argc)
            only = argv[++i];
    }
    if (runs < 1)
        runs = 1;
    load(argv[1]);
    size_t fbsize = (size_t)fb_w * fb_h * 3;
    fb = malloc(fbsize ? fbsize : 1);
    src = malloc(fbsize ? fbsize : 1);
    outbuf = malloc(outcap ? outcap : 1);
    if (!fb || !src || !outbuf)
        die("out of memory");
    for (size_t i = 0; i < fbsize; i++)
        src[i] = (uint8_t)(i * 2654435761u >> 13);
    memset(fb, 0, fbsize);
    tj = tjInitDecompress();

    unsigned long long zin = 0, zout = 0, jbytes = 0, jrects = 0, jpix = 0, mbytes = 0, mrects = 0;
    for (size_t i = 0; i < nrecs; i++) {
        rec *r = &recs[i];
        if (r->kind == K_ZRLE || r->kind == K_TIGHT_ZLIB)
            zin += r->inlen;
        if (r->kind == K_JPEG) {
            jbytes += r->inlen;
            jrects++;
            jpix += (unsigned long long)r->w * r->h;
        }
        if (r->kind == K_PIXELS) {
            mbytes += (unsigned long long)r->w * r->h * 3;
            mrects++;
        }
    }
    check_exact = 1;
    zout = run_isal();
    check_exact = 0;
    if (!only && run_zlib() != zout)
        die("zlib and ISA-L disagree on the inflated size");
#ifdef HAVE_ZLIBNG
    if (!only && run_zlibng() != zout)
        die("zlib-ng and ISA-L disagree on the inflated size");
    if (!only && run_zlibng_runs() != zout)
        die("zlib-ng by runs and ISA-L disagree on the inflated size");
#endif

    int first = 1;
    printf("{\"file\": \"%s\", \"width\": %u, \"height\": %u, \"runs\": %d,\n", argv[1], fb_w, fb_h, runs);
    printf("  \"counts\": {\"zlib_in_bytes\": %llu, \"zlib_out_bytes\": %llu, \"jpeg_rects\": %llu, "
           "\"jpeg_bytes\": %llu, \"jpeg_pixels\": %llu, \"memcpy_rects\": %llu, \"memcpy_bytes\": %llu},\n",
           zin, zout, jrects, jbytes, jpix, mrects, mbytes);
    printf("  \"passes\": {");
    if (zin) {
        measure("inflate:zlib", run_zlib, runs, &first);
#ifdef HAVE_ZLIBNG
        measure("inflate:zlib-ng", run_zlibng, runs, &first);
        measure("inflate:zlib-ng-runs", run_zlibng_runs, runs, &first);
#endif
        measure("inflate:isal", run_isal, runs, &first);
    }
    if (jrects)
        measure("jpeg", run_jpeg, runs, &first);
    if (mrects)
        measure("memcpy", run_memcpy, runs, &first);
    printf("\n  }\n}\n");
    tjDestroy(tj);
    return 0;
}
