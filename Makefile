# nnlua — build, test, run, bench, install.
# `make` builds lib/libnnlua.so, lib/libnnlua.a and bin/nnlua; every target
# that builds first runs `deps`, which installs missing Debian packages.

PREFIX    ?= /usr/local
CC        ?= cc
MULTIARCH := $(shell $(CC) -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
BLIS_INC  ?= /usr/include/$(MULTIARCH)/blis-openmp
BLIS_LIB  ?= /usr/lib/$(MULTIARCH)/blis-openmp
LUAJIT_INC ?= /usr/include/luajit-2.1

DEBIAN_PACKAGES := gcc make luajit libluajit-5.1-dev libblis-openmp-dev \
                   lua-busted zlib1g-dev libedit-dev dataset-fashion-mnist

CFLAGS   ?= -O3 -g
CFLAGS   += -std=gnu11 -Wall -Wextra -fPIC -fopenmp -Iinclude -isystem $(BLIS_INC) -isystem $(LUAJIT_INC)
LDLIBS   := -L$(BLIS_LIB) -Wl,-rpath,$(BLIS_LIB) -lblis -fopenmp -lz -lm -lpthread -ldl

LIB_SRC  := $(filter-out src/main.c,$(wildcard src/*.c))
LIB_OBJ  := $(patsubst src/%.c,build/%.o,$(LIB_SRC)) build/lua_modules.o
LUA_SRC  := $(sort $(shell find lua -name '*.lua' ! -name cdef.lua)) lua/nnlua/cdef.lua
TEST_SRC := $(wildcard tests/c/*.c)
HEADERS  := include/nnlua.h $(wildcard src/*.h)

.PHONY: all deps test test-c test-lua run bench clean install uninstall

all: lib/libnnlua.so lib/libnnlua.a bin/nnlua lua/nnlua/cdef.lua

deps:
	@sh .ci/deps.sh $(DEBIAN_PACKAGES)

build/%.o: src/%.c $(HEADERS) | deps
	@mkdir -p build
	$(CC) $(CFLAGS) -c $< -o $@

# the Lua layer, compiled to bytecode inside the library
build/lua_modules.c: $(LUA_SRC) src/embed_lua.lua | deps
	@mkdir -p build
	luajit src/embed_lua.lua $@ $(LUA_SRC)

build/lua_modules.o: build/lua_modules.c src/embedded.h
	$(CC) $(CFLAGS) -Isrc -c $< -o $@

lib/libnnlua.so: $(LIB_OBJ)
	@mkdir -p lib
	$(CC) -shared -Wl,-z,nodelete -o $@ $(LIB_OBJ) $(LDLIBS)

lib/libnnlua.a: $(LIB_OBJ)
	@mkdir -p lib
	rm -f $@ && ar rcs $@ $(LIB_OBJ)

bin/nnlua: src/main.c lib/libnnlua.a $(HEADERS) | deps
	@mkdir -p bin
	$(CC) $(CFLAGS) src/main.c -o $@ \
	  -Wl,--whole-archive lib/libnnlua.a -Wl,--no-whole-archive \
	  $(LDLIBS) -lluajit-5.1 -ledit -rdynamic

# The FFI declarations come from the public header, nowhere else.
lua/nnlua/cdef.lua: include/nnlua.h
	{ echo '-- generated from include/nnlua.h by make; do not edit'; \
	  echo 'return [=['; \
	  sed -n '/^\/\* NL_CDEF_BEGIN \*\/$$/,/^\/\* NL_CDEF_END \*\/$$/p' $< | sed '1d;$$d'; \
	  echo ']=]'; } > $@.tmp && mv $@.tmp $@

build/test_c: $(TEST_SRC) tests/c/check.h lib/libnnlua.a
	$(CC) $(CFLAGS) -Itests/c $(TEST_SRC) -o $@ lib/libnnlua.a $(LDLIBS)

test: all build/test_c
	@sh tests/run.sh

run: all
	@mkdir -p build
	bin/nnlua examples/$(or $(EXAMPLE),fashion_mnist_mlp).lua $(ARGS)

bench: all
	@sh bench/run.sh

clean:
	rm -rf build lib bin lua/nnlua/cdef.lua
