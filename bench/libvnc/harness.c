/* A libvncclient client for the benchmark: connect, ask for vncenv's pixel
 * format and the run's encodings, handle messages until the server closes,
 * then print one JSON line.
 *
 *   harness HOST PORT ENCODINGS [QUALITY] [COMPRESS]
 *
 * ENCODINGS is libvncclient's encodings string, e.g. "zrle copyrect" or
 * "tight copyrect"; QUALITY is the JPEG quality level 0-9 or -1 for none
 * (lossless Tight); COMPRESS the compress level or -1 for the default.
 * libvncclient adds its usual pseudo-encodings (LastRect, NewFBSize,
 * ExtDesktopSize, ...) itself.
 *
 * Pixel format: 32 bpp, depth 24, little-endian, true colour, max 255 and
 * shifts R=0 G=8 B=16 -- what rfbGetClient(8, 3, 4) sets on a little-endian
 * machine, checked below.
 *
 * Output (one line, after the session): updates (FinishedFrameBufferUpdate
 * calls), rects (GotFrameBufferUpdate calls: pixel rects; pseudo-rects are
 * not reported by libvncclient), cpu_seconds (getrusage RUSAGE_SELF, user +
 * system, from just before the connection to the end; process_cpu_seconds
 * is the same from process start), wall_seconds, width, height, and a
 * checksum of the final framebuffer's RGB bytes (so the work cannot be
 * optimised away and runs can be compared).  Logging is off: nothing is
 * printed during the session.
 */
#define _GNU_SOURCE
#include <rfb/rfbclient.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static long long n_updates, n_rects;

static void quiet_log(const char *format, ...) { (void)format; }

static void got_update(rfbClient *client, int x, int y, int w, int h)
{
    (void)client; (void)x; (void)y; (void)w; (void)h;
    n_rects++;
}

static void finished_update(rfbClient *client)
{
    (void)client;
    n_updates++;
}

static double cpu_now(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s HOST PORT ENCODINGS [QUALITY] [COMPRESS]\n", argv[0]);
        return 2;
    }
    const char *host = argv[1];
    int port = atoi(argv[2]);
    const char *encodings = argv[3];
    int quality = argc > 4 ? atoi(argv[4]) : -1;
    int compress = argc > 5 ? atoi(argv[5]) : -1;

    rfbClientLog = quiet_log;
    rfbClientErr = quiet_log;

    double cpu0 = cpu_now(), wall0 = wall_now();
    rfbClient *client = rfbGetClient(8, 3, 4);
    if (!client) {
        fprintf(stderr, "rfbGetClient failed\n");
        return 1;
    }
    rfbPixelFormat *f = &client->format;
    f->bitsPerPixel = 32;
    f->depth = 24;
    f->bigEndian = 0;
    f->trueColour = 1;
    f->redMax = f->greenMax = f->blueMax = 255;
    f->redShift = 0;
    f->greenShift = 8;
    f->blueShift = 16;
    client->appData.encodingsString = encodings;
    client->appData.enableJPEG = quality >= 0;
    client->appData.qualityLevel = quality >= 0 ? quality : 5;
    client->appData.compressLevel = compress >= 0 ? compress : -1;
    client->appData.useRemoteCursor = FALSE;
    client->GotFrameBufferUpdate = got_update;
    client->FinishedFrameBufferUpdate = finished_update;
    client->serverHost = strdup(host);
    client->serverPort = port;
    client->canHandleNewFBSize = TRUE;

    /* rfbInitClient connects, runs the handshake, sends SetPixelFormat and
     * SetEncodings (SetFormatAndEncodings) and the first update request. */
    int fake_argc = 1;
    char *fake_argv[] = {argv[0], NULL};
    if (!rfbInitClient(client, &fake_argc, fake_argv)) {
        /* rfbInitClient frees the client on failure */
        fprintf(stderr, "rfbInitClient failed (%s:%d)\n", host, port);
        return 1;
    }
    int status = 0;
    for (;;) {
        int n = WaitForMessage(client, 5000000);
        if (n < 0)
            break; /* error: the server went away */
        if (n == 0) {
            fprintf(stderr, "no message for 5 s\n");
            status = 3;
            break;
        }
        if (!HandleRFBServerMessage(client))
            break; /* the server closed (or a decode error: see rects/updates) */
    }
    double cpu = cpu_now() - cpu0, wall = wall_now() - wall0;

    /* FNV-1a over the RGB bytes of the final picture */
    uint64_t h = 1469598103934665603ULL;
    const uint8_t *fb = client->frameBuffer;
    long long npix = (long long)client->width * client->height;
    for (long long i = 0; fb && i < npix; i++) {
        for (int c = 0; c < 3; c++) {
            h ^= fb[i * 4 + c];
            h *= 1099511628211ULL;
        }
    }
    printf("{\"peer\": \"libvncclient\", \"updates\": %lld, \"rects\": %lld, \"cpu_seconds\": %.6f, "
           "\"process_cpu_seconds\": %.6f, \"wall_seconds\": %.6f, \"width\": %d, \"height\": %d, "
           "\"fb_fnv1a\": \"%016llx\", \"exit_status\": %d}\n",
           n_updates, n_rects, cpu, cpu_now(), wall, client->width, client->height,
           (unsigned long long)h, status);
    rfbClientCleanup(client);
    return status;
}
