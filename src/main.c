/* main.c — the `nnlua` executable: runs scripts, -e chunks and an interactive
 * REPL on an embedded LuaJIT, with the runtime linked in and its nl_* symbols
 * exported for the FFI. It holds no tensor code; `require 'nnlua'` does that.
 */

#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <editline/readline.h>

#include "lauxlib.h"
#include "lua.h"
#include "luajit.h"
#include "lualib.h"

#include "nnlua.h"

#define PROGNAME "nnlua"
#define PROMPT "> "
#define PROMPT_MORE ">> "
#define HISTORY_NAME ".nnlua_history"
#define HISTORY_MAX 1000

/* What the command line asks for; filled by parse_args. */
typedef struct cli {
    int argc;
    char **argv;
    int script;        /* index of the script in argv; 0 when none */
    int interactive;   /* -i: the REPL after everything else */
    int version;       /* -v / --version */
    int help;          /* -h / --help */
    int has_chunks;    /* some -e or -l was given */
    int status;        /* the process exit status, set by run_main */
} cli;

/* One REPL session: where lines come from and where history goes. */
typedef struct repl {
    int tty;                   /* stdin is a terminal: libedit, prompts */
    char history[PATH_MAX];    /* history file, "" when there is none */
} repl;

/* ---- interrupts ----------------------------------------------------------
 * SIGINT while Lua code runs arms a hook that raises an error at the next
 * call, return or instruction count. This is the only mutable global: a
 * signal handler has no other way to reach the state. (JIT-compiled loops
 * do not run hooks; LuaJIT's own interpreter has the same limit.) */

static lua_State *volatile interrupt_target;

static void interrupt_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    lua_sethook(L, NULL, 0, 0);
    luaL_error(L, "interrupted!");
}

static void on_sigint(int sig)
{
    signal(sig, SIG_DFL);   /* a second Ctrl-C ends the process */
    lua_sethook(interrupt_target, interrupt_hook,
                LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
}

/* ---- running chunks ------------------------------------------------------ */

/* Message handler: the error as a string, followed by a stack traceback. */
static int traceback_handler(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    if (msg == NULL) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
            msg = lua_tostring(L, -1);
        else
            msg = lua_pushfstring(L, "(error object is a %s value)",
                                  luaL_typename(L, 1));
    }
    luaL_traceback(L, L, msg, 1);
    return 1;
}

/* Calls the function lying under its nargs arguments on top of the stack,
 * with the traceback handler and Ctrl-C armed. Leaves nresults values, or
 * the error message, and returns the lua_pcall status. */
static int run_chunk(lua_State *L, int nargs, int nresults)
{
    int base = lua_gettop(L) - nargs;   /* the function's slot */
    lua_pushcfunction(L, traceback_handler);
    lua_insert(L, base);
    interrupt_target = L;
    signal(SIGINT, on_sigint);
    int status = lua_pcall(L, nargs, nresults, base);
    signal(SIGINT, SIG_DFL);
    if (lua_gethook(L) == interrupt_hook)   /* Ctrl-C came too late to fire */
        lua_sethook(L, NULL, 0, 0);
    lua_remove(L, base);
    return status;
}

/* Prints the error message on top of the stack to stderr, after `prefix: `
 * when prefix is given, and pops it. Returns status. */
static int report(lua_State *L, int status, const char *prefix)
{
    if (status != 0 && !lua_isnil(L, -1)) {
        const char *msg = lua_tostring(L, -1);
        if (msg == NULL)
            msg = "(error object is not a string)";
        fflush(stdout);   /* keep stdout and stderr in order on one stream */
        if (prefix != NULL)
            fprintf(stderr, "%s: ", prefix);
        fprintf(stderr, "%s\n", msg);
        fflush(stderr);
        lua_pop(L, 1);
    }
    return status;
}

/* Runs `code` as a chunk named `name`; errors are reported. */
static int run_string(lua_State *L, const char *code, const char *name)
{
    int status = luaL_loadbuffer(L, code, strlen(code), name);
    if (status == 0)
        status = run_chunk(L, 0, 0);
    return report(L, status, PROGNAME);
}

/* -l name: name = require(name). */
static int require_global(lua_State *L, const char *name)
{
    lua_getglobal(L, "require");
    lua_pushstring(L, name);
    int status = run_chunk(L, 1, 1);
    if (status == 0)
        lua_setglobal(L, name);
    return report(L, status, PROGNAME);
}

/* ---- setup --------------------------------------------------------------- */

/* Pushes the install prefix: the parent of the directory that holds this
 * executable (bin/nnlua -> .), or nil when /proc/self/exe is unreadable. */
static void push_prefix(lua_State *L)
{
    char path[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
    if (n <= 0) {
        lua_pushnil(L);
        return;
    }
    path[n] = '\0';
    for (int up = 0; up < 2; up++) {
        char *slash = strrchr(path, '/');
        if (slash == NULL) {
            lua_pushnil(L);
            return;
        }
        *slash = '\0';
    }
    lua_pushstring(L, path);
}

/* Puts the prefix's Lua directories on package.path (for the user's own
 * modules; nnlua itself is compiled in), loads nnlua and sets the globals
 * that scripts and the REPL see. Runs with the prefix (or nil) as its
 * argument. */
static const char setup_lua[] =
    "local prefix = ...\n"
    "if prefix then\n"
    "  package.path = prefix .. '/lua/?.lua;' .. prefix .. '/lua/?/init.lua;'\n"
    "    .. prefix .. '/share/lua/5.1/?.lua;' .. prefix .. '/share/lua/5.1/?/init.lua;'\n"
    "    .. package.path\n"
    "end\n"
    "local nl = require 'nnlua'\n"
    "_G.nl = nl\n"
    "_G.nn = nl.nn or {}\n"
    "_G.optim = nl.optim or {}\n"
    "_G.data = nl.data or {}\n";

/* vm.c: the Lua layer compiled into the library, as package.preload */
void nl_install_lua_modules(lua_State *L);

static int setup(lua_State *L)
{
    nl_install_lua_modules(L);
    int status = luaL_loadbuffer(L, setup_lua, sizeof setup_lua - 1, "=nnlua setup");
    if (status == 0) {
        push_prefix(L);
        status = run_chunk(L, 1, 0);
    }
    return report(L, status, PROGNAME);
}

/* The global `arg`: arg[0] is the script, arg[1..] its arguments, and the
 * program name and options at negative indices (as lua does). With no
 * script, as luajit's: every word below 0, arg[0] nil (the options at 1..
 * were read as arguments by a script run with dofile from `nnlua -e` or
 * `nnlua -i`). */
static void set_arg_table(lua_State *L, const cli *c)
{
    int zero = c->script ? c->script : c->argc;
    lua_createtable(L, c->argc - zero, zero + 1);
    for (int i = 0; i < c->argc; i++) {
        lua_pushstring(L, c->argv[i]);
        lua_rawseti(L, -2, i - zero);
    }
    lua_setglobal(L, "arg");
}

/* Loads and runs the script with its arguments as `...`. */
static int run_script(lua_State *L, const cli *c)
{
    const char *name = c->argv[c->script];
    if (strcmp(name, "-") == 0 && strcmp(c->argv[c->script - 1], "--") != 0)
        name = NULL;   /* stdin */
    int status = luaL_loadfile(L, name);
    if (status == 0) {
        int nargs = c->argc - c->script - 1;
        luaL_checkstack(L, nargs + 3, "too many arguments to script");
        for (int i = c->script + 1; i < c->argc; i++)
            lua_pushstring(L, c->argv[i]);
        status = run_chunk(L, nargs, 0);
    }
    return report(L, status, PROGNAME);
}

/* ---- REPL ---------------------------------------------------------------- */

static void repl_open(repl *r)
{
    r->tty = isatty(STDIN_FILENO);
    r->history[0] = '\0';
    if (!r->tty)
        return;
    rl_readline_name = PROGNAME;
    using_history();
    stifle_history(HISTORY_MAX);
    const char *home = getenv("HOME");
    if (home != NULL && *home != '\0') {
        int n = snprintf(r->history, sizeof r->history, "%s/%s", home, HISTORY_NAME);
        if (n < 0 || (size_t)n >= sizeof r->history)
            r->history[0] = '\0';
        else
            read_history(r->history);   /* best effort */
    }
}

/* Reads one line, without its newline, into a malloc'd string; NULL at EOF.
 * A terminal gets libedit with the prompt; a pipe is read as it is. */
static char *read_line(const repl *r, const char *prompt)
{
    if (r->tty)
        return readline(prompt);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n = getline(&line, &cap, stdin);
    if (n < 0) {
        free(line);
        return NULL;
    }
    if (n > 0 && line[n - 1] == '\n')
        line[--n] = '\0';
    if (n > 0 && line[n - 1] == '\r')
        line[--n] = '\0';
    return line;
}

static void remember(const repl *r, const char *chunk)
{
    if (!r->tty || chunk[0] == '\0')
        return;
    add_history(chunk);
    if (r->history[0] != '\0')
        write_history(r->history);   /* best effort; survives os.exit */
}

/* A syntax error whose message ends at '<eof>' means the chunk goes on. */
static int incomplete(lua_State *L, int status)
{
    if (status != LUA_ERRSYNTAX)
        return 0;
    size_t len;
    const char *msg = lua_tolstring(L, -1, &len);
    static const char eof_mark[] = "'<eof>'";
    size_t mark = sizeof eof_mark - 1;
    return msg != NULL && len >= mark && strcmp(msg + len - mark, eof_mark) == 0;
}

/* Compiles the source on top of the stack as `return <source>`, so that an
 * expression's values come back to print. They pass through an identity
 * function: a call in the source is then no tail call and keeps its frame,
 * so errors name their line. Pushes the function and returns 0, or pushes
 * nothing and returns the (syntax) error status. */
static int load_expression(lua_State *L)
{
    /* The closing parenthesis on the source's own last line, where LuaJIT
     * places the code of a trailing index (`foo.bar` failed naming line 2
     * of a one-line chunk); on a line of its own when that fails to
     * compile, as after a trailing comment. */
    static const char *const wraps[2] = { "return (function(...) return ... end)(%s)",
                                          "return (function(...) return ... end)(%s\n)" };
    int status = 0;
    for (int w = 0; w < 2; w++) {
        lua_pushfstring(L, wraps[w], lua_tostring(L, -1));
        size_t len;
        const char *src = lua_tolstring(L, -1, &len);
        status = luaL_loadbuffer(L, src, len, "=stdin");
        lua_remove(L, status == 0 ? -2 : -1);   /* the wrapped source */
        if (status == 0)
            return 0;
        lua_pop(L, 1);   /* the error */
    }
    return status;
}

/* Whether the source on top of the stack is an expression cut short:
 * `1 +`, `nl.ones(2) +`, `"ab" ..` are no statement at all, so the
 * statement form's error is not the one of a source that goes on. */
static int incomplete_expression(lua_State *L)
{
    lua_pushfstring(L, "return %s", lua_tostring(L, -1));
    size_t len;
    const char *src = lua_tolstring(L, -1, &len);
    int more = incomplete(L, luaL_loadbuffer(L, src, len, "=stdin"));
    lua_pop(L, 2);   /* the function or error, and the wrapped source */
    return more;
}

/* Reads one chunk, over as many lines as it needs, and compiles it, as an
 * expression when it is one (a leading `=`, as in lua 5.1, is allowed).
 * Pushes the function (status 0) or an error message, and returns the
 * status, or -1 at end of input. */
static int read_chunk(lua_State *L, const repl *r)
{
    char *line = read_line(r, PROMPT);
    if (line == NULL)
        return -1;
    int equals = line[0] == '=';
    lua_pushstring(L, line + equals);
    free(line);
    int status;
    for (;;) {   /* the source so far is on top */
        status = load_expression(L);
        if (status == 0)
            break;
        size_t len;
        const char *src = lua_tolstring(L, -1, &len);
        status = luaL_loadbuffer(L, src, len, "=stdin");
        if (!incomplete(L, status)) {
            lua_pushvalue(L, -2);   /* the source */
            int more = incomplete_expression(L);
            lua_pop(L, 1);
            if (!more)
                break;
        }
        char *more = read_line(r, PROMPT_MORE);
        if (more == NULL)
            break;   /* end of input: report the syntax error */
        lua_pop(L, 1);   /* the error */
        lua_pushstring(L, "\n");
        lua_pushstring(L, more);
        free(more);
        lua_concat(L, 3);
    }
    remember(r, lua_pushfstring(L, "%s%s", equals ? "=" : "", lua_tostring(L, -2)));
    lua_pop(L, 1);
    lua_remove(L, -2);   /* the source */
    return status;
}

/* Prints the values above `base` with the global print, tab separated. */
static void print_results(lua_State *L, int base)
{
    int n = lua_gettop(L) - base;
    if (n <= 0)
        return;
    luaL_checkstack(L, LUA_MINSTACK, "too many results to print");
    lua_getglobal(L, "print");
    lua_insert(L, base + 1);
    if (lua_pcall(L, n, 0, 0) != 0) {
        lua_pushfstring(L, "error calling 'print' (%s)", lua_tostring(L, -1));
        lua_remove(L, -2);
        report(L, LUA_ERRRUN, NULL);
    }
}

static void version_line(FILE *out)
{
    fprintf(out, "%s %s (%s, BLIS %s)\n", PROGNAME, nl_version(),
            LUAJIT_VERSION, nl_blas_arch());
}

/* The read-eval-print loop; returns at end of input. */
static void run_repl(lua_State *L)
{
    repl r;
    repl_open(&r);
    if (r.tty) {
        version_line(stdout);
        fflush(stdout);
    }
    int base = lua_gettop(L);
    int status;
    while ((status = read_chunk(L, &r)) != -1) {
        if (status == 0)
            status = run_chunk(L, 0, LUA_MULTRET);
        if (status == 0)
            print_results(L, base);
        else
            report(L, status, NULL);
        lua_settop(L, base);
        fflush(stdout);
    }
    if (r.tty)
        fputs("\n", stdout);
    fflush(stdout);
}

/* ---- command line -------------------------------------------------------- */

static void usage(FILE *out)
{
    fprintf(out,
        "usage: %s [options] [script [args]]\n"
        "Options:\n"
        "  -e chunk       run the string chunk\n"
        "  -l name        require library name into global name\n"
        "  -i             enter the REPL after running script and chunks\n"
        "  -v, --version  show version information\n"
        "  -h, --help     show this help\n"
        "  --             stop handling options\n"
        "  -              run stdin as the script and stop handling options\n"
        "With no script and no -e, the REPL starts (reading lines from stdin\n"
        "when it is not a terminal). Globals: nl = require 'nnlua', nn, optim, data.\n",
        PROGNAME);
}

/* Fills c from argv; on a bad option, says why on stderr and returns -1. */
static int parse_args(cli *c, int argc, char **argv)
{
    memset(c, 0, sizeof *c);
    c->argc = argc;
    c->argv = argv;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-' || strcmp(a, "-") == 0) {
            c->script = i;
            return 0;
        }
        if (strcmp(a, "--") == 0) {
            if (i + 1 < argc)
                c->script = i + 1;
            return 0;
        }
        if (strcmp(a, "-i") == 0) {
            c->interactive = 1;
        } else if (strcmp(a, "-v") == 0 || strcmp(a, "--version") == 0) {
            c->version = 1;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            c->help = 1;
        } else if (a[1] == 'e' || a[1] == 'l') {
            if (a[2] == '\0') {   /* the value is the next argument */
                if (i + 1 >= argc) {
                    fprintf(stderr, "%s: '%s' needs an argument\n", PROGNAME, a);
                    return -1;
                }
                i++;
            }
            c->has_chunks = 1;
        } else {
            fprintf(stderr, "%s: unrecognized option '%s'\n", PROGNAME, a);
            return -1;
        }
    }
    return 0;
}

/* Runs the -e and -l options in command-line order; stops at the first error. */
static int run_chunks(lua_State *L, const cli *c)
{
    int end = c->script ? c->script : c->argc;
    for (int i = 1; i < end; i++) {
        const char *a = c->argv[i];
        if (a[0] != '-' || (a[1] != 'e' && a[1] != 'l'))
            continue;
        const char *value = a[2] != '\0' ? a + 2 : c->argv[++i];
        int status = a[1] == 'e' ? run_string(L, value, "=(command line)")
                                 : require_global(L, value);
        if (status != 0)
            return status;
    }
    return 0;
}

/* Everything that touches Lua, run under lua_cpcall so that even a memory
 * error in setup is caught. */
static int run_main(lua_State *L)
{
    cli *c = (cli *)lua_touserdata(L, 1);
    lua_settop(L, 0);
    c->status = EXIT_FAILURE;

    lua_gc(L, LUA_GCSTOP, 0);
    luaL_openlibs(L);
    lua_gc(L, LUA_GCRESTART, -1);
    set_arg_table(L, c);

    if (setup(L) != 0 || run_chunks(L, c) != 0)
        return 0;
    if (c->script && run_script(L, c) != 0)
        return 0;
    if (c->interactive || (!c->script && !c->has_chunks && !c->version))
        run_repl(L);
    c->status = EXIT_SUCCESS;
    return 0;
}

int main(int argc, char **argv)
{
    cli c;
    if (parse_args(&c, argc, argv) != 0) {
        usage(stderr);
        return EXIT_FAILURE;
    }
    if (c.help) {
        usage(stdout);
        return EXIT_SUCCESS;
    }
    if (c.version) {
        version_line(stdout);
        fflush(stdout);
        if (!c.script && !c.has_chunks && !c.interactive)
            return EXIT_SUCCESS;
    }

    lua_State *L = luaL_newstate();
    if (L == NULL) {
        fprintf(stderr, "%s: cannot create Lua state: not enough memory\n", PROGNAME);
        return EXIT_FAILURE;
    }
    int status = lua_cpcall(L, run_main, &c);
    report(L, status, PROGNAME);
    lua_close(L);
    return status == 0 ? c.status : EXIT_FAILURE;
}
