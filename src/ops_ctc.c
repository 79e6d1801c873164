/* ops_ctc.c — connectionist temporal classification: the per-sample
 * negative log-likelihood of each target over all its alignments (Graves et
 * al. 2006), forward (alpha) and backward (beta) recursions in log space,
 * the samples shared among the threads. The reductions, the unbatched form
 * and the lengths given as Lua tables are loss.lua's (F.ctc_loss). */
#include "internal.h"

#include <math.h>
#include <string.h>

/* log(exp(a) + exp(b) + exp(c)), -inf when all three are (a max of -inf
 * taken as 0, as PyTorch's kernel does, so no -inf - -inf is formed) */
static inline double lse3(double a, double b, double c) {
    double m = a > b ? a : b;
    if (c > m) m = c;
    if (m == -INFINITY) return -INFINITY;
    return log(exp(a - m) + exp(b - m) + exp(c - m)) + m;
}

static inline double lse2(double a, double b) { return lse3(a, b, -INFINITY); }

/* One sample's view of the inputs: its labels (L of them, from base), its
 * input length, its rows of log_probs. */
typedef struct ctc_args {
    const void *lp;           /* (T, N, C) contiguous log_probs */
    int dtype;
    int64_t T, N, C, W;       /* W = 2 max(target_lengths) + 1: alpha's row */
    const int64_t *tgt;       /* targets, contiguous */
    const int64_t *toff;      /* (N) where sample b's labels start in tgt */
    const int64_t *il, *tl;   /* (N) input and target lengths */
    int64_t blank, base;      /* blank from 0; labels in tgt from base */
} ctc_args;

static inline double lp_at(const ctc_args *A, int64_t t, int64_t b, int64_t c) {
    int64_t i = (t * A->N + b) * A->C + c;
    return A->dtype == NL_FLOAT32 ? ((const float *)A->lp)[i] : ((const double *)A->lp)[i];
}

/* the class of position s of the extended target (blank, l1, blank, l2, ..., blank) */
static inline int64_t prime(const ctc_args *A, int64_t b, int64_t s) {
    return s % 2 == 0 ? A->blank : A->tgt[A->toff[b] + s / 2] - A->base;
}

/* log alpha (Tb, 2L + 1) of sample b into a (rows of W), and its nll */
static double ctc_alpha(const ctc_args *A, int64_t b, double *a) {
    int64_t Tb = A->il[b], L = A->tl[b], S2 = 2 * L + 1, W = A->W;
    /* no frames: the empty target's one (empty) alignment, else none */
    if (Tb == 0) return L == 0 ? 0 : INFINITY;
    for (int64_t s = 0; s < S2; s++) a[s] = -INFINITY;
    a[0] = lp_at(A, 0, b, A->blank);
    if (L > 0) a[1] = lp_at(A, 0, b, prime(A, b, 1));
    for (int64_t t = 1; t < Tb; t++) {
        const double *pa = a + (t - 1) * W;
        double *ca = a + t * W;
        for (int64_t s = 0; s < S2; s++) {
            int64_t k = prime(A, b, s);
            double l2 = s > 0 ? pa[s - 1] : -INFINITY;
            /* skipping the blank between two labels, unless they are equal */
            double l3 = s > 1 && k != A->blank && k != prime(A, b, s - 2) ? pa[s - 2] : -INFINITY;
            ca[s] = lse3(pa[s], l2, l3) + lp_at(A, t, b, k);
        }
    }
    const double *last = a + (Tb - 1) * W;
    return -lse2(last[S2 - 1], L > 0 ? last[S2 - 2] : -INFINITY);
}

nl_tensor *nl_ctc_loss(nl_tensor *log_probs, nl_tensor *targets, nl_tensor *input_lengths,
                       nl_tensor *target_lengths, int64_t blank, int64_t base, int zero_infinity) {
    const char *op = "ctc_loss";
    NL_CHECK_TENSOR(op, log_probs);
    NL_CHECK_TENSOR(op, targets);
    NL_CHECK_TENSOR(op, input_lengths);
    NL_CHECK_TENSOR(op, target_lengths);
    NL_CHECK(log_probs->ndim == 3 && log_probs->dtype != NL_INT64,
             "%s: log_probs must be a 3-D float tensor (T, N, C), got %s %s", op, nl_dtype_name(log_probs->dtype),
             nl_shape_str(log_probs));
    int64_t T = log_probs->sizes[0], N = log_probs->sizes[1], C = log_probs->sizes[2];
    NL_CHECK(C > 0, "%s: log_probs of shape %s has no classes", op, nl_shape_str(log_probs));
    NL_CHECK(blank >= base && blank - base < C, "%s: blank %lld is not a class of %lld (classes run from %lld to %lld)",
             op, (long long)blank, (long long)C, (long long)base, (long long)(C - 1 + base));
    NL_CHECK(input_lengths->dtype == NL_INT64 && input_lengths->ndim == 1 && input_lengths->sizes[0] == N,
             "%s: input_lengths must be a 1-D int64 tensor of the batch's %lld lengths, got %s %s", op, (long long)N,
             nl_dtype_name(input_lengths->dtype), nl_shape_str(input_lengths));
    NL_CHECK(target_lengths->dtype == NL_INT64 && target_lengths->ndim == 1 && target_lengths->sizes[0] == N,
             "%s: target_lengths must be a 1-D int64 tensor of the batch's %lld lengths, got %s %s", op,
             (long long)N, nl_dtype_name(target_lengths->dtype), nl_shape_str(target_lengths));
    bool padded = targets->ndim == 2;
    NL_CHECK(targets->dtype == NL_INT64 && (targets->ndim == 1 || (padded && targets->sizes[0] == N)),
             "%s: targets must be an int64 tensor (N, S) of padded targets (N = %lld) or 1-D of them concatenated, "
             "got %s %s", op, (long long)N, nl_dtype_name(targets->dtype), nl_shape_str(targets));
    NL_TEMPS(tmps);
    nl_tensor *lpc = TMP(nl_contiguous_raw(log_probs)), *tc = TMP(nl_contiguous_raw(targets));
    nl_tensor *ilc = TMP(nl_contiguous_raw(input_lengths)), *tlc = TMP(nl_contiguous_raw(target_lengths));
    int64_t nn1 = N > 0 ? N : 1;
    nl_tensor *offs = TMP(nl_tensor_alloc(op, 1, &nn1, NL_INT64));
    const int64_t *il = ilc->data, *tl = tlc->data, *tg = tc->data;
    int64_t *toff = offs->data, maxl = 0, total = 0;
    for (int64_t b = 0; b < N; b++) {
        if (il[b] < 0 || il[b] > T) {
            nl_set_error("%s: input length %lld of sample %lld is outside [0, %lld] (T of log_probs %s)", op,
                         (long long)il[b], (long long)(b + base), (long long)T, nl_shape_str(log_probs));
            goto fail;
        }
        int64_t room = padded ? targets->sizes[1] : targets->numel - total;
        if (tl[b] < 0 || tl[b] > room) {
            nl_set_error("%s: target length %lld of sample %lld is outside [0, %lld] (targets %s%s)", op,
                         (long long)tl[b], (long long)(b + base), (long long)(room > 0 ? room : 0),
                         nl_shape_str(targets), padded ? "" : ", concatenated");
            goto fail;
        }
        toff[b] = padded ? b * targets->sizes[1] : total;
        total += tl[b];
        if (tl[b] > maxl) maxl = tl[b];
    }
    if (!padded && total != targets->numel) {
        nl_set_error("%s: concatenated targets hold %lld labels, but target_lengths sum to %lld", op,
                     (long long)targets->numel, (long long)total);
        goto fail;
    }
    for (int64_t b = 0; b < N; b++)
        for (int64_t k = 0; k < tl[b]; k++) {
            int64_t v = tg[toff[b] + k];
            if (v < base || v - base >= C || v == blank) {
                nl_set_error("%s: label %lld at position %lld of sample %lld's target is %s (classes run from %lld "
                             "to %lld, the blank is %lld)", op, (long long)v, (long long)(k + base),
                             (long long)(b + base), v == blank ? "the blank" : "not a class", (long long)base,
                             (long long)(C - 1 + base), (long long)blank);
                goto fail;
            }
        }
    int64_t W = 2 * maxl + 1;
    /* alpha (N, T, W) in double for either dtype: backward reads it */
    int64_t asz[3] = { N, T, W };
    nl_tensor *alpha = TMP(nl_tensor_alloc(op, 3, asz, NL_FLOAT64));
    nl_tensor *out = TMP(nl_tensor_alloc(op, 1, &N, log_probs->dtype));
    ctc_args A = { lpc->data, log_probs->dtype, T, N, C, W, tg, toff, il, tl, blank - base, base };
    double *ad = alpha->data;
    int nt = nl_threads_for(T * W * N, 1 << 12);
    NL_PARALLEL_FOR(nt, b, N,
        double nll = ctc_alpha(&A, b, ad + b * T * W);
        if (zero_infinity && nll == INFINITY) nll = 0;
        nl_store((char *)out->data + b * nl_dtype_size(out->dtype), out->dtype, nll);
    );
    nl_node *nd = nl_record(NL_OP_CTC_LOSS, out, 4, (nl_tensor *[]){ log_probs, targets, input_lengths, target_lengths });
    if (nd) {
        nd->needs_in = 15;            /* the log-probabilities, the labels and both lengths */
        nd->a[0] = blank - base;
        nd->a[1] = base;
        nd->a[2] = zero_infinity;
        nd->a[3] = W;
        nl_node_save(nd, alpha);
    }
    out = nl_keep_ref(out);
    nl_temps_free(&tmps);
    return out;
fail:
    nl_temps_free(&tmps);
    return NULL;
}

/* The exact derivative of sample b's nll in log_probs[t, b, c] (t < Tb):
 * -exp(log sum_{s: l'_s = c} alpha_t(s) beta_t(s) + nll - lp[t, c]), beta
 * including lp[t] as alpha does (so one lp is taken back out), times g[b];
 * PyTorch's CPU kernel adds exp(lp[t, c]) g[b] (eq. 16 of Graves et al.,
 * for log-softmax outputs; log_softmax's backward takes it out again). An
 * infinite nll gives NaN, as PyTorch's; with zero_infinity, zeros. beta
 * and the per-class sums use the sample's scratch row (2 W + C). */
static void ctc_grad(const ctc_args *A, int64_t b, const double *a, double gb, bool zero_inf, double *scratch,
                     void *gx) {
    int64_t Tb = A->il[b], L = A->tl[b], S2 = 2 * L + 1, C = A->C;
    double *beta = scratch, *nb = scratch + A->W, *acc = scratch + 2 * A->W;
    double nll = Tb == 0 ? 0 : -lse2(a[(Tb - 1) * A->W + S2 - 1], L > 0 ? a[(Tb - 1) * A->W + S2 - 2] : -INFINITY);
    bool zero = zero_inf && nll == INFINITY;
    for (int64_t t = Tb - 1; t >= 0 && !zero; t--) {
        if (t == Tb - 1) {
            for (int64_t s = 0; s < S2; s++) beta[s] = -INFINITY;
            beta[S2 - 1] = lp_at(A, t, b, A->blank);
            if (L > 0) beta[S2 - 2] = lp_at(A, t, b, prime(A, b, S2 - 2));
        } else {
            double *sw = nb;     /* beta of t + 1 becomes nb */
            nb = beta;
            beta = sw;
            for (int64_t s = 0; s < S2; s++) {
                int64_t k = prime(A, b, s);
                double l2 = s + 1 < S2 ? nb[s + 1] : -INFINITY;
                double l3 = s + 2 < S2 && k != A->blank && k != prime(A, b, s + 2) ? nb[s + 2] : -INFINITY;
                beta[s] = lse3(nb[s], l2, l3) + lp_at(A, t, b, k);
            }
        }
        for (int64_t c = 0; c < C; c++) acc[c] = -INFINITY;
        const double *at = a + t * A->W;
        for (int64_t s = 0; s < S2; s++) {
            int64_t k = prime(A, b, s);
            acc[k] = lse2(acc[k], at[s] + beta[s]);
        }
        for (int64_t c = 0; c < C; c++) {
            double v = -exp(acc[c] + nll - lp_at(A, t, b, c)) * gb;
            nl_store((char *)gx + ((t * A->N + b) * C + c) * nl_dtype_size(A->dtype), A->dtype, v);
        }
    }
    /* frames past the input's length, and a zeroed infinite loss */
    for (int64_t t = zero ? 0 : Tb; t < A->T; t++)
        memset((char *)gx + (t * A->N + b) * C * nl_dtype_size(A->dtype), 0, C * nl_dtype_size(A->dtype));
}

static int ctc_backward(nl_node *nd, nl_tensor *g, nl_tensor **gin) {
    if (!nl_node_wants(nd, 0)) return 0;
    nl_tensor *lp = nd->in[0], *targets = nd->in[1];
    NL_TEMPS(tmps);
    nl_tensor *lpc = TMP(nl_contiguous_raw(lp)), *tc = TMP(nl_contiguous_raw(targets));
    nl_tensor *ilc = TMP(nl_contiguous_raw(nd->in[2])), *tlc = TMP(nl_contiguous_raw(nd->in[3]));
    nl_tensor *gc = TMP(nl_contiguous_raw(g));
    nl_tensor *gx = TMP(nl_tensor_alloc("ctc_loss", 3, lp->sizes, lp->dtype));
    int64_t T = lp->sizes[0], N = lp->sizes[1], C = lp->sizes[2], W = nd->a[3];
    int64_t nn1 = N > 0 ? N : 1, ssz[2] = { nn1, 2 * W + C };
    nl_tensor *offs = TMP(nl_tensor_alloc("ctc_loss", 1, &nn1, NL_INT64));
    nl_tensor *scratch = TMP(nl_tensor_alloc("ctc_loss", 2, ssz, NL_FLOAT64));
    const int64_t *tl = tlc->data;
    int64_t *toff = offs->data, total = 0;
    for (int64_t b = 0; b < N; b++) {
        toff[b] = targets->ndim == 2 ? b * targets->sizes[1] : total;
        total += tl[b];
    }
    ctc_args A = { lpc->data, lp->dtype, T, N, C, W, tc->data, toff, ilc->data, tl, nd->a[0], nd->a[1] };
    const double *ad = nd->saved->data;
    double *sd = scratch->data;
    bool zero_inf = nd->a[2] != 0;
    int gdt = gc->dtype;
    int64_t ges = nl_dtype_size(gdt);
    NL_PARALLEL_FOR(nl_threads_for(T * W * N, 1 << 12), b, N,
        double gb = nl_load((const char *)gc->data + b * ges, gdt);
        ctc_grad(&A, b, ad + b * T * W, gb, zero_inf, sd + b * (2 * W + C), gx->data);
    );
    gin[0] = nl_keep_ref(gx);
    nl_temps_free(&tmps);
    return 0;
fail:
    nl_temps_free(&tmps);
    return -1;
}
NL_REGISTER_BACKWARD(NL_OP_CTC_LOSS, ctc_backward)
