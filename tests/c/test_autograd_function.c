/* test_autograd_function.c — custom functions from C (nl_custom_record):
 * backward calls the binding's function with the outputs' gradients and
 * takes the inputs' gradients it gives, errors come out of nl_backward,
 * and a dead node's id goes on the list nl_take_dead_custom hands back. */
#include "check.h"

#include <string.h>

static int calls, fail;
static int64_t last_id;

/* the gradients of (x y, x + y) for inputs x, y: g1 y + g2 and g1 x + g2
 * (a NULL gradient counts as 0) */
static int prod_sum_backward(int64_t id, int n_out, nl_tensor *const *gout, int n_in, nl_tensor *const *in,
                             nl_tensor **gin) {
    calls++;
    last_id = id;
    if (fail) return nl_custom_error("prod_sum: failed on purpose");
    if (n_in != 2) return nl_custom_error("prod_sum: want 2 inputs");
    for (int i = 0; i < 2; i++) {
        nl_tensor *other = in[1 - i], *acc = nl_full(other->ndim, other->sizes, 0, other->dtype);
        if (n_out >= 1 && gout[0]) {
            nl_tensor *t = nl_binary(NL_OP_MUL, gout[0], other), *s = nl_binary(NL_OP_ADD, acc, t);
            nl_release(t);
            nl_release(acc);
            acc = s;
        }
        if (n_out >= 2 && gout[1]) {
            nl_tensor *s = nl_binary(NL_OP_ADD, acc, gout[1]);
            nl_release(acc);
            acc = s;
        }
        gin[i] = acc;
    }
    return 0;
}

static nl_tensor *vec(int64_t n, const double *v) {
    int64_t sz[1] = { n };
    return nl_from_doubles(1, sz, NL_FLOAT64, v);
}

TEST(custom_function_backward_calls_the_binding_and_frees_its_id) {
    double xv[2] = { 2, 3 }, yv[2] = { 5, -1 };
    nl_tensor *x = vec(2, xv), *y = vec(2, yv);
    CHECK(nl_set_requires_grad(x, 1) == 0 && nl_set_requires_grad(y, 1) == 0);
    /* the binding's forward: its outputs have no graph */
    int prev = nl_set_grad_enabled(0);
    nl_tensor *p = nl_binary(NL_OP_MUL, x, y), *s = nl_binary(NL_OP_ADD, x, y);
    nl_set_grad_enabled(prev);
    nl_tensor *outs[2] = { p, s }, *res[2] = { NULL, NULL };
    CHECK(nl_custom_record(prod_sum_backward, 41, 2, (nl_tensor *[]){ x, y }, 2, outs, res) == 0);
    CHECK(res[0] && res[1] && res[0] != p && res[0]->data == p->data && p->node == NULL);
    CHECK(nl_grad_fn_name(res[1]) && strcmp(nl_grad_fn_name(res[1]), "custom_function") == 0);
    /* L = sum(p) + sum(s): dx = y + 1, dy = x + 1 */
    nl_tensor *l1 = nl_reduce_all(NL_OP_SUM, res[0], 0), *l2 = nl_reduce_all(NL_OP_SUM, res[1], 0);
    nl_tensor *L = nl_binary(NL_OP_ADD, l1, l2);
    calls = 0;
    CHECK(nl_backward(L, NULL, 1) == 0);
    CHECK(calls == 1 && last_id == 41);
    for (int i = 0; i < 2; i++) {
        CHECK(test_get(x->grad, i) == yv[i] + 1);
        CHECK(test_get(y->grad, i) == xv[i] + 1);
    }
    /* only the first output reached: the second's gradient is NULL */
    nl_set_grad(x, NULL);
    nl_set_grad(y, NULL);
    CHECK(nl_backward(l1, NULL, 1) == 0);
    CHECK(calls == 2 && test_get(x->grad, 0) == yv[0] && test_get(y->grad, 1) == xv[1]);
    /* an error of the binding comes out of backward, with no .grad changed */
    fail = 1;
    CHECK(nl_backward(L, NULL, 1) != 0);
    fail = 0;
    CHECK(strstr(nl_error(), "prod_sum: failed on purpose") != NULL);
    CHECK(test_get(x->grad, 0) == yv[0]);
    int64_t ids[4];
    CHECK(nl_take_dead_custom(prod_sum_backward, ids, 4) == 0);
    /* a backward without retain_graph frees the node: its id is dead */
    CHECK(nl_backward(L, NULL, 0) == 0);
    CHECK(nl_take_dead_custom(prod_sum_backward, ids, 4) == 1 && ids[0] == 41);
    CHECK(nl_take_dead_custom(prod_sum_backward, ids, 4) == 0);
    nl_release(L);
    nl_release(l1);
    nl_release(l2);
    nl_release(res[0]);
    nl_release(res[1]);

    /* a node that dies with its output, never run: its id is dead too */
    CHECK(nl_custom_record(prod_sum_backward, 42, 2, (nl_tensor *[]){ x, y }, 1, outs, res) == 0);
    CHECK(res[0]->node != NULL && nl_take_dead_custom(prod_sum_backward, ids, 4) == 0);
    nl_release(res[0]);
    CHECK(nl_take_dead_custom(prod_sum_backward, ids, 4) == 1 && ids[0] == 42);
    /* no input that requires grad: refused */
    nl_tensor *c = vec(2, xv);
    CHECK(nl_custom_record(prod_sum_backward, 43, 1, &c, 1, outs, res) != 0);
    CHECK(strstr(nl_error(), "no input requires grad") != NULL && res[0] == NULL);
    nl_release(c);
    nl_release(p);
    nl_release(s);
    nl_release(x);
    nl_release(y);
}
