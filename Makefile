# nnlua — build, test, run, bench, install.
# `make` builds lib/libnnlua.so, lib/libnnlua.a and bin/nnlua; every target
# that builds first runs `deps`, which installs missing Debian packages.

PREFIX    ?= /usr/local
BINDIR    ?= $(PREFIX)/bin
LIBDIR    ?= $(PREFIX)/lib
INCDIR    ?= $(PREFIX)/include
LUADIR    ?= $(PREFIX)/share/lua/5.1
CC        ?= cc
MULTIARCH := $(shell $(CC) -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
BLIS_INC  ?= /usr/include/$(MULTIARCH)/blis-openmp
BLIS_LIB  ?= /usr/lib/$(MULTIARCH)/blis-openmp
LUAJIT_INC ?= /usr/include/luajit-2.1

DEBIAN_PACKAGES := gcc make luajit libluajit-5.1-dev libblis-openmp-dev \
                   lua-busted zlib1g-dev libedit-dev dataset-fashion-mnist \
                   pkg-config luarocks

# CFLAGS is the user's (LuaRocks passes its own); the project's flags are added
CFLAGS   ?= -O3 -g
NL_CFLAGS = $(CFLAGS) -std=gnu11 -Wall -Wextra -fPIC -fopenmp -Iinclude -isystem $(BLIS_INC) -isystem $(LUAJIT_INC)
LDLIBS   := -L$(BLIS_LIB) -Wl,-rpath,$(BLIS_LIB) -lblis -fopenmp -lz -lm -lpthread -ldl

LIB_SRC  := $(filter-out src/main.c,$(wildcard src/*.c))
LIB_OBJ  := $(patsubst src/%.c,build/%.o,$(LIB_SRC)) build/lua_modules.o
LUA_SRC  := $(sort $(shell find lua -name '*.lua' ! -name cdef.lua)) lua/nnlua/cdef.lua
TEST_SRC := $(wildcard tests/c/*.c)
HEADERS  := include/nnlua.h $(wildcard src/*.h)

.PHONY: all deps test run bench clean install uninstall install-rock install-lua

all: lib/libnnlua.so lib/libnnlua.a bin/nnlua lua/nnlua/cdef.lua

deps:
	@sh .ci/deps.sh $(DEBIAN_PACKAGES)

build/%.o: src/%.c $(HEADERS) | deps
	@mkdir -p build
	$(CC) $(NL_CFLAGS) -c $< -o $@

# the Lua layer, compiled to bytecode inside the library
build/lua_modules.c: $(LUA_SRC) src/embed_lua.lua | deps
	@mkdir -p build
	luajit src/embed_lua.lua $@ $(LUA_SRC)

build/lua_modules.o: build/lua_modules.c src/embedded.h
	$(CC) $(NL_CFLAGS) -Isrc -c $< -o $@

lib/libnnlua.so: $(LIB_OBJ)
	@mkdir -p lib
	$(CC) -shared -Wl,-z,nodelete -o $@ $(LIB_OBJ) $(LDLIBS)

lib/libnnlua.a: $(LIB_OBJ)
	@mkdir -p lib
	rm -f $@ && ar rcs $@ $(LIB_OBJ)

bin/nnlua: src/main.c lib/libnnlua.a $(HEADERS) | deps
	@mkdir -p bin
	$(CC) $(NL_CFLAGS) src/main.c -o $@ \
	  -Wl,--whole-archive lib/libnnlua.a -Wl,--no-whole-archive \
	  $(LDLIBS) -lluajit-5.1 -ledit -rdynamic

# The FFI declarations come from the public header, nowhere else.
lua/nnlua/cdef.lua: include/nnlua.h
	{ echo '-- generated from include/nnlua.h by make; do not edit'; \
	  echo 'return [=['; \
	  sed -n '/^\/\* NL_CDEF_BEGIN \*\/$$/,/^\/\* NL_CDEF_END \*\/$$/p' $< | sed '1d;$$d'; \
	  echo ']=]'; } > $@.tmp && mv $@.tmp $@

build/test_c: $(TEST_SRC) tests/c/check.h lib/libnnlua.a
	$(CC) $(NL_CFLAGS) -Itests/c $(TEST_SRC) -o $@ lib/libnnlua.a $(LDLIBS)

test: all build/test_c
	@sh tests/run.sh

run: all
	@mkdir -p build
	bin/nnlua examples/$(or $(EXAMPLE),fashion_mnist_mlp).lua $(ARGS)

bench: all
	@sh .ci/deps.sh time
	@sh bench/run.sh

clean:
	rm -rf build lib bin lua/nnlua/cdef.lua

# ---- installing ----
LUA_INSTALL := $(patsubst lua/%,%,$(LUA_SRC))

# the Lua files, so plain luajit finds them too
install-lua: all
	for f in $(LUA_INSTALL); do install -D -m 644 lua/$$f $(DESTDIR)$(LUADIR)/$$f; done

install: all install-lua
	install -D -m 755 bin/nnlua $(DESTDIR)$(BINDIR)/nnlua
	install -D -m 755 lib/libnnlua.so $(DESTDIR)$(LIBDIR)/libnnlua.so
	install -D -m 644 lib/libnnlua.a $(DESTDIR)$(LIBDIR)/libnnlua.a
	install -D -m 644 include/nnlua.h $(DESTDIR)$(INCDIR)/nnlua.h
	mkdir -p $(DESTDIR)$(LIBDIR)/pkgconfig
	printf '%s\n' 'prefix=$(PREFIX)' 'libdir=$(LIBDIR)' 'includedir=$(INCDIR)' '' \
	  'Name: nnlua' 'Description: Lua-scriptable deep learning runtime (C API and LuaJIT layer)' \
	  'Version: 0.1.0' 'Cflags: -I$${includedir}' \
	  'Libs: -L$${libdir} -Wl,-rpath,$${libdir} -lnnlua -lluajit-5.1' \
	  'Libs.private: -L$(BLIS_LIB) -lblis -fopenmp -lz -lm -lpthread -ldl' \
	  > $(DESTDIR)$(LIBDIR)/pkgconfig/nnlua.pc

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/nnlua $(DESTDIR)$(LIBDIR)/libnnlua.so $(DESTDIR)$(LIBDIR)/libnnlua.a \
	  $(DESTDIR)$(INCDIR)/nnlua.h $(DESTDIR)$(LIBDIR)/pkgconfig/nnlua.pc
	for f in $(LUA_INSTALL); do rm -f $(DESTDIR)$(LUADIR)/$$f; done
	rm -rf $(DESTDIR)$(LUADIR)/nnlua

# LuaRocks (rocks/nnlua-scm-1.rockspec): Lua files into its LUADIR, the
# runtime beside its C modules in LIBDIR, where require 'nnlua' finds it
install-rock: all install-lua
	install -D -m 755 lib/libnnlua.so $(DESTDIR)$(LIBDIR)/libnnlua.so
	install -D -m 755 bin/nnlua $(DESTDIR)$(BINDIR)/nnlua
