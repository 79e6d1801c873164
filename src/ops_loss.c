/* ops_loss.c — losses that gain from a fused kernel: cross-entropy
 * (log-softmax and NLL in one pass, with label smoothing), NLL, the
 * summed or averaged mean squared error, forward and backward side by
 * side, and binary cross-entropy on probabilities, whose gradient at a saturated
 * probability the composed ops would make NaN. The other losses (L1,
 * BCE on logits, Huber, MSE unreduced) are composed in the Lua layer and
 * need nothing here. */
#include "internal.h"

#include <math.h>
#include <string.h>

/* Validates logits/logp (N, C) float and target (N) int64 within [base, base+C). */
static bool check_class_args(const char *op, nl_tensor *x, nl_tensor *target, int64_t base, int reduction) {
    if (!x || !target) {
        nl_set_error("%s: expected tensors, got nil", op);
        return false;
    }
    if (x->ndim != 2 || x->dtype == NL_INT64) {
        nl_set_error("%s: input must be a 2-D float tensor (batch, classes), got %s %s", op,
                     nl_dtype_name(x->dtype), nl_shape_str(x));
        return false;
    }
    if (target->dtype != NL_INT64 || target->ndim != 1) {
        nl_set_error("%s: target must be a 1-D int64 tensor of class indices, got %s %s", op,
                     nl_dtype_name(target->dtype), nl_shape_str(target));
        return false;
    }
    if (target->sizes[0] != x->sizes[0]) {
        nl_set_error("%s: input batch %lld and target batch %lld differ (shapes %s and %s)", op,
                     (long long)x->sizes[0], (long long)target->sizes[0], nl_shape_str(x),
                     nl_shape_str(target));
        return false;
    }
    if (reduction < NL_REDUCE_NONE || reduction > NL_REDUCE_SUM) {
        nl_set_error("%s: invalid reduction %d", op, reduction);
        return false;
    }
    int64_t c = x->sizes[1];
    for (int64_t i = 0; i < target->numel; i++) {
        int64_t k = nl_get_index(target, i, base);
        if (k < 0 || k >= c) {
            nl_set_error("%s: target %lld at position %lld is out of range for %lld classes "
                         "(labels run from %lld to %lld)", op, (long long)(k + base),
                         (long long)(i + base), (long long)c, (long long)base, (long long)(c - 1 + base));
            return false;
        }
    }
    return true;
}

/* the per-sample losses reduced as asked, into a new tensor */
static nl_tensor *reduce_losses(const char *op, const double *loss, int64_t n, int reduction, int dtype) {
    if (reduction == NL_REDUCE_NONE) {
        nl_tensor *out = nl_tensor_alloc(op, 1, &n, NL_FLOAT64);
        if (!out) return NULL;
        memcpy(out->data, loss, sizeof(double) * n);
        nl_tensor *r = nl_to_dtype(out, dtype);
        nl_release(out);
        return r;
    }
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += loss[i];
    if (reduction == NL_REDUCE_MEAN) s = n ? s / n : NAN;
    return nl_full(0, NULL, s, dtype);
}

/* loss[i] = lse_i - ((1-eps) x[i,t] + eps mean_j x[i,j]); p = softmax(x).
 * With m the row's max, it is computed as log(sum_j exp(x[i,j] - m)) +
 * (1-eps) (m - x[i,t]) + eps mean_j (m - x[i,j]), as PyTorch's: m + log(sum)
 * lost log(sum) beside an m of 1e16 or more, and the smoothing term is left
 * out at eps = 0, where a logit of -inf (a masked class) made it 0 * inf. */
#define CE_FORWARD(T, EXP, LOG)                                                    \
    NL_PARALLEL_FOR(nt, i, n,                                                      \
        const T *row = (const T *)xc->data + i * c;                                \
        T *prow = (T *)p->data + i * c;                                            \
        double mx = -INFINITY, sum = 0, below = 0;                                 \
        for (int64_t j = 0; j < c; j++) if (row[j] > mx) mx = row[j];              \
        for (int64_t j = 0; j < c; j++) {                                          \
            T e = EXP(row[j] - (T)mx);                                             \
            prow[j] = e;                                                           \
            sum += e;                                                              \
            below += mx - row[j];                                                  \
        }                                                                          \
        double inv = 1.0 / sum, ls = LOG(sum);                                     \
        for (int64_t j = 0; j < c; j++) prow[j] = (T)(prow[j] * inv);              \
        int64_t t = tgt[i] - base;                                                 \
        loss[i] = ls + (1 - eps) * (mx - row[t]);                                  \
        if (eps > 0) loss[i] += eps * below / c;                                   \
    )

nl_tensor *nl_cross_entropy(nl_tensor *logits, nl_tensor *target, int64_t base, int reduction,
                            double label_smoothing) {
    const char *op = "cross_entropy";
    if (!check_class_args(op, logits, target, base, reduction)) return NULL;
    NL_CHECK(label_smoothing >= 0 && label_smoothing <= 1, "%s: label_smoothing %g is outside [0, 1]", op,
             label_smoothing);
    int64_t n = logits->sizes[0], c = logits->sizes[1];
    NL_CHECK(c > 0, "%s: no classes in input of shape %s", op, nl_shape_str(logits));
    nl_tensor *xc = nl_contiguous(logits), *tc = xc ? nl_contiguous(target) : NULL;
    nl_tensor *p = tc ? nl_tensor_alloc(op, 2, logits->sizes, logits->dtype) : NULL;   /* softmax */
    nl_tensor *lt = p ? nl_tensor_alloc(op, 1, &n, NL_FLOAT64) : NULL;
    nl_tensor *out = NULL;
    if (lt) {
        double *loss = lt->data, eps = label_smoothing;
        const int64_t *tgt = tc->data;
        int nt = nl_threads_for(n * c, 1 << 14);
        if (logits->dtype == NL_FLOAT32) CE_FORWARD(float, expf, log);
        else CE_FORWARD(double, exp, log);
        out = reduce_losses(op, loss, n, reduction, logits->dtype);
    }
    nl_node *node = nl_record(NL_OP_CROSS_ENTROPY, out, 2, (nl_tensor *[]){ logits, target });
    if (node) {
        node->needs_in = 2;              /* the targets */
        node->a[0] = reduction;
        node->a[1] = base;
        node->s[0] = label_smoothing;
        nl_node_save(node, p);
    }
    nl_release(xc);
    nl_release(tc);
    nl_release(p);
    nl_release(lt);
    return out;
}

nl_tensor *nl_nll_loss(nl_tensor *logp, nl_tensor *target, int64_t base, int reduction) {
    const char *op = "nll_loss";
    if (!check_class_args(op, logp, target, base, reduction)) return NULL;
    int64_t n = logp->sizes[0];
    nl_tensor *lt = nl_tensor_alloc(op, 1, &n, NL_FLOAT64);
    if (!lt) return NULL;
    double *loss = lt->data;
    for (int64_t i = 0; i < n; i++) {
        int64_t t = nl_get_index(target, i, base);
        double v = logp->dtype == NL_FLOAT32
            ? ((const float *)logp->data)[i * logp->strides[0] + t * logp->strides[1]]
            : ((const double *)logp->data)[i * logp->strides[0] + t * logp->strides[1]];
        loss[i] = -v;
    }
    nl_tensor *out = reduce_losses(op, loss, n, reduction, logp->dtype);
    nl_release(lt);
    nl_node *node = nl_record(NL_OP_NLL_LOSS, out, 2, (nl_tensor *[]){ logp, target });
    if (node) {
        node->needs_in = 2;
        node->a[0] = reduction;
        node->a[1] = base;
    }
    return out;
}

/* cross-entropy: gx = gi * (p - (1-eps) onehot(t) - eps/C);
 * nll: gx = -gi at (i, t), zero elsewhere; gi = g, g/N or g[i] */
#define LOSS_BACKWARD(T)                                                           \
    NL_PARALLEL_FOR(nt, i, n,                                                      \
        T *o = (T *)gx->data + i * c;                                              \
        double gi = reduction == NL_REDUCE_NONE ? nl_load((const char *)gc->data + i * es, gc->dtype) \
                                                : g0 * scale;                      \
        int64_t t = tgt[i] - base;                                                 \
        if (ce) {                                                                  \
            const T *pr = (const T *)n_p->data + i * c;                            \
            for (int64_t j = 0; j < c; j++) o[j] = (T)(gi * (pr[j] - eps / c));    \
            o[t] -= (T)(gi * (1 - eps));                                           \
        } else {                                                                   \
            memset(o, 0, sizeof(T) * c);                                           \
            o[t] = (T)-gi;                                                         \
        }                                                                          \
    )

int nl_loss_backward(nl_node *nd, nl_tensor *g, nl_tensor **gin) {
    nl_tensor *x = nd->in[0], *target = nd->in[1];
    if (!nl_node_wants(nd, 0)) return 0;
    bool ce = nd->op == NL_OP_CROSS_ENTROPY;
    int reduction = (int)nd->a[0];
    int64_t base = nd->a[1], n = x->sizes[0], c = x->sizes[1];
    double eps = nd->s[0];
    nl_tensor *gx = nl_tensor_alloc(nl_op_name(nd->op), 2, x->sizes, x->dtype);
    nl_tensor *gc = gx ? nl_contiguous(g) : NULL, *tc = gc ? nl_contiguous(target) : NULL;
    if (!tc) {
        nl_release(gx);
        nl_release(gc);
        return -1;
    }
    const int64_t *tgt = tc->data;
    const nl_tensor *n_p = nd->saved;
    int64_t es = nl_dtype_size(gc->dtype);
    double g0 = reduction == NL_REDUCE_NONE ? 0 : nl_load(gc->data, gc->dtype);
    double scale = reduction == NL_REDUCE_MEAN ? 1.0 / n : 1.0;
    int nt = nl_threads_for(n * c, 1 << 14);
    if (x->dtype == NL_FLOAT32) LOSS_BACKWARD(float);
    else LOSS_BACKWARD(double);
    nl_release(gc);
    nl_release(tc);
    gin[0] = gx;
    return 0;
}

/* ---- mean squared error ----
 * One pass for the value and one for the gradients, where sub, mul and a
 * sum or mean took three and (with their backward) four more over tensors
 * the size of the input. The values are those ops' bit for bit: the
 * difference and its square rounded in the dtype, the squares summed in
 * double in nl_sum's order (chunks of NL_REDUCE_CHUNK added in order, four
 * interleaved sums in each); the gradient 2 (input - target) g / n as
 * (input - target) * (q + q) with q = g / n in the dtype, which is what
 * mul's two products g/n * d added together give. */

#define MSE_RUN(T)                                                              \
    static double mse_run_##T(const T *a, const T *b, int64_t n) {              \
        double s0 = 0, s1 = 0, s2 = 0, s3 = 0;                                  \
        int64_t i = 0;                                                          \
        for (; i + 4 <= n; i += 4) {                                            \
            T d0 = a[i] - b[i], d1 = a[i + 1] - b[i + 1];                       \
            T d2 = a[i + 2] - b[i + 2], d3 = a[i + 3] - b[i + 3];               \
            T q0 = d0 * d0, q1 = d1 * d1, q2 = d2 * d2, q3 = d3 * d3;           \
            s0 += (double)q0; s1 += (double)q1;                                 \
            s2 += (double)q2; s3 += (double)q3;                                 \
        }                                                                       \
        for (; i < n; i++) {                                                    \
            T d = a[i] - b[i], q = d * d;                                       \
            s0 += (double)q;                                                    \
        }                                                                       \
        return (s0 + s1) + (s2 + s3);                                           \
    }
MSE_RUN(float)
MSE_RUN(double)

#define MSE_GRAIN (1 << 15)   /* elements per thread before another pays */

/* the loss of n elements from its chunks' partial sums, added in order: a
 * 0-dim tensor of dtype, summed or averaged */
static nl_tensor *reduced_loss(const double *ps, int64_t nchunks, int64_t n, int reduction, int dtype) {
    double s = ps[0];
    for (int64_t k = 1; k < nchunks; k++) s += ps[k];
    return nl_full(0, NULL, reduction == NL_REDUCE_MEAN ? s / (double)n : s, dtype);
}

nl_tensor *nl_mse_loss(nl_tensor *input, nl_tensor *target, int reduction) {
    const char *op = "mse_loss";
    NL_CHECK_TENSOR(op, input);
    NL_CHECK_TENSOR(op, target);
    NL_CHECK(input->dtype != NL_INT64 && input->dtype == target->dtype,
             "%s: input and target must be float tensors of one dtype, got %s and %s", op,
             nl_dtype_name(input->dtype), nl_dtype_name(target->dtype));
    NL_CHECK(input->ndim == target->ndim && memcmp(input->sizes, target->sizes, sizeof(int64_t) * input->ndim) == 0,
             "%s: input shape %s and target shape %s differ", op, nl_shape_str(input), nl_shape_str(target));
    NL_CHECK(reduction == NL_REDUCE_MEAN || reduction == NL_REDUCE_SUM,
             "%s: reduction must be mean or sum here, got %d", op, reduction);
    NL_TEMPS(tmps);
    nl_tensor *ac = TMP(nl_contiguous(input)), *bc = TMP(nl_contiguous(target));
    int64_t n = input->numel, nchunks = (n + NL_REDUCE_CHUNK - 1) / NL_REDUCE_CHUNK;
    int64_t np = nchunks > 0 ? nchunks : 1;
    nl_tensor *part = TMP(nl_tensor_alloc(op, 1, &np, NL_FLOAT64));
    double *ps = part->data;
    ps[0] = 0;
    int nt = nl_threads_for(n, MSE_GRAIN);
    bool f32 = input->dtype == NL_FLOAT32;
    NL_PARALLEL_FOR(nt, k, nchunks,
        int64_t lo = k * NL_REDUCE_CHUNK, len = n - lo < NL_REDUCE_CHUNK ? n - lo : NL_REDUCE_CHUNK;
        ps[k] = f32 ? mse_run_float((const float *)ac->data + lo, (const float *)bc->data + lo, len)
                    : mse_run_double((const double *)ac->data + lo, (const double *)bc->data + lo, len);
    );
    nl_tensor *out = TMP(reduced_loss(ps, nchunks, n, reduction, input->dtype));
    nl_node *nd = nl_record(NL_OP_MSE_LOSS, out, 2, (nl_tensor *[]){ input, target });
    if (nd) {
        nd->needs_in = 3;               /* the gradient reads both */
        nd->a[0] = reduction;
    }
    out = nl_keep_ref(out);
    nl_temps_free(&tmps);
    return out;
fail:
    nl_temps_free(&tmps);
    return NULL;
}

#define MSE_GRAD(T)                                                             \
    NL_PARALLEL_FOR(nt, k, nblk,                                                \
        int64_t lo = k * NL_REDUCE_CHUNK, hi = n - lo < NL_REDUCE_CHUNK ? n : lo + NL_REDUCE_CHUNK; \
        const T *a = (const T *)ac->data, *b = (const T *)bc->data;             \
        T *o = (T *)gx->data, sc = (T)scale;                                    \
        for (int64_t i = lo; i < hi; i++) o[i] = (a[i] - b[i]) * sc;            \
    )

static int mse_backward(nl_node *nd, nl_tensor *g, nl_tensor **gin) {
    nl_tensor *a = nd->in[0], *b = nd->in[1];
    bool need_a = nl_node_wants(nd, 0), need_b = nl_node_wants(nd, 1);
    if (!need_a && !need_b) return 0;
    NL_TEMPS(tmps);
    nl_tensor *ac = TMP(nl_contiguous(a)), *bc = TMP(nl_contiguous(b));
    nl_tensor *gx = TMP(nl_tensor_alloc("mse_loss", a->ndim, a->sizes, a->dtype));
    int64_t n = a->numel, nblk = (n + NL_REDUCE_CHUNK - 1) / NL_REDUCE_CHUNK;
    double gv = nl_load(g->data, g->dtype), scale;
    bool mean = nd->a[0] == NL_REDUCE_MEAN;
    double q = mean ? nl_div_as(gv, (double)n, a->dtype) : gv;
    scale = a->dtype == NL_FLOAT32 ? (double)((float)q + (float)q) : q + q;
    int nt = nl_threads_for(n, MSE_GRAIN);
    if (a->dtype == NL_FLOAT32) MSE_GRAD(float);
    else MSE_GRAD(double);
    if (need_b && !(gin[1] = nl_unary(NL_OP_NEG, gx))) goto fail;
    if (need_a) gin[0] = nl_keep_ref(gx);
    nl_temps_free(&tmps);
    return 0;
fail:
    nl_temps_free(&tmps);
    return -1;
}
NL_REGISTER_BACKWARD(NL_OP_MSE_LOSS, mse_backward)

/* ---- binary cross-entropy ----
 * Per element in double, rounded to the dtype at the end: lp = max(log p,
 * -100), lq = max(log(1 - p), -100), l = -w (y lp + (1 - y) lq). A sum
 * adds the chunks' double sums in order, so it does not depend on the
 * thread count. The input's gradient is PyTorch's, w (p - y) / max(p (1 -
 * p), 1e-12): the exact derivative where p is inside (0, 1), and finite
 * at a saturated p of exactly 0 or 1 (a float32 sigmoid of 17 or more is
 * 1), where the composed ops' log gave 0 * inf = NaN. The 1e-12 is
 * PyTorch's float EPSILON, 1e-12f (a double 1e-12 put float64 gradients
 * there 4e-9 off). */
#define BCE_EPS ((double)1e-12f)

static inline double ld_at(const void *p, int dtype, int64_t i) {
    return dtype == NL_FLOAT32 ? ((const float *)p)[i] : ((const double *)p)[i];
}
static inline void st_at(void *p, int dtype, int64_t i, double v) {
    if (dtype == NL_FLOAT32) ((float *)p)[i] = (float)v;
    else ((double *)p)[i] = v;
}

static inline double bce_logs(double p, double *lq) {
    double lp = log(p);
    *lq = log1p(-p);
    if (*lq < -100) *lq = -100;
    return lp < -100 ? -100 : lp;
}

typedef struct bce_args {
    const void *p, *y, *w;   /* contiguous, one dtype; w may be NULL */
    void *out;               /* per element (reduction none), or NULL */
    int dtype;
} bce_args;

/* elements [lo, hi): their losses into out, or their sum; *bad set where p
 * is outside [0, 1] or NaN (PyTorch refuses both) */
static double bce_run(const bce_args *A, int64_t lo, int64_t hi, bool *bad) {
    double s = 0;
    for (int64_t i = lo; i < hi; i++) {
        double p = ld_at(A->p, A->dtype, i), y = ld_at(A->y, A->dtype, i);
        if (!(p >= 0 && p <= 1)) *bad = true;
        double lq, lp = bce_logs(p, &lq);
        double l = -(y * lp + (1 - y) * lq);
        if (A->w) l *= ld_at(A->w, A->dtype, i);
        if (A->out) st_at(A->out, A->dtype, i, l);
        else s += l;
    }
    return s;
}

static bool same_sizes(const nl_tensor *a, const nl_tensor *b) {
    return a->ndim == b->ndim && memcmp(a->sizes, b->sizes, sizeof(int64_t) * a->ndim) == 0;
}

nl_tensor *nl_bce_loss(nl_tensor *input, nl_tensor *target, nl_tensor *weight, int reduction) {
    const char *op = "binary_cross_entropy";
    NL_CHECK_TENSOR(op, input);
    NL_CHECK_TENSOR(op, target);
    NL_CHECK(input->dtype != NL_INT64 && input->dtype == target->dtype,
             "%s: input and target must be float tensors of one dtype, got %s and %s", op,
             nl_dtype_name(input->dtype), nl_dtype_name(target->dtype));
    NL_CHECK(same_sizes(input, target), "%s: input shape %s and target shape %s differ", op, nl_shape_str(input),
             nl_shape_str(target));
    NL_CHECK(!weight || (weight->dtype == input->dtype && same_sizes(weight, input)),
             "%s: weight must be a %s tensor of the input's shape %s, got %s %s", op, nl_dtype_name(input->dtype),
             nl_shape_str(input), nl_dtype_name(weight->dtype), nl_shape_str(weight));
    NL_CHECK(reduction >= NL_REDUCE_NONE && reduction <= NL_REDUCE_SUM, "%s: invalid reduction %d", op, reduction);
    NL_TEMPS(tmps);
    nl_tensor *pc = TMP(nl_contiguous(input)), *yc = TMP(nl_contiguous(target));
    nl_tensor *wc = weight ? TMP(nl_contiguous(weight)) : NULL;
    int64_t n = input->numel, nchunks = (n + NL_REDUCE_CHUNK - 1) / NL_REDUCE_CHUNK;
    int64_t np = nchunks > 0 ? nchunks : 1;
    nl_tensor *part = TMP(nl_tensor_alloc(op, 1, &np, NL_FLOAT64));
    nl_tensor *each = reduction == NL_REDUCE_NONE ? TMP(nl_tensor_alloc(op, input->ndim, input->sizes, input->dtype))
                                                  : NULL;
    double *ps = part->data;
    ps[0] = 0;
    bce_args A = { pc->data, yc->data, wc ? wc->data : NULL, each ? each->data : NULL, input->dtype };
    bool bad = false;
    NL_PARALLEL_FOR(nl_threads_for(n, MSE_GRAIN), k, nchunks,
        int64_t lo = k * NL_REDUCE_CHUNK, hi = n - lo < NL_REDUCE_CHUNK ? n : lo + NL_REDUCE_CHUNK;
        bool b = false;
        ps[k] = bce_run(&A, lo, hi, &b);
        if (b) __atomic_store_n(&bad, true, __ATOMIC_RELAXED);
    );
    if (bad) {
        nl_set_error("%s: input must hold probabilities in [0, 1]; the input of shape %s has values outside (or NaN)", op,
                     nl_shape_str(input));
        goto fail;
    }
    nl_tensor *out = each ? each : TMP(reduced_loss(ps, nchunks, n, reduction, input->dtype));
    nl_tensor *ins[3] = { input, target, weight };
    nl_node *nd = nl_record(NL_OP_BCE_LOSS, out, weight ? 3 : 2, ins);
    if (nd) {
        nd->needs_in = weight ? 7 : 3;
        nd->a[0] = reduction;
    }
    out = nl_keep_ref(out);
    nl_temps_free(&tmps);
    return out;
fail:
    nl_temps_free(&tmps);
    return NULL;
}

static int bce_backward(nl_node *nd, nl_tensor *g, nl_tensor **gin) {
    nl_tensor *p = nd->in[0], *y = nd->in[1], *w = nd->n_in > 2 ? nd->in[2] : NULL;
    bool need[3] = { nl_node_wants(nd, 0), nl_node_wants(nd, 1), nl_node_wants(nd, 2) };
    if (!need[0] && !need[1] && !need[2]) return 0;
    NL_TEMPS(tmps);
    int dt = p->dtype, reduction = (int)nd->a[0];
    nl_tensor *pc = TMP(nl_contiguous(p)), *yc = TMP(nl_contiguous(y)), *wc = w ? TMP(nl_contiguous(w)) : NULL;
    nl_tensor *gc = reduction == NL_REDUCE_NONE ? TMP(nl_contiguous(g)) : NULL;
    nl_tensor *gt[3] = { NULL, NULL, NULL };
    for (int i = 0; i < 3; i++)
        if (need[i]) gt[i] = TMP(nl_tensor_alloc("binary_cross_entropy", p->ndim, p->sizes, dt));
    int64_t n = p->numel;
    double gv = gc ? 0 : nl_load(g->data, g->dtype);
    if (reduction == NL_REDUCE_MEAN) gv /= (double)n;
    const void *pd = pc->data, *yd = yc->data, *wd = wc ? wc->data : NULL, *gd = gc ? gc->data : NULL;
    NL_PARALLEL_FOR(nl_threads_for(n, MSE_GRAIN), k, (n + NL_REDUCE_CHUNK - 1) / NL_REDUCE_CHUNK,
        int64_t lo = k * NL_REDUCE_CHUNK, hi = n - lo < NL_REDUCE_CHUNK ? n : lo + NL_REDUCE_CHUNK;
        for (int64_t i = lo; i < hi; i++) {
            double pv = ld_at(pd, dt, i), yv = ld_at(yd, dt, i);
            double wv = wd ? ld_at(wd, dt, i) : 1, gi = gd ? ld_at(gd, dt, i) : gv;
            double lq, lp = bce_logs(pv, &lq);
            if (gt[0]) {
                double den = pv * (1 - pv);
                st_at(gt[0]->data, dt, i, gi * wv * (pv - yv) / (den > BCE_EPS ? den : BCE_EPS));
            }
            /* -logit(p), unclamped as PyTorch's: +-inf at p = 0 or 1 (the
             * logs clamped at -100 gave +-100) */
            if (gt[1]) st_at(gt[1]->data, dt, i, gi * wv * (log1p(-pv) - log(pv)));
            if (gt[2]) st_at(gt[2]->data, dt, i, -gi * (yv * lp + (1 - yv) * lq));
        });
    for (int i = 0; i < 3; i++)
        if (gt[i]) gin[i] = nl_keep_ref(gt[i]);
    nl_temps_free(&tmps);
    return 0;
fail:
    nl_temps_free(&tmps);
    return -1;
}
NL_REGISTER_BACKWARD(NL_OP_BCE_LOSS, bce_backward)
