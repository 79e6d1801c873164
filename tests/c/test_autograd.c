/* test_autograd.c — the tape from C: what backward leaves on the tensors of
 * a graph it ran (freed nodes, the op kept for grad_fn and errors), and the
 * gradients of the small same-shape fast paths against closed forms. */
#include "check.h"

#include <math.h>
#include <string.h>

static nl_tensor *vec(int64_t n, const double *v, int dtype) {
    int64_t sz[1] = { n };
    return nl_from_doubles(1, sz, dtype, v);
}

TEST(backward_frees_the_nodes_it_ran_and_keeps_their_ops) {
    double av[3] = { 1, 2, 3 }, bv[3] = { 4, 5, 6 };
    nl_tensor *a = vec(3, av, NL_FLOAT32), *b = vec(3, bv, NL_FLOAT32);
    CHECK(nl_set_requires_grad(a, 1) == 0 && nl_set_requires_grad(b, 1) == 0);
    nl_tensor *y = nl_binary(NL_OP_MUL, a, b);
    nl_tensor *L = nl_reduce_all(NL_OP_SUM, y, 0);
    CHECK(y->node && L->node);

    /* retain_graph keeps every node */
    CHECK(nl_backward(L, NULL, 1) == 0);
    CHECK(y->node && L->node);

    CHECK(nl_backward(L, NULL, 0) == 0);
    CHECK(y->node == NULL && L->node == NULL);
    CHECK((y->flags & NL_FLAG_GRAPH_FREED) && (L->flags & NL_FLAG_GRAPH_FREED));
    CHECK(!nl_is_leaf(y) && !nl_is_leaf(L) && nl_is_leaf(a));
    CHECK(nl_grad_fn_name(y) && strcmp(nl_grad_fn_name(y), "mul") == 0);
    CHECK(nl_grad_fn_name(L) && strcmp(nl_grad_fn_name(L), "sum") == 0);
    CHECK(nl_grad_fn_name(a) == NULL);
    /* d(sum(a*b))/da = b and /db = a, twice (two backward calls) */
    for (int i = 0; i < 3; i++) {
        CHECK(test_get(a->grad, i) == 2 * bv[i]);
        CHECK(test_get(b->grad, i) == 2 * av[i]);
    }
    /* a third backward, from the root or through y, names the freed op */
    CHECK(nl_backward(L, NULL, 0) != 0);
    CHECK(strstr(nl_error(), "graph through sum was freed") != NULL);
    nl_tensor *L2 = nl_reduce_all(NL_OP_SUM, y, 0);
    CHECK(L2 && L2->node);
    CHECK(nl_backward(L2, NULL, 0) != 0);
    CHECK(strstr(nl_error(), "graph through mul was freed") != NULL);
    CHECK(y->grad == NULL);
    CHECK(nl_set_requires_grad(y, 0) != 0);
    CHECK(strstr(nl_error(), "only leaf tensors") != NULL);
    CHECK(nl_set_requires_grad(y, 1) == 0);   /* no change, as PyTorch's requires_grad_(True) */
    CHECK(!nl_is_leaf(y) && (y->flags & NL_FLAG_REQUIRES_GRAD));
    nl_release(L2);
    nl_release(L);
    nl_release(y);
    nl_release(a);
    nl_release(b);
}

TEST(a_dying_output_leaves_no_dangling_node_link) {
    /* y dies before backward: its node lives on in the graph (held by the
     * sum's node) and must not write into y's freed memory when released */
    double av[2] = { 1.5, -2 };
    nl_tensor *a = vec(2, av, NL_FLOAT64);
    nl_set_requires_grad(a, 1);
    nl_tensor *y = nl_binary(NL_OP_MUL, a, a);
    nl_tensor *L = nl_reduce_all(NL_OP_SUM, y, 0);
    nl_release(y);
    CHECK(nl_backward(L, NULL, 0) == 0);
    CHECK(test_get(a->grad, 0) == 2 * av[0] && test_get(a->grad, 1) == 2 * av[1]);
    CHECK(L->node == NULL && (L->flags & NL_FLAG_GRAPH_FREED));
    nl_release(L);
    nl_release(a);
}

/* what a gradient-ready hook saw: the leaves in order, and for each the
 * first gradient element then and whether w1 had a gradient yet */
static struct { int n; nl_tensor *leaf[8]; double g0[8]; int w1_done[8]; nl_tensor *w1; } seen;

static void record_ready(void *ctx, nl_tensor *leaf) {
    (void)ctx;
    if (seen.n < 8) {
        seen.leaf[seen.n] = leaf;
        seen.g0[seen.n] = test_get(leaf->grad, 0);
        seen.w1_done[seen.n] = seen.w1->grad != NULL;
    }
    seen.n++;
}

TEST(grad_ready_hooks_fire_once_per_leaf_when_its_gradient_is_final) {
    /* L = sum(relu(x @ w1) @ w2) + sum(w2 * w2): w2 is owed two gradients,
     * and both come before backward reaches w1 */
    double xv[6] = { 1, -2, 3, 0.5, 1, -1 }, w1v[6] = { 0.5, -1, 2, 1, -0.5, 0.25 }, w2v[2] = { 1.5, -2 };
    int64_t xs[2] = { 2, 3 }, w1s[2] = { 3, 2 }, w2s[2] = { 2, 1 };
    nl_tensor *x = nl_from_doubles(2, xs, NL_FLOAT64, xv);
    nl_tensor *w1 = nl_from_doubles(2, w1s, NL_FLOAT64, w1v);
    nl_tensor *w2 = nl_from_doubles(2, w2s, NL_FLOAT64, w2v);
    nl_set_requires_grad(w1, 1);
    nl_set_requires_grad(w2, 1);
    nl_tensor *h = nl_matmul(x, w1), *r = nl_unary(NL_OP_RELU, h), *o = nl_matmul(r, w2);
    nl_tensor *sq = nl_binary(NL_OP_MUL, w2, w2);
    nl_tensor *s1 = nl_reduce_all(NL_OP_SUM, o, 0), *s2 = nl_reduce_all(NL_OP_SUM, sq, 0);
    nl_tensor *L = nl_binary(NL_OP_ADD, s1, s2);
    memset(&seen, 0, sizeof seen);
    seen.w1 = w1;
    CHECK(nl_add_grad_ready_hook(record_ready, NULL) == 0);
    CHECK(nl_backward(L, NULL, 0) == 0);
    nl_remove_grad_ready_hook(record_ready, NULL);
    CHECK(seen.n == 2);                              /* x needs no gradient: no call */
    CHECK(seen.leaf[0] == w2 && seen.leaf[1] == w1);
    CHECK(seen.w1_done[0] == 0);                     /* w2 was ready before w1's gradient existed */
    CHECK(seen.g0[0] == test_get(w2->grad, 0));      /* ... and was final then */
    CHECK(seen.g0[1] == test_get(w1->grad, 0));
    /* d/dw2 = sum over rows of relu(x @ w1) + 2 w2: rows of relu(h) are
     * relu(1*0.5-2*2+3*-0.5, 1*-1-2*1+3*0.25) = (0, 0) and
     * relu(0.5*0.5+1*2-1*-0.5, 0.5*-1+1*1-1*0.25) = (2.75, 0.25) */
    CHECK_NEAR(test_get(w2->grad, 0), 2.75 + 2 * 1.5, 1e-12);
    CHECK_NEAR(test_get(w2->grad, 1), 0.25 + 2 * -2, 1e-12);

    /* removed, it is not called; at most 8 hooks */
    seen.n = 0;
    nl_tensor *sq2 = nl_binary(NL_OP_MUL, w2, w2), *L2 = nl_reduce_all(NL_OP_SUM, sq2, 0);
    CHECK(nl_backward(L2, NULL, 0) == 0 && seen.n == 0);
    int added = 0;
    while (nl_add_grad_ready_hook(record_ready, &added) == 0) added++;
    CHECK(added == 8);
    CHECK(strstr(nl_error(), "8 hooks") != NULL);
    for (int i = 0; i < added; i++) nl_remove_grad_ready_hook(record_ready, &added);
    CHECK(nl_add_grad_ready_hook(record_ready, NULL) == 0);
    nl_remove_grad_ready_hook(record_ready, NULL);
    nl_tensor *ts[] = { x, w1, w2, h, r, o, sq, s1, s2, L, sq2, L2 };
    for (int i = 0; i < 12; i++) nl_release(ts[i]);
}

TEST(node_read_gives_a_nodes_op_inputs_and_scalars_and_refuses_what_backward_would) {
    double av[2] = { 1, 2 };
    nl_tensor *a = vec(2, av, NL_FLOAT64);
    CHECK(nl_set_requires_grad(a, 1) == 0);
    nl_tensor *y = nl_binary_scalar(NL_OP_POW, a, 3.0, 0);
    nl_tensor *e = nl_unary(NL_OP_EXP, y);
    nl_tensor *L = nl_reduce_all(NL_OP_SUM, e, 0);
    nl_node_info info;
    CHECK(nl_node_read(a, "backward", &info) == 0);       /* a leaf */
    CHECK(nl_node_read(y, "backward", &info) == 1);
    CHECK(info.op == NL_OP_POW && info.n_in == 1 && info.in[0] == a);
    CHECK(info.s[0] == 3.0 && info.a[0] == 1 && info.a[1] == 0);   /* a ^ 3: tensor op scalar */
    CHECK(info.id == (const void *)y->node && nl_node_input_wanted(y, 0) && !nl_node_input_wanted(y, 1));
    CHECK(nl_node_read(e, "backward", &info) == 1);
    CHECK(info.op == NL_OP_EXP && info.in[0] == y && info.saved && info.saved->data == e->data);
    CHECK(nl_node_read(L, "grad", &info) == 1 && info.op == NL_OP_SUM && info.a[0] == -1);
    /* y changed in place: exp's backward does not read it, but pow's reads a */
    CHECK(nl_set_grad_enabled(0) == 1);
    CHECK(nl_binary_scalar_(NL_OP_ADD, a, 1.0) == 0);
    nl_set_grad_enabled(1);
    CHECK(nl_node_read(y, "backward", &info) == -1);
    CHECK(strstr(nl_error(), "backward: input 1 of pow") != NULL);
    /* freed by a backward: refused by name */
    nl_tensor *b = vec(2, av, NL_FLOAT64);
    CHECK(nl_set_requires_grad(b, 1) == 0);
    nl_tensor *L2 = nl_reduce_all(NL_OP_SUM, b, 0);
    CHECK(nl_backward(L2, NULL, 0) == 0);
    CHECK(nl_node_read(L2, "grad", &info) == -1);
    CHECK(strstr(nl_error(), "grad: the graph through sum was freed") != NULL);
    nl_release(L2);
    nl_release(b);
    nl_release(L);
    nl_release(e);
    nl_release(y);
    nl_release(a);
}

/* PReLU and threshold (ops_rectifier.c): values and gradients by hand, a
 * slope per channel of a (2, 2, 2) input; bad arguments refused by name */
/* nl_layer_norm against a plain loop in double: y = (x - mean) rstd w + b
 * per row; the sum's gradients: gb = the row count, gw = the sum of the
 * rows' xhat, gx = rstd (w - mean(w) - xhat mean(w xhat)) */
TEST(layer_norm_against_a_plain_loop) {
    const double xv[8] = { 1, 2, 3, 4, -2, 0, 0.5, 2 }, wv[4] = { 1, 2, 1, 0.5 }, bv[4] = { 0, 1, 0, 0 };
    int64_t sz[2] = { 2, 4 };
    nl_tensor *flat = vec(8, xv, NL_FLOAT64), *x = nl_reshape(flat, 2, sz);
    nl_tensor *w = vec(4, wv, NL_FLOAT64), *b = vec(4, bv, NL_FLOAT64);
    CHECK(nl_set_requires_grad(x, 1) == 0 && nl_set_requires_grad(w, 1) == 0 && nl_set_requires_grad(b, 1) == 0);
    nl_tensor *y = nl_layer_norm(x, 1, w, b, 1e-3, 0);
    CHECK(y != NULL);
    nl_tensor *L = nl_reduce_all(NL_OP_SUM, y, 0);
    CHECK(nl_backward(L, NULL, 0) == 0);
    double gw[4] = { 0 };
    for (int r = 0; r < 2; r++) {
        const double *xr = xv + 4 * r;
        double mean = 0, var = 0, xh[4], mw = 0, mwx = 0;
        for (int j = 0; j < 4; j++) mean += xr[j] / 4;
        for (int j = 0; j < 4; j++) var += (xr[j] - mean) * (xr[j] - mean) / 4;
        double rstd = 1 / sqrt(var + 1e-3);
        for (int j = 0; j < 4; j++) {
            xh[j] = (xr[j] - mean) * rstd;
            CHECK(fabs(((double *)y->data)[4 * r + j] - (xh[j] * wv[j] + bv[j])) < 1e-14);
            gw[j] += xh[j];
            mw += wv[j] / 4;
            mwx += wv[j] * xh[j] / 4;
        }
        for (int j = 0; j < 4; j++)
            CHECK(fabs(((double *)x->grad->data)[4 * r + j] - rstd * (wv[j] - mw - xh[j] * mwx)) < 1e-13);
    }
    for (int j = 0; j < 4; j++) {
        CHECK(fabs(((double *)w->grad->data)[j] - gw[j]) < 1e-14);
        CHECK(((double *)b->grad->data)[j] == 2);
    }
    nl_tensor *w3 = vec(3, wv, NL_FLOAT64), *wf = vec(4, wv, NL_FLOAT32), *xi = nl_full(2, sz, 1, NL_INT64);
    CHECK(nl_layer_norm(x, 1, w3, NULL, 1e-5, 0) == NULL && strstr(nl_error(), "layer_norm: weight must be") != NULL);
    CHECK(nl_layer_norm(x, 1, NULL, wf, 1e-5, 0) == NULL && strstr(nl_error(), "layer_norm: bias must be") != NULL);
    CHECK(nl_layer_norm(x, 3, NULL, NULL, 1e-5, 0) == NULL && strstr(nl_error(), "layer_norm: cannot normalize") != NULL);
    CHECK(nl_layer_norm(xi, 1, NULL, NULL, 1e-5, 0) == NULL && strstr(nl_error(), "layer_norm: expected a float") != NULL);
    CHECK(nl_layer_norm(NULL, 1, NULL, NULL, 1e-5, 0) == NULL && strstr(nl_error(), "layer_norm: expected a tensor") != NULL);
    nl_release(w3);
    nl_release(wf);
    nl_release(xi);
    nl_release(L);
    nl_release(y);
    nl_release(b);
    nl_release(w);
    nl_release(x);
    nl_release(flat);
}

TEST(prelu_and_threshold) {
    const double xv[8] = { -1, 2, -3, 0, 4, -5, 0.5, -2 }, wv[2] = { 0.5, -2 };
    int64_t sz[3] = { 2, 2, 2 };
    nl_tensor *flat = vec(8, xv, NL_FLOAT64), *x = nl_reshape(flat, 3, sz), *w = vec(2, wv, NL_FLOAT64);
    CHECK(nl_set_requires_grad(x, 1) == 0 && nl_set_requires_grad(w, 1) == 0);
    nl_tensor *y = nl_prelu(x, w);
    CHECK(y != NULL);
    /* channel of element i: (i / 2) % 2 */
    const double want[8] = { -0.5, 2, 6, 0, 4, -2.5, 0.5, 4 };
    for (int i = 0; i < 8; i++) CHECK(((double *)y->data)[i] == want[i]);
    nl_tensor *L = nl_reduce_all(NL_OP_SUM, y, 0);
    CHECK(nl_backward(L, NULL, 0) == 0);
    const double gx[8] = { 0.5, 1, -2, -2, 1, 0.5, 1, -2 };
    for (int i = 0; i < 8; i++) CHECK(((double *)x->grad->data)[i] == gx[i]);
    /* x <= 0 summed per channel: channel 0 {-1, -5}, channel 1 {-3, 0, -2} */
    CHECK(((double *)w->grad->data)[0] == -6 && ((double *)w->grad->data)[1] == -5);
    nl_tensor *t = nl_threshold(x, 0.5, 9);
    CHECK(t != NULL && ((double *)t->data)[0] == 9 && ((double *)t->data)[1] == 2 && ((double *)t->data)[6] == 9);
    int64_t s3[1] = { 3 };
    nl_tensor *w3 = nl_full(1, s3, 0.25, NL_FLOAT64), *wf = nl_full(1, s3, 0.25, NL_FLOAT32);
    int64_t s22[2] = { 2, 1 };
    nl_tensor *w2d = nl_full(2, s22, 0.25, NL_FLOAT64), *xi = nl_full(1, s3, 1, NL_INT64);
    CHECK(nl_prelu(x, w3) == NULL && strstr(nl_error(), "prelu: weight holds 3 slopes") != NULL);
    CHECK(nl_prelu(x, wf) == NULL && strstr(nl_error(), "prelu: weight must be") != NULL);
    CHECK(nl_prelu(x, w2d) == NULL && strstr(nl_error(), "prelu: weight must be") != NULL);
    CHECK(nl_prelu(xi, w3) == NULL && strstr(nl_error(), "prelu: expected a float input") != NULL);
    CHECK(nl_prelu(NULL, w) == NULL && strstr(nl_error(), "prelu: expected a tensor") != NULL);
    /* a NaN threshold keeps every x; a NaN value fills with NaN (PyTorch's) */
    nl_tensor *tn = nl_threshold(x, 0.0 / 0.0, 1), *vn = nl_threshold(x, 0.5, 0.0 / 0.0);
    CHECK(tn != NULL && vn != NULL);
    for (int i = 0; i < 8; i++) {
        double v = ((double *)vn->data)[i];
        CHECK(((double *)tn->data)[i] == xv[i]);
        CHECK(xv[i] <= 0.5 ? v != v : v == xv[i]);
    }
    CHECK(nl_threshold(xi, 0.0 / 0.0, 1) == NULL && strstr(nl_error(), "threshold:") != NULL);
    nl_release(tn);
    nl_release(vn);
    nl_release(t);
    nl_release(w3);
    nl_release(wf);
    nl_release(w2d);
    nl_release(xi);
    nl_release(L);
    nl_release(y);
    nl_release(w);
    nl_release(x);
    nl_release(flat);
}

/* backward's inputs: a tensor hook that counts its calls and doubles */
static int inputs_hook_calls;
static int inputs_double_hook(void *ctx, nl_tensor *t, nl_tensor *grad, nl_tensor **rep) {
    (void)ctx;
    (void)t;
    inputs_hook_calls++;
    *rep = nl_binary_scalar(NL_OP_MUL, grad, 2.0, 0);
    return *rep ? 0 : -1;
}
static int inputs_ready_calls;
static nl_tensor *inputs_ready_leaf;
static void inputs_ready(void *ctx, nl_tensor *leaf) {
    (void)ctx;
    inputs_ready_calls++;
    inputs_ready_leaf = leaf;
}

TEST(backward_inputs_fills_only_the_listed_leaves) {
    /* L = sum(a * b * a): dL/da = 2 a b, dL/db = a^2 */
    double av[2] = { 1.5, -2 }, bv[2] = { 3, 0.5 };
    nl_tensor *a = vec(2, av, NL_FLOAT64), *b = vec(2, bv, NL_FLOAT64);
    CHECK(nl_set_requires_grad(a, 1) == 0 && nl_set_requires_grad(b, 1) == 0);
    nl_tensor *ab = nl_binary(NL_OP_MUL, a, b);
    nl_tensor *y = nl_binary(NL_OP_MUL, ab, a);
    nl_tensor *L = nl_reduce_all(NL_OP_SUM, y, 0);
    nl_tensor *only_b[1] = { b }, *only_a[1] = { a }, *only_y[1] = { y };
    CHECK(nl_add_grad_ready_hook(inputs_ready, NULL) == 0);
    CHECK(nl_backward_inputs(L, NULL, 1, only_b, 1, NULL, NULL) == 0);
    CHECK(a->grad == NULL && b->grad != NULL);
    for (int i = 0; i < 2; i++) CHECK(test_get(b->grad, i) == av[i] * av[i]);
    CHECK(inputs_ready_calls == 1 && inputs_ready_leaf == b);   /* the listed leaf's only */
    nl_remove_grad_ready_hook(inputs_ready, NULL);
    /* a marked leaf's hook sees the sum of its two paths once, before .grad */
    CHECK(nl_set_hooked(a) == 0);
    CHECK(nl_backward_inputs(L, NULL, 1, only_a, 1, inputs_double_hook, NULL) == 0);
    CHECK(inputs_hook_calls == 1);
    for (int i = 0; i < 2; i++) CHECK(test_get(a->grad, i) == 2 * (2 * av[i] * bv[i]));
    /* a listed tensor an op made: nothing kept in C, b's .grad unchanged */
    CHECK(nl_backward_inputs(L, NULL, 1, only_y, 0, NULL, NULL) == 0);
    CHECK(y->grad == NULL && test_get(b->grad, 0) == av[0] * av[0]);
    /* its node ran and was freed, as PyTorch 1.13's */
    CHECK(y->node == NULL && (y->flags & NL_FLAG_GRAPH_FREED));
    CHECK(nl_backward_inputs(L, NULL, 1, only_a, 0, NULL, NULL) != 0);
    CHECK(strstr(nl_error(), "was freed") != NULL);
    /* bad inputs */
    double cv[1] = { 1 };
    nl_tensor *c = vec(1, cv, NL_FLOAT64), *only_c[1] = { c }, *none[1] = { NULL };
    nl_tensor *L2 = nl_reduce_all(NL_OP_SUM, ab, 0);
    CHECK(nl_backward_inputs(L2, NULL, 0, only_a, 1, NULL, NULL) != 0 && strstr(nl_error(), "inputs is empty"));
    CHECK(nl_backward_inputs(L2, NULL, 1, only_c, 1, NULL, NULL) != 0 &&
          strstr(nl_error(), "backward: input 1 (shape [1]) does not require grad"));
    CHECK(nl_backward_inputs(L2, NULL, 1, none, 1, NULL, NULL) != 0 && strstr(nl_error(), "got nil"));
    nl_release(L2);
    nl_release(c);
    nl_release(L);
    nl_release(y);
    nl_release(ab);
    nl_release(a);
    nl_release(b);
}
