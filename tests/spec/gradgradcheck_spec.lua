-- nl.autograd.gradgradcheck (autograd_gradcheck.lua): second derivatives
-- by central differences in float64 of the first derivative's
-- vector-Jacobian product. Functions whose double backward is right pass;
-- custom autograd Functions with a double backward wrong w.r.t. the input
-- or w.r.t. the gradient fail, and the values the message gives are the
-- closed forms (d/dx of 3 x^2 v is 6 x v); the options; the refusals.
local nl = require 'nnlua'
local S = require 'support'

local function leaf(t) return nl.tensor(t, 'float64'):requires_grad() end
local function ggc(...) return nl.autograd.gradgradcheck(...) end

-- x^3 whose backward computes 3 x^2 g by CubeGrad, whose own backward
-- (the double backward of x^3) is right, or wrong w.r.t. x or w.r.t. g
local function cube(wrong)
  local CubeGrad = nl.autograd.Function:extend('CubeGrad')
  function CubeGrad.forward(ctx, x, g)
    ctx:save_for_backward(x, g)
    return x * x * g * 3
  end
  function CubeGrad.backward(ctx, gg)
    local x, g = ctx:saved_tensors()
    local dx, dg = x * g * gg * 6, x * x * gg * 3
    if wrong == 'x' then dx = dx * 0.5 end
    if wrong == 'g' then dg = dg + gg * 0.01 end
    return dx, dg
  end
  local Cube = nl.autograd.Function:extend('Cube')
  function Cube.forward(ctx, x)
    ctx:save_for_backward(x)
    return x * x * x
  end
  function Cube.backward(ctx, g)
    local x = ctx:saved_tensors()
    return CubeGrad.apply(x, g)
  end
  return function(x) return Cube.apply(x) end
end

describe('nl.autograd.gradgradcheck', function()
  it('passes functions whose double backward is right', function()
    local x, y = leaf({ 0.5, -1.25, 2 }), leaf({ 0.3, 0.7, -0.4 })
    assert.is_true((ggc(function(a, b) return (a * a * b):sin() end, { x, y })))
    assert.is_true((ggc(function(a) return a:exp():sum() end, { x })))
    assert.is_true((ggc(function(a) return a:tanh(), a:sigmoid(), a:argmax() end, x)))
    local A = leaf({ { 1, 2, 0.5 }, { -1, 0.25, 3 } })
    assert.is_true((ggc(function(m, v) return nl.matmul(m, v):softmax(1) end, { A, y })))
    -- an input that does not require grad is a constant
    assert.is_true((ggc(function(a, c) return a:pow(3) * c end, { x, nl.tensor({ 1, 2, 3 }, 'float64') })))
    -- a module's parameters, by functional_call
    nl.manual_seed(2)
    local m = nl.nn.Sequential(nl.nn.Linear(3, 2), nl.nn.Tanh()):double()
    local xb = nl.randn({ 4, 3 }, 'float64')
    local w, b = m[1].weight:detach():clone():requires_grad(), m[1].bias:detach():clone():requires_grad()
    assert.is_true((ggc(function(W, B)
      return nl.nn.utils.stateless.functional_call(m, { ['0.weight'] = W, ['0.bias'] = B }, xb)
    end, { w, b })))
    -- a custom Function whose double backward is right, and gradcheck of it
    assert.is_true((nl.gradcheck(cube(), { x })))
    x.grad = nil                  -- (nl.gradcheck leaves J^T w there)
    assert.is_true((ggc(cube(), { x })))
    -- no .grad left on the inputs
    assert.is_nil(x.grad)
    assert.is_nil(w.grad)
  end)

  it('fails a Function whose double backward is wrong w.r.t. x, with the numeric value 6 x v', function()
    local x = leaf({ 0.5, -1.25, 2 })
    local f = cube('x')
    -- the first derivative is right
    assert.is_true((nl.gradcheck(f, { x })))
    local v = leaf({ 0.75, -0.5, 0.25 })
    local ok, msg = ggc(f, { x }, { v })
    assert.is_false(ok)
    local analytic, numeric = msg:match('backward (%S+), numeric (%S+)$')
    assert.is_truthy(msg:find('gradgradcheck: d(gradient of input 1, element 1) / d(input 1 element 1)', 1, true), msg)
    -- d/dx1 of 3 x1^2 v1: 6 x1 v1 = 2.25; the wrong backward gives half
    assert.is_true(math.abs(tonumber(numeric) - 2.25) < 1e-6, msg)
    assert.is_true(math.abs(tonumber(analytic) - 1.125) < 1e-9, msg)
    -- random v (seeded: the same message each time), and raise_exception
    local ok2, msg2 = ggc(f, { x })
    assert.is_false(ok2)
    assert.are.equal(msg2, select(2, ggc(f, { x })))
    local e = S.errmsg(ggc, f, { x }, { raise_exception = true })
    S.contains(e, 'gradgradcheck: d(gradient of input 1, element 1) / d(input 1 element 1)')
  end)

  it('fails a Function whose double backward is wrong w.r.t. the gradient, naming grad_outputs', function()
    local x = leaf({ 0.5, -1.25, 2 })
    local f = cube('g')
    assert.is_true((nl.gradcheck(f, { x })))
    local v = leaf({ 0.75, -0.5, 0.25 })
    local ok, msg = ggc(f, { x }, v)
    assert.is_false(ok)
    S.contains(msg, 'd(gradient of input 1, element 1) / d(grad_outputs 1 element 1)')
    -- d/dv1 of 3 x1^2 v1: 3 x1^2 = 0.75
    local numeric = tonumber(msg:match('numeric (%S+)$'))
    assert.is_true(math.abs(numeric - 0.75) < 1e-6, msg)
    -- with a v that does not require grad, the derivatives w.r.t. x alone: right
    assert.is_true((ggc(f, { x }, nl.tensor({ 0.75, -0.5, 0.25 }, 'float64'))))
  end)

  it('tells a second derivative off by a relative 1e-4 at rtol 1e-5, and takes the options', function()
    local x = leaf({ 0.5, -1.25, 2 })
    local Sq = nl.autograd.Function:extend('DetachedSquare')
    function Sq.forward(ctx, a)
      ctx:save_for_backward(a)
      return a * a
    end
    -- the first derivative 2 x g is right; the second derivative of x^2
    -- is 2, this one's 2.0002
    function Sq.backward(ctx, g)
      local a = ctx:saved_tensors()
      return g * a * 2.0002 - g * a:detach() * 0.0002
    end
    local f = function(a) return Sq.apply(a) end
    assert.is_true((nl.gradcheck(f, { x })))
    local v = leaf({ 1, 1, 1 })
    -- relative error 1e-4 of a value 2: fails at rtol 1e-5, passes at the default rtol 1e-3
    assert.is_false((ggc(f, { x }, v, { atol = 1e-7, rtol = 1e-5 })))
    assert.is_true((ggc(f, { x }, v)))
    assert.is_true((ggc(f, { x }, v, { eps = 1e-4 })))
    -- non-contiguous random grad_outputs
    assert.is_true((ggc(function(a) return a:sin():reshape(3, 1) * a end, { x }, { gen_non_contig_grad_outputs = true })))
    -- nl.gradcheck takes raise_exception too
    S.contains(S.errmsg(nl.gradcheck, function(a) return a * a:detach() end, { x }, { raise_exception = true }),
               'gradcheck: input 1 element 1, output element 1: backward')
    assert.is_true(nl.autograd.gradcheck == nl.gradcheck)
  end)

  -- PyTorch's leaves the inputs' .grad alone; this one cleared a .grad
  -- the caller had, and refused an index among the inputs
  it(".grad of the inputs and of v as they were, also when it raises; inputs that need no grad as they are", function()
    local x, z = leaf({ 0.5, -1.25, 2 }), leaf({ 0, 1 })
    local v = leaf({ 0.25, -0.5, 1 })
    x.grad, v.grad, z.grad = nl.tensor({ 1, 2, 3 }, 'float64'), nl.tensor({ 4, 5, 6 }, 'float64'), nl.ones(2, 'float64')
    assert.is_true((ggc(function(a) return a:sin() end, { x }, v)))
    assert.are.same({ 1, 2, 3 }, x.grad:totable())
    assert.are.same({ 4, 5, 6 }, v.grad:totable())
    -- relu's first derivative jumps at 0
    S.contains(S.errmsg(ggc, function(a) return a:relu() end, { z }, { raise_exception = true }), 'gradgradcheck: d(')
    assert.are.same({ 1, 1 }, z.grad:totable())
    assert.is_nil(leaf({ 1 }).grad)
    local idx = nl.tensor({ 3, 1 }, 'int64')
    assert.is_true((ggc(function(a, i, s) return a:index_select(1, i):pow(3) * s end, { x, idx, 2 })))
    local ok, msg = ggc(cube('x'), { x, idx })
    assert.is_false(ok)
    S.contains(msg, 'd(gradient of input 1, element 1) / d(input 1 element 1)')
  end)

  it('refuses bad input, naming gradgradcheck', function()
    local x = leaf({ 0.5, -1.25, 2 })
    local sq = function(a) return a * a end
    S.contains(S.errmsg(ggc, 'f', { x }), 'gradgradcheck: expected a function')
    S.contains(S.errmsg(ggc, sq, { nl.tensor({ 1, 2 }):requires_grad() }), 'gradgradcheck: input 1 must be a float64 tensor')
    S.contains(S.errmsg(ggc, sq, { x * 1 }), 'gradgradcheck: input 1 is not a leaf')
    S.contains(S.errmsg(ggc, sq, { nl.tensor({ 1, 2 }, 'float64') }),
               'gradgradcheck: expects at least one input tensor to require gradient')
    S.contains(S.errmsg(ggc, sq, { x }, { fast_mode = true }), "gradgradcheck: unknown option 'fast_mode'")
    S.contains(S.errmsg(ggc, sq, { x }, nl.ones(3)), 'gradgradcheck: grad_outputs 1 must be a float64 tensor')
    S.contains(S.errmsg(ggc, sq, { x }, nl.ones({ 4 }, 'float64')),
               'gradgradcheck: grad_outputs 1 has shape [4], and result 1 of f has shape [3]')
    S.contains(S.errmsg(ggc, sq, { x }, { nl.ones({ 3 }, 'float64'), nl.ones({ 3 }, 'float64') }),
               'gradgradcheck: grad_outputs has 2 entries, and f has 1 results that require grad')
    S.contains(S.errmsg(ggc, sq, { x }, leaf({ 1, 1, 1 }) * 2), 'gradgradcheck: grad_outputs 1 is not a leaf')
    S.contains(S.errmsg(ggc, sq, { x }, nl.tensor({ 1 }, 'float64'):expand(3)),
               'gradgradcheck: grad_outputs 1 of shape [3] repeats memory')
    S.contains(S.errmsg(ggc, function(a) return a:detach() end, { x }), 'gradgradcheck: none of the results of f requires grad')
    local y = leaf({ 1 })
    S.contains(S.errmsg(ggc, function() return y * 2 end, { x }), 'gradgradcheck: f does not use any input that requires grad')
    S.contains(S.errmsg(ggc, sq, { x }, nil, {}, 5), 'gradgradcheck')
  end)
end)
