/* test_api_misuse.c — the C API's promise that nothing in the library
 * aborts or exits: NULL arrays where sizes, dims, data or tensor lists
 * belong are errors, and a vm whose script has a strict _G, a global of
 * its own named nl, or error objects that are tables still returns -1 or
 * works, with the host going on. */
#include "check.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>

/* the call returned nothing and left an error naming the op */
#define CHECK_REFUSED(expr, op)                                              \
    do {                                                                     \
        nl_tensor *r_ = (expr);                                              \
        CHECK(r_ == NULL);                                                   \
        CHECK(strstr(nl_error(), op) != NULL);                               \
        nl_release(r_);                                                      \
    } while (0)

TEST(null_arrays_are_errors) {
    int64_t sz[2] = { 2, 3 };
    float buf[6] = { 0 };
    nl_tensor *a = nl_full(2, sz, 1.0, NL_FLOAT32);
    CHECK_REFUSED(nl_tensor_wrap(2, NULL, NL_FLOAT32, buf, NULL, NULL), "tensor_wrap");
    CHECK_REFUSED(nl_empty(2, NULL, NL_FLOAT32), "empty");
    CHECK_REFUSED(nl_full(2, NULL, 0.0, NL_FLOAT32), "full");
    CHECK_REFUSED(nl_from_data(2, sz, NL_FLOAT32, NULL), "from_data");
    CHECK_REFUSED(nl_from_doubles(2, sz, NL_FLOAT32, NULL), "tensor");
    CHECK_REFUSED(nl_view(a, 2, NULL), "view");
    CHECK_REFUSED(nl_reshape(a, 2, NULL), "reshape");
    CHECK_REFUSED(nl_permute(a, 2, NULL), "permute");
    CHECK_REFUSED(nl_expand(a, 2, NULL), "expand");
    CHECK_REFUSED(nl_cat(2, NULL, 0), "cat");
    CHECK_REFUSED(nl_stack(2, NULL, 0), "stack");
    nl_release_many(NULL, 3);                                 /* nothing to release */
    /* zero dims need no sizes, and no elements need no data */
    nl_tensor *s = nl_empty(0, NULL, NL_FLOAT64);
    CHECK(s != NULL && s->numel == 1);
    int64_t z[2] = { 0, 3 };
    nl_tensor *e = nl_from_data(2, z, NL_FLOAT32, NULL);
    CHECK(e != NULL && e->numel == 0);
    nl_release(s);
    nl_release(e);
    nl_release(a);
}

/* NULLs in a list to release are skipped wherever they lie (one 4 places
 * on was read for a prefetch: a segfault); a NULL tensor is not contiguous
 * (it was read); mark_modified names the caller's op */
TEST(null_tensors_in_release_many_and_queries) {
    int64_t sz[1] = { 3 };
    nl_tensor *ts[12] = { 0 };
    ts[0] = nl_full(1, sz, 1.0, NL_FLOAT32);
    ts[5] = nl_full(1, sz, 2.0, NL_FLOAT32);
    ts[11] = nl_full(1, sz, 3.0, NL_FLOAT32);
    nl_release_many(ts, 12);
    CHECK(nl_is_contiguous(NULL) == 0);
    CHECK(nl_mark_modified(NULL, "index") == -1);
    CHECK(strstr(nl_error(), "index: expected a tensor") != NULL);
    CHECK(nl_mark_modified(NULL, NULL) == -1);
    CHECK(strstr(nl_error(), "mark_modified: expected a tensor") != NULL);
}

/* uniform_ and normal_ wrote into a tensor that requires grad in grad
 * mode, which every other in-place op refuses (a leaf's values changed
 * under its graph; a non-leaf's gradient went through the old op) */
TEST(random_fills_refuse_tensors_that_require_grad) {
    int64_t sz[1] = { 3 };
    nl_generator g = { 7, 9 };
    nl_tensor *w = nl_full(1, sz, 1.0, NL_FLOAT32);
    CHECK(nl_set_requires_grad(w, 1) == 0);
    nl_tensor *y = nl_binary_scalar(NL_OP_MUL, w, 3.0, 0);
    CHECK(nl_uniform_(w, &g, 5, 6) == -1);
    CHECK(strstr(nl_error(), "uniform_:") == nl_error());
    CHECK(nl_normal_(y, &g, 0, 1) == -1);
    CHECK(strstr(nl_error(), "normal_:") == nl_error());
    CHECK(nl_uniform_reference_(w, &g, 5, 6) == -1);   /* the tests' plain loops check alike */
    CHECK(strstr(nl_error(), "uniform_reference_:") == nl_error());
    CHECK(nl_normal_reference_(y, &g, 0, 1) == -1);
    CHECK(strstr(nl_error(), "normal_reference_:") == nl_error());
    CHECK(g.offset == 9);                       /* the refused calls drew nothing */
    float *wv = w->data;
    CHECK(wv[0] == 1 && wv[1] == 1 && wv[2] == 1);
    int prev = nl_set_grad_enabled(0);          /* as nn.init does */
    CHECK(nl_uniform_(w, &g, 5, 6) == 0);
    CHECK(g.offset == 12 && wv[0] >= 5 && wv[0] < 6);
    nl_set_grad_enabled(prev);
    nl_release(y);
    nl_release(w);
}

/* nn.load's memory limit is the calling thread's: another thread's
 * allocations went against it (a vm in another thread failed while one
 * loaded), and two loads at once left it set for good */
/* (small: a fill big enough for OpenMP left a worker thread of this
 * thread's team running, which LeakSanitizer in test_dist's forked
 * children then reported) */
static void *alloc_8kb(void *arg) {
    int64_t sz[1] = { 1 << 11 };
    nl_tensor *t = nl_full(1, sz, 0.0, NL_FLOAT32);
    *(int *)arg = t != NULL;
    nl_release(t);
    return NULL;
}

TEST(memory_limit_is_the_calling_threads) {
    CHECK(nl_mem_set_limit(1 << 12) == 0);
    int other = 0;
    pthread_t th;
    CHECK(pthread_create(&th, NULL, alloc_8kb, &other) == 0);
    pthread_join(th, NULL);
    CHECK(other == 1);
    int mine = 1;
    alloc_8kb(&mine);
    CHECK(mine == 0);
    CHECK(strstr(nl_error(), "out of memory") != NULL);
    int64_t left = nl_mem_set_limit(0);
    CHECK(left > 0 && left <= 1 << 12);
    alloc_8kb(&mine);
    CHECK(mine == 1);
}

static void keep_line(void *ctx, const char *line) { (void)ctx; (void)line; }

/* print with a log callback took a __tostring that returns a table as an
 * empty line, where Lua's print raises */
TEST(vm_print_refuses_a_tostring_that_is_not_a_string) {
    nl_vm_options o = { 0, keep_line, NULL };
    nl_vm *vm = nl_vm_open(&o);
    CHECK(vm != NULL);
    CHECK(nl_vm_dostring(vm, "print(setmetatable({}, {__tostring = function() return {} end}))") == -1);
    CHECK(strstr(nl_vm_error(vm), "'tostring' must return a string to 'print'") != NULL);
    CHECK(nl_vm_dostring(vm, "print('fine', 1)") == 0);
    nl_vm_close(vm);
    nl_vm_options bad = { -2, NULL, NULL };      /* a negative count was ignored */
    CHECK(nl_vm_open(&bad) == NULL);
    CHECK(strstr(nl_error(), "vm_open: num_threads must be 0") != NULL);
}

/* calls f(x) in vm after running code; the status, *out its result */
static int call_f(nl_vm *vm, const char *code, const char *fn, nl_tensor **out) {
    CHECK(nl_vm_dostring(vm, code) == 0);
    int64_t sz[1] = { 2 };
    float buf[2] = { 1, 2 };
    nl_tensor *in = nl_tensor_wrap(1, sz, NL_FLOAT32, buf, NULL, NULL);
    int rc = nl_vm_call(vm, fn, 1, &in, 1, out);
    nl_release(in);
    return rc;
}

TEST(vm_call_survives_the_scripts_globals) {
    nl_vm *vm = nl_vm_open(NULL);
    CHECK(vm != NULL);
    if (!vm) return;
    nl_tensor *out = NULL;
    /* strict globals: the misspelt name is an error, not LuaJIT's panic */
    const char *strict = "function classify(x) return x * 2 end\n"
                         "setmetatable(_G, { __index = function(_, k) error('undefined global ' .. k, 2) end })";
    CHECK(call_f(vm, strict, "clasify", &out) == -1);
    CHECK(out == NULL);
    CHECK(strstr(nl_vm_error(vm), "no global function 'clasify'") != NULL);
    /* ... and the right name still works under it */
    CHECK(call_f(vm, "", "classify", &out) == 0);
    CHECK(out && test_get(out, 1) == 4.0);
    nl_release(out);
    out = NULL;
    /* a global of the script's own named nl */
    CHECK(call_f(vm, "function g(x) return x + 1 end\nnl = 'newline'", "g", &out) == 0);
    CHECK(out && test_get(out, 0) == 2.0);
    nl_release(out);
    out = NULL;
    /* an error object with __tostring is reported by its text */
    const char *raise = "function h(x) error(setmetatable({}, { __tostring = function() return 'custom failure' end })) end";
    CHECK(call_f(vm, raise, "h", &out) == -1);
    CHECK(strstr(nl_vm_error(vm), "custom failure") != NULL);
    /* a result that is not a tensor */
    CHECK(call_f(vm, "function k(x) return 42 end", "k", &out) == -1);
    CHECK(strstr(nl_vm_error(vm), "result 1") != NULL);
    nl_vm_close(vm);
}

/* 1 when fn() in vm returns a tensor holding 1 */
static int vm_flag(nl_vm *vm, const char *fn) {
    nl_tensor *out = NULL;
    int v = nl_vm_call(vm, fn, 0, NULL, 1, &out) == 0 && out && test_get(out, 0) == 1.0;
    nl_release(out);
    return v;
}

static const char mode_fns[] =
    "function grad_on() return nl.tensor(nl.is_grad_enabled() and 1 or 0) end\n"
    "function sqrt_grad_ok()\n"
    "  local ok = pcall(function() local x = nl.tensor({0}):requires_grad(); x:sqrt():sum():backward() end)\n"
    "  return nl.tensor(ok and 1 or 0)\n"
    "end\n";

static void *grad_on_elsewhere(void *vm) { return (void *)(intptr_t)vm_flag(vm, "grad_on"); }

/* Grad and anomaly mode are the vm's: C keeps them per thread, and a vm
 * that turned grad off turned it off in every other vm on the thread (a new
 * one too), while the same vm called from another thread had it on again. */
TEST(grad_and_anomaly_mode_belong_to_the_vm) {
    nl_vm *a = nl_vm_open(NULL), *b = nl_vm_open(NULL);
    CHECK(a && b);
    if (!a || !b) return;
    CHECK(nl_vm_dostring(a, mode_fns) == 0 && nl_vm_dostring(b, mode_fns) == 0);
    CHECK(nl_vm_dostring(a, "nl.set_grad_enabled(false); nl.detect_anomaly(true)") == 0);
    CHECK(vm_flag(a, "grad_on") == 0);
    CHECK(vm_flag(b, "grad_on") == 1);
    CHECK(vm_flag(b, "sqrt_grad_ok") == 1);    /* sqrt'(0) = inf: an anomaly only where it is on */
    nl_vm *c = nl_vm_open(NULL);
    CHECK(c && nl_vm_dostring(c, mode_fns) == 0 && vm_flag(c, "grad_on") == 1);
    nl_vm_close(c);
    CHECK(nl_is_grad_enabled() == 1);          /* the host's thread is left as it was */
    pthread_t th;
    void *on = (void *)1;
    pthread_create(&th, NULL, grad_on_elsewhere, a);
    pthread_join(th, &on);
    CHECK(on == (void *)0);                    /* a's mode went with it to the other thread */
    CHECK(nl_vm_dostring(a, "nl.set_grad_enabled(true); nl.detect_anomaly(false)") == 0);
    CHECK(vm_flag(a, "grad_on") == 1 && vm_flag(a, "sqrt_grad_ok") == 1);
    nl_vm_close(a);
    nl_vm_close(b);
}

static int released;
static void count_release(void *ctx, void *data) { (void)ctx; (void)data; released++; }

/* One array for arguments and results was cleared before the arguments
 * were read ("argument 1 is NULL"); an argument check left nl_vm_error as
 * the previous, unrelated message; a host's buffer whose last handle a GC
 * cycle in the vm freed waited for the vm's next op to be released. */
TEST(vm_call_in_out_arrays_errors_and_releases) {
    nl_vm *vm = nl_vm_open(NULL);
    CHECK(vm != NULL);
    if (!vm) return;
    CHECK(nl_vm_dostring(vm, "function double(x) return x * 2 end\nfunction keep(x) return nl.ones(1) end") == 0);
    float buf[3] = { 1, 2, 3 };
    int64_t sz[1] = { 3 };
    nl_tensor *t = nl_tensor_wrap(1, sz, NL_FLOAT32, buf, count_release, NULL);
    nl_tensor *io = t;
    nl_retain(t);
    CHECK(nl_vm_call(vm, "double", 1, &io, 1, &io) == 0);
    CHECK(io && io != t && test_get(io, 2) == 6.0);
    nl_release(io);
    nl_tensor *junk = (nl_tensor *)(uintptr_t)0xdeadbeef;   /* a failure leaves results NULL */
    CHECK(nl_vm_call(vm, "nope", 0, NULL, 1, &junk) == -1);
    CHECK(junk == NULL);
    CHECK(nl_vm_call(vm, "double", -1, &t, 1, &io) == -1);
    CHECK(strstr(nl_vm_error(vm), "-1 arguments") != NULL);
    CHECK(nl_vm_dostring(vm, NULL) == -1);
    CHECK(strstr(nl_vm_error(vm), "vm_dostring: no vm or no code") != NULL);
    /* the vm's handle of t is its last once the host lets go */
    released = 0;
    CHECK(nl_vm_dostring(vm, "held = nil") == 0);
    CHECK(nl_vm_call(vm, "keep", 1, &t, 1, &io) == 0);
    nl_release(io);
    nl_release(t);
    nl_release(t);
    CHECK(released == 0 || released == 1);
    CHECK(nl_vm_dostring(vm, "collectgarbage(); collectgarbage()") == 0);
    CHECK(released == 1);
    nl_vm_close(vm);
}
