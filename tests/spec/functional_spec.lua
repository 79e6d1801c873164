-- nn.functional's activations, F.threshold, F.one_hot, F.dropout and
-- F.dropout2d (lua/nnlua/nn/functional.lua, dropout.lua, vision.lua):
-- values and gradients against PyTorch 1.13 golden values
-- (tests/golden/functional.lua, made by tests/golden/gen_functional.py),
-- in float32 and float64, positional and keyword-table calls alike; int64
-- inputs; the inplace flag (computed out of place, the input kept); the
-- dropouts' masks by their rates and closed forms; the modules' printing
-- against PyTorch 1.13's strings (inplace=True and nn.Threshold); and the
-- errors, each naming the function.
local nl = require 'nnlua'
local S = require 'support'
local nn = nl.nn
local F = nn.functional

local golden = dofile(S.root .. '/tests/golden/functional.lua')
local TOL = { float32 = { 1e-5, 1e-6 }, float64 = { 1e-12, 1e-14 } }
local errmsg, has = S.errmsg, S.contains

describe('nn.functional activations against PyTorch golden values', function()
  for _, c in ipairs(golden.cases) do
    it(c.name .. ': values and gradients, positional and as a keyword table', function()
      local forms = { { unpack(c.args, 1, #c.args) } }
      if c.opts then forms[2] = { c.opts } end
      for k, args in ipairs(forms) do
        local what = c.name .. (k == 1 and ' (positional)' or ' (table)')
        local x = S.from_golden(c.x):requires_grad()
        local y = F[c.fn](x, unpack(args, 1, #c.args))
        local wdt = c.w.dtype or 'float32'
        S.expect_close(y, c.out, what .. ' out', TOL[wdt][1], TOL[wdt][2])
        assert.are.equal(wdt, y:dtype(), what .. ': dtype')
        ;(y * S.from_golden(c.w)):sum():backward()
        S.expect_close(x.grad, c.grad, what .. ' grad', TOL[c.dtype][1], TOL[c.dtype][2])
      end
    end)
  end

  it('a golden case fails the check when a value is off (the checker can fail)', function()
    local c = golden.cases[1]
    local y = F[c.fn](S.from_golden(c.x)) + 1e-3
    assert.has_error(function() S.expect_close(y, c.out, 'shifted', TOL.float32[1], TOL.float32[2]) end)
  end)

  for _, c in ipairs(golden.int64) do
    it(c.name .. ' of int64 keeps int64, as PyTorch 1.13', function()
      local x = S.from_golden(c.x)
      local y = F[c.fn](x, unpack(c.args, 1, #c.args))
      assert.are.equal('int64', y:dtype())
      assert.are.same(c.out.data, S.flat(y))
      if c.opts then assert.are.same(c.out.data, S.flat(F[c.fn](x, c.opts))) end
    end)
  end

  it('one_hot: 1-based classes, num_classes given or the largest class, 0-dim input', function()
    for _, c in ipairs(golden.one_hot) do
      local t = S.from_golden(c.t)
      for _, y in ipairs({ F.one_hot(t, c.num_classes), F.one_hot(t, { num_classes = c.num_classes }) }) do
        assert.are.equal('int64', y:dtype())
        assert.are.same(c.out.shape, y:shape())
        assert.are.same(c.out.data, S.flat(y))
      end
    end
    assert.are.same({ 2, 3 }, F.one_hot(nl.tensor({ 3, 1 }, 'int64')):shape())        -- nil: the largest
    assert.are.same({ 0, 4 }, F.one_hot(nl.zeros({ 0 }, 'int64'), 4):shape())
  end)
end)

describe('nn.functional activations: rules', function()
  it('inplace = true gives the out-of-place values and keeps the input, also in a graph', function()
    local x0 = nl.tensor({ { -2, -0.5, 0, 0.5, 3 } })
    for _, c in ipairs({ { 'relu', {} }, { 'relu6', {} }, { 'elu', { 0.5 } }, { 'leaky_relu', { 0.2 } },
                         { 'hardtanh', { -1, 2 } }, { 'silu', {} }, { 'selu', {} }, { 'celu', { 1 } },
                         { 'mish', {} }, { 'hardswish', {} }, { 'hardsigmoid', {} } }) do
      local fn, params = c[1], c[2]
      local want = F[fn](x0, unpack(params))
      local x = x0:clone()
      local args = { unpack(params) }
      args[#args + 1] = true
      S.same_bits(F[fn](x, unpack(args)), want, fn .. ' inplace')
      S.same_bits(x, x0, fn .. ': input kept')
      -- on a tensor of a graph, where an in-place write is refused
      local a = x0:clone():requires_grad()
      local y = F[fn](a * 1, unpack(args))
      y:sum():backward()
      assert.is_not_nil(a.grad, fn)
    end
    S.same_bits(F.threshold(x0, 0, 9, true), F.threshold(x0, 0, 9), 'threshold inplace')
  end)

  it('softmax without a dim takes the last, as nn.Softmax(); the dims are 1-based', function()
    local x = nl.tensor({ { { 1, 2 }, { 3, 5 } }, { { 0, 1 }, { 4, 4 } } })
    S.same_bits(F.softmax(x), F.softmax(x, 3), 'last dim')
    S.same_bits(F.softmax(x, 1), x:softmax(1), 'dim 1')
    S.same_bits(F.log_softmax(x, -2), x:log_softmax(2), 'dim -2')
    -- softmin is softmax of -x (closed form of two values: 1 / (1 + e^(b - a)))
    local s = F.softmin(nl.tensor({ 1, 3 }, 'float64'))
    assert.is_true(math.abs(s[1] - 1 / (1 + math.exp(-2))) < 1e-15)
  end)

  it('int64 input: sigmoid, tanh, softsign and tanhshrink give float32; softmax takes it with a float dtype', function()
    local x = nl.tensor({ -1, 0, 2 }, 'int64')
    local want = { 1 / (1 + math.exp(1)), 0.5, 1 / (1 + math.exp(-2)) }
    local y = F.sigmoid(x)
    assert.are.equal('float32', y:dtype())
    for i, v in ipairs(S.flat(y)) do assert.is_true(math.abs(v - want[i]) < 1e-7) end
    assert.are.same({ 'float32', 'float32', 'float32' }, { F.tanh(x):dtype(), F.softsign(x):dtype(), F.tanhshrink(x):dtype() })
    -- (PyTorch converts to the dtype first: softmax of int64 with dtype = float64 runs)
    local s = F.softmax(x, 1, 'float64')
    assert.are.equal('float64', s:dtype())
    S.same_bits(s, F.softmax(x:double(), 1), 'int64 through dtype')
  end)

  it('threshold keeps NaN (x <= threshold is false there) and passes its gradient', function()
    local x = nl.tensor({ 0 / 0, 1, -1 }, 'float64'):requires_grad()
    local y = F.threshold(x, 0, 5)
    local v = S.flat(y)
    assert.is_true(v[1] ~= v[1])
    assert.are.same({ 1, 5 }, { v[2], v[3] })
    y:sum():backward()
    assert.are.same({ 1, 1, 0 }, S.flat(x.grad))
  end)

  it('errors name the function', function()
    local x = nl.randn(2, 3)
    has(errmsg(F.elu, x, 'a'), 'elu: expected a number as alpha')
    has(errmsg(F.softshrink, x, 0 / 0), 'softshrink: lambd must be >= 0, got nan')
    has(errmsg(F.relu, x, true, 3), 'relu: takes (input, inplace), got 3 arguments')
    has(errmsg(F.relu, x, 1), 'relu: expected a boolean inplace flag')
    has(errmsg(F.leaky_relu, x, { slope = 0.1 }), "leaky_relu: unknown option 'slope'")
    has(errmsg(F.elu, x, { alpha = 1 }, true), 'elu: takes its options as a table or as arguments, not both')
    has(errmsg(F.softplus, x, 1, 2, 3), 'softplus: takes (input, beta, threshold), got 4 arguments')
    has(errmsg(F.sigmoid, 'x'), 'sigmoid: expected a tensor, got string')
    has(errmsg(F.elu, nl.ones(2, 'int64')), 'elu: expected a float input, got int64 [2]')
    has(errmsg(F.leaky_relu, nl.ones(2, 'int64')), 'leaky_relu: expected a float input, got int64')
    has(errmsg(F.softmax, nl.ones(2, 'int64'), 1), 'softmax: expected a float input, got int64')
    has(errmsg(F.softmax, x, 0), 'softmax: dim 0 is invalid')
    has(errmsg(F.softmax, x, 1, 'float16'), 'softmax: expected a dtype')
    has(errmsg(F.log_softmax, x, 1, nil, 3), 'log_softmax: takes (input, dim, dtype), got 4 arguments')
    has(errmsg(F.gelu, x, 'fast'), "gelu: expected approximate 'none' or 'tanh'")
    has(errmsg(F.threshold, x, 0.5), 'threshold: expected a number as value, got nil')
    has(errmsg(F.threshold, x), 'threshold: expected a number as threshold, got nil')
    has(errmsg(F.one_hot, nl.tensor({ 1, 2 }), 3), 'one_hot: expected an int64 tensor of class labels (1-based), got float32')
    has(errmsg(F.one_hot, nl.tensor({ 0, 2 }, 'int64'), 3), 'one_hot: class 0 out of range 1..3 (classes are 1-based)')
    has(errmsg(F.one_hot, nl.tensor({ 1, 4 }, 'int64'), 3), 'one_hot: class 4 out of range 1..3')
    has(errmsg(F.one_hot, nl.tensor({ 1 }, 'int64'), 0), 'one_hot: num_classes must be a positive whole number or -1, got 0')
    has(errmsg(F.one_hot, nl.zeros({ 0 }, 'int64')), 'one_hot: cannot infer num_classes from an empty tensor')
  end)
end)

describe('F.dropout and F.dropout2d', function()
  it('identity out of training and at p = 0, zeros at p = 1, as PyTorch', function()
    local x = nl.randn(4, 5)
    for _, f in ipairs({ F.dropout, F.dropout2d }) do
      local x4 = x:view(2, 2, 5, 1)
      S.same_bits(f(x4, 0.5, false), x4, 'training = false')
      S.same_bits(f(x4, { p = 0.9, training = false }), x4, '{training = false}')
      S.same_bits(f(x4, 0), x4, 'p = 0')
      assert.are.same({ 0 }, { f(x4, 1):abs():max():item() })
    end
  end)

  it('in training (the default) keeps 1 - p of the elements, scaled by 1 / (1 - p); dropout2d whole channels', function()
    nl.manual_seed(7)
    local n, p = 40000, 0.3
    local y = F.dropout(nl.ones(n, 'float64'), p)
    local kept = y:ne(0):sum():item()
    -- within 5 standard errors of the binomial
    assert.is_true(math.abs(kept / n - (1 - p)) < 5 * math.sqrt(p * (1 - p) / n), 'kept ' .. kept)
    assert.is_true(math.abs(y:max():item() - 1 / (1 - p)) < 1e-15 and math.abs(y:sum():item() - kept / (1 - p)) < 1e-6)
    -- each (sample, channel) of (N, C, H, W) all kept or all dropped
    local z = F.dropout2d(nl.ones(50, 40, 3, 3), { p = 0.5 })
    local per = z:ne(0):sum({ 3, 4 })
    assert.is_true(per:eq(0):add(per:eq(9)):min():item() == 1, 'whole channels')
    local frac = per:eq(9):sum():item() / 2000
    assert.is_true(math.abs(frac - 0.5) < 5 * math.sqrt(0.25 / 2000), 'kept channels ' .. frac)
  end)

  it('draws as nn.Dropout and nn.Dropout2d do under one seed', function()
    local x = nl.randn(3, 4, 5)
    nl.manual_seed(11)
    local a = F.dropout(x, 0.4)
    nl.manual_seed(11)
    S.same_bits(nn.Dropout(0.4)(x), a, 'dropout')
    nl.manual_seed(12)
    local b = F.dropout2d(x, 0.4)
    nl.manual_seed(12)
    S.same_bits(nn.Dropout2d{ p = 0.4, inplace = true }(x), b, 'dropout2d')
  end)

  it('errors name the function', function()
    local x = nl.randn(2, 3)
    has(errmsg(F.dropout, x, 1.5), 'dropout: p must be a number in [0, 1], got 1.5')
    has(errmsg(F.dropout, x, 0.5, 1), 'dropout: expected a boolean training flag')
    has(errmsg(F.dropout, x, 0.5, true, false, 1), 'dropout: takes (input, p, training, inplace), got 5 arguments')
    has(errmsg(F.dropout, x, { q = 1 }), "dropout: unknown option 'q'")
    has(errmsg(F.dropout, nl.ones(3, 'int64'), 0.5), 'dropout: expected a float input, got int64')
    has(errmsg(F.dropout2d, x, 0.5), 'dropout2d: input must be (N, C, H, W) or (N, C, L), got shape [2,3]')
    has(errmsg(nn.Dropout, { p = 0.5 }, true), 'Dropout: takes its options as a table or as arguments, not both')
  end)
end)

describe('modules print inplace as PyTorch 1.13 does', function()
  -- (the strings are PyTorch 1.13's print of each module)
  local cases = {
    { nn.ReLU(true), 'ReLU(inplace=True)' }, { nn.ReLU{ inplace = true }, 'ReLU(inplace=True)' },
    { nn.ReLU(), 'ReLU()' }, { nn.SiLU(true), 'SiLU(inplace=True)' }, { nn.SELU(true), 'SELU(inplace=True)' },
    { nn.Hardswish(true), 'Hardswish()' }, { nn.Hardsigmoid(true), 'Hardsigmoid()' },
    { nn.ReLU6(true), 'ReLU6(inplace=True)' }, { nn.ELU(1, true), 'ELU(alpha=1.0, inplace=True)' },
    { nn.LeakyReLU(0.2, true), 'LeakyReLU(negative_slope=0.2, inplace=True)' },
    { nn.LeakyReLU(), 'LeakyReLU(negative_slope=0.01)' },
    { nn.RReLU(nil, nil, true), 'RReLU(lower=0.125, upper=0.3333333333333333, inplace=True)' },
    { nn.Dropout(), 'Dropout(p=0.5, inplace=False)' }, { nn.Dropout(0.2, true), 'Dropout(p=0.2, inplace=True)' },
    { nn.Dropout{ p = 0.2, inplace = true }, 'Dropout(p=0.2, inplace=True)' },
    { nn.Dropout2d(0.3), 'Dropout2d(p=0.3, inplace=False)' }, { nn.Dropout1d(0.5, true), 'Dropout1d(p=0.5, inplace=True)' },
    { nn.Dropout3d(), 'Dropout3d(p=0.5, inplace=False)' }, { nn.AlphaDropout(0.2), 'AlphaDropout(p=0.2, inplace=False)' },
    { nn.FeatureAlphaDropout{ p = 0.5, inplace = true }, 'FeatureAlphaDropout(p=0.5, inplace=True)' },
    { nn.Threshold(0.1, 20), 'Threshold(threshold=0.1, value=20)' },
    { nn.Threshold(0.1, 20, true), 'Threshold(threshold=0.1, value=20, inplace=True)' },
    { nn.Threshold(0 / 0, 0 / 0), 'Threshold(threshold=nan, value=nan)' },
  }
  it('each module line', function()
    for _, c in ipairs(cases) do
      local line = tostring(c[1]):match('^[^\n]*')
      assert.are.equal(c[2], line)
    end
  end)

  it('nn.Threshold runs F.threshold and checks its arguments', function()
    local x = nl.tensor({ -1, 0.1, 0.2, 5 })
    S.same_bits(nn.Threshold(0.1, 20)(x), F.threshold(x, 0.1, 20), 'forward')
    S.same_bits(nn.Threshold{ threshold = 0.1, value = 20 }(x), F.threshold(x, 0.1, 20), 'table')
    has(errmsg(nn.Threshold, 0.1), 'Threshold: expected a number as value, got nil')
    has(errmsg(nn.Threshold, 0.1, 2, 1), 'Threshold: expected no argument, or an inplace flag')
  end)
end)

-- PyTorch 1.13 at the non-finite points (tests/golden/nonfinite_act.lua,
-- made by gen_nonfinite_act.py): tanhshrink's and softsign's create_graph
-- gradients gave inf or 0 where PyTorch's give NaN, and threshold refused
-- the NaN threshold and value PyTorch takes
describe('tanhshrink, softsign and threshold at inf and NaN against PyTorch', function()
  local cases = dofile(S.root .. '/tests/golden/nonfinite_act.lua')
  local MODULES = {
    tanhshrink = function() return nn.Tanhshrink() end,
    softsign = function() return nn.Softsign() end,
    threshold = function(a) return nn.Threshold(a[1], a[2]) end,
  }
  for _, c in ipairs(cases) do
    it(c.name .. ' (' .. c.dtype .. '): out, gradient, create_graph gradient and its gradient; the module', function()
      local tol = TOL[c.dtype]
      local expect = function(got, want, what) S.expect_golden(got, want, c.name .. ' ' .. what, tol) end
      local w = S.from_golden(c.w)
      for _, form in ipairs({ 'F', 'module' }) do
        local f = form == 'F' and function(x) return F[c.fn](x, unpack(c.args, 1, 2)) end or MODULES[c.fn](c.args)
        local x = S.from_golden(c.x):requires_grad()
        local y = f(x)
        expect(y, c.out, form .. ' out')
        ;(y * w):sum():backward()
        expect(x.grad, c.grad, form .. ' grad')
        local x2 = S.from_golden(c.x):requires_grad()
        local g = nl.autograd.grad((f(x2) * w):sum(), { x2 }, { create_graph = true })[1]
        expect(g, c.grad2, form .. ' create_graph grad')
        if c.gg then expect(nl.autograd.grad(g:sum(), { x2 })[1], c.gg, form .. ' gradient of the gradient') end
      end
    end)
  end

  it('int64 input refuses a NaN or infinite threshold or value, as PyTorch (which cannot cast them)', function()
    local xi = nl.tensor({ 1, -2, 3 }, 'int64')
    has(errmsg(F.threshold, xi, 0 / 0, 5), 'threshold: threshold nan cannot be converted to int64 for the int64 input [3]')
    has(errmsg(F.threshold, xi, 1, -math.huge), 'threshold: value -inf cannot be converted to int64')
    has(errmsg(nn.Threshold(math.huge, 1), xi), 'threshold: threshold inf cannot be converted to int64')
    assert.are.same({ 5, 5, 3 }, F.threshold(xi, 2.5, 5.9):totable())
  end)
end)
