-- nl.autograd.Function: functions whose forward and backward are written
-- in Lua, as PyTorch's torch.autograd.Function. Gradients are checked
-- against closed forms, the built-in ops' gradients and float64 central
-- differences (nl.gradcheck); then composition with nn layers in training,
-- retain_graph, the errors, memory over many applications and a hot
-- (JIT-compiled) loop, each of those two in a child luajit.
local nl = require 'nnlua'
local S = require 'support'
local nn, optim = nl.nn, nl.optim

local function leaf(v, dt) return nl.tensor(v, dt or 'float64'):requires_grad() end
local function same(got, want, tol)
  local a, b = S.flat(got), type(want) == 'table' and want or S.flat(want)
  assert.are.equal(#b, #a)
  for i = 1, #b do
    assert.is_true(S.close(a[i], b[i], tol or 1e-12, tol or 1e-12), ('element %d: got %.17g, want %.17g'):format(i, a[i], b[i]))
  end
end
local run_child = S.run_luajit

local Function = nl.autograd.Function

local Square = Function:extend('Square')
function Square.forward(ctx, x) ctx:save_for_backward(x); return x * x end
function Square.backward(ctx, g) local x = ctx:saved_tensors(); return g * 2 * x end

local MyReLU = Function('MyReLU', {
  forward = function(ctx, x) ctx:save_for_backward(x); return x:clamp(0) end,
  backward = function(ctx, g) local x = ctx:saved_tensors(); return g * (x:gt(0)):to(g:dtype()) end,
})

-- two inputs, two outputs and a number: (a b, a + k b)
local Two = Function('Two', {
  forward = function(ctx, a, b, k)
    ctx:save_for_backward(a, b)
    ctx.k = k
    return a * b, a + b * k
  end,
  backward = function(ctx, g1, g2)
    local a, b = ctx:saved_tensors()
    return g1 * b + g2, g1 * a + g2 * ctx.k, nil
  end,
})

-- a number and a table passed through: x * opts.scale + shift
local Affine = Function('Affine', {
  forward = function(ctx, x, shift, opts) ctx.scale = opts.scale; return x * opts.scale + shift end,
  backward = function(ctx, g) return g * ctx.scale, nil, nil end,
})

-- a * b, whose backward gives b none (nil)
local OnlyFirst = Function('OnlyFirst', {
  forward = function(ctx, a, b) ctx:save_for_backward(b); return a * b end,
  backward = function(ctx, g) local b = ctx:saved_tensors(); return g * b, nil end,
})

describe('nl.autograd.Function', function()
  it('loads on first use, not at start', function()
    local out = run_child([[
      local _ = nl.ones(2):requires_grad():sum(), nl.autograd.grad
      io.write('before=', tostring(package.loaded['nnlua.autograd_function'] ~= nil), ' ')
      local F = nl.autograd.Function
      io.write('after=', tostring(package.loaded['nnlua.autograd_function'] ~= nil), ' ', tostring(F), '\n')
    ]])
    S.contains(out, 'before=false after=true autograd.Function')
  end)

  it('square: the gradient 2 x, as the built-in x * x gives and as central differences give', function()
    local x = leaf({ -1.5, 0.25, 2, 3 })
    local y = Square.apply(x)
    same(y, { 2.25, 0.0625, 4, 9 })
    assert.are.equal('custom_function', y:grad_fn())
    assert.is_true(y.is_requires_grad)
    y:backward(nl.tensor({ 1, 2, 3, 4 }, 'float64'))
    same(x.grad, { -3, 1, 12, 24 })
    local x2 = leaf({ -1.5, 0.25, 2, 3 })
    ;(x2 * x2):backward(nl.tensor({ 1, 2, 3, 4 }, 'float64'))
    same(x.grad, x2.grad)
    S.gradcheck(function(t) return Square.apply(t) end, S.randn64(3, 4))
    -- float32 through the same path
    local xf = leaf({ 1, 2 }, 'float32')
    Square.apply(xf):sum():backward()
    assert.are.equal('float32', xf.grad:dtype())
    same(xf.grad, { 2, 4 })
    -- a subclass inherits forward and backward, and may replace one
    local Cube = Square:extend('Cube')
    function Cube.forward(ctx, t) ctx:save_for_backward(t); return t * t * t end
    local z = leaf({ 2 })
    Cube.apply(z):backward(nl.ones(1, 'float64'))
    same(z.grad, { 4 })                 -- Square's backward: 2 z
    assert.are.equal('autograd.Function Cube', tostring(Cube))
    S.contains(S.errmsg(function() Function:extend(3) end), 'extend')
  end)

  it('a custom ReLU gives the gradients of x:relu(), and passes gradcheck away from 0', function()
    local v = { -2, -0.5, 0.5, 1, 3, -1 }
    local a, b = leaf(v), leaf(v)
    local w = nl.tensor({ 1, 2, 3, 4, 5, 6 }, 'float64')
    ;(MyReLU.apply(a) * w):sum():backward()
    ;(b:relu() * w):sum():backward()
    same(a.grad, b.grad)
    same(a.grad, { 0, 0, 3, 4, 5, 0 })
    S.gradcheck(function(t) return MyReLU.apply(t) end, nl.tensor({ { -1, 0.3 }, { 2, -0.7 } }, 'float64'))
  end)

  it('two outputs from two inputs and a number: closed forms, built-in ops and gradcheck agree', function()
    local a, b = leaf({ 1, 2, -3 }), leaf({ 4, -5, 6 })
    local p, q = Two.apply(a, b, 3)
    same(p, { 4, -10, -18 })
    same(q, { 13, -13, 15 })
    ;(p:sum() * 2 + (q * q):sum()):backward()
    -- d/da = 2 b + 2 q, d/db = 2 a + 6 q
    same(a.grad, { 8 + 26, -10 - 26, 12 + 30 })
    same(b.grad, { 2 + 78, 4 - 78, -6 + 90 })
    local a2, b2 = leaf({ 1, 2, -3 }), leaf({ 4, -5, 6 })
    local q2 = a2 + b2 * 3
    ;((a2 * b2):sum() * 2 + (q2 * q2):sum()):backward()
    same(a.grad, a2.grad)
    same(b.grad, b2.grad)
    S.gradcheck(function(x, y) local u, v = Two.apply(x, y, 0.5); return u * v + u end, S.randn64(2, 3),
                S.randn64(2, 3))
  end)

  it('gives backward zeros for an output no gradient reached, or nil after set_materialize_grads(false)', function()
    local seen = {}
    local F = Function('Seen', {
      forward = function(ctx, x, materialize)
        if not materialize then ctx:set_materialize_grads(false) end
        return x * 2, x * 3
      end,
      backward = function(ctx, g1, g2)
        seen[#seen + 1] = g2 == nil and 'nil' or table.concat(S.flat(g2), ',')
        local gx = nl.zeros(2, 'float64')
        if g1 then gx = gx + g1 * 2 end
        if g2 then gx = gx + g2 * 3 end
        return gx, nil
      end,
    })
    local x = leaf({ 1, 2 })
    local u = F.apply(x, true)
    u:sum():backward()
    same(x.grad, { 2, 2 })
    x.grad = nil
    local _, v = F.apply(x, false)
    v:sum():backward()
    same(x.grad, { 3, 3 })
    x.grad = nil
    u = F.apply(x, false)
    u:sum():backward()
    same(x.grad, { 2, 2 })
    assert.are.same({ '0,0', '1,1', 'nil' }, seen)
  end)

  it('passes numbers and tables through; backward gives nil for them', function()
    local x = leaf({ 1, -2, 3 })
    local y = Affine.apply(x, 0.5, { scale = -2.5 })
    same(y, { -2, 5.5, -7 })
    y:sum():backward()
    same(x.grad, { -2.5, -2.5, -2.5 })
    S.gradcheck(function(t) return Affine.apply(t, 1, { scale = 3 }) end, S.randn64(4))
  end)

  it('an input whose gradient backward gives as nil gets none; needs_input_grad says which inputs require grad', function()
    local a, b = leaf({ 1, 2 }), leaf({ 3, 4 })
    OnlyFirst.apply(a, b):sum():backward()
    same(a.grad, { 3, 4 })
    assert.is_nil(b.grad)
    local needs
    local F = Function('Needs', {
      forward = function(ctx, x, y, z) needs = ctx.needs_input_grad; return x + y end,
      backward = function(ctx, g) return g, g, nil end,
    })
    local c = nl.tensor({ 1, 2 }, 'float64')
    F.apply(a, c, 7):sum():backward()
    assert.are.same({ true, false, false }, needs)
    same(a.grad, { 4, 5 })
  end)

  it('runs forward with grad mode off, and makes no graph when no input requires grad or under no_grad', function()
    local inner
    local F = Function('Mode', {
      forward = function(ctx, x) inner = nl.is_grad_enabled(); local y = x * 2; ctx.y_grad = y.is_requires_grad; return y end,
      backward = function(ctx, g) return g * 2 end,
    })
    local x = leaf({ 1 })
    local y = F.apply(x)
    assert.is_false(inner)
    assert.is_true(y.is_requires_grad)
    assert.is_false(F.apply(nl.tensor({ 1 })).is_requires_grad)
    assert.is_false(nl.no_grad(function() return F.apply(x) end).is_requires_grad)
    assert.is_true(nl.is_grad_enabled())
  end)

  it('mark_non_differentiable and int64 outputs carry no graph', function()
    local F = Function('WithIndex', {
      forward = function(ctx, x)
        local m = x * 1
        local idx = x:argmax()
        local flag = x:gt(0):to('float64')
        ctx:mark_non_differentiable(flag)
        return m, idx, flag
      end,
      backward = function(ctx, g, gi, gf)
        assert(gi ~= nil and gf ~= nil and gf:sum():item() == 0)
        return g * 5
      end,
    })
    local x = leaf({ 1, -3, 2 })
    local m, idx, flag = F.apply(x)
    assert.are.equal('int64', idx:dtype())
    assert.is_false(flag.is_requires_grad)
    assert.is_true(m.is_requires_grad)
    m:sum():backward()
    same(x.grad, { 5, 5, 5 })
  end)

  it('composes with built-in ops and nn layers: a model trained 5 steps matches the same model with nn.ReLU', function()
    local Act = nn.Module:extend('CustomAct')
    function Act:forward(x) return MyReLU.apply(x) end
    local function model(act)
      nl.manual_seed(3)
      return nn.Sequential(nn.Linear(4, 8), act, nn.Linear(8, 2))
    end
    local m1, m2 = model(Act()), model(nn.ReLU())
    local o1, o2 = optim.SGD(m1:parameters(), { lr = 0.1 }), optim.SGD(m2:parameters(), { lr = 0.1 })
    nl.manual_seed(9)
    local X, Y = nl.randn(16, 4), nl.randn(16, 2)
    local crit = nn.MSELoss()
    local first, last
    for step = 1, 5 do
      for _, pair in ipairs({ { m1, o1 }, { m2, o2 } }) do
        pair[2]:zero_grad()
        local loss = crit(pair[1](X), Y)
        loss:backward()
        pair[2]:step()
        if pair[1] == m1 then
          first = first or loss:item()
          last = loss:item()
        end
      end
    end
    assert.is_true(last < first)
    local p1, p2 = m1:parameters(), m2:parameters()
    for i = 1, #p1 do same(p1[i], p2[i], 1e-6) end
  end)

  it('returns an input as it came, chains through itself, and takes hooks on its results', function()
    local Id3 = Function('Id3', { forward = function(ctx, x) return x end, backward = function(ctx, g) return g * 3 end })
    local x = leaf({ 1, 2 })
    local y = Id3.apply(x)
    assert.is_true(x:is_leaf())
    assert.is_false(y:is_leaf())
    local seen
    y:register_hook(function(g) seen = S.flat(g) end)
    ;(y * nl.tensor({ 1, 2 }, 'float64')):sum():backward()
    same(x.grad, { 3, 6 })
    assert.are.same({ 1, 2 }, seen)
    x.grad = nil
    Id3.apply(Square.apply(Id3.apply(x * 2))):sum():backward()   -- 3 * 2 (2x) * 3 * 2
    same(x.grad, { 72, 144 })
  end)

  it('backward twice with retain_graph; a third time through the freed graph is an error', function()
    local x = leaf({ 1, 2, 3 })
    local y = Square.apply(x)
    local w = nl.ones(3, 'float64')
    y:backward(w, { retain_graph = true })
    y:backward(w)
    same(x.grad, { 4, 8, 12 })
    S.contains(S.errmsg(function() y:backward(w) end), 'the graph through custom_function was freed')
    -- nl.autograd.grad goes through it too
    local z = leaf({ 2, -1 })
    local g = nl.autograd.grad(Two.apply(z, z, 2):sum(), z)[1]
    same(g, { 4, -2 })    -- d/dz sum(z z) = 2 z; the second output unused (zeros for it)
    assert.is_nil(z.grad)
  end)

  it('a gradient in the broadcast shape of the output is summed to the input\'s, as PyTorch 1.13 reduces it', function()
    -- x + b with b of shape [3], [2, 1] or []: backward gives g to both; b's gradient is g summed over
    -- the broadcast dims (closed forms: the column sums, row sums and total of w); PyTorch 1.13 gives the same
    local BAdd = Function('BAdd', { forward = function(_, x, b) return x + b end,
                                    backward = function(_, g) return g, g end })
    local w = nl.tensor({ { 1, 2, 3 }, { 4, 5, 6 } }, 'float64')
    for _, c in ipairs({ { leaf({ 1, 1, 1 }), { 5, 7, 9 } }, { leaf({ { 1 }, { 1 } }), { 6, 15 } },
                         { nl.tensor(2, 'float64'):requires_grad(), { 21 } } }) do
      local x = leaf({ { 1, 2, 3 }, { 4, 5, 6 } })
      local b = c[1]
      BAdd.apply(x, b):mul(w):sum():backward()
      same(b.grad, c[2])
      assert.are.same(b:shape(), b.grad:shape())
      same(x.grad, w)
      -- with create_graph the sum is recorded: d/db of sum(grad_b) is 0, the gradient itself as above
      local gb = nl.autograd.grad(BAdd.apply(x, b):mul(w):sum(), b, { create_graph = true })[1]
      same(gb, c[2])
    end
    -- a shape that does not broadcast to the input's stays an error
    local Bad = Function('Bad', { forward = function(_, x) return x * 1 end, backward = function(_, g) return g:sum(1) end })
    S.contains(S.errmsg(function() Bad.apply(leaf({ { 1, 2 }, { 3, 4 } })):sum():backward() end),
               'Bad.backward: gradient 1 has shape [2], but argument 1 of forward has shape [2,2]')
  end)

  it('a backward that runs a backward of its own through another custom function checks its own inputs', function()
    -- Outer's backward runs an unrelated pass through Square on a tensor of another shape (a
    -- checkpoint's recomputation does so); Outer's gradient 2 g is then checked against Outer's input
    local Outer = Function('Outer', {
      forward = function(_, x) return x * 2 end,
      backward = function(_, g)
        for _, shape in ipairs({ { 1, 3 }, { 3 } }) do
          local z = nl.ones(shape, 'float64'):requires_grad()
          nl.enable_grad(function() Square.apply(z):sum():backward() end)
          same(z.grad, { 2, 2, 2 })
        end
        return g * 2
      end,
    })
    local x = leaf({ 1, 2 })
    Outer.apply(x):sum():backward()
    same(x.grad, { 2, 2 })
    local x2 = leaf({ { 1, 2, 3 } })
    Outer.apply(x2):sum():backward()
    same(x2.grad, { 2, 2, 2 })
    assert.are.same({ 1, 3 }, x2.grad:shape())
  end)

  it('a backward that failed leaves nothing for the next: an output it reached is not summed into a later pass', function()
    -- (2 x, 3 x): the gradient of the second output alone is 3; a failed pass had reached the first
    local Pair = Function('Pair', {
      forward = function(_, x) return x * 2, x * 3 end,
      backward = function(_, g1, g2) return g1 * 2 + g2 * 3 end,
    })
    local Fails = Function('Fails', { forward = function(_, x) return x * 1 end,
                                      backward = function() error('no gradient here') end })
    for _, create_graph in ipairs({ false, true }) do
      local x = leaf({ 1 })
      local a, b = Pair.apply(x)
      local s = Fails.apply(b * 1):sum() + a:sum()     -- a's node runs before Fails' error
      local msg = S.errmsg(function()
        if create_graph then return nl.autograd.grad(s, x, { retain_graph = true, create_graph = true }) end
        s:backward({ retain_graph = true })
      end)
      S.contains(msg, 'no gradient here')
      assert.is_nil(x.grad)
      if create_graph then same(nl.autograd.grad(b:sum(), x, { create_graph = true })[1], { 3 })
      else
        b:sum():backward()
        same(x.grad, { 3 })
      end
    end
  end)

  it('gives higher-order gradients with create_graph, as the same function of built-in ops does', function()
    -- d/dx sum(Square(x)^2) = 4 x^3, then d/dx sum(4 x^3) = 12 x^2
    local x, x2 = leaf({ 1, 2, -3 }), leaf({ 1, 2, -3 })
    local g = nl.autograd.grad(Square.apply(x):pow(2):sum(), x, { create_graph = true })[1]
    same(g, { 4, 32, -108 })
    g:sum():backward()
    same(x.grad, { 12, 48, 108 })
    local g2 = nl.autograd.grad((x2 * x2):pow(2):sum(), x2, { create_graph = true })[1]
    g2:sum():backward()
    same(x.grad, x2.grad)
    -- two outputs; backward with create_graph leaves .grad with a graph
    local a, b, a2, b2 = leaf({ 1, 2 }), leaf({ 3, -4 }), leaf({ 1, 2 }), leaf({ 3, -4 })
    local p, q = Two.apply(a, b, 10)
    ;(p * q):sum():backward({ create_graph = true })
    local ga = a.grad
    a.grad, b.grad = nil, nil
    ga:sum():backward()
    ;((a2 * b2) * (a2 + b2 * 10)):sum():backward({ create_graph = true })
    local ga2 = a2.grad
    same(ga, ga2)
    a2.grad, b2.grad = nil, nil
    ga2:sum():backward()
    same(a.grad, a2.grad)
    same(b.grad, b2.grad)
    -- errors of backward come out of the walk too
    local Bad = Function('BadCG', { forward = function(ctx, t) return t * 1 end,
                                    backward = function(ctx, gr) return nl.ones(5) end })
    S.contains(S.errmsg(function() nl.autograd.grad(Bad.apply(x):sum(), x, { create_graph = true }) end),
               'BadCG.backward: gradient 1 has shape [5], but argument 1 of forward has shape [3]')
  end)

  it('errors name the function: wrong shape, wrong count, a gradient for a number, a raise inside backward', function()
    local x = leaf({ 1, 2, 3 })
    local function bwd(f) return Function('Bad', { forward = function(ctx, a, b) return a * 2 end, backward = f }) end
    S.contains(S.errmsg(function() bwd(function(ctx, g) return nl.ones(2), nil end).apply(x):sum():backward() end),
               'Bad.backward: gradient 1 has shape [2], but argument 1 of forward has shape [3]')
    S.contains(S.errmsg(function() bwd(function(ctx, g) return g end).apply(x, x):sum():backward() end),
               'Bad.backward returned 1 gradients for the 2 arguments of forward')
    S.contains(S.errmsg(function() bwd(function(ctx, g) return g, nil, g end).apply(x, x):sum():backward() end),
               'Bad.backward returned 3 values for the 2 arguments of forward (value 3 is not nil)')
    S.contains(S.errmsg(function() bwd(function(ctx, g) return g, g end).apply(x, 4):sum():backward() end),
               'Bad.backward: gradient 2 is')
    S.contains(S.errmsg(function() bwd(function(ctx, g) return 7, nil end).apply(x):sum():backward() end),
               'Bad.backward: gradient 1 must be a tensor or nil, got 7')
    local msg = S.errmsg(function() bwd(function(ctx, g) error('kaboom') end).apply(x):sum():backward() end)
    S.contains(msg, 'Bad.backward: ')
    S.contains(msg, 'kaboom')
    -- no .grad was changed by the failed backward passes, and x still works
    assert.is_nil(x.grad)
    Square.apply(x):sum():backward()
    same(x.grad, { 2, 4, 6 })
    -- forward's own errors come out of apply
    S.contains(S.errmsg(function() Function('F', { forward = function() error('in forward') end, backward = function() end }).apply(x) end),
               'in forward')
    S.contains(S.errmsg(function() Function:extend('NoFwd').apply(x) end), 'NoFwd.apply: the function has no forward')
    S.contains(S.errmsg(function() Function('NoBwd', { forward = function(c, a) return a end }).apply(x) end),
               'NoBwd.apply: the function has no backward')
    S.contains(S.errmsg(function() Function('X', { forwrd = function() end }) end), 'unknown field forwrd')
    S.contains(S.errmsg(function() Function('X', { forward = function(c, a) c:save_for_backward(a, 3); return a end,
                                                  backward = function() end }).apply(x) end),
               'X: save_for_backward takes tensors or nil, got 3 as argument 2')
  end)

  it('an in-place change of a saved tensor after forward is an error at backward naming the function', function()
    local x = leaf({ 1, 2, 3 })
    local y = Square.apply(x)
    nl.no_grad(function() x:mul_(2) end)
    local msg = S.errmsg(function() y:sum():backward() end)
    S.contains(msg, 'Square: saved tensor 1 (shape [3]) was modified in place after forward saved it')
    assert.is_nil(x.grad)
    -- a change inside forward, before it returns, is no error (PyTorch's rule)
    local F = Function('ChangeInside', {
      forward = function(ctx, a) local t = a * 1; ctx:save_for_backward(t); t:add_(1); return a * 1 end,
      backward = function(ctx, g) local t = ctx:saved_tensors(); return g * t end,
    })
    F.apply(x):sum():backward()
    same(x.grad, { 3, 5, 7 })
  end)

  it('holds flat memory over 20,000 applications, with and without backward', function()
    local out = run_child([[
      local F = nl.autograd.Function('Sq', {
        forward = function(ctx, x) ctx:save_for_backward(x); ctx.big = nl.zeros(4096); return x * x end,
        backward = function(ctx, g) local x = ctx:saved_tensors(); return g * 2 * x end })
      local x = nl.randn(256):requires_grad()
      local function rss()
        local f = io.open('/proc/self/status'); local s = f:read('*a'); f:close()
        return tonumber(s:match('VmRSS:%s*(%d+)'))
      end
      local r1
      for i = 1, 20000 do
        local y = F.apply(x)
        if i % 2 == 0 then y:sum():backward() end
        if i == 2000 then r1 = rss() end
      end
      collectgarbage('collect'); collectgarbage('collect')
      local n = 0
      for _ in pairs(nl._custom_registry) do n = n + 1 end
      local y = F.apply(x)
      local m = 0
      for _ in pairs(nl._custom_registry) do m = m + 1 end
      print('growth_kb', rss() - r1, 'held', n, m)
    ]])
    local growth, held, after = out:match('growth_kb%s+(%-?%d+)%s+held%s+(%d+)%s+(%d+)')
    assert.is_truthy(growth, out)
    print(string.format('\n    autograd.Function: 20,000 applications grew RSS by %.1f MB after the first 2,000; %s contexts '
                        .. 'held at the end, %s after one more apply', tonumber(growth) / 1024, held, after))
    assert.is_true(tonumber(growth) < 16 * 1024, out)
    -- after a collection: the contexts of nodes that died since the last apply, which the next
    -- apply lets go (its own is the one left)
    assert.is_true(tonumber(held) < 1000, out)
    assert.are.equal('1', after)
  end)

  it('keeps the Lua heap flat over 200,000 applications without backward', function()
    -- (each context stays in the registry until its node dies, a cycle
    -- after its output's handle: LuaJIT counted them live and paced its
    -- next cycle by them, so each cycle kept more, 42 MB by step 500,000;
    -- the binding's collector now counts the contexts it lets go)
    local out = run_child([[
      local F = nl.autograd.Function('Sq', {
        forward = function(ctx, x) return x * x end,
        backward = function(ctx, g) return g end })
      local first, last = 0, 0
      for i = 1, 200000 do
        local y = F.apply(nl.randn(5):requires_grad())
        if i % 100 == 0 then
          local h = collectgarbage('count')
          if i <= 100000 then first = math.max(first, h) else last = math.max(last, h) end
        end
      end
      print('max_kb', first, last)
    ]])
    local first, last = out:match('max_kb%s+(%S+)%s+(%S+)')
    assert.is_truthy(first, out)
    first, last = tonumber(first), tonumber(last)
    print(string.format('\n    autograd.Function without backward: Lua heap at most %.1f MB over the first 100,000 '
                        .. 'applications, %.1f MB over the next', first / 1024, last / 1024))
    assert.is_true(last < 16 * 1024, out)
    assert.is_true(last < 1.25 * first, out)
  end)

  it('works in a hot loop: backward passes compiled before any custom function, then 1,000 through one', function()
    -- (a compiled call into nl_backward that called back into Lua aborted
    -- the process: "bad callback")
    local out = run_child([[
      local F = nl.autograd.Function('Sq', {
        forward = function(ctx, x) ctx:save_for_backward(x); return x * x end,
        backward = function(ctx, g) local x = ctx:saved_tensors(); return g * 2 * x end })
      local x = nl.tensor({ 1, 2, 3 }):requires_grad()
      local ys = {}
      for i = 1, 2000 do ys[i] = i <= 1000 and (x * x):sum() or F.apply(x):sum() end
      for i = 1, 2000 do ys[i]:backward() end
      for i = 1, 1000 do F.apply(x):sum():backward() end
      print('grad', table.concat(x.grad:totable(), ','))
    ]])
    S.contains(out, 'grad\t6000,12000,18000')
  end)
end)

-- ctx:mark_dirty: against PyTorch 1.13 (tests/golden/custom_function.lua,
-- made by tests/golden/gen_custom_function.py, the same functions and
-- graphs), float64 central differences and closed forms
describe('nl.autograd.Function: mark_dirty', function()
  local golden = dofile(S.root .. '/tests/golden/custom_function.lua')
  local G = S.from_golden
  local function gleaf(g) return G(g):requires_grad() end

  local InplaceTanh = Function('InplaceTanh', {
    forward = function(ctx, x)
      x:tanh_()
      ctx:mark_dirty(x)
      ctx:save_for_backward(x)
      return x
    end,
    backward = function(ctx, g) local y = ctx:saved_tensors(); return g * (1 - y * y) end,
  })
  local ScaleTwo = Function('ScaleTwo', {
    forward = function(ctx, x, y, s)
      ctx:save_for_backward(x:clone(), y:clone())
      ctx.s = s
      x:mul_(s)
      y:mul_(x)
      ctx:mark_dirty(x, y)
      return x, y, x + y
    end,
    backward = function(ctx, gx, gy, gr)
      local x0, y0 = ctx:saved_tensors()
      local s = ctx.s
      gx, gy = gx + gr, gy + gr
      return gx * s + gy * y0 * s, gy * x0 * s, nil
    end,
  })
  local AddSquare = Function('AddSquare', {
    forward = function(ctx, x, w) ctx:save_for_backward(w); x:add_(w * w); ctx:mark_dirty(x); return x end,
    backward = function(ctx, g) local w = ctx:saved_tensors(); return g, 2 * w * g end,
  })
  local Triple = Function('Triple', {
    forward = function(ctx, x) x:mul_(3); return x end,
    backward = function(ctx, g) return g * 3 end,
  })

  it('returns the input object itself, its history rebased on the function (PyTorch 1.13)', function()
    local c = golden.tanh
    local a, b = gleaf(c.a), gleaf(c.b)
    local y = a * 2 + 1
    local u = y + b                          -- (an op that used y before: its gradient goes to y's old history)
    local r = InplaceTanh.apply(y)
    assert.is_true(rawequal(r, y))
    assert.are.equal('custom_function', y:grad_fn())
    same(y, c.y.data)
    ;(r * G(c.w1) + u * G(c.w2)):sum():backward()
    same(a.grad, c.grads[1].data)
    same(b.grad, c.grads[2].data)
    -- the closed form: da = 2 (w1 (1 - tanh^2) + w2), db = w2
    same(a.grad, S.flat(2 * (G(c.w1) * (1 - G(c.y) * G(c.y)) + G(c.w2))))
  end)

  it('two dirty inputs of one function and a new result (PyTorch 1.13)', function()
    local c = golden.two
    local a, b = gleaf(c.a), gleaf(c.b)
    local x, y = a * 1, b - 0
    local rx, ry, rs = ScaleTwo.apply(x, y, 1.5)
    assert.is_true(rawequal(rx, x) and rawequal(ry, y))
    assert.is_false(rawequal(rs, x))
    ;(rx * G(c.w1) + ry * G(c.w2) + rs * G(c.w3)):sum():backward()
    same(a.grad, c.grads[1].data)
    same(b.grad, c.grads[2].data)
  end)

  it('a dirty input that needs no grad becomes the output of the function (PyTorch 1.13)', function()
    local c = golden.nograd_input
    local w = gleaf(c.w)
    local x = G(c.c)
    local r = AddSquare.apply(x, w)
    assert.is_true(rawequal(r, x))
    assert.is_true(x.is_requires_grad)
    assert.is_false(x:is_leaf())
    ;(x * G(c.wt)):sum():backward()
    same(w.grad, c.grads[1].data)
    same(w.grad, S.flat(2 * G(c.w) * G(c.wt)))   -- closed form
  end)

  it("keeps the input's hooks on its old history and moves retain_grad to the new (PyTorch 1.13)", function()
    local c = golden.hooks
    local a = gleaf(c.a)
    local y = a * 1
    local z = y * 3
    local seen
    y:register_hook(function(g) seen = g:clone() end)
    y:retain_grad()
    InplaceTanh.apply(y)
    assert.is_true(y.retains_grad)
    ;(z * G(c.w1) + y * y * G(c.w2)):sum():backward()
    same(seen, c.hook.data)
    same(y.grad, c.retained.data)
    same(a.grad, c.grads[1].data)
  end)

  it('without mark_dirty, a new tensor over the input gets the node, as PyTorch 1.13 (a leaf too)', function()
    local c = golden.unmarked
    local a = gleaf(c.a)
    local y = a * 1
    local r = Triple.apply(y)
    assert.is_false(rawequal(r, y))
    assert.are.equal('mul', y:grad_fn())
    ;(r * G(c.w1) + y * G(c.w2)):sum():backward()
    same(a.grad, c.grads[1].data)
    local l = gleaf(c.a)
    r = Triple.apply(l)
    ;(r * G(c.w1)):sum():backward()
    same(l.grad, c.leaf_grad.data)
    same(l, c.leaf_after.data)
    same(l.grad, S.flat(3 * G(c.w1)))          -- closed form
  end)

  it('gives the gradients of central differences (gradcheck), and with create_graph those of backward', function()
    local f = function(a, b) return InplaceTanh.apply(a * b) * a end
    local a, b = leaf({ 0.3, -0.7, 1.1 }), leaf({ 0.9, 0.4, -0.5 })
    assert.is_true(nl.gradcheck(f, { a, b }))
    local f2 = function(a, b) local x, y, s = ScaleTwo.apply(a * 1, b * 1, -0.75); return x * 2 + y * s + x end
    assert.is_true(nl.gradcheck(f2, { a, b }))
    a.grad, b.grad = nil, nil
    f(a, b):sum():backward()
    local ga, gb = a.grad, b.grad
    local g = nl.autograd.grad(f(a, b):sum(), { a, b }, { create_graph = true })
    same(g[1], ga)
    same(g[2], gb)
  end)

  it('bumps the version once: what an op saved of the input is refused at backward (PyTorch 1.13)', function()
    local a = leaf({ 1, 2 })
    -- PyTorch: "... output 0 of ExpBackward0, is at version 2; expected version 0 instead"
    local e = a:exp()
    InplaceTanh.apply(e)
    S.contains(S.errmsg(function() e:sum():backward() end), 'modified in place before backward (version 2, saved at 0)')
    local y = a * 1
    local p = y * y
    InplaceTanh.apply(y)
    S.contains(S.errmsg(function() p:sum():backward() end), 'was modified in place after it was used')
    -- under no_grad, or with no input that requires grad: no graph, the version bumped still
    local x = nl.tensor({ 0.5, 1 }, 'float64')
    local v = nl._lib.nl_tensor_version(x.ptr)
    local r = InplaceTanh.apply(x)
    assert.is_true(rawequal(r, x))
    assert.is_true(x:is_leaf())
    assert.are.equal(v + 2, nl._lib.nl_tensor_version(x.ptr))   -- tanh_, then mark_dirty
  end)

  it('refuses a leaf that requires grad, a dirty tensor not returned, and a view an op made', function()
    local a = leaf({ 1, 2 })
    -- PyTorch: "a leaf Variable that requires grad has been used in an in-place operation."
    local msg = S.errmsg(function() InplaceTanh.apply(a) end)
    S.contains(msg, 'InplaceTanh.apply: argument 1 (shape [2]) is a leaf that requires grad')
    S.contains(msg, 'a leaf Variable that requires grad has been used in an in-place operation')
    -- PyTorch: "Some elements marked as dirty during the forward method were not returned as output."
    local NotReturned = Function('NotReturned', {
      forward = function(ctx, x) x:mul_(2); ctx:mark_dirty(x); return x * 1 end,
      backward = function(ctx, g) return g end })
    S.contains(S.errmsg(function() NotReturned.apply(a * 1) end),
      'NotReturned.apply: a tensor marked dirty (shape [2]) is not among the results of forward')
    S.contains(S.errmsg(function() InplaceTanh.apply((a * 1):narrow(1, 1, 1)) end),
      'InplaceTanh.apply: argument 1 (shape [1]), changed in place (mark_dirty), is a view (made by narrow)')
    S.contains(S.errmsg(function()
      Function('Bad', { forward = function(ctx, x) ctx:mark_dirty(x, 3); return x end,
                        backward = function(ctx, g) return g end }).apply(a * 1)
    end), 'Bad: mark_dirty takes tensors, got 3 as argument 2')
    -- the result of an earlier dirty function changed in place again: its
    -- saved output is refused, as PyTorch refuses it; one that saved
    -- nothing chains: d tanh(3a) = 3 (1 - tanh(3a)^2)
    local y = a * 1
    InplaceTanh.apply(InplaceTanh.apply(y))
    S.contains(S.errmsg(function() y:sum():backward() end),
      'InplaceTanh: saved tensor 1 (shape [2]) was modified in place after forward saved it')
    local DirtyTriple = Function('DirtyTriple', {
      forward = function(ctx, x) x:mul_(3); ctx:mark_dirty(x); return x end,
      backward = function(ctx, g) return g * 3 end })
    local b = leaf({ 1, 2 })                 -- (a was changed: the forward refused above ran, as PyTorch's)
    y = b * 1
    InplaceTanh.apply(DirtyTriple.apply(y))
    y:sum():backward()
    local t = nl.tensor({ 3, 6 }, 'float64'):tanh()
    same(b.grad, S.flat(3 * (1 - t * t)))
  end)

  it('lets the contexts go: 2,000 applications, with and without backward, hold none after', function()
    local a = leaf({ 1, 2 })
    local function held() return S.held(nl._custom_registry, nl._custom_drain) end
    local before = held()
    for i = 1, 2000 do
      local y = InplaceTanh.apply(a * 1)
      if i % 2 == 0 then y:sum():backward() end
    end
    assert.are.equal(before, held())
  end)
end)

describe("README's autograd.Function block", function()
  it('runs under bin/nnlua and prints the gradient 2 x', function()
    local src = S.read(S.root .. '/README.md'):match('<!%-%- readme_spec: autograd_function %-%->\n```lua\n(.-)\n```')
    assert.is_string(src)
    local path = S.write(os.tmpname() .. '.lua', src)
    local p = assert(io.popen(('cd %s && bin/nnlua %s 2>&1'):format(S.q(S.root), S.q(path))))
    local out = p:read('*a')
    p:close()
    os.remove(path)
    S.contains(out, 'tensor([2., 4., 6.]')
  end)
end)
