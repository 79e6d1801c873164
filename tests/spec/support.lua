-- support.lua: shared helpers for the specs: seeded test data that does
-- not come from nnlua's own RNG, reference loops, tolerance checks, and
-- files, shell quoting and error messages.
local S = {}

-- s quoted for the shell
function S.q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

-- a fresh directory for a spec's files
function S.tmpdir()
  local dir = os.tmpname()
  os.remove(dir)
  assert(os.execute('mkdir -p ' .. S.q(dir)) == 0)
  return dir
end

-- the whole of a file
function S.read(path)
  local f = assert(io.open(path, 'rb'))
  local s = f:read('*a')
  f:close()
  return s
end

-- writes bytes to path; returns path
function S.write(path, bytes)
  local f = assert(io.open(path, 'wb'))
  f:write(bytes)
  f:close()
  return path
end

-- the error message of f(...), which must fail
function S.errmsg(f, ...)
  local ok, err = pcall(f, ...)
  assert(not ok, 'expected an error')
  return tostring(err)
end

-- asserts that message s contains part (plain text)
function S.contains(s, part)
  assert(s:find(part, 1, true), string.format('expected %q in the message %q', part, s))
end

-- an LCG of our own, so test data is independent of nl.rand
function S.rng(seed)
  local state = seed or 12345
  return function(lo, hi)
    state = (state * 1103515245 + 12345) % 2147483648
    local u = state / 2147483648
    return (lo or -1) + ((hi or 1) - (lo or -1)) * u
  end
end

function S.numel(shape)
  local n = 1
  for _, s in ipairs(shape) do n = n * s end
  return n
end

-- nested table of the given shape filled by f()
function S.nested(shape, f, d)
  d = d or 1
  local t = {}
  for i = 1, shape[d] do
    if d == #shape then t[i] = f() else t[i] = S.nested(shape, f, d + 1) end
  end
  return t
end

-- every index tuple of shape, in row-major order
function S.indices(shape)
  local out, idx = {}, {}
  local function rec(d)
    if d > #shape then
      local c = {}
      for i = 1, #shape do c[i] = idx[i] end
      out[#out + 1] = c
      return
    end
    for i = 1, shape[d] do idx[d] = i; rec(d + 1) end
  end
  rec(1)
  return out
end

-- value of nested table `t` of `shape` at broadcast index `idx` (of a larger rank)
function S.bget(t, shape, idx)
  local off = #idx - #shape
  local v = t
  for d = 1, #shape do
    local i = shape[d] == 1 and 1 or idx[d + off]
    v = v[i]
  end
  return v
end

function S.get(t, idx)
  local v = t
  for d = 1, #idx do v = v[idx[d]] end
  return v
end

function S.broadcast(a, b)
  local n = math.max(#a, #b)
  local out = {}
  for i = 1, n do
    local x = a[i - (n - #a)] or 1
    local y = b[i - (n - #b)] or 1
    out[i] = x == 1 and y or x
  end
  return out
end

-- |got - want| <= atol + rtol * |want|, NaN equal to NaN, infinities equal
function S.close(got, want, rtol, atol)
  if want ~= want then return got ~= got end
  if want == math.huge or want == -math.huge then return got == want end
  return math.abs(got - want) <= (atol or 0) + (rtol or 0) * math.abs(want)
end

-- peak resident set of this process in kB (VmHWM)
-- a tensor from a golden value {shape, data, [dtype]}; nil for an absent one
function S.from_golden(g)
  if not g then return nil end
  local nl = require 'nnlua'
  local dt = g.dtype or 'float32'
  if #g.shape == 0 then return nl.tensor(g.data[1], dt) end
  return nl.tensor(g.data, dt):view(g.shape)
end

-- a state dict from a golden list of {name, t}
function S.golden_sd(list)
  local sd = {}
  for _, e in ipairs(list) do sd[e.name] = S.from_golden(e.t) end
  return sd
end

-- Module m set up as golden case c (a generator's layer record: dtype,
-- state, mode): made float64 for a float64 case, its state loaded from the
-- golden tensors (through load_state_dict with by_state_dict, else copied
-- into the module's fields of those names), in c's mode; returns m.
function S.golden_state(m, c, by_state_dict)
  local nl, assert = require 'nnlua', require 'luassert'
  if c.dtype == 'float64' then m:double() end
  if by_state_dict then
    local sd = {}
    for _, s in ipairs(c.state) do sd[s.name] = S.from_golden(s.t) end
    m:load_state_dict(sd)
  else
    for _, s in ipairs(c.state) do
      local dst = m[s.name]
      assert.is_true(nl.is_tensor(dst), c.name .. ': module has no field ' .. s.name)
      nl.no_grad(function() dst:copy_(S.from_golden(s.t)) end)
    end
  end
  if c.mode == 'eval' then m:eval() else m:train() end
  return m
end

-- The module of golden case c (kind, args, opts, state, mode), built by
-- build[c.kind](args, opts) and set up by S.golden_state, through
-- load_state_dict for the kinds in via_state_dict.
function S.golden_module(c, build, via_state_dict)
  return S.golden_state(build[c.kind](c.args, c.opts), c, via_state_dict[c.kind])
end

-- Every golden case's c[key] has a function (what: a call, a builder) in
-- fns, and every function a case.
local function check_cover(cases, fns, key, what)
  local assert = require 'luassert'
  local seen = {}
  for _, c in ipairs(cases) do
    assert.is_function(fns[c[key]], 'no nnlua ' .. what .. ' for golden ' .. key .. ' ' .. c[key])
    seen[c[key]] = true
  end
  for name in pairs(fns) do assert.is_true(seen[name], 'no golden case for ' .. name) end
end

-- Every golden case's op has a call in ops, and every call a case.
function S.check_cases_cover(cases, ops) check_cover(cases, ops, 'op', 'call') end

-- Golden case c (inputs, args, w, outs, grads) against op(x, c.args), x
-- the inputs (those with a grad requiring one), op giving a tensor or a
-- list of them: every output of the golden dtype, each output and the
-- inputs' gradients of sum((out_i * w_i):sum()) by expect(got, want, what,
-- t), t = tol[dtype] = { rtol, atol }, nil for an int64 output (exact);
-- the gradients within grad_tol[dtype] where given.
local function check_case(c, op, tol, expect, grad_tol)
  local nl, assert = require 'nnlua', require 'luassert'
  local x = {}
  for i, g in ipairs(c.inputs) do
    x[i] = S.from_golden(g)
    if c.grads[i] then x[i] = x[i]:requires_grad() end
  end
  local outs = op(x, c.args)
  if nl.is_tensor(outs) then outs = { outs } end
  assert.are.equal(#c.outs, #outs, c.name .. ': number of outputs')
  local loss
  for i, want in ipairs(c.outs) do
    local got, what, dtype = outs[i], c.name .. ' output ' .. i, want.dtype or 'float32'
    assert.are.equal(dtype, got:dtype(), what .. ': dtype')
    expect(got, want, what, dtype ~= 'int64' and tol[dtype] or nil)
    if dtype ~= 'int64' and got.is_requires_grad then
      local term = (got * S.from_golden(c.w[i])):sum()
      loss = loss and loss + term or term
    end
  end
  if loss then loss:backward() end
  for i, g in ipairs(c.grads) do
    if g then
      assert.is_not_nil(x[i].grad, ('%s: input %d has no grad'):format(c.name, i))
      expect(x[i].grad, g, ('%s grad of input %d'):format(c.name, i), (grad_tol or tol)[g.dtype or 'float32'])
    end
  end
end

-- Checks golden case c of gen_tensor_ops.py or gen_tensor_extra.py (inputs,
-- args, w, outs, grads) against op(x, c.args), x the inputs (those with a
-- grad requiring one), op giving a tensor or a list of them: int64 outputs
-- exactly, float outputs and the inputs' gradients of sum((out_i * w_i):sum())
-- within tol[dtype] = { rtol, atol } by S.expect_close (a NaN is a miss),
-- the gradients within grad_tol[dtype] where given; every output of the
-- golden dtype.
function S.check_method_case(c, op, tol, grad_tol)
  local assert = require 'luassert'
  check_case(c, op, tol, function(got, want, what, t)
    if t then return S.expect_close(got, want, what, t[1], t[2]) end
    assert.are.same(want.shape, got:shape(), what .. ': shape')
    assert.are.same(want.data, S.flat(got), what)
  end, grad_tol)
end

-- the names of a list of { name, value } pairs, in order (of named_parameters)
function S.names_of(list)
  local out = {}
  for i, kv in ipairs(list) do out[i] = kv[1] end
  return out
end

-- the values of tensor t, flat in row-major order
function S.flat(t) return t:detach():reshape(-1):totable() end

-- the bytes of t's values, row-major: a comparison that tells -0 from 0
-- and one NaN payload from another
local SIZE = { float32 = 4, float64 = 8, int64 = 8 }
function S.bytes(t)
  local c = t:detach():contiguous()
  return require('ffi').string(c.ptr.data, c:numel() * SIZE[c:dtype()])
end

-- assert that tensors a and b have one shape and every element equal (NaN
-- where the other is NaN); a failure names the first that differs
function S.same_bits(a, b, what)
  local sa, sb = table.concat(a:shape(), ','), table.concat(b:shape(), ',')
  if sa ~= sb then error(('%s: shape (%s) vs (%s)'):format(what, sa, sb)) end
  local fa, fb = S.flat(a), S.flat(b)
  for i = 1, #fa do
    if not (fa[i] == fb[i] or (fa[i] ~= fa[i] and fb[i] ~= fb[i])) then
      error(('%s: element %d: %s vs %s'):format(what, i, tostring(fa[i]), tostring(fb[i])))
    end
  end
end

-- assert that tensor got equals want (a golden {shape, data} or a tensor):
-- the shape exactly, every value within atol + rtol * |want|; a failure
-- names the worst element
function S.expect_close(got, want, what, rtol, atol)
  local nl, assert = require 'nnlua', require 'luassert'
  assert.is_true(nl.is_tensor(got), what .. ': expected a tensor, got ' .. type(got))
  local wshape, wdata = want.shape, want.data
  if nl.is_tensor(want) then wshape, wdata = want:shape(), S.flat(want) end
  assert.are.same(wshape, got:shape(), what .. ': shape')
  local g = S.flat(got)
  assert.are.equal(#wdata, #g, what .. ': number of elements')
  local worst, worst_i = -1, nil
  for i = 1, #g do
    local excess = math.abs(g[i] - wdata[i]) - (atol + rtol * math.abs(wdata[i]))
    if excess ~= excess then excess = math.huge end         -- NaN on either side
    if excess > worst then worst, worst_i = excess, i end
  end
  assert.is_true(worst <= 0, worst > 0 and string.format('%s: element %d (flat) is %.9g, expected %.9g (rtol %g, atol %g)',
    what, worst_i, g[worst_i], wdata[worst_i], rtol, atol) or nil)
end

-- assert that tensor got equals golden want ({shape, data} or a tensor):
-- the shape, then each element within tol = { rtol, atol } (NaN equal to
-- NaN, infinities exactly), or exactly without tol; a failure names the
-- first element that differs. S.expect_close, by contrast, counts a NaN as
-- a miss.
function S.expect_golden(got, want, what, tol)
  local nl, assert = require 'nnlua', require 'luassert'
  if nl.is_tensor(want) then want = { shape = want:shape(), data = S.flat(want), dtype = want:dtype() } end
  assert.are.same(want.shape, got:shape(), what .. ': shape')
  local g = S.flat(got)
  assert.are.equal(#want.data, #g, what .. ': number of elements')
  for i, w in ipairs(want.data) do
    if not (tol and S.close(g[i], w, tol[1], tol[2]) or g[i] == w or (g[i] ~= g[i] and w ~= w)) then
      error(('%s: element %d (flat) is %.17g, expected %.17g'):format(what, i, g[i], w), 2)
    end
  end
end

-- Checks golden case c (inputs, args, w, outs, grads, as S.check_method_case
-- takes) against op(x, c.args) with S.expect_golden, NaN as NaN: int64
-- outputs exactly, float outputs and the inputs' gradients of
-- sum((out_i * w_i):sum()) within tol[dtype] = { rtol, atol }.
function S.check_golden_case(c, op, tol) check_case(c, op, tol, S.expect_golden) end

-- The golden tests of a table of ops, made with busted's it (a spec's
-- global, which this module does not see): one that every case's op has a
-- call in ops and every call a case, then one per case, check(c, ops[c.op]).
function S.golden_its(it, cases, ops, check)
  it('has a golden case for every op in the table and an op for every case', function()
    S.check_cases_cover(cases, ops)
  end)
  for _, c in ipairs(cases) do
    it(c.name, function() check(c, ops[c.op]) end)
  end
end

-- Every golden layer case's kind has a builder in build, and every builder
-- a case.
function S.check_kinds_cover(cases, build) check_cover(cases, build, 'kind', 'builder') end

-- The leaves of golden layer case c's inputs (stored tensors; float ones
-- require grad, but those with an `after` value, which the call changes in
-- place) and the arguments the layer gets (their permuted views).
function S.golden_inputs(c)
  local leaves, args = {}, {}
  for i = 1, c.n_inputs do
    local g = c.inputs[i]
    if g then
      local t = S.from_golden(g.t)
      if t:dtype() ~= 'int64' and not g.after then t:requires_grad() end
      leaves[i] = t
      args[i] = g.perm and t:permute(unpack(g.perm)) or t
    end
  end
  return leaves, args
end

-- f on the float64 leaves passes nl.gradcheck
function S.gradcheck(f, ...)
  local nl = require 'nnlua'
  local x = { ... }
  for i, v in ipairs(x) do x[i] = v:detach():requires_grad() end
  local ok, msg = nl.gradcheck(f, x)
  assert(ok, msg)
end

-- a float64 tensor of shape ... from nl.randn
function S.randn64(...) return (require 'nnlua').randn({ ... }, 'float64') end

-- gradcheck(f, inputs): nl.gradcheck(f, inputs, opts) passes
function S.gradcheck_by(opts)
  return function(f, inputs)
    local ok, msg = (require 'nnlua').gradcheck(f, inputs, opts)
    ;(require 'luassert').is_true(ok, msg)
  end
end

-- close(got, want, what): S.expect_close of golden layer case c's values
-- within tol[c.dtype], the message prefixed with c's name
function S.case_close(c, tol)
  local rtol, atol = tol[c.dtype][1], tol[c.dtype][2]
  return function(got, want, what) S.expect_close(got, want, c.name .. ' ' .. what, rtol, atol) end
end

-- expect_close(got, want, what, dtype): S.expect_close within
-- tol[dtype or 'float32'] = { rtol, atol }
function S.expect_close_by(tol)
  return function(got, want, what, dtype)
    local t = tol[dtype or 'float32']
    S.expect_close(got, want, what, t[1], t[2])
  end
end

-- A spec's own seeded values: rand(shape, dtype), a tensor of U(-1, 1)
-- draws of S.rng(seed), and that U (for draws of its own from the same
-- stream).
function S.rand_by(seed)
  local nl = require 'nnlua'
  local U = S.rng(seed)
  local function rand(shape, dtype)
    local v = {}
    for i = 1, S.numel(shape) do v[i] = U(-1, 1) end
    return nl.tensor(v, dtype or 'float32'):view(shape)
  end
  return rand, U
end

-- The fit specs' model: w (a 1 x 1 Linear without bias, float64) trained
-- by SGD on mse against 0 with the input 1: the loss is w^2, its gradient
-- 2w, and a step at lr makes w (1 - 2 lr). S.ones_zeros(n): n rows of (1,
-- 0), n steps an epoch at batch_size 1.
function S.square_model(w0, lr)
  local nl = require 'nnlua'
  local m = nl.nn.Linear(1, 1, { bias = false }):double()
  nl.no_grad(function() m.weight:fill_(w0) end)
  m:compile { optimizer = 'sgd', lr = lr, loss = 'mse' }
  return m
end
function S.ones_zeros(n)
  local nl = require 'nnlua'
  return nl.ones(n, 1, 'float64'), nl.zeros(n, 1, 'float64')
end

-- The golden optimizer problem of gen_optim.py and gen_optim_extra.py
-- (P: the golden file's problem, a linear model 4 -> 3): W, b leaves that
-- require grad (P's or the given values), x, t data, all of dtype.
function S.optim_problem(P, dtype, W, b)
  local nl = require 'nnlua'
  return {
    W = nl.tensor(W or P.W, dtype):requires_grad(),
    b = nl.tensor(b or P.b, dtype):requires_grad(),
    x = nl.tensor(P.x, dtype),
    t = nl.tensor(P.t, dtype),
  }
end

-- the problem's loss: the mean squared error of x W^T + b against t
function S.optim_loss(m)
  local nl = require 'nnlua'
  local d = nl.matmul(m.x, m.W:t()) + m.b - m.t
  return (d * d):mean()
end

-- optim[c.optim] over problem m's W and b, or over c.groups (param groups
-- whose params name m's fields), with opts or c.opts
function S.optim_make(optim, c, m, opts)
  local params = { m.W, m.b }
  if c.groups then
    params = {}
    for i, g in ipairs(c.groups) do
      local pg = {}
      for k, v in pairs(g) do pg[k] = v end
      pg.params = {}
      for j, n in ipairs(g.params) do pg.params[j] = m[n] end
      params[i] = pg
    end
  end
  return optim[c.optim](params, opts or c.opts)
end

-- one training step of opt on the problem m
function S.optim_step(opt, m)
  opt:zero_grad()
  S.optim_loss(m):backward()
  opt:step()
end

-- the golden optimizer case of that name and dtype among cases
-- the learning rates of opt's parameter groups, in order
function S.lrs_of(opt)
  local out = {}
  for i, g in ipairs(opt.param_groups) do out[i] = g.lr end
  return out
end

function S.optim_find(cases, name, dtype)
  for _, c in ipairs(cases) do
    if c.name == name and c.dtype == dtype then return c end
  end
  error('no golden case ' .. name)
end

function S.peak_rss_kb(pid)
  local f = io.open('/proc/' .. (pid or 'self') .. '/status')
  local s = f:read('*a')
  f:close()
  return tonumber(s:match('VmHWM:%s*(%d+)'))
end

-- the entries a registry (nl._hooks, nl._custom_registry) still holds once
-- two full collections, the finalizers' deferred frees (nl._settle) and
-- drain (nl._drop_dead_hooks, nl._custom_drain) have run
function S.held(registry, drain)
  collectgarbage('collect')
  collectgarbage('collect')
  require('nnlua')._settle()
  drain()
  local n = 0
  for _ in pairs(registry) do n = n + 1 end
  return n
end

-- the repository root, from this file's path (<root>/tests/spec/support.lua)
local here = debug.getinfo(1, 'S').source:sub(2)
if here:sub(1, 1) ~= '/' then
  local pwd = io.popen('pwd')      -- (closed: its shell stayed a zombie until the collector took the handle)
  here = pwd:read('*l') .. '/' .. here
  pwd:close()
end
S.root = here:gsub('/tests/spec/[^/]*$', '')
-- a line that makes a child luajit find nnlua in this tree
S.path_prelude = string.format("package.path = '%s/lua/?.lua;%s/lua/?/init.lua;' .. package.path\n",
                               S.root, S.root)

-- the output (stdout and stderr) of a child luajit running code after
-- `local nl = require 'nnlua'` from this tree
function S.run_luajit(code)
  local path = S.write(os.tmpname() .. '.lua', S.path_prelude .. "local nl = require 'nnlua'\n" .. code)
  local p = assert(io.popen('luajit ' .. S.q(path) .. ' 2>&1'))
  local out = p:read('*a')
  p:close()
  os.remove(path)
  return out
end

return S
