/* Big-endian readers for RFB wire data.  Callers check bounds first. */
#ifndef VNC_HTON_H
#define VNC_HTON_H

#include <stdint.h>

static inline uint16_t vnc_be16(const uint8_t *p)
{
    return (uint16_t)(((uint16_t)p[0] << 8) | p[1]);
}

static inline uint32_t vnc_be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static inline int32_t vnc_be32s(const uint8_t *p)
{
    return (int32_t)vnc_be32(p);
}

#endif
