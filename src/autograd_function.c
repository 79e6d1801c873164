/* autograd_function.c — the tape's side of functions whose forward and
 * backward a binding computes (nl.autograd.Function): the node over their
 * outputs, the backward that calls the binding, and the list of dead nodes'
 * ids. The binding's side (the context, saved tensors, the checks of the
 * gradients it returns) is lua/nnlua/autograd_function.lua. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

/* What an NL_OP_CUSTOM node keeps (its a[0]; a[1] == 0; a[2] the id and
 * a[3] n_out, in every node of the function). With several
 * outputs, each output's node (a[1] == 1, a[0] its index) has one input, a
 * tensor of shape [0] that the main node made, and its backward leaves the
 * output's gradient in grads for the main node, which runs after them all
 * (they use its output). */
typedef struct {
    nl_custom_backward_fn fn;
    int64_t id;
    int n_out;
    uint64_t *pass;           /* (n_out, after grads) the backward pass that left grads[j] */
    nl_tensor *grads[];       /* (n_out) the outputs' gradients, during backward */
} custom_data;

/* the backward pass running on this thread (0: none), each its own number;
 * a gradient an output's node left in a pass that failed before the main
 * node ran is not the next pass's */
static __thread uint64_t pass_now, pass_count;
uint64_t nl_custom_pass_enter(void) {
    uint64_t prev = pass_now;
    pass_now = ++pass_count;
    return prev;
}
void nl_custom_pass_leave(uint64_t prev) { pass_now = prev; }

enum { CUSTOM_MAIN = 0, CUSTOM_OUTPUT = 1 };

static custom_data *data_of(const nl_node *n) { return (custom_data *)(intptr_t)n->a[0]; }

int nl_custom_record(nl_custom_backward_fn fn, int64_t id, int n_in, nl_tensor *const *inputs, int n_out,
                     nl_tensor *const *outputs, nl_tensor **results) {
    NL_CHECK_INT(fn != NULL, "custom_function: no backward function given");
    NL_CHECK_INT(n_in > 0 && inputs, "custom_function: no inputs given");
    NL_CHECK_INT(n_out > 0 && outputs && results, "custom_function: no outputs given");
    bool any = false;
    for (int i = 0; i < n_in; i++) {
        NL_CHECK_INT(inputs[i] != NULL, "custom_function: input %d is NULL", i + 1);
        any |= nl_requires_grad(inputs[i]);
    }
    for (int j = 0; j < n_out; j++) {
        NL_CHECK_INT(outputs[j] != NULL, "custom_function: output %d is NULL", j + 1);
        NL_CHECK_INT(outputs[j]->dtype != NL_INT64, "custom_function: output %d (shape %s) is int64, "
                     "which cannot carry a gradient", j + 1, nl_shape_str(outputs[j]));
        results[j] = NULL;
    }
    NL_CHECK_INT(any && nl_is_grad_enabled(), "custom_function: no input requires grad, or grad mode is off");
    custom_data *d = calloc(1, sizeof(custom_data) + (sizeof(nl_tensor *) + sizeof(uint64_t)) * (size_t)n_out);
    NL_CHECK_INT(d != NULL, "custom_function: out of memory");
    d->pass = (uint64_t *)(void *)(d->grads + n_out);
    d->fn = fn;
    d->id = id;
    d->n_out = n_out;
    for (int j = 0; j < n_out; j++) {
        results[j] = nl_detach(outputs[j]);
        if (!results[j]) goto fail;
    }
    /* one output carries the node; several hand their gradients to it
     * through a tensor of their own */
    nl_tensor *hub = n_out == 1 ? results[0] : nl_tensor_alloc("custom_function", 1, (int64_t[]){ 0 }, NL_FLOAT32);
    if (!hub) goto fail;
    nl_node *main = nl_record(NL_OP_CUSTOM, hub, n_in, inputs);
    if (!main) {
        if (hub != results[0]) nl_release(hub);
        nl_set_error("custom_function: out of memory");
        goto fail;
    }
    main->needs_in = 0;             /* the binding checks what it saved */
    main->a[0] = (int64_t)(intptr_t)d;
    main->a[1] = CUSTOM_MAIN;
    main->a[2] = id;                /* (a[2] and a[3] read by the create_graph walk, nl_node_read) */
    main->a[3] = n_out;
    if (n_out == 1) return 0;
    int rc = 0;
    for (int j = 0; j < n_out; j++) {
        nl_node *o = nl_record(NL_OP_CUSTOM, results[j], 1, &hub);
        if (!o) {
            nl_set_error("custom_function: out of memory");
            rc = -1;
            break;
        }
        o->needs_in = 0;
        o->a[0] = j;
        o->a[1] = CUSTOM_OUTPUT;
        o->a[2] = id;
        o->a[3] = n_out;
    }
    nl_release(hub);                /* the outputs' nodes hold it */
    if (rc == 0) return 0;
    for (int j = 0; j < n_out; j++) {
        nl_release(results[j]);
        results[j] = NULL;
    }
    return -1;                      /* (the main node, when it dies, frees d) */
fail:
    for (int j = 0; j < n_out; j++) {
        nl_release(results[j]);
        results[j] = NULL;
    }
    free(d);
    return -1;
}

int nl_custom_error(const char *msg) {
    nl_set_error("%s", msg ? msg : "custom_function: failed");
    return -1;
}

uint32_t nl_tensor_version(const nl_tensor *t) { return t && t->storage ? t->storage->version : 0; }

/* the ids of dead nodes, with their binding's function, until it takes them */
static __thread struct { struct { nl_custom_backward_fn fn; int64_t id; } *v; int n, cap; } dead;

int nl_take_dead_custom(nl_custom_backward_fn fn, int64_t *ids, int max) {
    int got = 0, keep = 0;
    for (int i = 0; i < dead.n; i++) {
        if (dead.v[i].fn == fn && got < max) ids[got++] = dead.v[i].id;
        else dead.v[keep++] = dead.v[i];
    }
    dead.n = keep;
    if (!keep) {                    /* (a loop's list stays small: given back when empty) */
        free(dead.v);
        dead.v = NULL;
        dead.cap = 0;
    }
    return got;
}

/* n (NL_OP_CUSTOM) lets its saved tensors go: the main node's id is dead */
void nl_custom_node_free(nl_node *n) {
    if (n->a[1] != CUSTOM_MAIN || !n->a[0]) return;
    custom_data *d = data_of(n);
    n->a[0] = 0;
    if (dead.n == dead.cap) {
        int cap = dead.cap ? dead.cap * 2 : 16;
        void *v = realloc(dead.v, sizeof(*dead.v) * (size_t)cap);
        if (v) {
            dead.v = v;
            dead.cap = cap;
        }
    }
    if (dead.n < dead.cap) {        /* (no memory: the binding keeps the id's entry) */
        dead.v[dead.n].fn = d->fn;
        dead.v[dead.n].id = d->id;
        dead.n++;
    }
    for (int j = 0; j < d->n_out; j++) nl_release(d->grads[j]);
    free(d);
}

static int custom_backward(nl_node *n, nl_tensor *g, nl_tensor **gin) {
    if (n->a[1] == CUSTOM_OUTPUT) {
        /* output a[0]'s gradient, kept for the main node (each output's
         * node runs once a backward: a gradient left by one that failed
         * is replaced); the hub gets an empty one, so that it runs */
        nl_node *main = n->in[0]->node;
        custom_data *d = main ? data_of(main) : NULL;
        NL_CHECK_INT(d != NULL, "custom_function: the function's node is gone");
        nl_retain(g);
        nl_release(d->grads[n->a[0]]);
        d->grads[n->a[0]] = g;
        d->pass[n->a[0]] = pass_now;
        gin[0] = nl_tensor_alloc("custom_function", 1, (int64_t[]){ 0 }, NL_FLOAT32);
        return gin[0] ? 0 : -1;
    }
    custom_data *d = data_of(n);
    NL_CHECK_INT(d != NULL, "custom_function: the function's node is gone");
    for (int j = 0; d->n_out > 1 && j < d->n_out; j++) {
        if (d->grads[j] && d->pass[j] != pass_now) {     /* left by a pass that failed */
            nl_release(d->grads[j]);
            d->grads[j] = NULL;
        }
    }
    int rc = d->fn(d->id, d->n_out, d->n_out == 1 ? &g : d->grads, n->n_in, n->in, gin);
    for (int j = 0; d->n_out > 1 && j < d->n_out; j++) {
        nl_release(d->grads[j]);
        d->grads[j] = NULL;
    }
    return rc;
}
NL_REGISTER_BACKWARD(NL_OP_CUSTOM, custom_backward)
