-- Autograd semantics as in PyTorch: leaves and graph nodes, accumulation
-- and clearing of .grad, backward's arguments and errors, no_grad, detach,
-- in-place rules and version checks, graph shapes (shared inputs, diamonds,
-- deep chains), outputs that carry no gradient, un-broadcasting of
-- gradients, and flat memory over a million backward passes. Expected
-- values are computed here in Lua from the inputs, not by nnlua.
local nl = require 'nnlua'
local S = require 'support'

local function leaf(v, dtype) return nl.tensor(v, dtype or 'float64'):requires_grad() end

-- elementwise comparison of tensor t with the nested table want
local function assert_values(t, want, tol)
  tol = tol or 1e-12
  local got = t:totable()
  local function cmp(g, w, path)
    if type(w) == 'table' then
      assert.are.equal(#w, type(g) == 'table' and #g or -1, 'length at ' .. path)
      for i = 1, #w do cmp(g[i], w[i], path .. '[' .. i .. ']') end
    else
      assert.is_true(S.close(g, w, tol, tol), ('%s: got %.17g, want %.17g'):format(path, g, w))
    end
  end
  cmp(got, want, 'value')
end

local function map(t, f)
  local out = {}
  for i, v in ipairs(t) do out[i] = type(v) == 'table' and map(v, f) or f(v, i) end
  return out
end

describe('autograd', function()
  describe('leaves and graph nodes', function()
    it('a tensor made by the user is a leaf; one made by an op on it is not', function()
      local a = leaf({ 1, 2, 3 })
      assert.is_true(a:is_leaf())
      assert.is_nil(a:grad_fn())
      assert.is_true(a.is_requires_grad)
      local y = a * 2
      assert.is_false(y:is_leaf())
      assert.are.equal('mul', y:grad_fn())
      assert.is_true(y.is_requires_grad)
      assert.are.equal('sum', y:sum():grad_fn())
      assert.are.equal('add', (y + a):grad_fn())
      assert.are.equal('matmul', nl.matmul(a, a):grad_fn())
      assert.are.equal('exp', a:exp():grad_fn())
    end)

    it('ops on tensors that do not require grad make leaves without grad_fn', function()
      local c = nl.tensor({ 1, 2 }) * 2 + 1
      assert.is_true(c:is_leaf())
      assert.is_nil(c:grad_fn())
      assert.is_false(c.is_requires_grad)
      assert.is_false(nl.tensor({ 1 }).is_requires_grad)
    end)

    it('requires_grad(false) on a leaf stops recording', function()
      local a = leaf({ 1, 2 })
      a:requires_grad(false)
      assert.is_false(a.is_requires_grad)
      assert.is_nil((a * 2):grad_fn())
    end)

    it('requires_grad errors on int64 tensors and on non-leaves turned off', function()
      assert.has_error(function() nl.tensor({ 1, 2 }, 'int64'):requires_grad() end,
        'requires_grad: only float tensors can require grad, got int64 [2]')
      local a = leaf({ 1, 2 })
      local y = a * 2
      local ok, msg = pcall(function() y:requires_grad(false) end)
      assert.is_false(ok)
      assert.matches('only leaf tensors', msg)
      assert.is_false((pcall(function() y:requires_grad_(false) end)))
      -- true on a tensor an op made is no change, as PyTorch 1.13's
      -- requires_grad_() on a non-leaf: it stays the op's, and backward
      -- goes through it (x.grad = 2 * 3)
      assert.are.equal(y, y:requires_grad())
      assert.are.equal(y, y:requires_grad_(true))
      assert.are.equal('mul', y:grad_fn())
      assert.is_false(y:is_leaf())
      assert.is_true(y.is_requires_grad)
      ;(y * 3):sum():backward()
      assert_values(a.grad, { 6, 6 })
    end)

    it('a non-leaf keeps no .grad after backward; its leaf does', function()
      local a = leaf({ 1, 2 })
      local y = a * 3
      y:sum():backward()
      assert.is_nil(y.grad)
      assert_values(a.grad, { 3, 3 })
    end)

    it('gradients do not reach tensors that do not require grad', function()
      local a, b = leaf({ 1, 2 }), nl.tensor({ 5, 7 }, 'float64')
      ;(a * b):sum():backward()
      assert.is_nil(b.grad)
      assert_values(a.grad, { 5, 7 })
    end)

    it('a gradient has its leaf dtype and shape', function()
      local a = leaf({ { 1, 2 }, { 3, 4 } }, 'float32')
      ;(a * a):sum():backward()
      assert.are.equal('float32', a.grad:dtype())
      assert.are.same({ 2, 2 }, a.grad:shape())
      assert_values(a.grad, { { 2, 4 }, { 6, 8 } })
      local d = leaf({ 1, 2 })
      ;(d:to('float32') * 3):sum():backward()
      assert.are.equal('float64', d.grad:dtype())
      assert_values(d.grad, { 3, 3 })
    end)

    -- A float32 result times a float64 tensor is float64, so a float64
    -- gradient comes back to the float32 op: its backward must see float32
    -- (the kernels once read the float64 buffer as float32: max_pool2d's
    -- gradient of 1 came out 1.875, conv2d's near 1e12, and Linear's
    -- backward raised a dtype error). Each op's input gradient must equal
    -- the one from a float32 upstream gradient.
    it("an op's backward gets its output's dtype when a wider gradient reaches it", function()
      local nn = nl.nn
      nl.manual_seed(5)
      local lstm = nn.LSTM(4, 3)
      local cases = {
        { 'max_pool2d', function(x) return nn.functional.max_pool2d(x, 2) end, { 1, 2, 4, 4 } },
        { 'avg_pool2d', function(x) return nn.functional.avg_pool2d(x, 2) end, { 1, 2, 4, 4 } },
        { 'conv2d', nn.Conv2d(2, 3, 3, { padding = 1 }), { 2, 2, 5, 5 } },
        { 'linear', nn.Linear(4, 3), { 5, 4 } },
        { 'lstm', function(x) return (lstm(x)) end, { 6, 2, 4 } },
      }
      for _, c in ipairs(cases) do
        local f, x0 = c[2], nl.randn(c[3])
        local grads = {}
        for _, gdt in ipairs({ 'float32', 'float64' }) do
          local x = x0:clone():requires_grad()
          local y = f(x)
          local w = nl.arange(y:numel()):view(y:shape()):to(gdt) / y:numel()
          ;(y * w):sum():backward()
          assert.are.equal('float32', x.grad:dtype(), c[1])
          grads[gdt] = x.grad
        end
        local diff = (grads.float32 - grads.float64):abs():max():item()
        local scale = grads.float32:abs():max():item()
        assert.is_true(scale > 0 and diff <= 1e-5 * scale, ('%s: %g against %g'):format(c[1], diff, scale))
      end
    end)
  end)

  describe('.grad accumulation and clearing', function()
    it('accumulates (+=) over backward calls on two separate graphs', function()
      local av, bv = { 0.5, -1, 2 }, { 3, 4, -5 }
      local a, b = leaf(av), nl.tensor(bv, 'float64')
      ;(a * b):sum():backward()
      assert_values(a.grad, bv)
      ;(a * a):sum():backward()
      assert_values(a.grad, map(av, function(x, i) return bv[i] + 2 * x end))
    end)

    it('.grad = nil clears, and the next backward starts from zero', function()
      local a = leaf({ 1, 2 })
      ;(a * 4):sum():backward()
      a.grad = nil
      assert.is_nil(a.grad)
      ;(a * 3):sum():backward()
      assert_values(a.grad, { 3, 3 })
    end)

    it('zero_grad() clears', function()
      local a = leaf({ 1, 2 })
      ;(a * 4):sum():backward()
      a:zero_grad()
      assert.is_nil(a.grad)
      ;(a * 3):sum():backward()
      assert_values(a.grad, { 3, 3 })
    end)

    it('.grad = g sets the gradient, and backward adds to it; a wrong shape errors', function()
      local a = leaf({ 1, 2 })
      a.grad = nl.tensor({ 10, 20 }, 'float64')
      ;(a * 3):sum():backward()
      assert_values(a.grad, { 13, 23 })
      assert.has_error(function() a.grad = nl.zeros(3, 'float64') end,
        'grad: gradient of shape [3] for a tensor of shape [2]')
    end)
  end)

  describe('backward', function()
    it('on a non-scalar without a gradient errors', function()
      local a = leaf({ 1, 2, 3 })
      local ok, msg = pcall(function() (a * 2):backward() end)
      assert.is_false(ok)
      assert.matches('a gradient is needed for a non%-scalar tensor of shape %[3%]', msg)
    end)

    it('on a tensor that does not require grad errors', function()
      local ok, msg = pcall(function() nl.tensor({ 1, 2 }):sum():backward() end)
      assert.is_false(ok)
      assert.matches('does not require grad', msg)
    end)

    it('with an explicit gradient computes J^T g', function()
      local av, bv, gv = { 1, 2, 3 }, { 4, -5, 6 }, { 1, 0, 2 }
      local a, b = leaf(av), leaf(bv)
      ;(a * b):backward(nl.tensor(gv, 'float64'))
      assert_values(a.grad, map(bv, function(x, i) return x * gv[i] end))
      assert_values(b.grad, map(av, function(x, i) return x * gv[i] end))
      local m = leaf({ { 1, 2 }, { 3, 4 } })
      m:exp():backward(nl.tensor({ { 1, 2 }, { 0, -1 } }, 'float64'))
      assert_values(m.grad, { { math.exp(1), 2 * math.exp(2) }, { 0, -math.exp(4) } })
    end)

    it('with a gradient of the wrong shape errors', function()
      local a = leaf({ 1, 2, 3 })
      assert.has_error(function() (a * 2):backward(nl.ones(2, 'float64')) end,
        'backward: gradient of shape [2] for a tensor of shape [3]')
    end)

    it('on a scalar leaf gives it gradient 1', function()
      local a = leaf(2.5)
      a:backward()
      assert.are.equal(1, a.grad:item())
    end)

    it('twice on the same graph errors; the second call names the freed graph', function()
      local a, b = leaf({ 1, 2 }), nl.tensor({ 3, 4 }, 'float64')
      local L = (a * b):sum()
      L:backward()
      local ok, msg = pcall(function() L:backward() end)
      assert.is_false(ok)
      assert.matches('freed', msg)
      assert.matches('retain_graph', msg)
      -- a new root over the freed part errors too
      local y = a * b
      y:sum():backward()
      assert.is_false((pcall(function() y:sum():backward() end)))
    end)

    -- the freed part is found before any gradient is computed: a.grad once
    -- took the a * 5 path's share (2 -> 7) and b.grad appeared, though the
    -- call raised; a saved input changed in place likewise
    it('a backward that raises leaves every .grad as it was', function()
      local a, b = leaf({ 1, 1, 1 }), leaf({ 1, 1, 1 })
      local h = a * a
      h:sum():backward()                                -- frees h's node; a.grad = 2
      local tot = (h * 2):sum() + (b * 3):sum() + (a * 5):sum()
      assert.is_false((pcall(function() tot:backward() end)))
      assert_values(a.grad, { 2, 2, 2 })
      assert.is_nil(b.grad)
      local c, d = leaf({ 1, 2 }), nl.tensor({ 3, 4 }, 'float64')
      local z = (c * d):sum() + (c * 7):sum()
      d:mul_(2)                                         -- saved by c * d
      assert.is_false((pcall(function() z:backward() end)))
      assert.is_nil(c.grad)
    end)

    it('keeps what a freed graph leaves: grad_fn, non-leaf, and errors through it', function()
      -- backward frees each node it ran (its output keeps only the op), so
      -- the outputs must still answer as PyTorch's do after backward
      local a = leaf({ 1, 2 })
      local y = a * 3
      local z = y:exp()
      z:sum():backward()
      assert.are.equal('mul', y:grad_fn())
      assert.are.equal('exp', z:grad_fn())
      assert.is_false(y:is_leaf())
      assert.is_true(y.is_requires_grad)
      assert.is_nil(y.grad)
      local ok, msg = pcall(function() y:requires_grad(false) end)
      assert.is_false(ok)
      assert.matches('only leaf tensors', msg)
      assert.matches('mul', msg)
      -- an op on a freed output records as usual; backward through it names
      -- the freed op, and leaves no gradient on the freed non-leaf
      local w = (y * y):sum()
      assert.are.equal('sum', w:grad_fn())
      ok, msg = pcall(function() w:backward() end)
      assert.is_false(ok)
      assert.matches('graph through mul was freed', msg)
      assert.is_nil(y.grad)
      -- a freed root errors the same way
      ok, msg = pcall(function() y:backward(nl.tensor({ 1, 1 }, 'float64')) end)
      assert.is_false(ok)
      assert.matches('graph through mul was freed', msg)
      -- a graph that did not take part in the backward keeps its nodes
      local u, v = a * 2, (a * a):exp()
      u:sum():backward()
      a.grad = nil
      v:sum():backward()
      assert_values(a.grad, { 2 * 1 * math.exp(1), 2 * 2 * math.exp(4) })
      assert.are.equal('exp', v:grad_fn())
    end)

    it('twice with retain_graph the first time works and doubles the gradient', function()
      local a, b = leaf({ 1, 2 }), nl.tensor({ 3, 4 }, 'float64')
      local L = (a * b + a:exp()):sum()
      L:backward({ retain_graph = true })
      local once = { 3 + math.exp(1), 4 + math.exp(2) }
      assert_values(a.grad, once)
      L:backward()
      assert_values(a.grad, map(once, function(x) return 2 * x end))
      -- the second call did not retain: a third errors
      assert.is_false((pcall(function() L:backward() end)))
    end)

    it('retain_graph with an explicit gradient', function()
      local a = leaf({ 1, 2 })
      local y = a * a
      y:backward(nl.tensor({ 1, 1 }, 'float64'), { retain_graph = true })
      y:backward(nl.tensor({ 1, -1 }, 'float64'))
      assert_values(a.grad, { 2 * 1 * 2, 2 * 2 * 0 })
    end)

    -- backward reads a given gradient in place of a copy where nothing can
    -- write into it: it must come out unchanged, and no .grad may become it
    -- or share its memory (a later backward adds into .grad in place)
    it('leaves a given gradient unchanged and never makes it a .grad', function()
      local gv = { 1, -2, 3 }
      local function fresh() return nl.tensor(gv, 'float64') end
      -- through a node, a view's backward (a view of g), two paths (g itself
      -- sent to both), a leaf root; each twice, so .grad is added into
      local roots = {
        { 'mul', function(x) return x * 2 end, 2 },
        { 'view', function(x) return x:view(3, 1):view(3) end, 1 },
        { 'x + x', function(x) return x + x end, 2 },
        { 'leaf', function(x) return x end, 1 },
      }
      for _, c in ipairs(roots) do
        local x, g = leaf({ 0, 0, 0 }), fresh()
        c[2](x):backward(g)
        assert_values(x.grad, map(gv, function(v) return c[3] * v end))
        c[2](x):backward(g)
        assert_values(x.grad, map(gv, function(v) return 2 * c[3] * v end))
        x.grad:add_(100)
        assert_values(g, gv)
        -- retain_graph: the same graph twice with the same g
        local x2 = leaf({ 0, 0, 0 })
        local y = c[2](x2)
        y:backward(g, { retain_graph = true })
        y:backward(g)
        x2.grad:mul_(3)
        assert_values(x2.grad, map(gv, function(v) return 6 * c[3] * v end))
        assert_values(g, gv)
      end
      -- a transposed gradient (dense, read as it is) and an expanded one
      local m = leaf({ { 1, 2, 3 }, { 4, 5, 6 } })
      local gt = nl.tensor({ { 1, 2 }, { 3, 4 }, { 5, 6 } }, 'float64'):t()
      ;(m * 3):backward(gt)
      assert_values(m.grad, { { 3, 9, 15 }, { 6, 12, 18 } })
      local e = leaf({ 1, 2, 3 })
      ;(e * 3):backward(nl.tensor({ 2 }, 'float64'):expand(3))
      assert_values(e.grad, { 6, 6, 6 })
    end)

    -- the given gradient is a leaf's .grad (or a view of it) that the
    -- backward adds into: read as it was when backward began, as a copy
    -- reads it; x * 2 and x * 3 both get it, and the first to run must not
    -- change what the second reads (1 + 2 + 3 = 6, not 1 + 2 + 3 * 3)
    it('reads a gradient that is a .grad it adds into as it was before', function()
      local x = leaf({ 1, 1 })
      x.grad = nl.tensor({ 1, 1 }, 'float64')
      ;(x * 2 + x * 3):backward(x.grad)
      assert_values(x.grad, { 6, 6 })
      local v = leaf({ { 1 }, { 1 } })
      v.grad = nl.tensor({ { 1 }, { 1 } }, 'float64')
      ;(v:view(2) * 2 + v:view(2) * 3):backward(v.grad:view(2))
      assert_values(v.grad, { { 6 }, { 6 } })
      -- a leaf root given its own .grad: .grad doubles
      local l = leaf({ 1, 2 })
      l.grad = nl.tensor({ 1, 2 }, 'float64')
      l:backward(l.grad)
      assert_values(l.grad, { 2, 4 })
    end)

    -- user code that changes its gradient in place gets a copy: a tensor
    -- hook (of the root, of a leaf) and a custom function's backward
    it('gives hooks and custom functions a copy of a given gradient', function()
      local gv = { 1, -2 }
      local x, g = leaf({ 1, 2 }), nl.tensor(gv, 'float64')
      local y = x * 2
      y:register_hook(function(gr) gr:mul_(10) end)
      y:backward(g)
      assert_values(g, gv)
      local l = leaf({ 1, 2 })
      l:register_hook(function(gr) gr:add_(5) end)
      l:backward(g)
      assert_values(g, gv)
      local Scale = nl.autograd.Function('ScaleInPlace', {
        forward = function(_, t) return t * 4 end,
        backward = function(_, gr) gr:mul_(4); return gr end,
      })
      local z = leaf({ 1, 2 })
      Scale.apply(z):backward(g)
      assert_values(z.grad, { 4, -8 })
      assert_values(g, gv)
      -- the custom function behind another op: g reaches it through a view
      local w = leaf({ 1, 2 })
      Scale.apply(w):view(2, 1):backward(g:view(2, 1))
      assert_values(w.grad, { 4, -8 })
      assert_values(g, gv)
    end)

    -- a misspelt retain_graph was ignored
    it('refuses options it does not know', function()
      local a = leaf({ 1, 2 })
      local ok, err = pcall(function() (a * a):sum():backward({ retain_grpah = true }) end)
      assert.is_false(ok)
      assert.is_truthy(err:find("backward: unknown option 'retain_grpah'", 1, true), err)
      assert.is_nil(a.grad)
      ;(a * a):sum():backward({ create_graph = false, retain_graph = false })
      assert_values(a.grad, { 2, 4 })
      -- a gradient given as a list was read as options ('unknown options 1, 2')
      ok, err = pcall(function() (a * 2):backward({ 1, 1 }) end)
      assert.is_truthy(err:find('backward: the gradient must be a tensor, got a table', 1, true), err)
    end)

    -- its own memory as a leaf's .grad held the leaf for ever and backward
    -- added into the leaf (PyTorch: "can't assign Variable as its own
    -- grad"); an expanded one failed in a later backward, as add_, with
    -- other leaves' gradients already changed
    it('a .grad that is the leaf\'s own memory or an expanded view is refused', function()
      local x = leaf({ 1, 2 })
      local ok, err = pcall(function() x.grad = x end)
      assert.is_truthy(err:find('grad: a tensor of shape [2] cannot hold its own memory as its gradient', 1, true), err)
      ok, err = pcall(function() x.grad = x:detach():view(2, 1):view(2) end)
      assert.is_false(ok)
      ok, err = pcall(function() x.grad = nl.zeros(1, 'float64'):expand(2) end)
      assert.is_truthy(err:find('grad: a gradient of shape [2] repeats elements in memory (an expanded view)', 1, true), err)
      assert.is_nil(x.grad)
      -- another part of the same memory is allowed, as PyTorch allows it
      -- (torch: buf = [0, 0, 0, 0, 2, 2, 2, 2]); an overlapping part is not
      local buf = nl.zeros(8)
      local p = buf:narrow(1, 1, 4):requires_grad()
      p.grad = buf:narrow(1, 5, 4)
      ;(p * 2):sum():backward()
      assert.are.same({ 0, 0, 0, 0, 2, 2, 2, 2 }, buf:totable())
      ok, err = pcall(function() p.grad = buf:narrow(1, 4, 4) end)
      assert.is_false(ok)
      -- a column beside another shares no element (torch: [[0, 2]] * 4)
      local cols = nl.zeros(4, 2)
      local c1 = cols:select(2, 1):requires_grad()
      c1.grad = cols:select(2, 2)
      ;(c1 * 2):sum():backward()
      assert.are.same({ { 0, 2 }, { 0, 2 }, { 0, 2 }, { 0, 2 } }, cols:totable())
      ok, err = pcall(function() c1.grad = cols:t():select(1, 1) end)
      assert.is_false(ok)
      -- expanded views side by side: refused at once (the walk over 2e10
      -- elements took minutes)
      local base = nl.zeros(1, 2, 2, 'float64')
      local e1 = base:select(3, 1):expand(1e10, 2)
      local t0 = os.clock()
      ok, err = pcall(function() e1.grad = base:select(3, 2):expand(1e10, 2) end)
      assert.is_false(ok)
      assert.is_true(os.clock() - t0 < 1, 'took ' .. (os.clock() - t0) .. ' s')
      -- far elements of a big storage: compared as lists, no bitmap of the range
      local big = nl.zeros(4000000, 'float64')
      local a = big:view(2, 2000000):select(2, 1):requires_grad()
      a.grad = big:view(2, 2000000):select(2, 2)
      ok, err = pcall(function() a.grad = big:view(4, 1000000):select(2, 1):narrow(1, 1, 2) end)
      assert.is_false(ok)
      x.grad = nl.zeros(1, 'float64'):expand(2):clone()
      ;(x * 3):sum():backward()
      assert_values(x.grad, { 3, 3 })
      assert_values(x, { 1, 2 })
    end)
  end)

  describe('no_grad', function()
    it("returns fn's results, which have no grad_fn and do not require grad", function()
      local a = leaf({ 1, 2 })
      local r1, r2, r3, r4 = nl.no_grad(function() return a * 2, nil, 'x', a:exp() end)
      assert.is_nil(r1:grad_fn())
      assert.is_false(r1.is_requires_grad)
      assert.is_true(r1:is_leaf())
      assert_values(r1, { 2, 4 })
      assert.is_nil(r2)
      assert.are.equal('x', r3)
      assert.is_false(r4.is_requires_grad)
      assert.is_true(a.is_requires_grad)
    end)

    it('turns grad mode off inside and restores it after', function()
      assert.is_true(nl.is_grad_enabled())
      local inside = nl.no_grad(function() return nl.is_grad_enabled() end)
      assert.is_false(inside)
      assert.is_true(nl.is_grad_enabled())
      -- nested: the inner one restores the outer's off
      local after_inner = nl.no_grad(function()
        nl.no_grad(function() end)
        return nl.is_grad_enabled()
      end)
      assert.is_false(after_inner)
      assert.is_true(nl.is_grad_enabled())
    end)

    it('restores grad mode when fn errors, and passes the error on', function()
      local ok, msg = pcall(nl.no_grad, function() error('boom from fn') end)
      assert.is_false(ok)
      assert.matches('boom from fn', msg)
      assert.is_true(nl.is_grad_enabled())
      local a = leaf({ 1 })
      assert.are.equal('mul', (a * 2):grad_fn())
    end)

    it('a value computed under no_grad is a constant in a later graph', function()
      local a = leaf({ 1, 2 })
      local c = nl.no_grad(function() return a * a end)
      ;(c * a):sum():backward()
      assert_values(a.grad, { 1, 4 })          -- a^2, not 3 a^2
    end)

    it('set_grad_enabled returns the previous mode', function()
      assert.is_true(nl.set_grad_enabled(false))
      assert.is_false(nl.is_grad_enabled())
      assert.is_nil((leaf({ 1 }) * 2):grad_fn())
      assert.is_false(nl.set_grad_enabled(true))
      assert.is_true(nl.is_grad_enabled())
    end)

    it('rejects a non-function', function()
      assert.has_error(function() nl.no_grad(42) end, 'no_grad: expected a function, got number')
    end)
  end)

  describe('detach', function()
    it('shares storage with its source', function()
      local a = leaf({ 1, 2, 3 })
      local d = a:detach()
      d[2] = 20
      assert_values(a, { 1, 20, 3 })
      nl.no_grad(function() a[3] = 30 end)
      assert.are.equal(30, d[3])
    end)

    it('cuts the graph: the detached copy is a leaf without grad', function()
      local a = leaf({ 1, 2, 3 })
      local d = (a * 2):detach()
      assert.is_true(d:is_leaf())
      assert.is_nil(d:grad_fn())
      assert.is_false(d.is_requires_grad)
      ;(a * a:detach()):sum():backward()
      assert_values(a.grad, { 1, 2, 3 })       -- a, not 2a
    end)
  end)

  describe('enable_grad', function()
    it('records a graph inside no_grad, returns fn\'s results and restores the mode, also on an error', function()
      -- with torch.no_grad(): with torch.enable_grad(): y = a * a  -> y.grad_fn MulBackward0;
      -- y.sum().backward() -> a.grad 2a
      local a = leaf({ 1, 2 })
      local y, on = nl.no_grad(function()
        local r, mode = nl.enable_grad(function() return a * a, nl.is_grad_enabled() end)
        assert.is_false(nl.is_grad_enabled())
        return r, mode
      end)
      assert.is_true(on)
      assert.are.equal('mul', y:grad_fn())
      y:sum():backward()
      assert_values(a.grad, { 2, 4 })
      local ok, msg = pcall(nl.no_grad, function() nl.enable_grad(function() error('boom in enable_grad') end) end)
      assert.is_false(ok)
      assert.matches('boom in enable_grad', msg)
      assert.is_true(nl.is_grad_enabled())
      nl.no_grad(function()
        pcall(nl.enable_grad, function() error('x') end)
        assert.is_false(nl.is_grad_enabled())
      end)
      assert.has_error(function() nl.enable_grad('f') end, 'enable_grad: expected a function, got string')
    end)
  end)

  describe('detach_', function()
    it('makes a tensor an op made a leaf in place; the ops that used it still send gradients back, as PyTorch\'s', function()
      -- x = torch.tensor([1., 2.], requires_grad=True); y = x * 2; z = y * 3; y.detach_()
      -- y.requires_grad False, y.grad_fn None, y.is_leaf True; z.sum().backward() -> x.grad [6, 6]
      local x = leaf({ 1, 2 })
      local y = x * 2
      local z = y * 3
      assert.are.equal(y, y:detach_())
      assert.is_false(y.is_requires_grad)
      assert.is_nil(y:grad_fn())
      assert.is_true(y:is_leaf())
      z:sum():backward()
      assert_values(x.grad, { 6, 6 })
      -- the same memory: a write shows in the graph's saved values, whose
      -- version check then refuses a backward that reads them
      local w = x * 2
      local v = w * w
      w:detach_()
      w[1] = 7
      assert_values(v, { 4, 16 })
      S.contains(S.errmsg(function() v:sum():backward() end), 'was modified in place')
      -- later ops on it make no graph
      assert.is_nil((y * x:detach()):grad_fn())
    end)

    -- retain_grad's hook wrote into the C tensor detach_ had left: the
    -- gradient was lost and retains_grad read false (PyTorch keeps both)
    it('refuses a tensor that retains its grad, which stays as it was', function()
      local u = leaf({ 1, 2 })
      local v = u * 2
      v:retain_grad()
      local o = (v * 3):sum()
      S.contains(S.errmsg(function() v:detach_() end), 'detach_: the tensor of shape [2] retains its gradient')
      o:backward()
      assert_values(v.grad, { 3, 3 })
      assert.is_true(v.retains_grad)
    end)

    it('makes a leaf stop requiring grad, keeping its .grad', function()
      -- x.grad = ...; x.detach_() -> x.requires_grad False, x.grad kept
      local x = leaf({ 1, 2 })
      ;(x * 3):sum():backward()
      x:detach_()
      assert.is_false(x.is_requires_grad)
      assert_values(x.grad, { 3, 3 })
      assert.is_nil((x * 2):grad_fn())
    end)

    it('refuses a view an op made, naming detach_', function()
      -- (x * 2)[0:1].detach_() -> "Can't detach views in-place. Use detach() instead."
      local x = leaf({ 1, 2 })
      S.contains(S.errmsg(function() (x * 2):narrow(1, 1, 1):detach_() end),
        'detach_: the tensor of shape [1] is a view (made by narrow) of a tensor that requires grad')
    end)

    it('keeps memory flat: the old tensor and the new go with their handle', function()
      local x = nl.ones(4096):requires_grad()              -- 16 kB a tensor: a leak shows in live_bytes
      local function live()
        collectgarbage('collect')
        collectgarbage('collect')
        nl._settle()
        return tonumber(nl._lib.nl_mem().live_bytes)
      end
      for _ = 1, 100 do (x * 2):detach_() end
      local live1 = live()
      for _ = 1, 5000 do (x * 2):detach_() end
      assert.are.equal(live1, live())
    end)
  end)

  describe('in-place ops', function()
    it('on a leaf that requires grad error in grad mode', function()
      local a = leaf({ 1, 2, 3 })
      for name, f in pairs({
        mul_ = function() a:mul_(2) end, add_ = function() a:add_(1) end,
        fill_ = function() a:fill_(0) end, zero_ = function() a:zero_() end,
        copy_ = function() a:copy_(nl.ones(3, 'float64')) end, exp_ = function() a:exp_() end,
        ['a[1] = v'] = function() a[1] = 5 end,
      }) do
        local ok, msg = pcall(f)
        assert.is_false(ok, name)
        assert.is_truthy(tostring(msg):find('in-place change of a tensor of shape [3] that requires grad', 1, true),
          name .. ': ' .. tostring(msg))
      end
      assert_values(a, { 1, 2, 3 })
    end)

    -- in-place ops are not recorded: a source that requires grad would
    -- lose its gradient (b.grad stayed nil after a:add_(b), a:copy_(b),
    -- buf[i] = b), so it is refused in grad mode
    it('refuse a source that requires grad in grad mode, and take it under no_grad', function()
      local b = leaf({ 1, 2, 3 })
      for _, f in ipairs({
        function(a) a:add_(b) end, function(a) a:add_(b, 2) end, function(a) a:mul_(b) end,
        function(a) a:copy_(b) end, function(a) a[1] = b end,
      }) do
        local a = nl.zeros(2, 3, 'float64')
        local ok, e = pcall(f, a)
        assert.is_false(ok)
        assert.is_truthy(tostring(e):find('requires grad, but in-place ops are not recorded', 1, true), e)
        assert.are.same({ { 0, 0, 0 }, { 0, 0, 0 } }, a:totable())
      end
      local a = nl.zeros(3, 'float64')
      nl.no_grad(function() a:add_(b) end)
      assert.are.same({ 1, 2, 3 }, a:totable())
      a:add_(b:detach())
      assert.are.same({ 2, 4, 6 }, a:totable())
    end)

    it('on a leaf that requires grad work under no_grad', function()
      local a = leaf({ 1, 2, 3 })
      nl.no_grad(function()
        a:mul_(2)
        a:add_(1)
        a[1] = 0.5
      end)
      assert_values(a, { 0.5, 5, 7 })
      assert.is_true(a.is_requires_grad)
      ;(a * a):sum():backward()
      assert_values(a.grad, { 1, 10, 14 })
    end)

    -- version counter: a tensor saved for backward then changed in place
    local function expect_modified(setup)
      local ok, msg = pcall(setup)
      assert.is_false(ok, 'backward did not notice the in-place change')
      assert.matches('modified in place', msg)
    end

    it('backward errors when a saved input was changed by mul_ (b without grad)', function()
      local a, b = leaf({ 1, 2, 3 }), nl.tensor({ 4, 5, 6 }, 'float64')
      local y = a * b
      b:mul_(2)
      expect_modified(function() y:sum():backward() end)
      assert.is_nil(a.grad)
    end)

    it('backward errors when a saved input was changed by element assignment', function()
      local a, b = leaf({ 1, 2, 3 }), nl.tensor({ 4, 5, 6 }, 'float64')
      local y = a * b
      b[1] = 5
      expect_modified(function() y:sum():backward() end)
    end)

    it('backward errors when a saved input was changed through a view or a row', function()
      local a = leaf({ 1, 2, 3 })
      local b = nl.tensor({ 4, 5, 6 }, 'float64')
      local y = a * b
      b:narrow(1, 2, 1):fill_(0)
      expect_modified(function() y:sum():backward() end)
      local m = nl.tensor({ { 4, 5, 6 } }, 'float64')
      local z = a * m
      m[1] = nl.tensor({ 1, 1, 1 }, 'float64')
      expect_modified(function() z:sum():backward() end)
    end)

    it('backward errors when a saved output was changed in place', function()
      local a = leaf({ 1, 2 })
      local e = a:exp()                       -- backward uses exp's output
      nl.no_grad(function() e:mul_(2) end)
      expect_modified(function() e:sum():backward() end)
    end)

    -- mul saves an input only for the other's gradient, a / s and floor
    -- none: each raised 'modified in place' where PyTorch's backward runs
    it('changing an input no gradient reads is allowed (as in PyTorch)', function()
      local w, b = leaf({ 1, 2, 3 }), nl.tensor({ 1, 1, 1 }, 'float64')
      local y = (w * b):sum() + (w / 2):sum() + w:floor():sum() + (3 * w):sum()
      nl.no_grad(function() w:add_(1) end)
      y:backward()
      assert_values(w.grad, { 4.5, 4.5, 4.5 })
      -- but b * w still reads w for b's gradient when b requires grad
      local b2 = leaf({ 1, 1, 1 })
      local z = (w * b2):sum()
      nl.no_grad(function() w:add_(1) end)
      expect_modified(function() z:backward() end)
    end)

    -- a view made under no_grad had no flag: x:view(3):add_(1) in grad mode
    -- changed x, which requires grad, without a word (PyTorch refuses it)
    it('a view made under no_grad of a tensor that requires grad refuses in-place ops in grad mode', function()
      local x = leaf({ 1, 2, 3 })
      local v = nl.no_grad(function() return x:view(3) end)
      local r = nl.no_grad(function() return x:narrow(1, 2, 2):unsqueeze(1):transpose(1, 2) end)
      for _, t in ipairs({ v, r }) do
        local ok, err = pcall(function() t:add_(1) end)
        assert.is_false(ok)
        assert.is_truthy(err:find('in-place change of a view', 1, true), err)
      end
      assert.are.same({ 1, 2, 3 }, x:totable())
      nl.no_grad(function() v:add_(1) end)
      assert.are.same({ 2, 3, 4 }, x:totable())
      local d = x:detach()
      d:add_(1)                                     -- a detached tensor may change
      assert.are.same({ 3, 4, 5 }, x:totable())
      -- a view of such a view, made in grad mode, is one too
      for _, f in ipairs({ function() v:view(3):add_(1) end, function() v:narrow(1, 2, 1):add_(1) end }) do
        assert.is_false((pcall(f)))
      end
      assert.are.same({ 3, 4, 5 }, x:totable())
      -- copies made under no_grad are not views: an EMA snapshot may change
      local w = leaf({ { 1, 2 }, { 3, 4 } })
      for _, c in ipairs(nl.no_grad(function() return { w:clone(), w:float(), w:t():contiguous() } end)) do
        c:mul_(0.5)
      end
      assert.are.same({ { 1, 2 }, { 3, 4 } }, w:totable())
    end)

    -- an input that came to require grad after the forward got a gradient
    -- read from the other input's unchecked, changed values (PyTorch: none)
    it('gives gradients only to the inputs that required grad at the forward', function()
      local a, b = nl.tensor({ 1, 2, 3 }, 'float64'), leaf({ 10, 20, 30 })
      local y = a * b
      nl.no_grad(function() b:add_(100) end)
      a:requires_grad()
      y:sum():backward()
      assert.is_nil(a.grad)
      assert_values(b.grad, { 1, 2, 3 })
    end)

    -- the rows path of index_select's backward divided by the input's 0
    -- rows and the process died on SIGFPE
    it('index_select of no rows from a tensor of none has a gradient of its shape', function()
      for _, shape in ipairs({ { 0, 4 }, { 0 } }) do
        local x = nl.zeros(shape):requires_grad()
        x:index_select(1, nl.tensor({}, 'int64')):sum():backward()
        assert.are.same(shape, x.grad:shape())
      end
    end)

    -- the same for every op with more than one input: cat, matmul, linear,
    -- conv2d, where, the losses and the recurrent layers gave the late one
    -- a gradient
    it('gives no gradient to an input that came to require grad after any op', function()
      local nn = nl.nn
      local function x23() return nl.tensor({ { 1, -2, 3 }, { -4, 5, -6 } }, 'float64') end
      local cases = {
        cat = function(p, q) return nl.cat({ p, q }, 1) end,
        matmul = function(p, q) return p:matmul(q:t()) end,
        linear = function(p, q) return nn.functional.linear(p, q, q:view(-1):narrow(1, 1, 2)) end,
        where = function(p, q) return nl.where(p:gt(0), p, q) end,
        mse = function(p, q) return nn.functional.mse_loss(p, q) end,
        bce = function(p, q)
          return nn.functional.binary_cross_entropy(p:sigmoid(), q:sigmoid(), { weight = q })
        end,
        conv2d = function(p, q)
          return nn.functional.conv2d(p:view(1, 1, 2, 3), q:view(1, 1, 2, 3), q:view(-1):narrow(1, 1, 1))
        end,
      }
      for name, f in pairs(cases) do
        -- the truth: the same forward with q a constant throughout
        nl.manual_seed(1)
        local p, q = leaf(x23():totable()), x23() * 0.5
        f(p, q):sum():backward()
        local want = p.grad:totable()
        nl.manual_seed(1)
        local p2, q2 = leaf(x23():totable()), x23() * 0.5
        local y = f(p2, q2)
        q2:requires_grad()
        y:sum():backward()
        assert.is_nil(q2.grad, name)
        assert.are.same(want, p2.grad:totable(), name)
      end
      -- past 32 inputs the bits live beside the versions: cat of 70
      local xs = {}
      for i = 1, 70 do xs[i] = nl.ones(1, 'float64'):requires_grad(i % 3 ~= 0) end
      local y = nl.cat(xs, 1)
      for _, i in ipairs({ 3, 33, 66, 69 }) do xs[i]:requires_grad() end
      y:sum():backward()
      for i = 1, 70 do
        if i % 3 == 0 then assert.is_nil(xs[i].grad, 'cat input ' .. i) else assert.are.same({ 1 }, xs[i].grad:totable()) end
      end
      -- a recurrent layer: its input-to-hidden weight and its h0
      local function lstm(late)
        nl.manual_seed(2)
        local m = nn.LSTM(3, 2):double()
        local x, h0, c0 = leaf(x23():view(2, 1, 3):totable()), nl.zeros(1, 1, 2, 'float64'), leaf({ { { 1, -1 } } })
        m.weight_ih_l0:requires_grad(false)
        local out = m(x, { h0, c0 })
        if late then
          m.weight_ih_l0:requires_grad()
          h0:requires_grad()
        end
        out:sum():backward()
        return m, x, h0, c0
      end
      local m1, x1, _, c1 = lstm(false)
      local m2, x2, h2, c2 = lstm(true)
      assert.is_nil(m2.weight_ih_l0.grad)
      assert.is_nil(h2.grad)
      assert.are.same(m1.weight_hh_l0.grad:totable(), m2.weight_hh_l0.grad:totable())
      assert.are.same(x1.grad:totable(), x2.grad:totable())
      assert.are.same(c1.grad:totable(), c2.grad:totable())
    end)

    it('changing an input that add does not save is allowed (as in PyTorch)', function()
      local a, b = leaf({ 1, 2 }), nl.tensor({ 3, 4 }, 'float64')
      local y = a + b
      b:mul_(2)
      y:sum():backward()
      assert_values(a.grad, { 1, 1 })
    end)
  end)

  describe('graph shapes', function()
    -- PyTorch's convention where the formulas meet 0 * inf: the gradient
    -- of x^0 is 0 everywhere, and the exponent's gradient at a base of 0
    -- (with an exponent >= 0) is 0; they were NaN
    it('pow at a base or an exponent of 0 gives 0 gradients, not NaN', function()
      local x = leaf({ 0, 1, -2 })
      x:pow(0):sum():backward()
      assert_values(x.grad, { 0, 0, 0 })
      local a, b = leaf({ 0, 2, 0 }), leaf({ 2, 2, 0 })
      ;(a ^ b):sum():backward()
      assert_values(a.grad, { 0, 4, 0 })                  -- b a^(b-1); 0 where b = 0
      assert_values(b.grad, { 0, 4 * math.log(2), 0 })    -- a^b log a; 0 where a = 0
      local e = leaf({ 0, 1, -1 })
      nl.pow(0, e):sum():backward()                       -- 0^e: 0 where e >= 0
      local g = e.grad:totable()
      assert.are.same({ 0, 0 }, { g[1], g[2] })
    end)

    it('an input used twice gets both contributions (x * x -> 2x, x + x -> 2)', function()
      local xv = { -1.5, 0.25, 3 }
      local x = leaf(xv)
      ;(x * x):sum():backward()
      assert_values(x.grad, map(xv, function(v) return 2 * v end))
      x.grad = nil
      ;(x + x):sum():backward()
      assert_values(x.grad, { 2, 2, 2 })
      x.grad = nil
      nl.matmul(x, x):backward()             -- x . x
      assert_values(x.grad, map(xv, function(v) return 2 * v end))
    end)

    it('a diamond: b = 2a; loss = sum(3b + exp(b)) -> 2 (3 + exp(2a))', function()
      local av = { 0.1, -0.4, 0.7 }
      local a = leaf(av)
      local b = a * 2
      local c = b * 3
      local d = b:exp()
      ;(c + d):sum():backward()
      assert_values(a.grad, map(av, function(v) return 2 * (3 + math.exp(2 * v)) end), 1e-12)
    end)

    it('a graph with two leaves meeting twice: sum(a*b + a/b)', function()
      local av, bv = { 1, 2 }, { 4, -0.5 }
      local a, b = leaf(av), leaf(bv)
      ;(a * b + a / b):sum():backward()
      assert_values(a.grad, map(bv, function(y) return y + 1 / y end))
      assert_values(b.grad, map(av, function(x, i) return x - x / (bv[i] * bv[i]) end))
    end)

    it('a chain of 100,000 ops backpropagates and frees without overflowing the stack', function()
      local x = leaf({ 1 })
      local z = x
      for _ = 1, 100000 do z = z * 1.00001 + 0 end
      z:sum():backward()
      -- d/dx of x * 1.00001^100000
      assert_values(x.grad, { 1.00001 ^ 100000 }, 1e-9)
      z = nil
      collectgarbage()
      -- a chain of 100,000 never backpropagated, dropped whole
      local w = x
      for _ = 1, 100000 do w = w + 1 end
      assert.are.equal(100001, w[1])
      w = nil
      collectgarbage()
      collectgarbage()
      -- and one kept with retain_graph, then dropped
      local v = x
      for _ = 1, 100000 do v = v + 1 end
      x.grad = nil
      v:sum():backward({ retain_graph = true })
      assert_values(x.grad, { 1 })
      v = nil
      collectgarbage()
      collectgarbage()
      assert.are.equal('add', (x + 1):grad_fn())   -- still alive and working
    end)
  end)

  describe('outputs without gradient', function()
    it('comparisons do not require grad, and mask a later product', function()
      local a = leaf({ -1, 2, -3, 4 })
      for _, name in ipairs({ 'gt', 'lt', 'ge', 'le', 'eq', 'ne' }) do
        local m = a[name](a, 0)
        assert.is_false(m.is_requires_grad, name)
        assert.is_nil(m:grad_fn(), name)
        local m2 = a[name](a, a * 0.5)
        assert.is_false(m2.is_requires_grad, name .. ' of two tensors')
      end
      ;(a * a:gt(0)):sum():backward()
      assert_values(a.grad, { 0, 1, 0, 1 })
    end)

    it('argmax/argmin give int64 without grad; max(dim) indices too', function()
      local a = leaf({ { 1, 5, 2 }, { 7, 0, 3 } })
      for _, t in ipairs({ a:argmax(), a:argmax(2), a:argmin(1) }) do
        assert.are.equal('int64', t:dtype())
        assert.is_false(t.is_requires_grad)
        assert.is_nil(t:grad_fn())
      end
      assert.are.same({ 2, 1 }, a:argmax(2):totable())
      local v, i = a:max(2)
      assert.is_true(v.is_requires_grad)
      assert.are.equal('max', v:grad_fn())
      assert.are.equal('int64', i:dtype())
      assert.is_false(i.is_requires_grad)
      v:sum():backward()
      assert_values(a.grad, { { 0, 1, 0 }, { 1, 0, 0 } })
    end)

    -- PyTorch's max() and min() of everything share the gradient evenly
    -- among tied extremes (it all went to the first)
    it('max() and min() of everything share the gradient among ties', function()
      local a = leaf({ { 1, 5, 5 }, { 2, 0, 3 } })
      a:max():backward()
      assert_values(a.grad, { { 0, 0.5, 0.5 }, { 0, 0, 0 } })
      local b = leaf({ -1, 4, -1, -1 })
      ;(b:min() * 3):backward()
      assert_values(b.grad, { 1, 0, 1, 1 })
    end)

    it('sum and mean over the dim of a 0-dim tensor pass the gradient through', function()
      for _, f in ipairs({ function(t) return t:sum(1) end, function(t) return t:mean(-1) end }) do
        local a = leaf(2.5)
        f(a):backward()
        assert_values(a.grad, 1)
      end
    end)
  end)

  describe('slices', function()
    it('narrow and select pass g into the slice and zeros around it, also into reused memory', function()
      -- each slice at the start, inside and at the end of each dim; before
      -- each backward a tensor of the gradient's size is filled with 7.5 and
      -- freed, so that a gradient buffer the op fails to write shows it
      local shape = { 3, 4, 5 }
      local checked = 0
      for d = 1, 3 do
        local size = shape[d]
        for _, c in ipairs({ { 1, 1 }, { 2, size - 2 }, { size - 1, 2 }, { 1, size } }) do
          for _, op in ipairs({ 'narrow', 'select' }) do
            local start, len = c[1], op == 'narrow' and c[2] or 1
            local x = nl.randn(shape):requires_grad()
            local y = op == 'narrow' and x:narrow(d, start, len) or x:select(d, start)
            local w = nl.randn(y:shape())
            do local junk = nl.full(shape, 7.5) end
            collectgarbage()
            ;(y * w):sum():backward()
            local gw, gx = w:totable(), x.grad:totable()
            for _, idx in ipairs(S.indices(shape)) do
              local k = idx[d]
              local want = 0
              if k >= start and k < start + len then
                local widx = {}
                for i = 1, 3 do
                  if i ~= d then widx[#widx + 1] = idx[i] elseif op == 'narrow' then widx[#widx + 1] = k - start + 1 end
                end
                want = S.get(gw, widx)
              end
              assert.are.equal(want, S.get(gx, idx), ('%s dim %d at %d: element %s'):format(op, d, start,
                table.concat(idx, ',')))
            end
            checked = checked + 1
          end
        end
      end
      assert.are.equal(24, checked)
    end)
  end)

  describe('broadcasting', function()
    it('a bias of shape (3) added to (4,3) gets gradient 4s', function()
      local x = leaf(S.nested({ 4, 3 }, function() return 1 end))
      local bias = leaf({ 0, 0, 0 })
      ;(x + bias):sum():backward()
      assert.are.same({ 3 }, bias.grad:shape())
      assert_values(bias.grad, { 4, 4, 4 })
      assert.are.same({ 4, 3 }, x.grad:shape())
    end)

    it('(4,1) * (1,3): each gradient sums over the other broadcast dim', function()
      local av, bv = { { 1 }, { 2 }, { 3 }, { 4 } }, { { 10, 20, 30 } }
      local a, b = leaf(av), leaf(bv)
      ;(a * b):sum():backward()
      assert_values(a.grad, { { 60 }, { 60 }, { 60 }, { 60 } })
      assert_values(b.grad, { { 10, 10, 10 } })
    end)

    it('(2,1,3) - (4,3) and a 0-dim scalar tensor', function()
      local a = leaf(S.nested({ 2, 1, 3 }, function() return 1 end))
      local b = leaf(S.nested({ 4, 3 }, function() return 1 end))
      local s = leaf(2)
      ;((a - b) * s):sum():backward()
      assert.are.same({ 2, 1, 3 }, a.grad:shape())
      assert_values(a.grad, { { { 8, 8, 8 } }, { { 8, 8, 8 } } })
      assert_values(b.grad, S.nested({ 4, 3 }, function() return -4 end))
      assert.are.same({}, s.grad:shape())
      assert.are.equal(0, s.grad:item())      -- sum(a - b) = 0
    end)

    it('through matmul with a broadcast batch: (2,2,3) @ (3,2) sums the weight gradient', function()
      local x = leaf(S.nested({ 2, 2, 3 }, function() return 1 end))
      local w = leaf(S.nested({ 3, 2 }, function() return 1 end))
      nl.matmul(x, w):sum():backward()
      assert.are.same({ 3, 2 }, w.grad:shape())
      assert_values(w.grad, S.nested({ 3, 2 }, function() return 4 end))
      assert_values(x.grad, S.nested({ 2, 2, 3 }, function() return 2 end))
    end)
  end)

  describe('memory', function()
    local function run_child(code)
      local path = os.tmpname()
      local f = io.open(path, 'w')
      f:write(S.path_prelude .. code)
      f:close()
      local p = io.popen('luajit ' .. path .. ' 2>&1')
      local out = p:read('*a')
      p:close()
      os.remove(path)
      return out
    end

    it('1,000,000 forward+backward passes hold flat RSS (growth from 100k to 1M < 8 MB)', function()
      local out = run_child([[
        local nl = require 'nnlua'
        local function rss()
          local f = io.open('/proc/self/status'); local s = f:read('*a'); f:close()
          return tonumber(s:match('VmRSS:%s*(%d+)'))
        end
        local N = 1000000
        local a0, b0 = nl.rand(8, 'float64'), nl.rand(8, 'float64')
        -- fresh leaves every iteration: graphs and grads die with them
        local t0 = os.clock()
        local r1
        for i = 1, N do
          local a, b = a0:clone():requires_grad(), b0:clone():requires_grad()
          local L = (a * b + a):sum()
          L:backward()
          if i == 100000 then r1 = rss() end
        end
        print('fresh', r1, rss(), os.clock() - t0)
        -- persistent leaves, gradients accumulating, never zeroed
        local a, b = a0:clone():requires_grad(), b0:clone():requires_grad()
        t0 = os.clock()
        for i = 1, N do
          local L = (a * b + a):sum()
          L:backward()
          if i == 100000 then r1 = rss() end
        end
        print('accum', r1, rss(), os.clock() - t0)
        -- a.grad = N (b + 1), b.grad = N a
        local ga, gb = a.grad:totable(), b.grad:totable()
        local worst = 0
        for k = 1, 8 do
          worst = math.max(worst, math.abs(ga[k] / (N * (b0[k] + 1)) - 1), math.abs(gb[k] / (N * a0[k]) - 1))
        end
        print('relerr', worst)
      ]])
      local f1, f2, ft = out:match('fresh%s+(%d+)%s+(%d+)%s+([%d.]+)')
      local a1, a2, at = out:match('accum%s+(%d+)%s+(%d+)%s+([%d.]+)')
      local relerr = tonumber(out:match('relerr%s+(%S+)'))
      assert.is_truthy(f1 and a1 and relerr, out)
      f1, f2, a1, a2 = tonumber(f1), tonumber(f2), tonumber(a1), tonumber(a2)
      print(string.format('\n    autograd memory: fresh leaves RSS %.1f MB at 100k -> %.1f MB at 1M (%.1f s); '
        .. 'accumulating grads %.1f -> %.1f MB (%.1f s)', f1 / 1024, f2 / 1024, ft, a1 / 1024, a2 / 1024, at))
      assert.is_true(f2 - f1 < 8192, out)
      assert.is_true(a2 - a1 < 8192, out)
      assert.is_true(relerr < 1e-9, out)
    end)
  end)
end)

describe('copies, initializers and in-place checks', function()
  -- the gradient, copied with grad mode on, took a node; the view backward
  -- then flagged its view of it as made under no_grad of a tensor that
  -- requires grad, and the leaf kept it: zero_grad(false) and .grad:zero_()
  -- were refused
  it('a backward given a gradient that requires grad leaves a .grad that changes in place', function()
    local x = nl.tensor({ 1, 2 }):requires_grad()
    local g = nl.tensor({ 3, 4 }):requires_grad()
    x:view(2, 1):backward(g:view(2, 1))
    assert.are.same({ 3, 4 }, x.grad:totable())
    assert.is_false(x.grad.is_requires_grad)
    nl.optim.SGD({ x }, { lr = 0.1 }):zero_grad(false)
    x.grad:add_(1)
    assert.are.same({ 1, 1 }, x.grad:totable())
  end)

  -- nl.tensor(t) kept t's graph (a to_dtype grad_fn): (c * x):sum() gave x
  -- the gradient 2x where PyTorch's torch.tensor(x), a new leaf, gives x
  it('nl.tensor of a tensor is a new leaf that does not require grad', function()
    local x = nl.tensor({ 1, 2, 3 }):requires_grad()
    local c = nl.tensor(x)
    assert.is_false(c.is_requires_grad)
    assert.is_true(c:is_leaf())
    ;(c * x):sum():backward()
    assert.are.same({ 1, 2, 3 }, x.grad:totable())
    c:add_(1)                                        -- a constant: changed in place freely
    assert.are.same({ 1, 2, 3 }, x:detach():totable())
    assert.are.equal('float64', nl.tensor(x, 'float64'):dtype())
  end)

  -- the initializers wrote a contiguous parameter directly and refused a
  -- view of it (weight:t()) as an in-place change of a tensor requiring grad
  it('nn.init.uniform_ and normal_ fill a view of a parameter, as constant_ does', function()
    local lin = nl.nn.Linear(3, 2)
    nl.nn.init.uniform_(lin.weight:t(), 2, 3)
    for _, v in ipairs(lin.weight:detach():view(-1):totable()) do assert(v >= 2 and v <= 3, v) end
    nl.nn.init.normal_(lin.weight:narrow(2, 1, 1), 10, 1e-6)
    local w = lin.weight:detach():totable()
    assert(math.abs(w[1][1] - 10) < 1e-3 and math.abs(w[2][1] - 10) < 1e-3)
    assert(w[1][2] >= 2 and w[1][2] <= 3)
    assert.is_true(lin.weight.is_requires_grad and lin.weight:is_leaf())
  end)

  -- clamp_ refused a tensor requiring grad by naming copy_ and "the source"
  it('clamp_ names itself when it refuses a tensor that requires grad, and clamps in place otherwise', function()
    local y = nl.tensor({ -1, 0.5, 2 }):requires_grad()
    assert.has_error(function() y:clamp_(0, 1) end,
      'clamp_: in-place change of a tensor of shape [3] that requires grad; do it under nl.no_grad or on a detached tensor')
    local z = nl.tensor({ 1, 2, 5 })
    z:clamp_(2, 3)
    assert.are.same({ 2, 2, 3 }, z:totable())
    nl.no_grad(function() y:clamp_(0, 1) end)
    assert.are.same({ 0, 0.5, 1 }, y:detach():totable())
    assert.has_error(function() nl.zeros(1, 3):expand(2, 3):clamp_(0, 1) end,
      'clamp_: the destination of shape [2,3] repeats elements in memory (an expanded view); clone() it first')
  end)

  -- Dropout(p, anything) dropped the second argument; PyTorch's is inplace
  it("Dropout and Dropout2d take PyTorch's inplace flag and refuse anything else", function()
    assert.are.equal(0.5, nl.nn.Dropout(0.5, true).p)
    assert.are.equal(0.2, nl.nn.Dropout2d(0.2, { inplace = false }).p)
    assert.has_error(function() nl.nn.Dropout(0.5, 'garbage') end, 'Dropout: expected no argument, or an inplace flag, got string')
    assert.has_error(function() nl.nn.Dropout(0.5, true, 3) end, 'Dropout: expected p and an inplace flag, got 3 arguments')
    assert.has_error(function() nl.nn.Dropout2d(0.5, 7) end, 'Dropout2d: expected no argument, or an inplace flag, got number')
  end)
end)
