-- nl.autograd.grad: the gradients of outputs with respect to chosen
-- inputs, as PyTorch 1.13's torch.autograd.grad. Values are checked against
-- float64 central differences and closed forms; that no .grad changes,
-- against the .grad a backward of the same graph leaves; the semantics
-- (which parts of the graph run, what is freed, the errors) against
-- PyTorch 1.13's, with the torch lines that show each in a comment.
local nl = require 'nnlua'
local ffi = require 'ffi'
local S = require 'support'

local function leaf(v) return nl.tensor(v, 'float64'):requires_grad() end

local function assert_close(t, want, tol)
  local got = t:reshape(-1):totable()
  assert.are.equal(#want, #got)
  for i = 1, #want do
    assert.is_true(S.close(got[i], want[i], tol, tol), ('element %d: got %.17g, want %.17g'):format(i, got[i], want[i]))
  end
end

-- d f / d x by central differences (h = 1e-6) in float64, element by
-- element through x's memory (x: a contiguous float64 leaf); f returns a
-- one-element tensor
local function numeric_grad(f, x)
  local p = ffi.cast('double *', x.ptr.data)
  local out = {}
  for k = 0, x:numel() - 1 do
    local orig = p[k]
    p[k] = orig + 1e-6
    local fp = nl.no_grad(f):item()
    p[k] = orig - 1e-6
    local fm = nl.no_grad(f):item()
    p[k] = orig
    out[k + 1] = (fp - fm) / 2e-6
  end
  return out
end

describe('nl.autograd.grad', function()
  local rnd = S.rng(7)
  local function rand_leaf(shape) return nl.tensor(S.nested(shape, function() return rnd() end), 'float64'):requires_grad() end

  it('gives the gradients of a scalar, as float64 central differences do', function()
    local x, w, b = rand_leaf({ 3, 4 }), rand_leaf({ 4, 2 }), rand_leaf({ 2 })
    local function f() return ((x:matmul(w) + b):tanh() * x:sum(2, true)):mean() end
    local g = nl.autograd.grad(f(), { x, w, b })
    assert.are.equal(3, #g)
    for i, t in ipairs({ x, w, b }) do
      assert.are.same(t:shape(), g[i]:shape())
      assert_close(g[i], numeric_grad(f, t), 1e-7)
    end
  end)

  it('weights several outputs by grad_outputs (nil: 1 for a scalar), as a backward of their weighted sum', function()
    local x, w = rand_leaf({ 2, 3 }), rand_leaf({ 3 })
    local v = nl.tensor({ { 0.5, -2, 1.5 }, { 3, 0.25, -1 } }, 'float64')
    local function outs() return (x * w):sin(), (x:exp() * w):sum() end
    local o1, o2 = outs()
    local g = nl.autograd.grad({ o1, o2 }, { x, w }, { grad_outputs = { v, nil } })
    local function f()
      local a, b = outs()
      return (a * v):sum() + b
    end
    assert_close(g[1], numeric_grad(f, x), 1e-7)
    assert_close(g[2], numeric_grad(f, w), 1e-7)
  end)

  it('touches no .grad, and gives what a backward of the same graph adds to .grad, bit for bit', function()
    local x, w = rand_leaf({ 4, 3 }), rand_leaf({ 3, 3 })
    local other = rand_leaf({ 3 })                 -- in the graph, not asked for
    x.grad = nl.full({ 4, 3 }, 5, 'float64')
    local loss = ((x:matmul(w) + other):relu() * x):sum()
    local g = nl.autograd.grad(loss, { x, w }, { retain_graph = true })
    assert.are.same(nl.full({ 4, 3 }, 5, 'float64'):totable(), x.grad:totable())
    assert.is_nil(w.grad)
    assert.is_nil(other.grad)
    x.grad = nil
    loss:backward()
    assert.are.same(x.grad:totable(), g[1]:totable())
    assert.are.same(w.grad:totable(), g[2]:totable())
  end)

  it('returns the gradient of an input that an op made, and only the nodes on a path to an input run', function()
    -- x = torch.tensor([1., 2.], requires_grad=True); y = x * 3; z = y * y
    -- torch.autograd.grad(z.sum(), [y, x]) -> (tensor([ 6., 12.]), tensor([18., 36.]))
    local x = leaf({ 1, 2 })
    local y = x * 3
    local g = nl.autograd.grad((y * y):sum(), { y, x })
    assert_close(g[1], { 6, 12 }, 0)
    assert_close(g[2], { 18, 36 }, 0)
    -- y's own graph is not run for y alone: an earlier backward freed it,
    -- and PyTorch gives y's gradient all the same
    -- y = x * 3; y.sum().backward(); torch.autograd.grad((y * 4).sum(), y) -> (tensor([4., 4.]),)
    local y2 = x * 3
    y2:sum():backward()
    assert_close(nl.autograd.grad((y2 * 4):sum(), y2)[1], { 4, 4 }, 0)
    -- ... while asking for x through it is the freed-graph error
    local err = S.errmsg(nl.autograd.grad, (y2 * 4):sum(), x)
    S.contains(err, 'grad: the graph through mul was freed')
  end)

  it('gives an input listed twice its gradient twice, and an output that is an input its grad_outputs', function()
    -- torch.autograd.grad([x * x, (x * 3).sum()], [x, x], [torch.tensor([1., 10.]), None])
    --   -> (tensor([ 5., 43.]), tensor([ 5., 43.]))
    local x = leaf({ 1, 2 })
    local g = nl.autograd.grad({ x * x, (x * 3):sum() }, { x, x }, { grad_outputs = { nl.tensor({ 1, 10 }, 'float64') } })
    assert_close(g[1], { 5, 43 }, 0)
    assert_close(g[2], { 5, 43 }, 0)
    -- torch.autograd.grad(x, x, torch.ones(2)) -> (tensor([1., 1.]),)
    assert_close(nl.autograd.grad(x, x, { grad_outputs = nl.ones({ 2 }, 'float64') })[1], { 1, 1 }, 0)
    assert.is_nil(x.grad)
  end)

  it('frees the graph unless retain_graph, as backward does', function()
    local x = leaf({ 1, 2 })
    local y = (x * x):sum()
    nl.autograd.grad(y, x)
    S.contains(S.errmsg(function() y:backward() end), 'backward: the graph through sum was freed')
    y = (x * x):sum()
    assert_close(nl.autograd.grad(y, x, { retain_graph = true })[1], { 2, 4 }, 0)
    y:backward()
    assert_close(x.grad, { 2, 4 }, 0)
  end)

  it('gives nil for an input the outputs do not reach only with allow_unused', function()
    -- torch.autograd.grad((x * 2).sum(), [x, w], allow_unused=True) -> (tensor([2., 2.]), None)
    local x, w = leaf({ 1, 2 }), leaf({ 3 })
    local g = nl.autograd.grad((x * 2):sum(), { x, w }, { allow_unused = true })
    assert_close(g[1], { 2, 2 }, 0)
    assert.is_nil(g[2])
    S.contains(S.errmsg(nl.autograd.grad, (x * 2):sum(), { x, w }),
      'grad: input 2 (shape [1]) was not used to compute the outputs; pass allow_unused = true')
  end)

  it('takes a float32 output with a float64 grad_outputs, as PyTorch does, in the output\'s dtype', function()
    local x = nl.tensor({ 1, 2 }):requires_grad()
    local g = nl.autograd.grad(x * 3, x, { grad_outputs = nl.tensor({ 1, 2 }, 'float64') })[1]
    assert.are.equal('float32', g:dtype())
    assert_close(g, { 3, 6 }, 0)
  end)

  it('refuses bad arguments, naming grad', function()
    local x = leaf({ 1, 2 })
    local y = (x * 2):sum()
    local cases = {
      { function() nl.autograd.grad(y, { x, nl.ones({ 2 }) }) end, 'grad: input 2 (shape [2]) does not require grad' },
      { function() nl.autograd.grad(nl.ones({ 2 }):sum(), x) end, 'grad: output 1 (shape []) does not require grad' },
      { function() nl.autograd.grad(x * 2, x) end, 'grad: output 1 of shape [2] is not a scalar' },
      { function() nl.autograd.grad(x * 2, x, { grad_outputs = nl.ones({ 3 }) }) end,
        'grad: grad_outputs 1 has shape [3], but output 1 has shape [2]' },
      { function() nl.autograd.grad(y, x, { grad_outputs = { nil, nl.ones({}) } }) end,
        'grad: grad_outputs has 2 entries for 1 outputs' },
      { function() nl.autograd.grad(y, x, { retain = true }) end, "grad: unknown option 'retain'" },
      { function() nl.autograd.grad(y, x, { allow_unused = 1 }) end, 'grad: allow_unused must be a boolean' },
      { function() nl.autograd.grad(y, x, { only_inputs = 'yes' }) end, 'grad: only_inputs must be a boolean' },
      { function() nl.autograd.grad(y, {}) end, 'grad: inputs is an empty list' },
      { function() nl.autograd.grad(y, { x, 3 }) end, 'grad: entry 2 of inputs must be a tensor' },
      { function() nl.autograd.grad(y, { [2] = x }) end, 'grad: entry 1 of inputs must be a tensor' },
      { function() nl.autograd.grad(y, x, { grad_outputs = { 'a' } }) end,
        'grad: entry 1 of grad_outputs must be a tensor or nil' },
      { function() nl.autograd.grad(nil, x) end, 'grad:' },
    }
    for _, c in ipairs(cases) do S.contains(S.errmsg(c[1]), c[2]) end
    -- none of them ran the graph
    assert_close(nl.autograd.grad(y, x)[1], { 2, 2 }, 0)
  end)

  it("takes PyTorch 1.13's deprecated only_inputs, true or false, and ignores it as PyTorch does", function()
    -- PyTorch 1.13 warns that only_inputs is ignored; torch.autograd.grad
    -- of sum(x * x) at x = (1, 2) gives (2, 4) either way and no .grad
    for _, flag in ipairs({ true, false }) do
      for _, cg in ipairs({ false, true }) do
        local x = nl.tensor({ 1, 2 }, 'float64'):requires_grad()
        local g = nl.autograd.grad((x * x):sum(), x, { only_inputs = flag, create_graph = cg })
        assert_close(g[1], { 2, 4 }, 0)
        assert.is_nil(x.grad)
      end
    end
  end)
end)
