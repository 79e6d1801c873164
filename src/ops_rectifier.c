/* ops_rectifier.c — the rectifiers that take more than nl_activation's two
 * numbers: PReLU (a learned slope, one or one per channel: nl_prelu) and
 * PyTorch's threshold (nl_threshold), each one C op with its backward, so
 * that the create_graph walk has one node to give PyTorch's double
 * backward (autograd_higher_ops.lua). Not here: relu, leaky_relu, rrelu's
 * eval form (leaky_relu) and the other activations (ops_elementwise.c). */
#include "internal.h"

#include <string.h>

/* ---- PReLU: x where x > 0, else w[c] x (NaN stays NaN) ----
 * x (..., C, ...) read contiguous as rows of inner elements whose channel
 * is row % C (C: w's numel, 1 for one shared slope, inner then the whole
 * tensor); the flat range [lo, hi) of each thread's share is walked a row
 * piece at a time, the slope fixed within it. */
#define PRELU_WALK(lo, hi, inner, C, BODY)                                    \
    for (int64_t i_ = (lo); i_ < (hi);) {                                     \
        int64_t row_ = i_ / (inner), end_ = (row_ + 1) * (inner);            \
        if (end_ > (hi)) end_ = (hi);                                         \
        int64_t c = row_ % (C);                                               \
        for (int64_t i = i_; i < end_; i++) { BODY }                          \
        i_ = end_;                                                            \
    }

/* each thread's share of n: [k n / nt, (k + 1) n / nt) */
static inline int64_t share(int64_t n, int nt, int64_t k) { return n / nt * k + (n % nt) * k / nt; }

/* a channel's run length and count for x and a weight of C slopes */
static void prelu_layout(const nl_tensor *x, int64_t C, int64_t *inner) {
    *inner = x->numel;
    if (C == 1 || x->numel == 0) return;
    *inner = 1;
    for (int d = 2; d < x->ndim; d++) *inner *= x->sizes[d];
}

#define PRELU_FWD(T)                                                          \
    do {                                                                      \
        T *o = (T *)out->data;                                                \
        const T *xp = (const T *)xc->data, *wp = (const T *)wc->data;         \
        NL_PARALLEL_FOR(nt, k, nt, PRELU_WALK(share(n, nt, k), share(n, nt, k + 1), inner, C, \
            T v = xp[i]; o[i] = v > 0 ? v : wp[c] * v;));                     \
    } while (0)

nl_tensor *nl_prelu(nl_tensor *x, nl_tensor *w) {
    NL_CHECK_TENSOR("prelu", x);
    NL_CHECK_TENSOR("prelu", w);
    NL_CHECK(x->dtype != NL_INT64, "prelu: expected a float input, got int64 %s", nl_shape_str(x));
    NL_CHECK(w->dtype == x->dtype && w->ndim <= 1,
             "prelu: weight must be a 0-dim or 1-D tensor of the input's dtype %s, got %s %s",
             nl_dtype_name(x->dtype), nl_dtype_name(w->dtype), nl_shape_str(w));
    int64_t C = w->numel, channels = x->ndim >= 2 ? x->sizes[1] : 1;
    NL_CHECK(C == 1 || C == channels, "prelu: weight holds %lld slopes for an input of shape %s (channels: dim 2)",
             (long long)C, nl_shape_str(x));
    int64_t inner, n = x->numel;
    prelu_layout(x, C, &inner);
    nl_tensor *out = nl_tensor_alloc("prelu", x->ndim, x->sizes, x->dtype);
    nl_tensor *xc = out ? nl_contiguous_raw(x) : NULL, *wc = xc ? nl_contiguous_raw(w) : NULL;
    if (wc && n > 0) {
        int nt = nl_threads_for(n, 1 << 15);
        if (x->dtype == NL_FLOAT32) PRELU_FWD(float);
        else PRELU_FWD(double);
    }
    nl_release(xc);
    nl_release(wc);
    if (!wc) { nl_release(out); return NULL; }
    nl_node *node = nl_record(NL_OP_PRELU, out, 2, (nl_tensor *[]){ x, w });
    if (node) node->needs_in = 3;
    return out;
}

/* gx = x > 0 ? g : w[c] g; gw[c] = the sum of x g where not x > 0 (PyTorch's
 * prelu_backward: NaN x sends its NaN to the slope), each thread's sums in
 * part (nt, C), added up in order after */
#define PRELU_BWD(T)                                                          \
    do {                                                                      \
        T *gxp = gx ? (T *)gx->data : NULL;                                   \
        const T *xp = (const T *)xc->data, *wp = (const T *)wc->data, *gp = (const T *)gc->data; \
        NL_PARALLEL_FOR(nt, k, nt, {                                          \
            double *pk = part ? part + k * C : NULL;                          \
            PRELU_WALK(share(n, nt, k), share(n, nt, k + 1), inner, C,        \
                T v = xp[i]; T gv = gp[i];                                    \
                if (gxp) gxp[i] = v > 0 ? gv : wp[c] * gv;                    \
                if (pk && !(v > 0)) pk[c] += (double)(v * gv););              \
        });                                                                   \
        if (gw) {                                                             \
            T *gwp = (T *)gw->data;                                           \
            for (int64_t c = 0; c < C; c++) {                                 \
                double s = 0;                                                 \
                for (int k = 0; k < nt; k++) s += part[k * C + c];            \
                gwp[c] = (T)s;                                                \
            }                                                                 \
        }                                                                     \
    } while (0)

static int prelu_backward(nl_node *node, nl_tensor *g, nl_tensor **gin) {
    NL_TEMPS(tmps);
    nl_tensor *x = node->in[0], *w = node->in[1];
    bool want_x = nl_node_wants(node, 0), want_w = nl_node_wants(node, 1);
    int64_t C = w->numel, inner, n = x->numel;
    prelu_layout(x, C, &inner);
    int nt = nl_threads_for(n, 1 << 15);
    if (nt < 1) nt = 1;
    nl_tensor *gc = TMP(g->dtype == x->dtype ? nl_contiguous_raw(g) : nl_to_dtype(g, x->dtype));
    nl_tensor *xc = TMP(nl_contiguous_raw(x)), *wc = TMP(nl_contiguous_raw(w));
    nl_tensor *gx = want_x ? TMP(nl_tensor_alloc("prelu", x->ndim, x->sizes, x->dtype)) : NULL;
    nl_tensor *gw = want_w ? TMP(nl_tensor_alloc("prelu", w->ndim, w->sizes, w->dtype)) : NULL;
    double *part = NULL;
    int64_t bytes = (int64_t)sizeof(double) * nt * C;
    if (gw) {
        part = nl_alloc_scratch(&bytes);
        if (!part) { nl_set_error("prelu: out of memory"); goto fail; }
        memset(part, 0, sizeof(double) * nt * C);
    }
    if (n > 0) {
        if (x->dtype == NL_FLOAT32) PRELU_BWD(float);
        else PRELU_BWD(double);
    } else if (gw) {
        memset(gw->data, 0, nl_dtype_size(w->dtype) * C);
    }
    if (part) nl_free(part, bytes);
    if (gx) gin[0] = nl_keep_ref(gx);
    if (gw) gin[1] = nl_keep_ref(gw);
    nl_temps_free(&tmps);
    return 0;
fail:
    nl_temps_free(&tmps);
    return -1;
}
NL_REGISTER_BACKWARD(NL_OP_PRELU, prelu_backward)

/* ---- threshold: value where x <= threshold, else x (NaN kept) ----
 * A NaN threshold keeps every x and a NaN value fills with NaN, as
 * PyTorch's. int64 x compares and fills with the numbers as given (the Lua
 * side cuts them toward 0, as PyTorch casts them) */
#define THRESH_LOOP(T, TH, V)                                                 \
    do {                                                                      \
        T *o = (T *)out->data;                                                \
        const T *xp = (const T *)xc->data;                                    \
        T th = (TH), val = (V);                                               \
        NL_PARALLEL_FOR(nt, i, n, T v = xp[i]; o[i] = v <= th ? val : v;);    \
    } while (0)

nl_tensor *nl_threshold(nl_tensor *x, double threshold, double value) {
    NL_CHECK_TENSOR("threshold", x);
    NL_CHECK(x->dtype != NL_INT64 || (nl_fits_int64(threshold) && nl_fits_int64(value)),
             "threshold: threshold %g and value %g must fit int64 for int64 input", threshold, value);
    int64_t n = x->numel;
    nl_tensor *out = nl_tensor_alloc("threshold", x->ndim, x->sizes, x->dtype);
    nl_tensor *xc = out ? nl_contiguous_raw(x) : NULL;
    if (!xc) { nl_release(out); return NULL; }
    int nt = nl_threads_for(n, 1 << 15);
    if (x->dtype == NL_FLOAT32) THRESH_LOOP(float, (float)threshold, (float)value);
    else if (x->dtype == NL_FLOAT64) THRESH_LOOP(double, threshold, value);
    else THRESH_LOOP(int64_t, (int64_t)threshold, (int64_t)value);
    nl_release(xc);
    nl_node *node = nl_record(NL_OP_THRESHOLD, out, 1, &x);
    if (node) {
        node->needs_in = 1;
        node->s[0] = threshold;
        node->s[1] = value;
    }
    return out;
}

/* gx = x <= threshold ? 0 : g (PyTorch's threshold_backward) */
#define THRESH_BWD(T)                                                         \
    do {                                                                      \
        T *o = (T *)gx->data;                                                 \
        const T *xp = (const T *)xc->data, *gp = (const T *)gc->data;         \
        T th = (T)node->s[0];                                                 \
        NL_PARALLEL_FOR(nt, i, n, o[i] = xp[i] <= th ? (T)0 : gp[i];);        \
    } while (0)

static int threshold_backward(nl_node *node, nl_tensor *g, nl_tensor **gin) {
    NL_TEMPS(tmps);
    nl_tensor *x = node->in[0];
    int64_t n = x->numel;
    nl_tensor *gc = TMP(g->dtype == x->dtype ? nl_contiguous_raw(g) : nl_to_dtype(g, x->dtype));
    nl_tensor *xc = TMP(nl_contiguous_raw(x));
    nl_tensor *gx = TMP(nl_tensor_alloc("threshold", x->ndim, x->sizes, x->dtype));
    int nt = nl_threads_for(n, 1 << 15);
    if (x->dtype == NL_FLOAT32) THRESH_BWD(float);
    else THRESH_BWD(double);
    gin[0] = nl_keep_ref(gx);
    nl_temps_free(&tmps);
    return 0;
fail:
    nl_temps_free(&tmps);
    return -1;
}
NL_REGISTER_BACKWARD(NL_OP_THRESHOLD, threshold_backward)
