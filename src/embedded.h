/* embedded.h — nnlua's Lua modules compiled into the library as LuaJIT
 * bytecode (build/lua_modules.c, made by src/embed_lua.lua). */
#ifndef NL_EMBEDDED_H
#define NL_EMBEDDED_H

#include <stddef.h>

typedef struct {
    const char *name;            /* module name: "nnlua", "nnlua.tensor", ... */
    const unsigned char *code;   /* bytecode */
    size_t size;
} nl_lua_module;

extern const nl_lua_module nl_lua_modules[];   /* ends with a NULL name */

#endif
