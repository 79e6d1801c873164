-- backward's inputs option, as PyTorch 1.13's Tensor.backward(inputs=...):
-- only the listed tensors' .grad take gradients. Values against PyTorch
-- 1.13 golden data (tests/golden/backward_inputs.lua, made by
-- tests/golden/gen_backward_inputs.py: each case builds the same graph
-- from the same leaves); the semantics (hooks, what is freed, the errors)
-- against 1.13's, with the torch lines that show each in a comment.
local nl = require 'nnlua'
local S = require 'support'

local golden = dofile(S.root .. '/tests/golden/backward_inputs.lua')
local TOL = { float32 = { 1e-5, 1e-6 }, float64 = { 1e-12, 1e-13 } }

-- the case's leaves, as tensors that require grad
local function leaves_of(c)
  local L = {}
  for k, v in pairs(c.leaves) do L[k] = S.from_golden(v):requires_grad() end
  return L
end

-- each named tensor's .grad against want (false: none)
local function expect_grads(name, got, want)
  for k, w in pairs(want) do
    local g = got[k].grad
    if w == false then
      assert.is_nil(g, name .. ': ' .. k .. '.grad should stay nil')
    else
      assert.is_not_nil(g, name .. ': ' .. k .. '.grad is nil')
      local t = TOL[g:dtype()]
      S.expect_close(g, w, name .. ': ' .. k .. '.grad', t[1], t[2])
    end
  end
end

local function T(...) return nl.tensor({ ... }, 'float64'):requires_grad() end

describe('backward inputs', function()
  it('gives gradients to the listed leaves only', function()
    local c = golden.only_listed
    local L = leaves_of(c)
    ;((L.x * L.w):tanh() + L.b):pow(2):sum():backward({ inputs = { L.x } })
    expect_grads('only_listed', L, c.grads)
  end)

  it('gives a two-layer net gradients in the listed parameters only (float32)', function()
    local c = golden.mlp
    local L = leaves_of(c)
    local h = (nl.matmul(L.X, L.W1) + L.b1):tanh()
    local loss = (nl.matmul(h, L.W2) + L.b2 - L.Y):pow(2):mean()
    loss:backward({ inputs = { L.W1, L.b2 } })
    expect_grads('mlp', L, c.grads)
  end)

  it('adds into an existing .grad and leaves an unlisted one as it was', function()
    local c = golden.accumulate
    local L = leaves_of(c)
    for k, g in pairs(c.grad0) do L[k].grad = S.from_golden(g) end
    ;(L.x:exp() * L.w * L.w):sum():backward({ inputs = { L.w } })
    expect_grads('accumulate', L, c.grads)
  end)

  it('accepts one tensor for the list', function()
    local c = golden.only_listed
    local L = leaves_of(c)
    ;((L.x * L.w):tanh() + L.b):pow(2):sum():backward({ inputs = L.x })
    expect_grads('only_listed (one tensor)', L, c.grads)
  end)

  it('fills the .grad of a tensor an op made, which retains it from then on', function()
    -- torch: loss.backward(inputs=[y]) sets y.grad and y.retains_grad
    local c = golden.nonleaf
    local L = leaves_of(c)
    local y = L.x:sin() * 2
    local loss = (y * y * L.x):sum()
    assert.is_false(y.retains_grad)
    loss:backward({ inputs = { y }, retain_graph = true })
    expect_grads('nonleaf', { x = L.x, y = y }, c.grads)
    assert.is_true(y.retains_grad)
    loss:backward()
    expect_grads('nonleaf, after a plain backward', { x = L.x, y = y }, c.after)
  end)

  it('runs the hooks of the graph in PyTorch 1.13 order, a tensor hook changing what flows on', function()
    local c = golden.hooks
    local L = leaves_of(c)
    local seen = {}
    local y = L.x * 3
    L.x:register_hook(function(g) seen[#seen + 1] = { 'x', g:clone() } end)
    L.w:register_hook(function(g) seen[#seen + 1] = { 'w', g:clone() } end)
    y:register_hook(function(g) return g * 10 end)
    y:register_hook(function(g) seen[#seen + 1] = { 'y', g:clone() } end)
    ;(y * y * L.w):sum():backward({ inputs = { L.x, L.w } })
    expect_grads('hooks', L, c.grads)
    assert.are.equal(#c.seen, #seen)
    for i, s in ipairs(c.seen) do
      assert.are.equal(s[1], seen[i][1], 'hook call ' .. i)
      S.expect_close(seen[i][2], s[2], 'hook call ' .. i, 1e-12, 1e-13)
    end
    assert.is_nil(y.grad)                   -- (not listed: it keeps none)
  end)

  it("runs a listed op output's hooks before its .grad takes the gradient", function()
    local c = golden.hooks_nonleaf
    local L = leaves_of(c)
    local y = L.x:exp()
    local seen, was_nil = {}, {}
    y:register_hook(function(g)
      seen[#seen + 1] = g:clone()
      was_nil[#was_nil + 1] = y.grad == nil
    end)
    y:register_hook(function(g) return g * -2 end)
    ;(y * y):sum():backward({ inputs = y })
    expect_grads('hooks_nonleaf', { x = L.x, y = y }, c.grads)
    assert.are.equal(1, #seen)
    S.expect_close(seen[1], c.seen[1][2], 'hook saw', 1e-12, 1e-13)
    assert.are.same(c.grad_was_none, was_nil)
  end)

  it('runs no hook of an unlisted leaf', function()
    -- torch: w.register_hook(...); (x * w).sum().backward(inputs=[x]): w's hook does not run
    local x, w = T(1, 2), T(3, 4)
    local ran = {}
    x:register_hook(function() ran[#ran + 1] = 'x' end)
    w:register_hook(function() ran[#ran + 1] = 'w' end)
    ;(x * w):sum():backward({ inputs = { x } })
    assert.are.same({ 'x' }, ran)
    assert.are.same({ 3, 4 }, x.grad:totable())
    assert.is_nil(w.grad)
  end)

  it('works with create_graph', function()
    local c = golden.create_graph
    local L = leaves_of(c)
    ;(L.x:pow(3) * L.w):sum():backward({ inputs = { L.x }, create_graph = true })
    expect_grads('create_graph', L, c.grads)
    assert.is_not_nil(L.x.grad:grad_fn())
    L.x.grad:sum():backward({ inputs = { L.w } })
    expect_grads('create_graph, second backward', L, c.after)
  end)

  it('works with create_graph for a listed op output', function()
    -- torch: y = x * x; (y * y).sum().backward(inputs=[y], create_graph=True): y.grad = 2 y, x.grad None
    local x = T(1, 3)
    local y = x * x
    ;(y * y):sum():backward({ inputs = { y }, create_graph = true })
    assert.are.same({ 2, 18 }, y.grad:totable())
    assert.is_nil(x.grad)
    assert.is_true(y.retains_grad)
  end)

  it('works with retain_graph, one pass per input', function()
    local c = golden.retain_graph
    local L = leaves_of(c)
    local loss = nl.matmul(L.x, L.w):sigmoid():sum()
    loss:backward({ inputs = { L.x }, retain_graph = true })
    expect_grads('retain_graph', L, c.grads)
    loss:backward({ inputs = { L.w } })
    expect_grads('retain_graph, second pass', L, c.after)
  end)

  it('takes a given gradient, and leaves an input the root does not depend on without .grad', function()
    local c = golden.given_gradient
    local L = leaves_of(c)
    ;(L.x * L.x:cos()):backward(S.from_golden(c.v), { inputs = { L.u, L.x } })
    expect_grads('given_gradient', L, c.grads)
  end)

  it('frees the nodes that ran, the node of a listed op output among them, as PyTorch 1.13', function()
    -- torch: z.backward(inputs=[y]) then y.sum().backward(): "Trying to backward through the graph a second time"
    local x, w = T(1, 2), T(3, 4)
    local y = x * w
    ;(y * y):sum():backward({ inputs = { y } })
    S.contains(S.errmsg(function() y:sum():backward() end), 'freed by an earlier backward')
    -- torch: p = c * d; (a * b + p).sum().backward(inputs=[a]); p.sum().backward() works (p's node did not run)
    local a, b, cc, d = T(1), T(2), T(3), T(4)
    local p = cc * d
    ;(a * b + p):sum():backward({ inputs = { a } })
    assert.are.same({ 2 }, a.grad:totable())
    assert.is_nil(b.grad)
    p:sum():backward()
    assert.are.same({ 4 }, cc.grad:totable())
    -- torch: a listed tensor whose node an earlier backward freed is refused
    local x2 = T(1, 2)
    local y2 = x2 * 2
    ;(y2 * y2):sum():backward()
    S.contains(S.errmsg(function() (y2 * 3):sum():backward({ inputs = { y2 } }) end), 'freed by an earlier backward')
  end)

  it('takes a leaf root or an op output root itself', function()
    -- torch: x.backward(inputs=[x]) gives x.grad = 1; y.backward(inputs=[y]): y.grad = 1, x.grad None
    local x = T(2)
    x:backward({ inputs = { x } })
    assert.are.same({ 1 }, x.grad:totable())
    local x2 = T(2)
    local y = x2 * x2
    y:backward({ inputs = { y } })
    assert.are.same({ 1 }, y.grad:totable())
    assert.is_nil(x2.grad)
  end)

  it('marks an unreached op output as retaining its gradient, which stays nil', function()
    -- torch: v = u * 2; z.backward(inputs=[v]): v.grad None, v.retains_grad True; a listed leaf: None
    local x, u = T(1, 2), T(5)
    local v = u * 2
    local z = (x * x):sum()
    z:backward({ inputs = { v, u }, retain_graph = true })
    assert.is_nil(v.grad)
    assert.is_nil(u.grad)
    assert.is_nil(x.grad)
    assert.is_true(v.retains_grad)
  end)

  it('counts an input given twice once', function()
    -- torch: (x * x).sum().backward(inputs=[x, x]): x.grad = 2 x
    local x = T(1, 2)
    ;(x * x):sum():backward({ inputs = { x, x } })
    assert.are.same({ 2, 4 }, x.grad:totable())
  end)

  it('refuses bad inputs, naming backward, and changes no .grad', function()
    local x, w = T(1, 2), T(3, 4)
    local z = (x * w):sum()
    -- torch: "'inputs' argument to backward() cannot be empty."
    S.contains(S.errmsg(function() z:backward({ inputs = {}, retain_graph = true }) end),
               "backward: inputs is an empty list ('inputs' argument to backward() cannot be empty)")
    -- torch: "can't retain_grad on Tensor that has requires_grad=False"
    S.contains(S.errmsg(function() z:backward({ inputs = { x, nl.tensor({ 1, 2, 3 }) }, retain_graph = true }) end),
               'backward: input 2 (shape [3]) does not require grad')
    -- torch: "all inputs have to be Tensors, but got int"
    S.contains(S.errmsg(function() z:backward({ inputs = { x, 3 }, retain_graph = true }) end),
               'backward: entry 2 of inputs must be a tensor, got 3')
    S.contains(S.errmsg(function() z:backward({ inputs = 3, retain_graph = true }) end),
               'backward: expected a tensor or a list of tensors as inputs')
    S.contains(S.errmsg(function() z:backward({ inputs = { x, nil, w }, retain_graph = true }) end),
               'backward: entry 2 of inputs must be a tensor, got nil')
    S.contains(S.errmsg(function() nl.tensor({ 1 }):backward({ inputs = { x } }) end),
               'backward: the tensor of shape [1] does not require grad')
    S.contains(S.errmsg(function() (x * w):backward({ inputs = { x } }) end),
               'backward: a gradient is needed for a non-scalar tensor of shape [2]')
    S.contains(S.errmsg(function() z:backward({ inputs = { x }, create_graph = 1 }) end),
               'backward: create_graph must be a boolean')
    assert.is_nil(x.grad)
    assert.is_nil(w.grad)
    -- a refused list makes no tensor an op made retain its gradient
    local y = x * 2
    S.errmsg(function() (y * y):sum():backward({ inputs = { y, 3 } }) end)
    assert.is_false(y.retains_grad)
    -- the graph is still whole
    z:backward({ inputs = { w } })
    assert.are.same({ 1, 2 }, w.grad:totable())
  end)

  it('is in the C API: nl_backward_inputs gives the listed leaves gradients, nothing to the others', function()
    local ffi = require 'ffi'
    local lib = nl._lib
    local x, w = T(1, 2), T(3, 4)
    local z = (x * w):sum()
    local arr = ffi.new('nl_tensor *[1]', w.ptr)
    assert.are.equal(0, lib.nl_backward_inputs(z.ptr, nil, 1, arr, 0, nil, nil))
    assert.are.same({ 1, 2 }, w.grad:totable())
    assert.is_nil(x.grad)
    assert.are.equal(-1, lib.nl_backward_inputs(z.ptr, nil, 0, arr, 0, nil, nil))
  end)
end)
