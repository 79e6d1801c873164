/* test_autograd.c — the tape from C: what backward leaves on the tensors of
 * a graph it ran (freed nodes, the op kept for grad_fn and errors), and the
 * gradients of the small same-shape fast paths against closed forms. */
#include "check.h"

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
