/* fma_peak.c — this core's fp32 FMA peak: independent chains of 512-bit
 * (or 256-bit) fused multiply-adds, enough of them to cover the latency,
 * timed on one thread. Prints GFLOP/s, the best of 5 runs; W4 is judged
 * against it. With an argument N: the mean rate over N runs, for two
 * copies run at once (bench/threads_turns.lua: what two threads of this
 * machine get from its cores in that minute). */
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

/* Accumulators in registers: each FMA depends only on its own chain.
 * AVX-512 has 32 registers: 16 chains (WIDE). AVX2 has 16, and 16 chains
 * plus the two operands spilled three chains to the stack (the 256-bit
 * peak read 52 GFLOP/s on a Zen 3 core whose BLIS GEMM ran at 74), so 12
 * there: still more than two FMA units' latency needs (2 x 4 or 5). */
#define CHAINS(T, SET1, FMA, WIDE)                                             \
    T a0 = SET1(0), a1 = SET1(1), a2 = SET1(2), a3 = SET1(3), a4 = SET1(4),    \
      a5 = SET1(5), a6 = SET1(6), a7 = SET1(7), a8 = SET1(8), a9 = SET1(9),    \
      a10 = SET1(10), a11 = SET1(11), a12 = SET1(12), a13 = SET1(13),          \
      a14 = SET1(14), a15 = SET1(15), m = SET1(0.999999f), c = SET1(1e-7f);   \
    double t0 = now();                                                         \
    for (long k = 0; k < iters; k++) {                                         \
        a0 = FMA(a0, m, c); a1 = FMA(a1, m, c); a2 = FMA(a2, m, c);           \
        a3 = FMA(a3, m, c); a4 = FMA(a4, m, c); a5 = FMA(a5, m, c);           \
        a6 = FMA(a6, m, c); a7 = FMA(a7, m, c); a8 = FMA(a8, m, c);           \
        a9 = FMA(a9, m, c); a10 = FMA(a10, m, c); a11 = FMA(a11, m, c);       \
        if (WIDE) {                                                            \
            a12 = FMA(a12, m, c); a13 = FMA(a13, m, c);                        \
            a14 = FMA(a14, m, c); a15 = FMA(a15, m, c);                        \
        }                                                                      \
        __asm__ volatile("" : "+v"(a0), "+v"(a1), "+v"(a2), "+v"(a3));         \
    }                                                                          \
    double dt = now() - t0;                                                    \
    T s = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11;         \
    if (WIDE) s += a12 + a13 + a14 + a15;                                      \
    sink = s[0];

static volatile float sink;

__attribute__((target("avx512f"))) static double peak512(long iters) {
    CHAINS(__m512, _mm512_set1_ps, _mm512_fmadd_ps, 1)
    return iters * 16.0 * 16 * 2 / dt / 1e9;
}

__attribute__((target("avx2,fma"))) static double peak256(long iters) {
    CHAINS(__m256, _mm256_set1_ps, _mm256_fmadd_ps, 0)
    return iters * 12.0 * 8 * 2 / dt / 1e9;
}

int main(int argc, char **argv) {
    __builtin_cpu_init();
    int wide = __builtin_cpu_supports("avx512f");
    if (argc > 1) {
        int n = atoi(argv[1]);
        double inv = 0;               /* the mean rate: runs of equal work, so the harmonic mean */
        for (int r = 0; r < n; r++) inv += 1 / (wide ? peak512(20000000) : peak256(20000000));
        printf("fp32 FMA mean: %.1f GFLOP/s on one thread over %d runs (%s)\n", n / inv, n, wide ? "AVX-512" : "AVX2");
        return 0;
    }
    double best = 0;
    for (int r = 0; r < 5; r++) {
        double g = wide ? peak512(20000000) : peak256(20000000);
        if (g > best) best = g;
    }
    printf("fp32 FMA peak: %.1f GFLOP/s on one thread (%s)\n", best, wide ? "AVX-512" : "AVX2");
    return 0;
}
