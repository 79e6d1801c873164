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
                   pkg-config luarocks openmpi-bin libopenmpi-dev

# CFLAGS is the user's (LuaRocks passes its own); the project's flags are added
CFLAGS   ?= -O3 -g
# TLS descriptors: thread-locals on every op's path (the autograd mode, the
# object free lists) cost a load, not a __tls_get_addr call, in libnnlua.so
TLS_FLAGS := $(shell $(CC) -mtls-dialect=gnu2 -E -x c /dev/null >/dev/null 2>&1 && echo -mtls-dialect=gnu2)
# Floating-point operations never trap here (no code enables FP exceptions):
# saying so lets GCC if-convert the selects of loops such as the RNN cell
# kernels' (run ? value : 0) into vector blends without AVX-512's masked
# instructions; results are unchanged, as no operation is reordered
FP_FLAGS := -fno-trapping-math
NL_CFLAGS = $(CFLAGS) $(TLS_FLAGS) $(FP_FLAGS) -std=gnu11 -Wall -Wextra -fPIC -fopenmp -Iinclude -isystem $(BLIS_INC) -isystem $(LUAJIT_INC)
LDLIBS   := -L$(BLIS_LIB) -Wl,-rpath,$(BLIS_LIB) -lblis -fopenmp -lz -lm -lpthread -ldl

LIB_SRC  := $(filter-out src/main.c,$(wildcard src/*.c))
LIB_OBJ  := $(patsubst src/%.c,build/%.o,$(LIB_SRC)) build/lua_modules.o
LUA_SRC  := $(sort $(shell find lua -name '*.lua' ! -name cdef.lua)) lua/nnlua/cdef.lua
TEST_SRC := $(wildcard tests/c/*.c)
HEADERS  := include/nnlua.h $(wildcard src/*.h)

.PHONY: all deps test run bench clean install uninstall install-rock install-lua check-clang

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
	$(CC) $(NL_CFLAGS) -Itests/c $(TEST_SRC) -o $@ lib/libnnlua.a $(LDLIBS) -lluajit-5.1 -rdynamic

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

# ---- sanitizers ----
# `make test-asan`: the library, bin/nnlua and the C tests built with
# AddressSanitizer and UndefinedBehaviorSanitizer into build/asan, lib/asan
# and bin/asan (the normal build is left as it is), then the C tests and the
# busted suite against them. LuaJIT itself is not instrumented: libasan is
# preloaded and NNLUA_LIB points the FFI (and every child luajit) at the
# sanitized libnnlua.so; cli_spec runs bin/asan/nnlua through NNLUA_BIN.
# Leak checking is on for the C tests only (LuaJIT frees at its own pace).
# Any sanitizer report stops the process that made it and fails the run.
# ASAN_OPTS: huge requests (the misuse suite's) fail instead of aborting;
# a small quarantine keeps the specs that measure RSS meaningful.
.PHONY: test-asan fuzz fuzz-deps memcheck

ASAN_FLAGS  := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined
ASAN_CFLAGS  = $(ASAN_FLAGS) -std=gnu11 -Wall -Wextra -fPIC -fopenmp -Iinclude -isystem $(BLIS_INC) -isystem $(LUAJIT_INC)
ASAN_OBJ    := $(patsubst src/%.c,build/asan/%.o,$(LIB_SRC)) build/asan/lua_modules.o
ASAN_OPTS   := allocator_may_return_null=1:max_allocation_size_mb=4096:quarantine_size_mb=8:abort_on_error=1
ASAN_ENV     = UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

build/asan/%.o: src/%.c $(HEADERS) | deps
	@mkdir -p build/asan
	$(CC) $(ASAN_CFLAGS) -c $< -o $@

build/asan/lua_modules.o: build/lua_modules.c src/embedded.h
	@mkdir -p build/asan
	$(CC) $(ASAN_CFLAGS) -Isrc -c $< -o $@

lib/asan/libnnlua.so: $(ASAN_OBJ)
	@mkdir -p lib/asan
	$(CC) -shared $(ASAN_FLAGS) -Wl,-z,nodelete -o $@ $(ASAN_OBJ) $(LDLIBS)

lib/asan/libnnlua.a: $(ASAN_OBJ)
	@mkdir -p lib/asan
	rm -f $@ && ar rcs $@ $(ASAN_OBJ)

bin/asan/nnlua: src/main.c lib/asan/libnnlua.a $(HEADERS) | deps
	@mkdir -p bin/asan
	$(CC) $(ASAN_CFLAGS) src/main.c -o $@ \
	  -Wl,--whole-archive lib/asan/libnnlua.a -Wl,--no-whole-archive \
	  $(LDLIBS) -lluajit-5.1 -ledit -rdynamic

build/asan/test_c: $(TEST_SRC) tests/c/check.h lib/asan/libnnlua.a
	$(CC) $(ASAN_CFLAGS) -Itests/c $(TEST_SRC) -o $@ lib/asan/libnnlua.a $(LDLIBS) -lluajit-5.1 -rdynamic

test-asan: all lib/asan/libnnlua.so bin/asan/nnlua build/asan/test_c
	@echo "== C unit tests (ASan, UBSan, leaks)"
	@$(ASAN_ENV) ASAN_OPTIONS=$(ASAN_OPTS):detect_leaks=1 build/asan/test_c > build/asan/test_c.log 2>&1; \
	  rc=$$?; cat build/asan/test_c.log; \
	  [ $$rc -eq 0 ] || { echo "test-asan: the C tests failed (exit status $$rc)"; exit 1; }
	@echo "== busted specs (sanitized libnnlua.so in LuaJIT)"
	@$(ASAN_ENV) ASAN_OPTIONS=$(ASAN_OPTS):detect_leaks=0 LD_PRELOAD=$$($(CC) -print-file-name=libasan.so) \
	  NNLUA_LIB=$(CURDIR)/lib/asan/libnnlua.so NNLUA_BIN=$(CURDIR)/bin/asan/nnlua NNLUA_MISUSE_TIMEOUT=1200 \
	  luajit /usr/bin/busted -o plainTerminal $${SPEC:-tests/spec} 2>&1 | tee build/asan/busted.log
	@grep -qE '^[0-9]+ successes? / 0 failures? / 0 errors? /' build/asan/busted.log \
	  && ! grep -qE 'ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:' build/asan/busted.log \
	  || { echo "test-asan: the busted suite failed or a sanitizer reported (build/asan/busted.log)"; exit 1; }
	@echo "test-asan: clean"

# `make memcheck`: the C tests under valgrind's memcheck. Valgrind has no
# AVX-512, so BLIS runs its AVX2 kernels there, whose small-matrix (sup)
# kernel reads 4 bytes outside its operands under memcheck with BLIS alone
# (Debian's libblis 0.9.0, no nnlua code involved): those reads, and only
# reads of 4 bytes made by libblis itself, are suppressed.
memcheck: build/test_c
	@sh .ci/deps.sh valgrind
	@printf '{\n  blis-sup-kernel-read\n  Memcheck:Addr4\n  obj:*/libblis.so*\n}\n' > build/blis.supp
	valgrind --error-exitcode=1 --suppressions=build/blis.supp --leak-check=full \
	  --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect build/test_c

# ---- fuzzing ----
# `make fuzz`: a libFuzzer harness per loader of untrusted files
# (tests/fuzz/), against all of src/ compiled with clang and the
# sanitizers into build/fuzz/; each runs FUZZ_SECONDS (tests/fuzz/run.sh).
FUZZ_SECONDS ?= 60
FUZZ_CC      ?= clang
FUZZ_FLAGS   := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS   = $(FUZZ_FLAGS) -Wno-pass-failed -std=gnu11 -fopenmp -Iinclude -isystem $(BLIS_INC) -isystem $(LUAJIT_INC)
FUZZ_OBJ     := $(patsubst src/%.c,build/fuzz/%.o,$(LIB_SRC)) build/fuzz/lua_modules.o
FUZZ_BINS    := build/fuzz/fuzz_safetensors build/fuzz/fuzz_idx build/fuzz/fuzz_csv

# clang, its sanitizer and libFuzzer runtimes, and its OpenMP runtime
fuzz-deps:
	@sh .ci/deps.sh clang libclang-rt-14-dev libomp-14-dev

build/fuzz/%.o: src/%.c $(HEADERS) | deps fuzz-deps
	@mkdir -p build/fuzz
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

build/fuzz/lua_modules.o: build/lua_modules.c src/embedded.h | fuzz-deps
	@mkdir -p build/fuzz
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Isrc -c $< -o $@

build/fuzz/libnnlua.a: $(FUZZ_OBJ)
	rm -f $@ && ar rcs $@ $(FUZZ_OBJ)

build/fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz_common.h build/fuzz/libnnlua.a
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $< -o $@ build/fuzz/libnnlua.a $(LDLIBS) -lluajit-5.1

fuzz: $(FUZZ_BINS)
	@FUZZ_SECONDS=$(FUZZ_SECONDS) sh tests/fuzz/run.sh

# `make check-clang`: every C file compiled by clang too (CC=clang, as a
# LuaRocks build may choose), warnings as errors but GCC's own pragmas and
# attributes. GCC accepts code that clang refuses: AVX-512 intrinsics in an
# OpenMP loop's body, which clang makes a function without the enclosing
# function's target.
CLANG_CHECK_FLAGS = -O0 -std=gnu11 -Wall -Wextra -Werror -Wno-unknown-pragmas -Wno-unknown-attributes \
                    -fopenmp -Iinclude -Isrc -isystem $(BLIS_INC) -isystem $(LUAJIT_INC)
check-clang: build/lua_modules.c | deps
	@sh .ci/deps.sh clang libomp-14-dev
	@for f in $(LIB_SRC) src/main.c build/lua_modules.c $(TEST_SRC); do \
	  $(FUZZ_CC) $(CLANG_CHECK_FLAGS) -Itests/c -c $$f -o /dev/null || { echo "check-clang: $$f"; exit 1; }; \
	done
	@echo "check-clang: clean"

