-- The activations of nl_activation (ELU, SELU, CELU, Softplus, Mish,
-- Hardtanh, ReLU6, Hardsigmoid, Hardswish, LogSigmoid, Softsign,
-- Tanhshrink, Softshrink, Hardshrink) and Softmin: values and gradients
-- against PyTorch golden values (tests/golden/activations.lua, made by
-- tests/golden/gen_activations.py) in float32 and float64, at the kinks,
-- at small and large magnitudes, inf and NaN, for a finite and for an
-- infinite upstream gradient; float64 gradchecks away from the kinks; the
-- modules' options, repr and errors; softmax's dtype argument.
local nl = require 'nnlua'
local S = require 'support'
local nn = nl.nn

local golden = dofile(S.root .. '/tests/golden/activations.lua')
local TOL = { float32 = { 1e-5, 1e-6 }, float64 = { 1e-12, 1e-14 } }

-- got (a tensor) against want (a list) elementwise: NaN where want is NaN,
-- the same infinity where want is infinite, else within rtol, atol
local function expect(got, want, what, dtype)
  local rtol, atol = TOL[dtype][1], TOL[dtype][2]
  assert.are.equal(dtype, got:dtype(), what .. ': dtype')
  local g = S.flat(got)
  assert.are.equal(#want, #g, what .. ': number of elements')
  for i = 1, #g do
    assert.is_true(S.close(g[i], want[i], rtol, atol),
      ('%s: element %d is %.17g, PyTorch %.17g'):format(what, i, g[i], want[i]))
  end
end

local error_of, has = S.errmsg, S.contains

describe('activations against PyTorch golden values', function()
  for _, c in ipairs(golden.cases) do
    local label = c.name .. ' (' .. c.dtype .. ')'
    local function input() return nl.tensor(c.x, c.dtype) end

    it(label .. ': values and gradients, kinks, inf and NaN', function()
      local x = input():requires_grad()
      local y = nl[c.fn](x, unpack(c.params))
      expect(y, c.out, label .. ' out', c.dtype)
      assert.are.equal(c.fn == 'relu6' and 'hardtanh' or c.fn, y:grad_fn())
      y:backward(nl.tensor(c.w, c.dtype))
      expect(x.grad, c.grad, label .. ' grad', c.dtype)
      -- an infinite upstream gradient: 0 where PyTorch selects, NaN where it multiplies by 0
      local x2 = input():requires_grad()
      x2[c.fn](x2, unpack(c.params)):backward(nl.tensor(c.w_inf, c.dtype))
      expect(x2.grad, c.grad_inf, label .. ' grad for an infinite upstream gradient', c.dtype)
    end)

    it(label .. ': the module ' .. c.module .. ', and a strided input', function()
      local m = nn[c.module](unpack(c.margs))
      expect(m(input()), c.out, label .. ' ' .. c.module, c.dtype)
      -- every other element of a tensor twice the size: the strided loops
      local n = #c.x
      local wide = nl.zeros(n, 2, c.dtype)
      wide:select(2, 1):copy_(input())
      local x = wide:detach():requires_grad()
      local y = nl[c.fn](x:select(2, 1), unpack(c.params))
      expect(y, c.out, label .. ' strided out', c.dtype)
      y:backward(nl.tensor(c.w, c.dtype))
      expect(x.grad:select(2, 1):contiguous(), c.grad, label .. ' strided grad', c.dtype)
      assert.are.same(nl.zeros(n, c.dtype):totable(), x.grad:select(2, 2):totable())
    end)
  end

  it('every activation has golden cases in both dtypes', function()
    local seen = {}
    for _, c in ipairs(golden.cases) do seen[c.fn .. ' ' .. c.dtype] = true end
    for _, f in ipairs({ 'elu', 'selu', 'celu', 'softplus', 'mish', 'hardtanh', 'relu6', 'hardsigmoid', 'hardswish',
                         'logsigmoid', 'softsign', 'tanhshrink', 'softshrink', 'hardshrink' }) do
      assert.is_true(seen[f .. ' float32'] and seen[f .. ' float64'], 'no golden case for ' .. f)
    end
  end)

  it('a large tensor (OpenMP) gives the values and gradients of a small one', function()
    local c = golden.cases[1]
    for _, cc in ipairs(golden.cases) do
      local reps = 4096                   -- 131072 elements: past every kernel's threshold
      local x = nl.tensor(cc.x, cc.dtype):view(1, -1):expand(reps, #cc.x):contiguous():requires_grad()
      local y = nl[cc.fn](x, unpack(cc.params))
      y:backward(nl.tensor(cc.w, cc.dtype):view(1, -1):expand(reps, #cc.x):contiguous())
      for _, r in ipairs({ 1, reps / 2, reps }) do
        expect(y:select(1, r), cc.out, cc.name .. ' row ' .. r, cc.dtype)
        expect(x.grad:select(1, r), cc.grad, cc.name .. ' grad row ' .. r, cc.dtype)
      end
      c = cc
    end
    assert.is_not_nil(c)
  end)

  it('Softmin is the softmax of -x, as PyTorch, with its gradient', function()
    for _, c in ipairs(golden.softmin) do
      local x = nl.tensor(c.x, c.dtype):view(c.shape):requires_grad()
      local y = nn.Softmin(c.dim)(x)
      expect(y, c.out, 'Softmin dim ' .. c.dim, c.dtype)
      y:backward(nl.tensor(c.w, c.dtype):view(c.shape))
      expect(x.grad, c.grad, 'Softmin grad dim ' .. c.dim, c.dtype)
      expect(nl.softmin(x, c.dim), c.out, 'nl.softmin dim ' .. c.dim, c.dtype)
    end
    assert.are.equal('Softmin(dim=2)', nn.Softmin(2):repr())
    assert.are.equal('Softmin(dim=-1)', nn.Softmin():repr())
    has(error_of(function() return nn.Softmin(0) end), 'Softmin: dim 0 is invalid')
    has(error_of(function() return nl.softmin(nl.ones(2, 'int64')) end), 'softmin: expected a float input, got int64')
  end)

  it("Softmax, LogSoftmax, Softmin and Flatten take PyTorch's keywords as a table", function()
    local x = nl.randn(2, 3, 4)
    for _, name in ipairs({ 'Softmax', 'LogSoftmax', 'Softmin' }) do
      assert.are.same(S.flat(nn[name](2)(x)), S.flat(nn[name]({ dim = 2 })(x)), name)
      assert.are.equal(name .. '(dim=-1)', nn[name]({}):repr())
      has(error_of(function() return nn[name]({ axis = 1 }) end), name .. ": unknown option 'axis'")
    end
    assert.are.same({ 2, 12 }, nn.Flatten({ start_dim = 2 })(x):shape())
    assert.are.same({ 6, 4 }, nn.Flatten({ start_dim = 1, end_dim = 2 })(x):shape())
    assert.are.same({ 2, 12 }, nn.Flatten({})(x):shape())
    has(error_of(function() return nn.Flatten({ start_dim = 1 }, 2) end),
        'Flatten: takes its options as a table or as arguments, not both')
    has(error_of(function() return nn.Flatten({ start = 1 }) end), "Flatten: unknown option 'start'")
  end)

  it("softmax and log_softmax take PyTorch's dtype, converting first", function()
    for _, c in ipairs(golden.softmax_dtype) do
      local x = nl.tensor(c.x):view(c.shape):requires_grad()
      local y = x[c.op](x, c.dim, 'float64')
      expect(y, c.out, c.op .. ' float64', 'float64')
      y:backward(nl.tensor(c.w, 'float64'):view(c.shape))
      expect(x.grad, c.grad, c.op .. ' grad through the conversion', 'float32')
      expect(nl[c.op](x, c.dim, { dtype = 'float64' }), c.out, c.op .. ' {dtype}', 'float64')
    end
    assert.are.equal('float32', nl.tensor({ 1, 2 }, 'float64'):softmax(1, 'float32'):dtype())
    assert.are.equal('float64', nl.tensor({ 1, 2 }, 'int64'):log_softmax(1, 'float64'):dtype())
    has(error_of(function() return nl.ones(2):softmax(1, 'int64') end),
      "softmax: dtype must be a float dtype ('float32' or 'float64'), got 'int64'")
    has(error_of(function() return nl.ones(2):log_softmax(1, 'half') end),
      "log_softmax: expected a dtype ('float32' or 'float64'), got 'half'")
    has(error_of(function() return nl.ones(2):softmax(1, 5) end), "softmax: expected a dtype ('float32' or 'float64'), got 5")
    has(error_of(function() return nl.ones(2):softmax(1, { dtyp = 'float64' }) end), "softmax: unknown option 'dtyp'")
  end)
end)

-- nl.gradcheck: float64 central differences against backward, away from
-- the kinks (h = 1e-6)
describe('activation gradchecks (float64)', function()
  local rnd = S.rng(4242)
  -- n values in [-lo_hi, lo_hi], none within gap of a kink
  local function points(n, span, kinks, gap)
    local v = {}
    while #v < n do
      local x = rnd(-span, span)
      local ok = true
      for _, k in ipairs(kinks) do if math.abs(x - k) < gap then ok = false end end
      if ok then v[#v + 1] = x end
    end
    return v
  end
  local cases = {
    { 'elu', {}, { 0 } }, { 'elu', { 0.4 }, { 0 } }, { 'selu', {}, { 0 } }, { 'celu', { 1.7 }, { 0 } },
    { 'softplus', {}, {} }, { 'softplus', { 2, 3 }, { 1.5 } }, { 'mish', {}, {} },
    { 'hardtanh', { -0.5, 1.5 }, { -0.5, 1.5 } }, { 'relu6', {}, { 0, 6 }, 8 }, { 'hardsigmoid', {}, { -3, 3 }, 5 },
    { 'hardswish', {}, { -3, 3 }, 5 }, { 'logsigmoid', {}, {} }, { 'softsign', {}, { 0 } }, { 'tanhshrink', {}, {} },
    { 'softshrink', { 0.7 }, { -0.7, 0.7 } }, { 'hardshrink', { 0.3 }, { -0.3, 0.3 } },
  }
  for _, c in ipairs(cases) do
    it(c[1] .. '(' .. table.concat(c[2], ', ') .. ')', function()
      local x = nl.tensor(points(12, c[4] or 4, c[3], 0.05), 'float64'):view(3, 4):requires_grad()
      local ok, msg = nl.gradcheck(function(t) return nl[c[1]](t, unpack(c[2])) end, { x })
      assert.is_true(ok, msg)
    end)
  end
end)

describe('activation modules', function()
  it("print as PyTorch's", function()
    local want = {
      { nn.ELU(), 'ELU(alpha=1.0)' }, { nn.ELU(0.5, true), 'ELU(alpha=0.5, inplace=True)' },
      { nn.ELU({ alpha = 2 }), 'ELU(alpha=2.0)' },
      { nn.SELU(), 'SELU()' }, { nn.SELU(true), 'SELU(inplace=True)' }, { nn.SELU({ inplace = true }), 'SELU(inplace=True)' },
      { nn.CELU(), 'CELU(alpha=1.0)' }, { nn.CELU(0.5, true), 'CELU(alpha=0.5, inplace=True)' },
      { nn.Softplus(), 'Softplus(beta=1, threshold=20)' }, { nn.Softplus(2.5, 10), 'Softplus(beta=2.5, threshold=10)' },
      { nn.Softplus({ threshold = 5 }), 'Softplus(beta=1, threshold=5)' },
      { nn.Mish(), 'Mish()' }, { nn.Mish(true), 'Mish(inplace=True)' },
      { nn.Hardtanh(), 'Hardtanh(min_val=-1.0, max_val=1.0)' },
      { nn.Hardtanh(-2.5, 3, true), 'Hardtanh(min_val=-2.5, max_val=3.0, inplace=True)' },
      { nn.ReLU6(), 'ReLU6()' }, { nn.ReLU6(true), 'ReLU6(inplace=True)' },
      { nn.Hardsigmoid(true), 'Hardsigmoid()' }, { nn.Hardswish(true), 'Hardswish()' },
      { nn.LogSigmoid(), 'LogSigmoid()' }, { nn.Softsign(), 'Softsign()' }, { nn.Tanhshrink(), 'Tanhshrink()' },
      { nn.Softshrink(), 'Softshrink(0.5)' }, { nn.Softshrink(1.25), 'Softshrink(1.25)' },
      { nn.Hardshrink(), 'Hardshrink(0.5)' }, { nn.Hardshrink({ lambd = 0.25 }), 'Hardshrink(0.25)' },
    }
    for _, w in ipairs(want) do assert.are.equal(w[2], w[1]:repr()) end
  end)

  it('take their parameters as arguments or as a table, and keep them', function()
    local x = nl.tensor({ -2, -0.5, 0.25, 3 })
    local function same(a, b) assert.are.same(a:totable(), b:totable()) end
    same(nl.elu(x, 0.5), nn.ELU({ alpha = 0.5 })(x))
    same(nl.softplus(x, 2, 1), nn.Softplus({ beta = 2, threshold = 1 })(x))
    same(x:softplus({ beta = 2, threshold = 1 }), nn.Softplus(2, 1)(x))
    same(x:hardtanh({ min_val = -0.25 }), nn.Hardtanh(-0.25)(x))
    same(x:softshrink(1), nn.Softshrink({ lambd = 1 })(x))
    assert.are.same({ 0, 0, 0.25, 3 }, nn.ReLU6()(x):totable())
    -- inplace is taken and computed out of place, as ReLU's: the input is kept
    local y = nn.ELU(1, true)(x)
    assert.are.same({ -2, -0.5, 0.25, 3 }, x:totable())
    assert.are.equal(3, y[4])
    local m = nn.Hardtanh(-2, 2)
    assert.are.equal(-2, m.min_val)
    assert.are.equal(2, m.max_val)
    assert.are.equal(0.5, nn.Softshrink().lambd)
    -- int64 as PyTorch: hardtanh and relu6 keep it (bounds cut toward 0), softsign and tanhshrink give float32
    local i = nl.tensor({ -4, 1, 7 }, 'int64')
    assert.are.same({ -1, 1, 2 }, nn.Hardtanh(-1.5, 2.5)(i):totable())
    assert.are.equal('int64', nn.ReLU6()(i):dtype())
    assert.are.same({ 0, 1, 6 }, nn.ReLU6()(i):totable())
    assert.are.equal('float32', nn.Softsign()(i):dtype())
    local ss = nn.Softsign()(i)
    for k, v in ipairs({ -0.8, 0.5, 0.875 }) do assert.is_true(S.close(ss[k], v, 1e-7), 'Softsign of int64') end
    assert.are.equal('float32', i:tanhshrink():dtype())
  end)

  it('refuse bad options, naming the module', function()
    local cases = {
      { function() return nn.ELU('1') end, "ELU: expected a number as alpha, got string" },
      { function() return nn.Softshrink(0 / 0) end, 'Softshrink: lambd must be >= 0, got nan' },
      { function() return nn.ELU(1, 'yes') end, 'ELU: expected no argument, or an inplace flag, got string' },
      { function() return nn.ELU(1, true, 3) end, 'ELU: takes at most 2 arguments, got 3' },
      { function() return nn.ELU({ alpha = 1, inplcae = true }) end, "ELU: unknown option 'inplcae'" },
      { function() return nn.ELU({ alpha = 1 }, true) end, 'ELU: takes its options as a table or as arguments, not both' },
      { function() return nn.CELU(0) end, 'CELU: alpha cannot be 0' },
      { function() return nn.SELU(1) end, 'SELU: expected no argument, or an inplace flag, got number' },
      { function() return nn.Softplus(1, '20') end, 'Softplus: expected a number as threshold, got string' },
      { function() return nn.Softplus(1, 20, true) end, 'Softplus: takes at most 2 arguments, got 3' },
      { function() return nn.Hardtanh(1, 1) end, 'Hardtanh: max_val (1) must be greater than min_val (1)' },
      { function() return nn.Hardtanh(2, -2) end, 'Hardtanh: max_val (-2) must be greater than min_val (2)' },
      { function() return nn.Hardtanh({ min = 0 }) end, "Hardtanh: unknown option 'min'" },
      { function() return nn.ReLU6(0, 6) end, 'ReLU6: takes at most 1 argument, got 2' },
      { function() return nn.ReLU6(6) end, 'ReLU6: expected no argument, or an inplace flag, got number' },
      { function() return nn.Softshrink(-0.5) end, 'Softshrink: lambd must be >= 0, got -0.5' },
      { function() return nn.Hardshrink({}, 1) end, 'Hardshrink: takes its options as a table or as arguments, not both' },
      { function() return nn.LogSigmoid(true) end, 'LogSigmoid: expected no arguments, got 1' },
      { function() return nn.Softsign(1) end, 'Softsign: expected no arguments, got 1' },
      { function() return nn.Mish()(nl.ones(2, 'int64')) end, 'Mish: expected a float input, got int64 [2]' },
      { function() return nn.ELU()(nl.ones(2, 'int64')) end, 'ELU: expected a float input, got int64 [2]' },
      { function() return nn.Softplus()('x') end, 'Softplus: expected a tensor, got string' },
    }
    for _, c in ipairs(cases) do has(error_of(c[1]), c[2]) end
  end)

  it('rebuild from their arguments in nn.load and clone', function()
    local model = nn.Sequential(nn.Linear(3, 4), nn.ELU(0.5, true), nn.Hardtanh(-0.5, 2), nn.Softplus(2, 5),
                                nn.Softshrink(0.1), nn.Softmin(2))
    local copy = model:clone()
    assert.are.equal(model:repr(), copy:repr())
    local x = nl.randn(2, 3)
    assert.are.same(model(x):totable(), copy(x):totable())
    local path = os.tmpname() .. '.safetensors'
    model:save(path)
    local back = nn.load(path)
    os.remove(path)
    assert.are.equal(model:repr(), back:repr())
    assert.are.same(model(x):totable(), back(x):totable())
  end)
end)

describe('activation functions', function()
  it('refuse bad parameters and int64, naming the op', function()
    local x = nl.ones(2)
    local cases = {
      { function() return x:elu('1') end, 'elu: expected a number as alpha, got string' },
      { function() return x:celu(0) end, 'celu: alpha cannot be 0' },
      { function() return x:softshrink(0 / 0) end, 'softshrink: lambd must be >= 0, got nan' },
      { function() return x:softplus(1, 2, 3) end, 'softplus: takes at most 2 parameters, got 3' },
      { function() return x:softplus({ beta = 1 }, 2) end, 'softplus: takes its options as a table or as arguments, not both' },
      { function() return x:softplus({ bta = 1 }) end, "softplus: unknown option 'bta'" },
      { function() return x:softshrink(-1) end, 'softshrink: lambd must be >= 0, got -1' },
      { function() return x:selu(2) end, 'selu: takes no parameters, got 2' },
      { function() return x:relu6(6) end, 'relu6: takes no parameters, got 6' },
      { function() return nl.mish('x') end, 'mish: expected a tensor, got string' },
      { function() return nl.ones(2, 'int64'):elu() end, 'elu: expected a float input, got int64 [2]' },
      { function() return nl.ones(2, 'int64'):logsigmoid() end, 'logsigmoid: expected a float input, got int64 [2]' },
      { function() return nl.ones(2, 'int64'):hardtanh(0 / 0, 1) end, 'hardtanh: min_val nan cannot be converted to int64' },
      { function() return nl.ones(2, 'int64'):hardswish_() end, 'hardswish_: expected a float tensor, got int64 [2]' },
      { function() return nl.ones(2):requires_grad():elu_() end, 'elu_' },
    }
    for _, c in ipairs(cases) do has(error_of(c[1]), c[2]) end
  end)

  it('in place, as PyTorch has them, give the values out of place gives', function()
    for _, c in ipairs(golden.cases) do
      local f = nl.Tensor[c.fn .. '_']
      if f then
        local x = nl.tensor(c.x, c.dtype)
        assert.are.equal(x, f(x, unpack(c.params)))
        expect(x, c.out, c.name .. '_ in place', c.dtype)
      end
    end
    for _, name in ipairs({ 'elu_', 'selu_', 'celu_', 'hardtanh_', 'relu6_', 'mish_', 'hardsigmoid_', 'hardswish_' }) do
      assert.is_function(nl.Tensor[name], name)
    end
    -- a tensor autograd saved for backward, changed in place: backward refuses it, as after any in-place write
    local a, w = nl.tensor({ -1, 2 }), nl.tensor({ 1, 2 }):requires_grad()
    local z = a * w
    a:elu_()
    has(error_of(function() z:sum():backward() end), 'input 1 of mul (shape [2]) was modified in place')
  end)

  it('detect_anomaly names the activation that made a NaN', function()
    nl.detect_anomaly(true)
    local ok, err = pcall(function() return nl.tensor({ 1 / 0 }):softsign() end)
    nl.detect_anomaly(false)
    assert.is_false(ok)
    has(tostring(err), 'detect_anomaly: softsign produced NaN or Inf in its output')
  end)
end)
