/* float16 and bfloat16 <-> float32 on bits alone, rounding to nearest even, so every
 * compiler and CPU gives the bits torch's own conversions give. */
#ifndef MYDROPOUT_HALFCONV_H
#define MYDROPOUT_HALFCONV_H

#include <stdint.h>
#include <string.h>

static inline uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static inline float f32_from_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static inline float f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
    if (exp == 0x1f) return f32_from_bits(sign | 0x7f800000u | (man << 13));
    if (exp != 0) return f32_from_bits(sign | ((exp + 112u) << 23) | (man << 13));
    /* subnormal or zero: man * 2**-24 is exact in float32 */
    return f32_from_bits(sign | f32_bits((float)man * 0x1p-24f));
}

static inline uint16_t f32_to_f16(float f) {
    uint32_t x = f32_bits(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    x &= 0x7fffffffu;
    if (x > 0x7f800000u) return sign | 0x7e00u | (uint16_t)((x >> 13) & 0x3ffu); /* quiet NaN */
    if (x >= 0x477ff000u) return sign | 0x7c00u; /* 65520 and up round to inf */
    if (x >= 0x38800000u) {                      /* a normal float16 */
        uint32_t r = x - (112u << 23);
        r += 0xfffu + ((r >> 13) & 1u);
        return sign | (uint16_t)(r >> 13);
    }
    uint32_t exp = x >> 23;
    if (exp < 102) return sign; /* below half the smallest subnormal: zero */
    uint32_t man = (x & 0x7fffffu) | 0x800000u, shift = 126 - exp;
    uint32_t h = man >> shift, rem = man & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (h & 1u))) ++h;
    return sign | (uint16_t)h;
}

static inline float bf16_to_f32(uint16_t h) { return f32_from_bits((uint32_t)h << 16); }

static inline uint16_t f32_to_bf16(float f) {
    uint32_t x = f32_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40u); /* quiet NaN */
    return (uint16_t)((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

/* The contract's product for 16-bit types: in float32, rounded once. */
static inline uint16_t f16_scaled(uint16_t x, float s) { return f32_to_f16(f16_to_f32(x) * s); }
static inline uint16_t bf16_scaled(uint16_t x, float s) { return f32_to_bf16(bf16_to_f32(x) * s); }

#endif
