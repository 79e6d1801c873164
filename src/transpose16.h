#ifndef NNLUA_TRANSPOSE16_H
#define NNLUA_TRANSPOSE16_H
/* A 16 x 16 float32 block transposed in AVX-512 registers, for the
 * packing in sgemm.c and the recurrent layers' per-step transposes, and the
 * lane masks of a vector's first n elements that the AVX-512 and AVX2 loops
 * share. */
#include "internal.h"

#include <immintrin.h>

/* the first n of 16 lanes (all 16 from n = 16) */
static inline __mmask16 first_lanes(int64_t n) { return n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1); }

/* the first n of 8 lanes, as a vmaskmov mask (none for n <= 0, all 8 from n = 8) */
__attribute__((target("avx2"))) static ALWAYS_INLINE __m256i first_lanes8(int64_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(n < 0 ? 0 : n > 8 ? 8 : n)),
                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* r[i] becomes column i of the 16 x 16 block whose rows were r[0..15] */
__attribute__((target("avx512f"))) static ALWAYS_INLINE void transpose16(__m512 r[16]) {
    __m512 t[16], u[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    /* u[4g + s], lane l: column 4l + s of rows 4g .. 4g+3 */
    for (int g = 0; g < 4; g++) {
        u[4 * g + 0] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], 0x44);
        u[4 * g + 1] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], 0xEE);
        u[4 * g + 2] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0x44);
        u[4 * g + 3] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0xEE);
    }
    for (int s = 0; s < 4; s++) {
        __m512 v0 = _mm512_shuffle_f32x4(u[s], u[4 + s], 0x88), w0 = _mm512_shuffle_f32x4(u[8 + s], u[12 + s], 0x88);
        __m512 v1 = _mm512_shuffle_f32x4(u[s], u[4 + s], 0xDD), w1 = _mm512_shuffle_f32x4(u[8 + s], u[12 + s], 0xDD);
        r[s] = _mm512_shuffle_f32x4(v0, w0, 0x88);
        r[8 + s] = _mm512_shuffle_f32x4(v0, w0, 0xDD);
        r[4 + s] = _mm512_shuffle_f32x4(v1, w1, 0x88);
        r[12 + s] = _mm512_shuffle_f32x4(v1, w1, 0xDD);
    }
}

/* dst[c * ldd + r] = src[r * lds + c] for r < rows, c < cols (at most 16
 * each): one block through transpose16, the edges masked */
__attribute__((target("avx512f"))) static ALWAYS_INLINE void transpose16_block(float *dst, int64_t ldd,
                                                                             const float *src, int64_t lds,
                                                                             int rows, int cols) {
    __mmask16 cm = first_lanes(cols), rm = first_lanes(rows);
    __m512 v[16];
    for (int i = 0; i < 16; i++) v[i] = i < rows ? _mm512_maskz_loadu_ps(cm, src + i * lds) : _mm512_setzero_ps();
    transpose16(v);
    for (int j = 0; j < cols; j++) _mm512_mask_storeu_ps(dst + j * ldd, rm, v[j]);
}
#endif
