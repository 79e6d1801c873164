-- act_args_spec.lua: the activations' arguments at NaN, +-inf, negative
-- and zero values against PyTorch 1.13 (tests/golden/act_args.lua, made by
-- gen_act_args.py): taken where PyTorch takes them, with its values and
-- gradients (F and the module), and refused with a message naming the op
-- and the argument where PyTorch raises.
local nl = require 'nnlua'
local nn = nl.nn
local F = nn.functional
local S = require 'support'

local TOL = { float32 = { 1e-5, 1e-6 }, float64 = { 1e-12, 1e-14 } }
local errmsg, has = S.errmsg, S.contains
local nan, inf = 0 / 0, math.huge

local function finite(v) return v == v and v > -inf and v < inf end

describe('activation arguments at NaN, +-inf, negative and zero against PyTorch', function()
  local cases = dofile(S.root .. '/tests/golden/act_args.lua')
  for _, c in ipairs(cases) do
    it(c.name .. ' (' .. c.dtype .. '): out, gradient, create_graph gradient and its gradient; the module', function()
      local tol = TOL[c.dtype]
      local expect = function(got, want, what) S.expect_golden(got, want, c.name .. ' ' .. what, tol) end
      local forms = { F = function(x) return F[c.fn](x, unpack(c.args, 1, 2)) end }
      if c.module then
        local m = nn[c.module](unpack(c.args, 1, 2))
        if c.dtype == 'float64' then m:double() end
        m:eval()
        forms.module = m
      end
      for form, f in pairs(forms) do
        local x = S.from_golden(c.x):requires_grad()
        local y = f(x)
        expect(y, c.out, form .. ' out')
        y:sum():backward()
        expect(x.grad, c.grad, form .. ' grad')
        local x2 = S.from_golden(c.x):requires_grad()
        local g = nl.autograd.grad(f(x2):sum(), { x2 }, { create_graph = true })[1]
        expect(g, c.grad2, form .. ' create_graph grad')
        if c.gg then
          local gg = nl.autograd.grad(g:sum(), { x2 })[1]
          expect(gg, c.gg, form .. ' gradient of the gradient')
        end
      end
    end)
  end
end)

describe('activation arguments PyTorch refuses', function()
  local x = nl.tensor({ -1, 0, 2 })
  it('are refused with a message naming the op and the argument', function()
    -- PyTorch: lambda must be greater or equal to 0, but found to be nan.
    has(errmsg(F.softshrink, x, nan), 'softshrink: lambd must be >= 0, got nan')
    has(errmsg(F.softshrink, x, -inf), 'softshrink: lambd must be >= 0, got -inf')
    has(errmsg(function() return x:softshrink(-1) end), 'softshrink: lambd must be >= 0, got -1')
    has(errmsg(nn.Softshrink, nan), 'Softshrink: lambd must be >= 0, got nan')
    -- PyTorch: ZeroDivisionError: alpha cannot be 0 for CELU
    has(errmsg(F.celu, x, 0), 'celu: alpha cannot be 0')
    -- PyTorch: Lower bound should be less than or equal to the upper bound
    has(errmsg(F.rrelu, x, nan, 0.3), 'rrelu: lower and upper must be numbers (not NaN), got nan and 0.3')
    has(errmsg(nn.RReLU, 0.1, nan), 'RReLU: lower and upper must be numbers (not NaN)')
    has(errmsg(F.rrelu, x, 0.5, 0.1), 'rrelu: lower (0.5) must not be above upper (0.1)')
    -- PyTorch's training draws (uniform_) refuse an infinite bound; eval takes it
    has(errmsg(F.rrelu, x, 0.1, inf, true), 'rrelu: in training lower and upper must be finite')
    has(errmsg(nn.RReLU(-inf, 1), x), 'rrelu: in training lower and upper must be finite')
    -- nn.Hardtanh asserts max_val > min_val, which NaN fails
    has(errmsg(nn.Hardtanh, nan, 1), 'Hardtanh: max_val (1) must be greater than min_val (nan)')
    has(errmsg(nn.Hardtanh, 2, 1), 'Hardtanh: max_val (1) must be greater than min_val (2)')
    -- int64: PyTorch cannot convert a NaN or infinite bound
    local xi = nl.tensor({ -3, 0, 5 }, 'int64')
    has(errmsg(F.hardtanh, xi, nan, 1), 'hardtanh: min_val nan cannot be converted to int64 for the int64 input [3]')
    has(errmsg(function() return xi:hardtanh_(-1, inf) end), 'hardtanh_: max_val inf cannot be converted to int64')
  end)

  it('int64 hardtanh with min_val above max_val gives max_val, as PyTorch', function()
    -- F.hardtanh(torch.tensor([-3, 0, 5]), 2.5, 1.5): [1, 1, 1]
    assert.are.same({ 1, 1, 1 }, F.hardtanh(nl.tensor({ -3, 0, 5 }, 'int64'), 2.5, 1.5):totable())
  end)

  it('in place: the values out of place gives', function()
    for _, c in ipairs({ { 'elu_', nan }, { 'celu_', -inf }, { 'leaky_relu_', inf }, { 'hardtanh_', 2, 1 },
                         { 'hardtanh_', nan, 1 } }) do
      local x = nl.tensor({ -3, -0.5, 0, 0.3, 2, inf, -inf, nan })
      local want = x[c[1]:sub(1, -2)](x, unpack(c, 2))
      S.expect_golden(x[c[1]](x, unpack(c, 2)), want, c[1], nil)
    end
  end)
end)
