-- nnlua: require 'nnlua' returns the `nl` table.
-- This file declares the C API to the FFI (from the public header, through
-- the generated nnlua.cdef), loads the runtime and assembles the modules.
local ffi = require 'ffi'

-- One instance per Lua state: the FFI declarations and the tensor handle's
-- metatable can be set only once in a state, so requiring nnlua again
-- after package.loaded was cleared (a host reloading its scripts, a test
-- runner isolating its files) returns the instance made first.
local registry = debug.getregistry()
if registry.nnlua_instance then return registry.nnlua_instance end

ffi.cdef(require 'nnlua.cdef')

-- The runtime: already in the process when the `nnlua` executable (or an
-- embedding host) links it, else libnnlua.so from NNLUA_LIB, beside this
-- source tree, or the system's library path.
local function load_runtime()
  if pcall(function() return ffi.C.nl_version end) then return ffi.C end
  local candidates = {}
  local env = os.getenv('NNLUA_LIB')
  if env and env ~= '' then candidates[#candidates + 1] = env end
  -- loaded as a C module (luaopen_nnlua): the library that did it
  local own = package.loaded['nnlua._library_path']
  if type(own) == 'string' and own ~= '' then candidates[#candidates + 1] = own end
  -- installed by LuaRocks: the library beside the C modules
  local rock = package.searchpath and package.searchpath('libnnlua', package.cpath)
  if rock then candidates[#candidates + 1] = rock end
  local here = debug.getinfo(1, 'S').source:match('^@(.*)/[^/]*$') or '.'
  candidates[#candidates + 1] = here .. '/../../lib/libnnlua.so'        -- source tree
  candidates[#candidates + 1] = here .. '/../../../../lib/libnnlua.so'  -- PREFIX/share/lua/5.1/nnlua
  candidates[#candidates + 1] = 'nnlua'
  local errs = {}
  for _, path in ipairs(candidates) do
    local ok, lib = pcall(ffi.load, path)
    if ok then return lib end
    errs[#errs + 1] = tostring(lib)
  end
  error('nnlua: cannot load the runtime library libnnlua.so (set NNLUA_LIB):\n  '
        .. table.concat(errs, '\n  '), 2)
end

local lib = load_runtime()

local nl = {
  _lib = lib,
  _VERSION = ffi.string(lib.nl_version()),
}

require('nnlua.tensor')(nl)
-- The rarer Tensor methods and nl functions (creation forms, linear
-- algebra, order statistics, special functions) load on first use: when
-- a tensor or nl is asked for a name it lacks. Loaded at start, they (and
-- nn's rarer families) made the startup a third longer and the Lua heap,
-- which every garbage collection cycle walks, 70% larger: the per-op
-- overhead (W3) grew 4%.
local TENSOR_EXTRAS = { 'nnlua.tensor_creation', 'nnlua.tensor_linalg', 'nnlua.tensor_sortops', 'nnlua.tensor_more',
                        'nnlua.linalg', 'nnlua.linalg_decomp', 'nnlua.linalg_extra', 'nnlua.stats',
                        'nnlua.tensor_combine', 'nnlua.tensor_scatter', 'nnlua.tensor_compat',
                        'nnlua.tensor_integer', 'nnlua.tensor_random', 'nnlua.tensor_strided',
                        'nnlua.torch_compat' }
-- The core names the extras extend (clamp's tensor bounds, div_'s
-- rounding mode, t of 0-D and 1-D, squeeze of a list of dims): until the
-- extras load, a stub in their place runs the core's form for the calls
-- it takes and loads the extras for the others, whose extended form then
-- takes over. (The core's form ran those calls until some other name
-- loaded the extras: x:clamp(lo_tensor, hi_tensor) failed in a fresh
-- process.) lazy_spec fails if the extras replace a name not listed here.
local function plain_bounds(_, lo, hi) return not nl.is_tensor(lo) and not nl.is_tensor(hi) end
local EXTENDED = {
  { 'Tensor', 'clamp', plain_bounds }, { 'Tensor', 'clamp_', plain_bounds }, { 'nl', 'clamp', plain_bounds },
  { 'Tensor', 'div_', function(_, _, mode) return mode == nil end },
  { 'Tensor', 't', function(x) return not nl.is_tensor(x) or x:dim() == 2 end },
  { 'Tensor', 'squeeze', function(_, d) return type(d) ~= 'table' end },
}
local core, stubs = {}, {}
nl._lazy_stubs = stubs
local extras_loaded = false
function nl._load_tensor_extras()
  if extras_loaded then return end
  extras_loaded = true
  setmetatable(nl.Tensor, nil)
  for i, e in ipairs(EXTENDED) do (e[1] == 'nl' and nl or nl.Tensor)[e[2]] = core[i] end
  for _, m in ipairs(TENSOR_EXTRAS) do require(m)(nl) end
end
for i, e in ipairs(EXTENDED) do
  local t, name, plain = e[1] == 'nl' and nl or nl.Tensor, e[2], e[3]
  local f = t[name]
  core[i] = f
  local stub = function(...)
    if plain(...) then return f(...) end
    nl._load_tensor_extras()
    return t[name](...)
  end
  stubs[stub] = true
  t[name] = stub
end
-- (a tensor's fields, grad and the like, and its indices are looked up in
-- Tensor first: they load nothing; nor do other names that begin with _,
-- but PyTorch's operator methods, __and__ and the like)
setmetatable(nl.Tensor, { __index = function(t, k)
  if type(k) ~= 'string' or nl._accessors[k] or (k:sub(1, 1) == '_' and not k:match('^__%l+__$')) then
    return nil
  end
  nl._load_tensor_extras()
  return rawget(t, k)
end })
require('nnlua.print')(nl)
require('nnlua.autograd')(nl)
-- nl.autograd.Function (functions with a backward written in Lua),
-- nl.autograd.functional (jacobian, hessian, vjp, ...) and
-- nl.autograd.gradgradcheck load on first use
setmetatable(nl.autograd, { __index = function(t, k)
  if k == 'Function' then require('nnlua.autograd_function')(nl)
  elseif k == 'functional' then require('nnlua.autograd_functional')(nl)
  elseif k == 'gradgradcheck' then require('nnlua.autograd_gradcheck')(nl)
  else return nil end
  return rawget(t, k)
end })

require('nnlua.nn')(nl)
require('nnlua.optim')(nl)
require('nnlua.data')(nl)
require('nnlua.serialize')(nl)
-- model:compile, fit, evaluate and predict, the batch methods and
-- get/set_weights, and nl.callbacks (fit.lua, fit_data.lua, fit_batch.lua,
-- callbacks.lua) load on first use: until then Module holds stubs that
-- load them and call the real method
local FIT_METHODS, fit_loaded = { 'compile', 'fit', 'evaluate', 'predict', 'train_on_batch', 'test_on_batch',
                                  'predict_on_batch', 'reset_metrics', 'get_weights', 'set_weights' }, false
function nl._load_fit()
  if fit_loaded then return end
  fit_loaded = true
  local Module = nl.nn.Module
  require('nnlua.fit')(nl)
  local real = {}
  for _, name in ipairs(FIT_METHODS) do real[name] = Module[name] end
  nl._guard_methods(real, nl.nn.is_module, 'a module', 'm')
  for name, fn in pairs(real) do Module[name] = fn end
end
for _, name in ipairs(FIT_METHODS) do
  nl.nn.Module[name] = function(self, ...)
    nl._load_fit()
    return nl.nn.Module[name](self, ...)
  end
end
require('nnlua.plot')(nl)
nl.nn._guard_module_methods()
nl.nn._watch_lazy()

-- nl.dist (runs over processes on Open MPI) loads on first use: nnlua does
-- not link MPI, and a script that never touches nl.dist never loads it.
-- nl.distributions (torch.distributions), nl.special (torch.special),
-- nl.metrics (Keras's metric objects) and nl.profiler load on first use
-- too, and so do PyTorch's top-level
-- utilities (utility.lua: save and load, set_default_dtype, finfo,
-- set_printoptions, inference_mode and the mode flags).
-- (one string, not a table of names: the startup heap stays as it was)
local UTILITY = ' save load set_default_dtype set_default_tensor_type finfo iinfo set_printoptions inference_mode '
  .. 'is_inference_mode_enabled is_anomaly_enabled set_anomaly_enabled use_deterministic_algorithms '
  .. 'are_deterministic_algorithms_enabled is_deterministic_algorithms_warn_only_enabled get_num_interop_threads '
  .. 'set_num_interop_threads typename is_storage set_warn_always is_warn_always_enabled _extra_arg _strict_fields '
-- The torch.* names of torch_ops.lua (functional ops in torch's argument
-- order, RNN cells, the pre-linalg linear algebra) load on first use too.
local TORCH_OPS = ' batch_norm instance_norm embedding embedding_bag kl_div ctc_loss cosine_embedding_loss'
  .. ' hinge_embedding_loss margin_ranking_loss poisson_nll_loss triplet_margin_loss binary_cross_entropy_with_logits'
  .. ' constant_pad_nd convolution conv_tbc dropout_ alpha_dropout_ feature_dropout feature_dropout_'
  .. ' feature_alpha_dropout_ native_dropout grid_sampler grid_sampler_2d grid_sampler_3d affine_grid_generator'
  .. ' max_pool1d_with_indices adaptive_max_pool1d rrelu_ threshold_ frobenius_norm nuclear_norm norm_except_dim'
  .. ' native_layer_norm native_batch_norm native_group_norm lstm_cell gru_cell rnn_tanh_cell rnn_relu_cell'
  .. ' lstm gru rnn_tanh rnn_relu'
  .. ' solve lstsq matrix_rank eig lu lu_solve lu_unpack triangular_solve symeig geqrf orgqr ormqr svd_lowrank'
  .. ' pca_lowrank lobpcg '
setmetatable(nl, { __index = function(t, k)
  if type(k) == 'string' and UTILITY:find(' ' .. k .. ' ', 1, true) then
    require('nnlua.utility')(nl)
    return rawget(t, k)
  end
  if k == 'callbacks' then
    nl._load_fit()
    return rawget(t, k)
  end
  if k == 'distributions' or k == 'profiler' or k == 'special' or k == 'metrics' then
    local d = require('nnlua.' .. k)(nl)
    rawset(t, k, d)
    return d
  end
  if k ~= 'dist' then
    if type(k) ~= 'string' or k:sub(1, 1) == '_' then return nil end
    -- torch_ops.lua's names (torch.batch_norm, torch.lu, ...), after the extras
    if TORCH_OPS:find(' ' .. k .. ' ', 1, true) then
      nl._load_tensor_extras()
      if not rawget(t, k) then require('nnlua.torch_ops')(nl) end
      TORCH_OPS = ''
      return rawget(t, k)
    end
    -- the Tensor extras' nl functions (nl.linspace, nl.einsum, ...)
    if extras_loaded then return nil end
    nl._load_tensor_extras()
    return rawget(t, k)
  end
  local dist = require('nnlua.dist')(nl)
  rawset(t, 'dist', dist)
  return dist
end })
-- nl.dist when it was initialized with more than one rank, else nil;
-- fit asks, and asking loads nothing
function nl._dist_world()
  local dist = rawget(nl, 'dist')
  if dist and dist.is_initialized() and dist.size() > 1 then return dist end
  return nil
end

registry.nnlua_instance = nl
return nl
