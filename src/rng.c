/* rng.c — the seeded, counter-based RNG (Philox4x32-10). Element i of a
 * draw is a pure function of (seed, offset + i), so a draw gives the same
 * numbers whatever the thread count. The generator state is the caller's
 * (one per Lua state), not global. */
#include "internal.h"

#include <math.h>

typedef struct { uint32_t v[4]; } u32x4;

static u32x4 philox(uint64_t counter, uint64_t seed) {
    uint32_t c0 = (uint32_t)counter, c1 = (uint32_t)(counter >> 32), c2 = 0, c3 = 0;
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

/* t[i] = a + b * draw(offset + i) for each element in row-major order */
static int fill_random(const char *op, nl_tensor *t, nl_generator *g, double a, double b, bool normal) {
    NL_CHECK_TENSOR_INT(op, t);
    NL_CHECK_INT(g != NULL, "%s: no generator", op);
    NL_CHECK_INT(t->dtype != NL_INT64, "%s: expected a float tensor, got int64 %s", op, nl_shape_str(t));
    /* before the draw: a refused call leaves the generator where it was */
    NL_CHECK_WRITE_INT(op, t, NULL);
    nl_tensor *c = nl_is_contiguous(t) ? t : nl_tensor_alloc(op, t->ndim, t->sizes, t->dtype);
    if (!c) return -1;
    uint64_t seed = g->seed, base = g->offset;
    int64_t n = t->numel;
    int nt = nl_threads_for(n, 1 << 14);
    if (c->dtype == NL_FLOAT32) {
        float *o = c->data;
        NL_PARALLEL_FOR(nt, i, n,
            o[i] = (float)(a + b * (normal ? draw_normal(base + i, seed) : draw_uniform(base + i, seed)));
        );
        /* rounding can reach the upper bound of a float uniform; keep it open */
        if (!normal)
            for (int64_t i = 0; i < n; i++)
                if (o[i] >= (float)(a + b) && b > 0) o[i] = nextafterf((float)(a + b), (float)a);
    } else {
        double *o = c->data;
        NL_PARALLEL_FOR(nt, i, n,
            o[i] = a + b * (normal ? draw_normal(base + i, seed) : draw_uniform(base + i, seed));
        );
    }
    g->offset += (uint64_t)n;
    if (c != t) {
        int rc = nl_copy_(t, c);
        nl_release(c);
        return rc;
    }
    nl_bump_version(t);
    return 0;
}

int nl_uniform_(nl_tensor *t, nl_generator *g, double lo, double hi) {
    NL_CHECK_INT(isfinite(lo) && isfinite(hi) && lo <= hi, "uniform_: invalid range [%g, %g)", lo, hi);
    return fill_random("uniform_", t, g, lo, hi - lo, false);
}

int nl_normal_(nl_tensor *t, nl_generator *g, double mean, double std) {
    NL_CHECK_INT(isfinite(mean) && isfinite(std) && std >= 0, "normal_: invalid mean %g std %g", mean, std);
    return fill_random("normal_", t, g, mean, std, true);
}

static nl_tensor *make_random(const char *op, nl_generator *g, int ndim, const int64_t *sizes, int dtype, bool normal) {
    NL_CHECK(dtype != NL_INT64, "%s: expected a float dtype, got int64", op);
    nl_tensor *t = nl_tensor_alloc(op, ndim, sizes, dtype);
    if (!t) return NULL;
    if (fill_random(op, t, g, 0.0, 1.0, normal) != 0) {
        nl_release(t);
        return NULL;
    }
    return t;
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
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)(draw_uniform(ctr++, seed) * (double)(i + 1));
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
    double *tmp = scratch->data;
    for (int64_t r = 0; r < rows; r++) {
        const double *row = pw + r * c;
        uint64_t ctr = offset + (uint64_t)(r * num_samples);
        if (replacement) {
            double acc = 0;
            for (int64_t k = 0; k < c; k++) tmp[k] = acc += row[k];
            for (int64_t j = 0; j < num_samples; j++) {
                int64_t k = pick_in(tmp, c, draw_uniform(ctr + (uint64_t)j, seed) * acc);
                while (row[k] == 0) k--;               /* u * acc rounded up to acc: the last with weight */
                o[r * num_samples + j] = k + base;
            }
        } else {
            double left = 0;
            for (int64_t k = 0; k < c; k++) left += tmp[k] = row[k];
            for (int64_t j = 0; j < num_samples; j++) {
                double u = draw_uniform(ctr + (uint64_t)j, seed) * left, acc = 0;
                int64_t k = 0, last = -1;
                for (; k < c; k++) {
                    if (tmp[k] <= 0) continue;
                    last = k;
                    acc += tmp[k];
                    if (u < acc) break;
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
