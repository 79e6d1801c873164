/* rng.c — the seeded, counter-based RNG (Philox4x32-10). Element i of a
 * draw is a pure function of (seed, offset + i), so a draw gives the same
 * numbers whatever the thread count. The generator state is the caller's
 * (one per Lua state), not global. The plain per-element loop (philox,
 * draw_uniform, draw_normal) is the reference; on AVX2 CPUs the fills run
 * eight counters at a time with the same bits (rng_spec compares them
 * through nl_uniform_reference_ / nl_normal_reference_). */
#include "internal.h"

#include <immintrin.h>
#include <math.h>

typedef struct { uint32_t v[4]; } u32x4;

/* Philox at (counter, sub): sub fills the counter's upper half, which the
 * fills leave 0; a draw that needs a run of numbers per element (binomial)
 * takes them at (its counter, 0, 1, 2, ...) */
static u32x4 philox_sub(uint64_t counter, uint64_t sub, uint64_t seed) {
    uint32_t c0 = (uint32_t)counter, c1 = (uint32_t)(counter >> 32), c2 = (uint32_t)sub, c3 = (uint32_t)(sub >> 32);
    uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
    for (int r = 0; r < 10; r++) {
        uint64_t p0 = (uint64_t)0xD2511F53u * c0, p1 = (uint64_t)0xCD9E8D57u * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0, n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        c0 = n0; c1 = (uint32_t)p1; c2 = n2; c3 = (uint32_t)p0;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    return (u32x4){ { c0, c1, c2, c3 } };
}

static u32x4 philox(uint64_t counter, uint64_t seed) { return philox_sub(counter, 0, seed); }

/* uniform in [0,1) with 53 bits */
static inline double unit53(uint32_t hi, uint32_t lo) {
    return (double)((((uint64_t)hi << 32) | lo) >> 11) * 0x1.0p-53;
}

static double draw_uniform(uint64_t ctr, uint64_t seed) {
    u32x4 r = philox(ctr, seed);
    return unit53(r.v[0], r.v[1]);
}

static double draw_normal(uint64_t ctr, uint64_t seed) {
    u32x4 r = philox(ctr, seed);
    double u1 = 1.0 - unit53(r.v[0], r.v[1]);   /* (0,1]: log is finite */
    double u2 = unit53(r.v[2], r.v[3]);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* What a fill writes: o[i] = a + b * draw(base + i), float32 or float64.
 * A float32 uniform's value that rounds up to hi32 = (float)(a + b) is
 * set to fix32, the float below it, when fix (b > 0). */
typedef struct {
    void *o;                 /* (n) contiguous, dtype's */
    int dtype;
    bool normal, fix;
    uint64_t seed, base;
    double a, b;
    float hi32, fix32;
} fill_job;

/* o[i] for i in [lo, hi), one Philox call per element */
static void fill_span_reference(const fill_job *J, int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; i++) {
        uint64_t ctr = J->base + (uint64_t)i;
        double d = J->a + J->b * (J->normal ? draw_normal(ctr, J->seed) : draw_uniform(ctr, J->seed));
        if (J->dtype == NL_FLOAT32) {
            float v = (float)d;
            if (J->fix && v >= J->hi32) v = J->fix32;
            ((float *)J->o)[i] = v;
        } else {
            ((double *)J->o)[i] = d;
        }
    }
}

/* ---- AVX2: eight counters at a time ----
 * The Philox words sit in the low halves of 64-bit lanes, where vpmuludq
 * takes them: one instruction gives four full 32 x 32 -> 64-bit products,
 * the rounds need no shuffles, and the high halves' leftovers are never
 * read (every use masks or shifts them out). Eight counters are two
 * vectors a word: eight registers of state, so the rounds do not spill;
 * sixteen spilled and ran slower. GCC's vectorizer, given the same rounds
 * over uint32 arrays, unpacked and repacked every product (vpmuludq on
 * even and odd lanes, then shuffles: 2.6x the time of these); given
 * 64-bit arrays it emulated a 64 x 64 multiply.
 * "avx2" without "fma": a + b * u must round twice, as the reference does,
 * and GCC contracts a multiply and an add into an FMA where it may. */
#define RNG_AVX2 __attribute__((target("avx2")))

/* the four words of counters ctr .. ctr + 7 after ten rounds: w[v][k] is
 * word k of counters ctr + 4v .. ctr + 4v + 3, one a lane */
RNG_AVX2 static ALWAYS_INLINE void philox8_avx2(uint64_t ctr, uint64_t seed, __m256i w[2][4]) {
    const __m256i m0 = _mm256_set1_epi64x(0xD2511F53u), m1 = _mm256_set1_epi64x(0xCD9E8D57u);
    for (int v = 0; v < 2; v++) {
        /* the counter wraps at 2^64 as the reference's uint64_t does */
        __m256i c = _mm256_add_epi64(_mm256_set1_epi64x((long long)ctr),
                                     _mm256_setr_epi64x(4 * v, 4 * v + 1, 4 * v + 2, 4 * v + 3));
        w[v][0] = c;
        w[v][1] = _mm256_srli_epi64(c, 32);
        w[v][2] = _mm256_setzero_si256();
        w[v][3] = _mm256_setzero_si256();
    }
    uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
    for (int r = 0; r < 10; r++) {
        __m256i vk0 = _mm256_set1_epi64x(k0), vk1 = _mm256_set1_epi64x(k1);
        for (int v = 0; v < 2; v++) {
            __m256i p0 = _mm256_mul_epu32(w[v][0], m0), p1 = _mm256_mul_epu32(w[v][2], m1);
            w[v][0] = _mm256_xor_si256(_mm256_xor_si256(_mm256_srli_epi64(p1, 32), w[v][1]), vk0);
            w[v][2] = _mm256_xor_si256(_mm256_xor_si256(_mm256_srli_epi64(p0, 32), w[v][3]), vk1);
            w[v][1] = p1;
            w[v][3] = p0;
        }
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
}

/* unit53 of four lanes: hi's and lo's low halves. x = (hi:lo) >> 11 has
 * 53 bits; AVX2 has no int64 -> double conversion, so x is split into
 * its high 21 and low 32 bits, each placed in a double's mantissa under
 * a fixed exponent (2^84 + xh 2^32, 2^52 + xl), and the two recombined
 * as (2^84 + xh 2^32 - (2^84 + 2^52)) + (2^52 + xl): every step is exact
 * (each result a multiple of its operands' unit, below 2^53), so this is
 * (double)x bit for bit, and * 2^-53 is exact too. */
RNG_AVX2 static ALWAYS_INLINE __m256d unit53_avx2(__m256i hi, __m256i lo) {
    __m256i x = _mm256_srli_epi64(_mm256_or_si256(_mm256_slli_epi64(hi, 32),
                                                  _mm256_srli_epi64(_mm256_slli_epi64(lo, 32), 32)), 11);
    __m256i xh = _mm256_or_si256(_mm256_srli_epi64(x, 32), _mm256_set1_epi64x(0x4530000000000000LL));
    __m256i xl = _mm256_blend_epi32(x, _mm256_set1_epi64x(0x4330000000000000LL), 0xAA);
    __m256d d = _mm256_add_pd(_mm256_sub_pd(_mm256_castsi256_pd(xh), _mm256_set1_pd(0x1.0p84 + 0x1.0p52)),
                              _mm256_castsi256_pd(xl));
    return _mm256_mul_pd(d, _mm256_set1_pd(0x1.0p-53));
}

/* four results a + b * z to o + i, float32 with the upper-bound fix */
RNG_AVX2 static ALWAYS_INLINE void store4_avx2(const fill_job *J, int64_t i, __m256d z) {
    __m256d d = _mm256_add_pd(_mm256_set1_pd(J->a), _mm256_mul_pd(_mm256_set1_pd(J->b), z));
    if (J->dtype == NL_FLOAT32) {
        __m128 v = _mm256_cvtpd_ps(d);
        if (J->fix)
            v = _mm_blendv_ps(v, _mm_set1_ps(J->fix32), _mm_cmp_ps(v, _mm_set1_ps(J->hi32), _CMP_GE_OQ));
        _mm_storeu_ps((float *)J->o + i, v);
    } else {
        _mm256_storeu_pd((double *)J->o + i, d);
    }
}

/* o[i] for i in [lo, hi): blocks of eight, the tail by the reference.
 * Normal draws keep glibc's log and cos, one element at a time (libmvec's
 * vector forms round differently); the sqrt (correctly rounded in both)
 * and the products around them run in vectors. */
RNG_AVX2 static void fill_span_avx2(const fill_job *J, int64_t lo, int64_t hi) {
    int64_t i = lo;
    for (; i + 8 <= hi; i += 8) {
        __m256i w[2][4];
        philox8_avx2(J->base + (uint64_t)i, J->seed, w);
        if (!J->normal) {
            for (int v = 0; v < 2; v++) store4_avx2(J, i + 4 * v, unit53_avx2(w[v][0], w[v][1]));
            continue;
        }
        double u1[8], t[8], l[8], c[8];
        for (int v = 0; v < 2; v++) {
            _mm256_storeu_pd(u1 + 4 * v, _mm256_sub_pd(_mm256_set1_pd(1.0), unit53_avx2(w[v][0], w[v][1])));
            _mm256_storeu_pd(t + 4 * v,
                             _mm256_mul_pd(_mm256_set1_pd(6.283185307179586), unit53_avx2(w[v][2], w[v][3])));
        }
        for (int k = 0; k < 8; k++) {
            l[k] = log(u1[k]);
            c[k] = cos(t[k]);
        }
        for (int v = 0; v < 2; v++) {
            __m256d r = _mm256_sqrt_pd(_mm256_mul_pd(_mm256_set1_pd(-2.0), _mm256_loadu_pd(l + 4 * v)));
            store4_avx2(J, i + 4 * v, _mm256_mul_pd(r, _mm256_loadu_pd(c + 4 * v)));
        }
    }
    fill_span_reference(J, i, hi);
}

/* t[i] = a + b * draw(offset + i) for each element in row-major order;
 * reference: the plain loop whatever the CPU (the tests' yardstick) */
/* The end of a fill of n values drawn into c (t itself, or a contiguous
 * buffer for a t that is not): the generator moves past the n draws and
 * the values reach t. */
static int fill_done(nl_tensor *t, nl_tensor *c, nl_generator *g, int64_t n) {
    g->offset += (uint64_t)n;
    if (c != t) {
        int rc = nl_copy_(t, c);
        nl_release(c);
        return rc;
    }
    nl_bump_version(t);
    return 0;
}

static int fill_random(const char *op, nl_tensor *t, nl_generator *g, double a, double b, bool normal,
                       bool reference) {
    NL_CHECK_TENSOR_INT(op, t);
    NL_CHECK_INT(g != NULL, "%s: no generator", op);
    NL_CHECK_INT(t->dtype != NL_INT64, "%s: expected a float tensor, got int64 %s", op, nl_shape_str(t));
    /* before the draw: a refused call leaves the generator where it was */
    NL_CHECK_WRITE_INT(op, t, NULL);
    nl_tensor *c = nl_is_contiguous(t) ? t : nl_tensor_alloc(op, t->ndim, t->sizes, t->dtype);
    if (!c) return -1;
    int64_t n = t->numel;
    /* rounding can reach the upper bound of a float uniform; keep it open.
     * Each element is fixed where it is written (a second pass over the
     * output, serial, took a fifth of a float32 draw's time). */
    float hi32 = (float)(a + b);
    fill_job J = { .o = c->data, .dtype = c->dtype, .normal = normal,
                   .fix = c->dtype == NL_FLOAT32 && !normal && b > 0, .seed = g->seed, .base = g->offset,
                   .a = a, .b = b, .hi32 = hi32, .fix32 = nextafterf(hi32, (float)a) };
    bool avx2 = !reference && nl_cpu_avx2();
    int nt = nl_threads_for(n, 1 << 14);
    /* one span per thread; element i's value does not depend on the span */
    NL_PARALLEL_FOR(nt, p, nt,
        int64_t lo = n / nt * p + (p < n % nt ? p : n % nt), hi = lo + n / nt + (p < n % nt);
        if (avx2) fill_span_avx2(&J, lo, hi);
        else fill_span_reference(&J, lo, hi);
    );
    return fill_done(t, c, g, n);
}

int nl_uniform_(nl_tensor *t, nl_generator *g, double lo, double hi) {
    NL_CHECK_INT(isfinite(lo) && isfinite(hi) && lo <= hi, "uniform_: invalid range [%g, %g)", lo, hi);
    return fill_random("uniform_", t, g, lo, hi - lo, false, false);
}

int nl_normal_(nl_tensor *t, nl_generator *g, double mean, double std) {
    NL_CHECK_INT(isfinite(mean) && isfinite(std) && std >= 0, "normal_: invalid mean %g std %g", mean, std);
    return fill_random("normal_", t, g, mean, std, true, false);
}

int nl_uniform_reference_(nl_tensor *t, nl_generator *g, double lo, double hi) {
    NL_CHECK_INT(isfinite(lo) && isfinite(hi) && lo <= hi, "uniform_reference_: invalid range [%g, %g)", lo, hi);
    return fill_random("uniform_reference_", t, g, lo, hi - lo, false, true);
}

int nl_normal_reference_(nl_tensor *t, nl_generator *g, double mean, double std) {
    NL_CHECK_INT(isfinite(mean) && isfinite(std) && std >= 0, "normal_reference_: invalid mean %g std %g", mean,
                 std);
    return fill_random("normal_reference_", t, g, mean, std, true, true);
}

static nl_tensor *make_random(const char *op, nl_generator *g, int ndim, const int64_t *sizes, int dtype, bool normal) {
    NL_CHECK(dtype != NL_INT64, "%s: expected a float dtype, got int64", op);
    nl_tensor *t = nl_tensor_alloc(op, ndim, sizes, dtype);
    if (!t) return NULL;
    if (fill_random(op, t, g, 0.0, 1.0, normal, false) != 0) {
        nl_release(t);
        return NULL;
    }
    return t;
}

/* u[k] = draw_uniform(ctr + k, seed) for k < m = min(left, RNG_RUN) (0 + 1 *
 * u is u, bit for bit), by the AVX2 blocks where the CPU has them: the
 * draws of randperm and multinomial, which use them one at a time. The
 * count m is returned. */
#define RNG_RUN 256
static int64_t uniform_run(uint64_t ctr, uint64_t seed, int64_t left, double *u /* (RNG_RUN) */) {
    int64_t m = left < RNG_RUN ? left : RNG_RUN;
    fill_job J = { .o = u, .dtype = NL_FLOAT64, .seed = seed, .base = ctr, .a = 0.0, .b = 1.0 };
    if (nl_cpu_avx2()) fill_span_avx2(&J, 0, m);
    else fill_span_reference(&J, 0, m);
    return m;
}

nl_tensor *nl_rand(nl_generator *g, int ndim, const int64_t *sizes, int dtype) {
    return make_random("rand", g, ndim, sizes, dtype, false);
}

nl_tensor *nl_randn(nl_generator *g, int ndim, const int64_t *sizes, int dtype) {
    return make_random("randn", g, ndim, sizes, dtype, true);
}

/* Fisher-Yates driven by the generator: swap i with a draw from [0, i]. */
nl_tensor *nl_randperm(nl_generator *g, int64_t n, int64_t base) {
    NL_CHECK(g != NULL, "randperm: no generator");
    NL_CHECK(n >= 0, "randperm: negative size %lld", (long long)n);
    nl_tensor *t = nl_tensor_alloc("randperm", 1, &n, NL_INT64);
    if (!t) return NULL;
    int64_t *p = t->data;
    for (int64_t i = 0; i < n; i++) p[i] = i + base;
    uint64_t seed = g->seed, ctr = g->offset;
    double u[RNG_RUN];
    int64_t k = 0, have = 0;
    for (int64_t i = n - 1; i > 0; i--) {
        if (k == have) {                       /* i draws are left */
            have = uniform_run(ctr, seed, i, u);
            ctr += (uint64_t)have;
            k = 0;
        }
        int64_t j = (int64_t)(u[k++] * (double)(i + 1));
        if (j > i) j = i;
        int64_t tmp = p[i];
        p[i] = p[j];
        p[j] = tmp;
    }
    g->offset = ctr;
    return t;
}

/* ---- categorical draws ----
 * Row r's draw j uses counter offset + r * num_samples + j, so a draw is
 * the same whatever the thread count. With replacement: a binary search of
 * u * total in the row's running sums. Without: a walk over the weights
 * left, each pick's weight then set to zero. Sums in double. */
static int64_t pick_in(const double *cum, int64_t c, double u) {
    int64_t lo = 0, hi = c - 1;              /* the first k with cum[k] > u */
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (cum[mid] > u) hi = mid;
        else lo = mid + 1;
    }
    return lo;
}

nl_tensor *nl_multinomial(nl_generator *g, nl_tensor *probs, int64_t num_samples, int replacement,
                          int64_t base) {
    const char *op = "multinomial";
    NL_CHECK(g != NULL, "%s: no generator", op);
    NL_CHECK_TENSOR(op, probs);
    NL_CHECK(probs->dtype != NL_INT64, "%s: expected float weights, got int64 %s", op, nl_shape_str(probs));
    NL_CHECK(probs->ndim == 1 || probs->ndim == 2, "%s: expected weights of shape (C) or (N, C), got %s", op,
             nl_shape_str(probs));
    int64_t rows = probs->ndim == 2 ? probs->sizes[0] : 1, c = probs->sizes[probs->ndim - 1];
    NL_CHECK(c > 0, "%s: weights of shape %s have no categories", op, nl_shape_str(probs));
    NL_CHECK(num_samples > 0, "%s: num_samples must be positive, got %lld", op, (long long)num_samples);
    NL_CHECK(replacement || num_samples <= c, "%s: %lld samples without replacement from %lld categories "
             "(weights of shape %s)", op, (long long)num_samples, (long long)c, nl_shape_str(probs));
    nl_tensor *w = nl_to_dtype(probs, NL_FLOAT64);            /* a contiguous float64 copy or view */
    if (!w) return NULL;
    nl_tensor *wc = nl_contiguous(w);
    nl_release(w);
    if (!wc) return NULL;
    const double *pw = wc->data;
    /* every row: finite, non-negative, a positive sum; enough categories */
    for (int64_t r = 0; r < rows; r++) {
        double total = 0;
        int64_t positive = 0;
        for (int64_t k = 0; k < c; k++) {
            double v = pw[r * c + k];
            if (!(v >= 0) || isinf(v)) {
                nl_release(wc);
                NL_CHECK(0, "%s: weight %lld of row %lld is %g; weights must be finite and >= 0 (shape %s)", op,
                         (long long)(k + base), (long long)(r + base), v, nl_shape_str(probs));
            }
            total += v;
            positive += v > 0;
        }
        if (!(total > 0) || (!replacement && positive < num_samples)) {
            nl_release(wc);
            NL_CHECK(0, "%s: row %lld has %lld categories of positive weight (sum %g); %lld samples %s need %s",
                     op, (long long)(r + base), (long long)positive, total, (long long)num_samples,
                     replacement ? "with replacement" : "without replacement",
                     replacement ? "a positive sum" : "that many");
        }
    }
    int64_t osz[2] = { rows, num_samples };
    nl_tensor *out = probs->ndim == 2 ? nl_tensor_alloc(op, 2, osz, NL_INT64)
                                      : nl_tensor_alloc(op, 1, &num_samples, NL_INT64);
    int64_t scratch_n = c;
    nl_tensor *scratch = out ? nl_tensor_alloc(op, 1, &scratch_n, NL_FLOAT64) : NULL;
    if (!scratch) {
        nl_release(out);
        nl_release(wc);
        return NULL;
    }
    uint64_t seed = g->seed, offset = g->offset;
    int64_t *o = out->data;
    double *tmp = scratch->data, u[RNG_RUN];
    for (int64_t r = 0; r < rows; r++) {
        const double *row = pw + r * c;
        uint64_t ctr = offset + (uint64_t)(r * num_samples);
        if (replacement) {
            double acc = 0;
            for (int64_t k = 0; k < c; k++) tmp[k] = acc += row[k];
            for (int64_t j = 0; j < num_samples; j++) {
                if (j % RNG_RUN == 0) uniform_run(ctr + (uint64_t)j, seed, num_samples - j, u);
                int64_t k = pick_in(tmp, c, u[j % RNG_RUN] * acc);
                while (row[k] == 0) k--;               /* u * acc rounded up to acc: the last with weight */
                o[r * num_samples + j] = k + base;
            }
        } else {
            double left = 0;
            for (int64_t k = 0; k < c; k++) left += tmp[k] = row[k];
            for (int64_t j = 0; j < num_samples; j++) {
                if (j % RNG_RUN == 0) uniform_run(ctr + (uint64_t)j, seed, num_samples - j, u);
                double x = u[j % RNG_RUN] * left, acc = 0;
                int64_t k = 0, last = -1;
                for (; k < c; k++) {
                    if (tmp[k] <= 0) continue;
                    last = k;
                    acc += tmp[k];
                    if (x < acc) break;
                }
                if (k == c) k = last;                  /* rounding: the last one with weight */
                o[r * num_samples + j] = k + base;
                left -= tmp[k];
                tmp[k] = 0;
            }
        }
    }
    g->offset = offset + (uint64_t)(rows * num_samples);
    nl_release(scratch);
    nl_release(wc);
    return out;
}

/* ---- binomial draws ----
 * PyTorch's sample_binomial: with q = min(p, 1 - p) (a draw of 1 - p is n
 * less a draw of q), inversion (geometric waiting times counted until
 * their sum passes n) where n q < 10, Hormann's BTRS (transformed rejection
 * with a squeeze, 1993) at n q >= 10, so a draw's cost does not grow with
 * n. Element i's uniforms are Philox at (offset + i, 0), (offset + i, 1),
 * ..., two a call: a draw is the same whatever the thread count. */
typedef struct {
    uint64_t ctr, sub, seed;
    double u[2];
    int left;
} uniform_stream;

static double stream_uniform(uniform_stream *s) {
    if (s->left == 0) {
        u32x4 r = philox_sub(s->ctr, s->sub++, s->seed);
        s->u[0] = unit53(r.v[0], r.v[1]);
        s->u[1] = unit53(r.v[2], r.v[3]);
        s->left = 2;
    }
    return s->u[2 - s->left--];
}

/* o[i] = draw(a[i], b[i] (0 where b is NULL), element i's stream) for
 * i < len, over threads: element i's uniforms are Philox at (offset + i,
 * 0, 1, ...), so a draw is the same whatever the thread count; the
 * generator advances by len (the binomial and Poisson draws) */
static void draw_streams(nl_generator *g, double *o /* (len) */, const double *a /* (len) */,
                         const double *b /* (len), optional */, int64_t len,
                         double (*draw)(double a, double b, uniform_stream *s)) {
    uint64_t seed = g->seed, offset = g->offset;
    int nt = nl_threads_for(len, 1 << 10);
    NL_PARALLEL_FOR(nt, t, nt,
        int64_t lo = len / nt * t + (t < len % nt ? t : len % nt), hi = lo + len / nt + (t < len % nt);
        for (int64_t i = lo; i < hi; i++) {
            uniform_stream s = { .ctr = offset + (uint64_t)i, .sub = 0, .seed = seed, .left = 0 };
            o[i] = draw(a[i], b ? b[i] : 0, &s);
        }
    );
    g->offset = offset + (uint64_t)len;
}

/* log(k!) - (k + 1/2) log(k + 1) + (k + 1) - log(2 pi) / 2, for whole k >= 0 */
static double stirling_tail(double k) {
    static const double small[10] = { 0.0810614667953272, 0.0413406959554092, 0.0276779256849983,
                                      0.02079067210376509, 0.0166446911898211, 0.0138761288230707,
                                      0.0118967099458917, 0.0104112652619720, 0.00925546218271273,
                                      0.00833056343336287 };
    if (k <= 9) return small[(int)k];
    double k1sq = (k + 1) * (k + 1);
    return (1.0 / 12 - (1.0 / 360 - 1.0 / 1260 / k1sq) / k1sq) / (k + 1);
}

/* the number of geometric waiting times (success probability q) whose sum stays within n */
static double binomial_inversion(double n, double q, uniform_stream *s) {
    double lq = log1p(-q), total = 0, k = 0;
    for (;;) {
        total += ceil(log(stream_uniform(s)) / lq);
        if (total > n) return k;
        k += 1;
    }
}

/* BTRS for n q >= 10, q <= 1/2. The bound's (n + 1) log((n - m + 1) / (n
 * - k + 1)) is taken as a log1p of (k - m) / (n - k + 1): PyTorch's log of
 * the ratio loses the digits that count at n = 1e15. */
static double binomial_btrs(double n, double q, uniform_stream *s) {
    double spq = sqrt(n * q * (1 - q));
    double b = 1.15 + 2.53 * spq, a = -0.0873 + 0.0248 * b + 0.01 * q, c = n * q + 0.5;
    double v_r = 0.92 - 4.2 / b, r = q / (1 - q), alpha = (2.83 + 5.1 / b) * spq;
    double m = floor((n + 1) * q);
    double fixed = (m + 0.5) * log((m + 1) / (r * (n - m + 1))) + stirling_tail(m) + stirling_tail(n - m);
    for (;;) {
        double U = stream_uniform(s) - 0.5, V = stream_uniform(s);
        double us = 0.5 - fabs(U);
        double k = floor((2 * a / us + b) * U + c);
        if (k < 0 || k > n) continue;
        if (us >= 0.07 && V <= v_r) return k;
        double lhs = log(V * alpha / (a / (us * us) + b));
        double bound = fixed + (n + 1) * log1p((k - m) / (n - k + 1)) + (k + 0.5) * log(r * (n - k + 1) / (k + 1))
                       - stirling_tail(k) - stirling_tail(n - k);
        if (lhs <= bound) return k;
    }
}

static double binomial_draw(double n, double p, uniform_stream *s) {
    if (isnan(p) || isnan(n)) return NAN;
    if (n <= 0 || p <= 0) return 0;
    if (p >= 1) return n;
    double q = p <= 0.5 ? p : 1 - p;
    double k = n * q >= 10 ? binomial_btrs(n, q, s) : binomial_inversion(n, q, s);
    return p <= 0.5 ? k : n - k;
}

nl_tensor *nl_binomial(nl_generator *g, nl_tensor *count, nl_tensor *probs) {
    const char *op = "binomial";
    NL_CHECK(g != NULL, "%s: no generator", op);
    NL_CHECK_TENSOR(op, count);
    NL_CHECK_TENSOR(op, probs);
    NL_CHECK(count->dtype != NL_INT64 && probs->dtype != NL_INT64,
             "%s: expected float counts and probabilities, got %s %s and %s %s", op, nl_dtype_name(count->dtype),
             nl_shape_str(count), nl_dtype_name(probs->dtype), nl_shape_str(probs));
    bool same = count->ndim == probs->ndim;
    for (int d = 0; same && d < count->ndim; d++) same = count->sizes[d] == probs->sizes[d];
    NL_CHECK(same, "%s: counts %s and probabilities %s must have one shape", op, nl_shape_str(count),
             nl_shape_str(probs));
    nl_tensor *n64 = nl_to_dtype(count, NL_FLOAT64), *nc = n64 ? nl_contiguous(n64) : NULL;
    nl_release(n64);
    nl_tensor *p64 = nc ? nl_to_dtype(probs, NL_FLOAT64) : NULL, *pc = p64 ? nl_contiguous(p64) : NULL;
    nl_release(p64);
    nl_tensor *out = pc ? nl_tensor_alloc(op, count->ndim, count->sizes, NL_FLOAT64) : NULL;
    if (!out) {
        nl_release(nc);
        nl_release(pc);
        return NULL;
    }
    draw_streams(g, out->data, nc->data, pc->data, out->numel, binomial_draw);
    nl_release(nc);
    nl_release(pc);
    return out;
}

/* ---- integer, Cauchy, geometric and log-normal fills, Poisson draws ----
 * One Philox call per element i at counter offset + i (Poisson: a stream
 * of them at (offset + i, 0, 1, ...)), so a draw is the same whatever the
 * thread count; the generator advances by numel. */
typedef struct {
    void *o;                 /* (n) contiguous, dtype's */
    int dtype, kind;         /* kind: an nl_random_kind, or -1 for integers */
    uint64_t seed, base;
    int64_t from;            /* integers: from + [0, range) */
    uint64_t range;          /* 0: all 2^64 values */
    double a, b;             /* the distribution's two parameters */
} dist_job;

static void store_value(const dist_job *J, int64_t i, double v) {
    if (J->dtype == NL_FLOAT32) ((float *)J->o)[i] = (float)v;
    else if (J->dtype == NL_FLOAT64) ((double *)J->o)[i] = v;
    else ((int64_t *)J->o)[i] = v >= 0x1.0p63 ? INT64_MAX : (int64_t)v;
}

static void dist_span(const dist_job *J, int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; i++) {
        u32x4 r = philox(J->base + (uint64_t)i, J->seed);
        if (J->kind < 0) {
            /* the high 64 bits of x * range: each of the range's values
             * comes from floor(2^64 / range) or one more of x's values */
            uint64_t x = ((uint64_t)r.v[0] << 32) | r.v[1];
            uint64_t k = J->range ? (uint64_t)(((unsigned __int128)x * J->range) >> 64) : x;
            int64_t v = (int64_t)((uint64_t)J->from + k);
            if (J->dtype == NL_INT64) ((int64_t *)J->o)[i] = v;
            else store_value(J, i, (double)v);
            continue;
        }
        double v;
        if (J->kind == NL_RANDOM_CAUCHY) {
            v = J->a + J->b * tan(3.141592653589793 * (unit53(r.v[0], r.v[1]) - 0.5));
        } else if (J->kind == NL_RANDOM_GEOMETRIC) {
            /* the number of trials up to the first success: ceil(log u / log(1 - p)), u in (0, 1] */
            v = ceil(log(1.0 - unit53(r.v[0], r.v[1])) / log1p(-J->a));
            if (!(v >= 1)) v = 1;
        } else {
            double u1 = 1.0 - unit53(r.v[0], r.v[1]), u2 = unit53(r.v[2], r.v[3]);
            v = exp(J->a + J->b * (sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2)));
        }
        store_value(J, i, v);
    }
}

static int fill_dist(const char *op, nl_tensor *t, nl_generator *g, dist_job J) {
    NL_CHECK_TENSOR_INT(op, t);
    NL_CHECK_INT(g != NULL, "%s: no generator", op);
    NL_CHECK_WRITE_INT(op, t, NULL);
    nl_tensor *c = nl_is_contiguous(t) ? t : nl_tensor_alloc(op, t->ndim, t->sizes, t->dtype);
    if (!c) return -1;
    int64_t n = t->numel;
    J.o = c->data;
    J.dtype = c->dtype;
    J.seed = g->seed;
    J.base = g->offset;
    int nt = nl_threads_for(n, 1 << 13);
    NL_PARALLEL_FOR(nt, p, nt,
        int64_t lo = n / nt * p + (p < n % nt ? p : n % nt), hi = lo + n / nt + (p < n % nt);
        dist_span(&J, lo, hi);
    );
    return fill_done(t, c, g, n);
}

int nl_random_(nl_tensor *t, nl_generator *g, int64_t from, int64_t to, int has_to) {
    const char *op = "random_";
    NL_CHECK_TENSOR_INT(op, t);
    /* without to: up to the dtype's largest whole number that every
     * smaller one is exact below, inclusive (2^24, 2^53, 2^63 - 1) */
    int64_t top = t->dtype == NL_FLOAT32 ? INT64_C(1) << 24 : t->dtype == NL_FLOAT64 ? INT64_C(1) << 53 : INT64_MAX;
    uint64_t range;
    if (has_to) {
        NL_CHECK_INT(from < to, "random_: expected from < to, got from=%lld to=%lld", (long long)from,
                     (long long)to);
        NL_CHECK_INT(t->dtype == NL_INT64 || (from >= -top && to - 1 <= top),
                     "random_: [%lld, %lld) is outside [-2^%d, 2^%d], where %s holds every whole number",
                     (long long)from, (long long)to, t->dtype == NL_FLOAT32 ? 24 : 53,
                     t->dtype == NL_FLOAT32 ? 24 : 53, nl_dtype_name(t->dtype));
        range = (uint64_t)to - (uint64_t)from;
    } else {
        NL_CHECK_INT(from <= top, "random_: from=%lld exceeds the largest value %lld of a %s draw", (long long)from,
                     (long long)top, nl_dtype_name(t->dtype));
        NL_CHECK_INT(t->dtype == NL_INT64 || from >= -top, "random_: from=%lld is below -2^%d for %s",
                     (long long)from, t->dtype == NL_FLOAT32 ? 24 : 53, nl_dtype_name(t->dtype));
        range = (uint64_t)top - (uint64_t)from + 1;   /* 0 (wrapped): all 2^64 */
    }
    return fill_dist(op, t, g, (dist_job){ .kind = -1, .from = from, .range = range });
}

int nl_random_dist_(nl_tensor *t, nl_generator *g, int kind, double a, double b) {
    const char *op = kind == NL_RANDOM_CAUCHY ? "cauchy_" : kind == NL_RANDOM_GEOMETRIC ? "geometric_"
                   : kind == NL_RANDOM_LOG_NORMAL ? "log_normal_" : "random_dist_";
    NL_CHECK_INT(kind >= NL_RANDOM_CAUCHY && kind <= NL_RANDOM_LOG_NORMAL, "%s: unknown distribution %d", op, kind);
    NL_CHECK_TENSOR_INT(op, t);
    NL_CHECK_INT(kind == NL_RANDOM_GEOMETRIC || t->dtype != NL_INT64, "%s: expected a float tensor, got int64 %s", op,
                 nl_shape_str(t));
    if (kind == NL_RANDOM_GEOMETRIC) {
        NL_CHECK_INT(a > 0 && a <= 1, "%s: expected p in (0, 1], got p=%g", op, a);
    } else if (kind == NL_RANDOM_CAUCHY) {
        NL_CHECK_INT(isfinite(a) && isfinite(b) && b > 0, "%s: expected a finite median and sigma > 0, got "
                     "median=%g sigma=%g", op, a, b);
    } else {
        NL_CHECK_INT(isfinite(a) && isfinite(b) && b > 0, "%s: expected a finite mean and std > 0, got mean=%g "
                     "std=%g", op, a, b);
    }
    return fill_dist(op, t, g, (dist_job){ .kind = kind, .a = a, .b = b });
}

/* a Poisson draw of rate lam: the count of uniforms whose running product
 * stays above exp(-lam) for lam < 10, else Hormann's PTRS (transformed
 * rejection with a squeeze, 1993), whose cost does not grow with lam */
static double poisson_draw(double lam, double unused, uniform_stream *s) {
    (void)unused;   /* (draw_streams's second value, a binomial's p) */
    if (lam == 0) return 0;
    if (lam < 10) {
        double limit = exp(-lam), prod = 1, k = 0;
        for (;;) {
            prod *= stream_uniform(s);
            if (prod <= limit) return k;
            k += 1;
        }
    }
    double slam = sqrt(lam);
    double b = 0.931 + 2.53 * slam, a = -0.059 + 0.02483 * b;
    double invalpha = 1.1239 + 1.1328 / (b - 3.4), v_r = 0.9277 - 3.6224 / (b - 2);
    for (;;) {
        double U = stream_uniform(s) - 0.5, V = stream_uniform(s);
        double us = 0.5 - fabs(U);
        double k = floor((2 * a / us + b) * U + lam + 0.43);
        if (us >= 0.07 && V <= v_r) return k;
        if (k < 0 || (us < 0.013 && V > us)) continue;
        /* log of the pmf at k, k log lam - lam - log k! with log k! by
         * Stirling's series, arranged so that no two large terms cancel:
         * k log1p(d / (k + 1)) - d - log(2 pi (k + 1)) / 2 - tail(k), d = lam - k - 1 */
        double k1 = k + 1, d = lam - k1;
        double logpmf = k * log1p(d / k1) - d - 0.5 * log(6.283185307179586 * k1) - stirling_tail(k);
        if (log(V * invalpha / (a / (us * us) + b)) <= logpmf) return k;
    }
}

nl_tensor *nl_poisson(nl_generator *g, nl_tensor *rates) {
    const char *op = "poisson";
    NL_CHECK(g != NULL, "%s: no generator", op);
    NL_CHECK_TENSOR(op, rates);
    NL_CHECK(rates->dtype != NL_INT64, "%s: expected float rates, got int64 %s", op, nl_shape_str(rates));
    nl_tensor *r64 = nl_to_dtype(rates, NL_FLOAT64), *rc = r64 ? nl_contiguous(r64) : NULL;
    nl_release(r64);
    if (!rc) return NULL;
    const double *pr = rc->data;   /* (numel) */
    int64_t len = rc->numel;
    for (int64_t i = 0; i < len; i++) {
        if (!(pr[i] >= 0) || isinf(pr[i])) {
            double bad = pr[i];
            nl_release(rc);
            NL_CHECK(0, "%s: rates must be finite and >= 0, got %g at element %lld of shape %s", op, bad,
                     (long long)i + 1, nl_shape_str(rates));
        }
    }
    nl_tensor *out = nl_tensor_alloc(op, rates->ndim, rates->sizes, NL_FLOAT64);
    if (!out) {
        nl_release(rc);
        return NULL;
    }
    draw_streams(g, out->data, pr, NULL, len, poisson_draw);
    nl_release(rc);
    if (rates->dtype == NL_FLOAT64) return out;
    nl_tensor *f = nl_to_dtype(out, rates->dtype);
    nl_release(out);
    return f;
}
