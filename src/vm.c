/* vm.c — the embedding API: a host without Lua of its own opens a vm (a
 * LuaJIT state with nnlua loaded), runs scripts and calls their functions
 * with tensors; luaopen_nnlua for hosts that run LuaJIT already; and the
 * loader of the Lua modules compiled into the library. No tensor math. */
#define _GNU_SOURCE 1   /* dladdr */
#include "internal.h"
#include "embedded.h"

#include <dlfcn.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct nl_vm {
    lua_State *L;
    nl_vm_options opts;
    char *error;                 /* last error message, owned */
    int from_ref, addr_ref;      /* the setup chunk's converters, in the registry */
    int settle_ref;              /* nl._settle: releases what the last GC cycle freed */
    /* grad mode and anomaly mode are the vm's: C keeps them per thread, so
     * they are swapped in on each entry and out on return (a vm that turned
     * grad off turned it off for every vm on the thread, and a vm called
     * from another thread lost it) */
    int grad_enabled, anomaly;
    int depth;                   /* entries in progress (a log callback may re-enter) */
};

typedef struct { int grad_enabled, anomaly; } vm_modes;

static vm_modes vm_enter(nl_vm *vm) {
    vm_modes thread = { 1, 0 };
    if (vm->depth++ == 0) {
        thread.grad_enabled = nl_set_grad_enabled(vm->grad_enabled);
        thread.anomaly = nl_set_detect_anomaly(vm->anomaly);
    }
    return thread;
}

static void vm_leave(nl_vm *vm, vm_modes thread) {
    if (--vm->depth == 0) {
        vm->grad_enabled = nl_set_grad_enabled(thread.grad_enabled);
        vm->anomaly = nl_set_detect_anomaly(thread.anomaly);
    }
}

/* ---- embedded modules ---- */

static int load_embedded(lua_State *L) {
    const nl_lua_module *m = lua_touserdata(L, lua_upvalueindex(1));
    if (luaL_loadbuffer(L, (const char *)m->code, m->size, m->name) != 0) return lua_error(L);
    lua_pushstring(L, m->name);
    lua_call(L, 1, 1);
    return 1;
}

/* package.preload[name] for every module compiled in, unless already set */
static void install_preload(lua_State *L) {
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "preload");
    for (const nl_lua_module *m = nl_lua_modules; m->name; m++) {
        lua_getfield(L, -1, m->name);
        bool present = !lua_isnil(L, -1);
        lua_pop(L, 1);
        if (present) continue;
        lua_pushlightuserdata(L, (void *)m);
        lua_pushcclosure(L, load_embedded, 1);
        lua_setfield(L, -2, m->name);
    }
    lua_pop(L, 2);
}

/* The file this library was loaded from: a Lua layer loaded with
 * luaopen_nnlua finds the FFI symbols through it. */
static const char *library_path(void) {
    Dl_info info;
    if (dladdr((void *)library_path, &info) && info.dli_fname) return info.dli_fname;
    return NULL;
}

/* Loads the compiled-in 'nnlua' module and leaves it on the stack. Runs
 * its loader directly rather than through require, since luaopen_nnlua is
 * itself called from within require 'nnlua'. */
static int open_nnlua(lua_State *L) {
    install_preload(L);
    const char *lib = library_path();
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "loaded");
    lua_pushstring(L, lib ? lib : "");
    lua_setfield(L, -2, "nnlua._library_path");
    lua_getfield(L, -2, "preload");
    lua_getfield(L, -1, "nnlua");
    lua_replace(L, -4);                  /* package := loader */
    lua_pop(L, 2);
    lua_pushstring(L, "nnlua");
    int rc = lua_pcall(L, 1, 1, 0);
    if (rc == 0) {                       /* what require would record */
        lua_getglobal(L, "package");
        lua_getfield(L, -1, "loaded");
        lua_pushvalue(L, -3);
        lua_setfield(L, -2, "nnlua");
        lua_pop(L, 2);
    }
    return rc;
}

int luaopen_nnlua(lua_State *L);
int luaopen_nnlua(lua_State *L) {
    if (open_nnlua(L) != 0) return lua_error(L);
    return 1;
}

/* for the nnlua executable: the modules, without loading them */
void nl_install_lua_modules(lua_State *L);
void nl_install_lua_modules(lua_State *L) { install_preload(L); }

/* ---- vms ---- */

static void set_vm_error(nl_vm *vm, const char *msg) {
    free(vm->error);
    vm->error = strdup(msg ? msg : "unknown error");
}

/* an argument check failed: the message where nl_vm_error finds it too (it
 * gave the previous, unrelated one) */
#define VM_CHECK_INT(vm, cond, ...)                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            nl_set_error(__VA_ARGS__);                                       \
            if (vm) set_vm_error(vm, nl_error());                            \
            return -1;                                                       \
        }                                                                    \
    } while (0)

/* print() inside a vm goes to the host's log callback */
static int vm_print(lua_State *L) {
    nl_vm *vm = lua_touserdata(L, lua_upvalueindex(1));
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    int n = lua_gettop(L);
    lua_getglobal(L, "tostring");
    for (int i = 1; i <= n; i++) {
        lua_pushvalue(L, -1);
        lua_pushvalue(L, i);
        lua_call(L, 1, 1);
        if (!lua_isstring(L, -1)) return luaL_error(L, "'tostring' must return a string to 'print'");
        if (i > 1) luaL_addchar(&b, '\t');
        luaL_addvalue(&b);
    }
    lua_pop(L, 1);
    luaL_pushresult(&b);
    vm->opts.log(vm->opts.log_ctx, lua_tostring(L, -1));
    return 0;
}

static int traceback(lua_State *L) {
    const char *msg = lua_tostring(L, 1);
    if (!msg && luaL_callmeta(L, 1, "__tostring")) msg = lua_tostring(L, -1);   /* as the runner prints it */
    if (!msg) msg = "(error object is not a string)";
    luaL_traceback(L, L, msg, 1);
    return 1;
}

/* runs the function on top of the stack with nargs under it, in the vm's
 * modes; then releases what a GC cycle during it freed; 0 or -1 */
static int vm_pcall(nl_vm *vm, int nargs, int nresults) {
    lua_State *L = vm->L;
    int base = lua_gettop(L) - nargs;
    lua_pushcfunction(L, traceback);
    lua_insert(L, base);
    vm_modes thread = vm_enter(vm);
    int rc = lua_pcall(L, nargs, nresults, base);
    lua_remove(L, base);
    if (rc != 0) {
        set_vm_error(vm, lua_tostring(L, -1));
        lua_pop(L, 1);
    }
    if (vm->settle_ref) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, vm->settle_ref);
        if (lua_pcall(L, 0, 0, 0) != 0) lua_pop(L, 1);
    }
    vm_leave(vm, thread);
    return rc != 0 ? -1 : 0;
}

/* Sets the globals and returns the two converters, which nl_vm_call keeps
 * in the registry: a script's own globals (a global named nl, a strict
 * _G that raises on unknown names) cannot reach them. */
static const char vm_setup[] =
    "local nl = ...\n"
    "nn, optim, data = nl.nn, nl.optim, nl.data\n"
    "_G.nl = nl\n"
    "local ffi = require 'ffi'\n"
    "local ptr_t = ffi.typeof('nl_tensor *')\n"
    /* tensors cross the boundary as addresses in numbers (exact below 2^53) */
    "local lib, wrap, is_tensor = nl._lib, nl._wrap, nl.is_tensor\n"
    "local function from_address(a)\n"
    "  local p = ffi.cast(ptr_t, a)\n"
    "  lib.nl_retain(p)\n"
    "  return wrap(p)\n"
    "end\n"
    "local function address(t)\n"
    "  if not is_tensor(t) then error('expected a tensor result, got ' .. type(t), 0) end\n"
    "  return tonumber(ffi.cast('uintptr_t', t.ptr))\n"
    "end\n"
    "return from_address, address, nl._settle\n";

nl_vm *nl_vm_open(const nl_vm_options *opts) {
    /* (a negative count was ignored) */
    NL_CHECK(!opts || opts->num_threads >= 0,
             "vm_open: num_threads must be 0 (keep the current setting) or a positive count, got %d", opts->num_threads);
    nl_vm *vm = calloc(1, sizeof *vm);
    NL_CHECK(vm, "vm_open: out of memory");
    if (opts) vm->opts = *opts;
    vm->grad_enabled = 1;

    if (vm->opts.num_threads > 0 && nl_set_num_threads(vm->opts.num_threads) != 0) {
        free(vm);
        return NULL;
    }
    vm->L = luaL_newstate();
    if (!vm->L) {
        free(vm);
        nl_set_error("vm_open: cannot create a Lua state");
        return NULL;
    }
    lua_State *L = vm->L;
    luaL_openlibs(L);
    if (vm->opts.log) {
        lua_pushlightuserdata(L, vm);
        lua_pushcclosure(L, vm_print, 1);
        lua_setglobal(L, "print");
    }
    if (open_nnlua(L) != 0 || luaL_loadbuffer(L, vm_setup, sizeof vm_setup - 1, "=nnlua_vm") != 0) {
        nl_set_error("vm_open: %s", lua_tostring(L, -1));
        lua_close(L);
        free(vm);
        return NULL;
    }
    lua_insert(L, -2);                   /* setup chunk, then the module as its argument */
    vm_modes thread = vm_enter(vm);
    int rc = lua_pcall(L, 1, 3, 0);
    vm_leave(vm, thread);
    if (rc != 0) {
        nl_set_error("vm_open: %s", lua_tostring(L, -1));
        lua_close(L);
        free(vm);
        return NULL;
    }
    vm->settle_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    vm->addr_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    vm->from_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    return vm;
}

int nl_vm_dofile(nl_vm *vm, const char *path) {
    VM_CHECK_INT(vm, vm && path, "vm_dofile: no vm or no path");
    if (luaL_loadfile(vm->L, path) != 0) {
        set_vm_error(vm, lua_tostring(vm->L, -1));
        lua_pop(vm->L, 1);
        return -1;
    }
    return vm_pcall(vm, 0, 0);
}

int nl_vm_dostring(nl_vm *vm, const char *code) {
    VM_CHECK_INT(vm, vm && code, "vm_dostring: no vm or no code");
    if (luaL_loadbuffer(vm->L, code, strlen(code), "=(host)") != 0) {
        set_vm_error(vm, lua_tostring(vm->L, -1));
        lua_pop(vm->L, 1);
        return -1;
    }
    return vm_pcall(vm, 0, 0);
}

/* vm_call's failure: the message set in both places, the stack as it was */
static int call_failed(nl_vm *vm, int top, const char *msg) {
    set_vm_error(vm, msg);
    nl_set_error("%s", msg);
    lua_settop(vm->L, top);
    return -1;
}

/* Every step that can raise a Lua error runs protected: an error in the
 * host's call returns -1 rather than ending the host at LuaJIT's panic. */
int nl_vm_call(nl_vm *vm, const char *fn, int nargs, nl_tensor *const *args, int nresults,
               nl_tensor **results) {
    VM_CHECK_INT(vm, vm && fn, "vm_call: no vm or no function name");
    VM_CHECK_INT(vm, nargs >= 0 && nargs <= 64 && nresults >= 0 && nresults <= 64,
                 "vm_call: %d arguments and %d results; at most 64 each", nargs, nresults);
    VM_CHECK_INT(vm, nargs == 0 || args, "vm_call: no argument array");
    VM_CHECK_INT(vm, nresults == 0 || results, "vm_call: no result array");
    lua_State *L = vm->L;
    int top = lua_gettop(L);
    char msg[400];
    /* results are NULL on a failure; where they overlap the arguments (a
     * host may pass one array as both) they are cleared only once the
     * arguments are read (they were cleared first, and the call refused
     * "argument 1 is NULL") */
    bool aliased = nargs > 0 && nresults > 0 && (const void *)results < (const void *)(args + nargs) &&
                   (const void *)args < (const void *)(results + nresults);
    if (!aliased)
        for (int i = 0; i < nresults; i++) results[i] = NULL;
    if (!lua_checkstack(L, nargs + nresults + 8)) return call_failed(vm, top, "vm_call: Lua stack overflow");
    lua_pushstring(L, fn);
    lua_rawget(L, LUA_GLOBALSINDEX);     /* raw: a strict _G's __index does not run */
    if (!lua_isfunction(L, -1)) {
        snprintf(msg, sizeof msg, "vm_call: no global function '%s'", fn);
        return call_failed(vm, top, msg);
    }
    for (int i = 0; i < nargs; i++) {
        if (!args[i]) {
            snprintf(msg, sizeof msg, "vm_call: argument %d is NULL", i + 1);
            return call_failed(vm, top, msg);
        }
        lua_rawgeti(L, LUA_REGISTRYINDEX, vm->from_ref);
        lua_pushnumber(L, (lua_Number)(uintptr_t)args[i]);
        if (lua_pcall(L, 1, 1, 0) != 0) {
            snprintf(msg, sizeof msg, "vm_call: %s: argument %d: %s", fn, i + 1, lua_tostring(L, -1));
            return call_failed(vm, top, msg);
        }
    }
    if (aliased)
        for (int i = 0; i < nresults; i++) results[i] = NULL;
    if (vm_pcall(vm, nargs, nresults) != 0) {
        lua_settop(L, top);
        nl_set_error("%s", vm->error);
        return -1;
    }
    /* results: tensors, converted to retained pointers */
    int first = top + 1;
    for (int i = 0; i < nresults; i++) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, vm->addr_ref);
        lua_pushvalue(L, first + i);
        if (lua_pcall(L, 1, 1, 0) != 0) {
            snprintf(msg, sizeof msg, "vm_call: %s: result %d: %s", fn, i + 1, lua_tostring(L, -1));
            for (int k = 0; k < i; k++) { nl_release(results[k]); results[k] = NULL; }
            return call_failed(vm, top, msg);
        }
        results[i] = (nl_tensor *)(uintptr_t)lua_tonumber(L, -1);
        nl_retain(results[i]);
        lua_pop(L, 1);
    }
    lua_settop(L, top);
    return 0;
}

const char *nl_vm_error(const nl_vm *vm) {
    return (vm && vm->error) ? vm->error : "";
}

void nl_vm_close(nl_vm *vm) {
    if (!vm) return;
    lua_close(vm->L);
    free(vm->error);
    free(vm);
}

/* ---- host buffers ---- */

static void host_owned(void *ctx, void *data) {
    (void)ctx;
    (void)data;
}

nl_tensor *nl_tensor_wrap(int ndim, const int64_t *sizes, int dtype, void *data,
                          void (*release)(void *ctx, void *data), void *ctx) {
    NL_CHECK(data != NULL, "tensor_wrap: no data");
    NL_CHECK(nl_valid_dtype(dtype), "tensor_wrap: invalid dtype %d", dtype);
    NL_CHECK(ndim >= 0 && ndim <= NL_MAX_DIMS, "tensor_wrap: %d dims; tensors have 0 to %d", ndim, NL_MAX_DIMS);
    NL_CHECK(sizes || ndim == 0, "tensor_wrap: %d dims and no sizes", ndim);
    int64_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        NL_CHECK(sizes[i] >= 0, "tensor_wrap: negative size in %s", nl_sizes_str(ndim, sizes));
        NL_CHECK(sizes[i] == 0 || numel <= (INT64_C(1) << 46) / sizes[i],
                 "tensor_wrap: shape %s is too large", nl_sizes_str(ndim, sizes));
        numel *= sizes[i];
    }
    nl_storage *s = nl_obj_alloc(NL_OBJ_STORAGE);
    nl_tensor *t = nl_obj_alloc(NL_OBJ_TENSOR);
    if (!s || !t) {
        nl_obj_free(NL_OBJ_STORAGE, s);
        nl_obj_free(NL_OBJ_TENSOR, t);
        nl_set_error("tensor_wrap: out of memory");
        return NULL;
    }
    s->ptr = data;
    s->nbytes = s->size = numel * nl_dtype_size(dtype);
    s->refcount = 1;
    s->release = release ? release : host_owned;
    s->ctx = ctx;
    t->storage = s;
    t->ndim = ndim;
    t->dtype = dtype;
    t->numel = numel;
    t->refcount = 1;
    t->data = data;
    if (ndim > 0) memcpy(t->sizes, sizes, sizeof(int64_t) * ndim);
    nl_contiguous_strides(ndim, sizes, t->strides);
    return t;
}
