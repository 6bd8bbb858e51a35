/* Shared by limits.c and limits_zng.c (zlib-ng's header cannot meet zlib's). */
#ifndef LIMITS_H
#define LIMITS_H
#include <stddef.h>
#include <stdint.h>

enum { K_ZRLE = 1, K_TIGHT_ZLIB = 2, K_JPEG = 3, K_PIXELS = 4, K_TIGHT_RESET = 5 };

typedef struct {
    uint8_t kind, stream, resets;
    uint16_t x, y, w, h;
    uint32_t outlen, inlen;
    const uint8_t *data;
} rec;

extern rec *recs;
extern size_t nrecs;
extern uint8_t *fb, *src, *outbuf;
void die(const char *msg);
unsigned long long run_zlibng(void);
unsigned long long run_zlibng_runs(void);

#endif
