/* test_api_misuse.c — the C API's promise that nothing in the library
 * aborts or exits: NULL arrays where sizes, dims, data or tensor lists
 * belong are errors, and a vm whose script has a strict _G, a global of
 * its own named nl, or error objects that are tables still returns -1 or
 * works, with the host going on. */
#include "check.h"

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
