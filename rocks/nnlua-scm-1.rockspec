-- LuaRocks package of nnlua:  luarocks make rocks/nnlua-scm-1.rockspec
-- builds with the project's Makefile (BLIS, OpenMP and LuaJIT from Debian:
-- `make deps` names or installs them) and installs the Lua layer, the
-- runtime library and the nnlua executable into the rocks tree.
rockspec_format = "3.0"
package = "nnlua"
version = "scm-1"
source = {
   url = "git+https://example.invalid/nnlua.git",
}
description = {
   summary = "A Lua-scriptable deep learning runtime for LuaJIT",
   detailed = [[
Tensors, autograd, layers, losses, optimizers, data loading and
Keras-style training, with all math in a C runtime (BLIS, OpenMP).]],
   license = "MIT",
}
supported_platforms = { "linux" }
dependencies = {
   "lua == 5.1",
}
build = {
   type = "make",
   build_target = "all",
   build_variables = {
      CFLAGS = "$(CFLAGS) -O3 -g",
   },
   install_target = "install-rock",
   install_variables = {
      PREFIX = "$(PREFIX)",
      BINDIR = "$(BINDIR)",
      LIBDIR = "$(LIBDIR)",
      LUADIR = "$(LUADIR)",
   },
}
