-- nl.autograd.functional (lua/nnlua/autograd_functional.lua), PyTorch
-- 1.13's torch.autograd.functional: jacobian, hessian, vjp, jvp, vhp and
-- hvp against PyTorch 1.13 golden data (tests/golden/autograd_functional.lua,
-- made by tests/golden/gen_autograd_functional.py) in PyTorch's result
-- structure; closed forms; float64 central differences (of the jacobian,
-- the hessian and a hessian entry's gradient with create_graph); and the
-- errors: v's shape and count, outputs that are not tensors, strict mode,
-- strategies and options.
local nl = require 'nnlua'
local S = require 'support'

local AF = nl.autograd.functional
local golden = dofile(S.root .. '/tests/golden/autograd_functional.lua')
local T = S.from_golden

local A3 = nl.tensor({ { 2.0, -1.0, 0.5 }, { 0.3, 1.5, -2.0 }, { 1.0, 0.25, 3.0 } }, 'float64')

-- the generator's functions in nnlua (1-based dims)
local VECTOR = {
  exp_reducer = function(x) return x:exp():sum(2) end,
  elementwise = function(x) return x:tanh() * x:pow(2) end,
  matmul = function(a, b) return nl.matmul(a, b) end,
  multi = function(x, y) return { x * y, y:pow(2):sum(2), x:sin() } end,
  tuple_out = function(x) return { x:exp(), x:mean() } end,
  unused_input = function(x, _) return x:exp() * 2 end,
  softmax = function(x) return x:softmax(2) end,
  one_element_out = function(x) return (x * x):sum() end,
  one_element_in = function(x) return nl.cat({ x:exp(), x:pow(3) }, 1) end,
}
local SCALAR = {
  cubic = function(x) return x:pow(3):sum() end,
  quadratic = function(x) return (x * nl.matmul(A3, x)):sum() end,
  two_inputs = function(x, y) return (x:sin() * y):sum() + (x * x * y * y):sum() end,
  mlp = function(w, b, x) return (nl.matmul(w, x) + b):tanh():sum() end,
  logsumexp = function(x) return x:exp():sum():log() end,
  one_element = function(x) return (x:exp() * x):sum() end,
  linear = function(x, y) return (x * 2):sum() + (y * y):sum() end,
}
local GRAPH = {
  hessian_sin = function(x) return (x:sin() * x:pow(2)):sum() end,
  hessian_two = function(x, y) return (x:exp():sum() * y:tanh()):sum() + (x * x):sum() * y:pow(3):sum() end,
  jacobian_multi = VECTOR.multi,
  vjp_tanh = VECTOR.elementwise,
  jvp_softmax = VECTOR.softmax,
  vhp_logsumexp = SCALAR.logsumexp,
  hvp_two = SCALAR.two_inputs,
}

local TOL = { float32 = 2e-5, float64 = 1e-10 }

-- a golden value (a tensor, or a list of them, nested) as nnlua's
local function from(g)
  if g.shape then return T(g) end
  local r = {}
  for i, e in ipairs(g) do r[i] = from(e) end
  return r
end
-- the golden inputs as the case gives them: a tensor or a list
local function inputs_of(c)
  return from(c.inputs)
end

-- got has want's structure (a tensor, a list, lists of lists) and values,
-- and no graph unless graph
local function same(got, want, what, graph)
  if want.shape then
    assert.is_true(nl.is_tensor(got), what .. ': expected a tensor, got ' .. type(got))
    S.expect_close(got, want, what, TOL[want.dtype or 'float32'], TOL[want.dtype or 'float32'])
    if not graph then assert.is_false(got.is_requires_grad, what .. ' has a graph') end
    return
  end
  assert.is_true(type(got) == 'table' and not nl.is_tensor(got), what .. ': expected a list')
  assert.are.equal(#want, #got, what .. ': entries')
  for i = 1, #want do same(got[i], want[i], what .. '[' .. i .. ']', graph) end
end

-- the tensors of a nested list, in order
local function flatten(x, out)
  out = out or {}
  if nl.is_tensor(x) then out[#out + 1] = x
  else for _, e in ipairs(x) do flatten(e, out) end end
  return out
end

describe('nl.autograd.functional against PyTorch 1.13', function()
  for _, c in ipairs(golden.vector) do
    it('vector case ' .. c.name .. ': jacobian, vjp, jvp and the outputs', function()
      local f = VECTOR[c.name]
      local x = inputs_of(c)
      same(AF.jacobian(f, x), c.jacobian, c.name .. ' jacobian')
      -- vectorize runs the same loop
      same(AF.jacobian(f, x, { vectorize = true }), c.jacobian, c.name .. ' jacobian vectorized')
      local out, vjp = AF.vjp(f, x, c.v_out and from(c.v_out))
      same(out, c.outputs, c.name .. ' vjp outputs')
      same(vjp, c.vjp, c.name .. ' vjp')
      local out2, jvp = AF.jvp(f, x, c.v_in and from(c.v_in))
      same(out2, c.outputs, c.name .. ' jvp outputs')
      same(jvp, c.jvp, c.name .. ' jvp')
    end)
  end

  for _, c in ipairs(golden.scalar) do
    it('scalar case ' .. c.name .. ': hessian, vhp and hvp', function()
      local f = SCALAR[c.name]
      local x = inputs_of(c)
      same(AF.hessian(f, x), c.hessian, c.name .. ' hessian')
      same(AF.hessian(f, x, { vectorize = true }), c.hessian, c.name .. ' hessian vectorized')
      local v = c.v and from(c.v)
      local out, vhp = AF.vhp(f, x, v)
      same(out, c.output, c.name .. ' vhp output')
      same(vhp, c.vhp, c.name .. ' vhp')
      local out2, hvp = AF.hvp(f, x, v)
      same(out2, c.output, c.name .. ' hvp output')
      same(hvp, c.hvp, c.name .. ' hvp')
    end)
  end

  for _, c in ipairs(golden.graph) do
    it('create_graph case ' .. c.name .. ': the gradients of sum(w * ' .. c.fn .. ')', function()
      local f = GRAPH[c.name]
      local x = inputs_of(c)
      local leaves = flatten(x)
      for _, t in ipairs(leaves) do t:requires_grad() end
      local v = c.v and from(c.v)
      if v then for _, t in ipairs(flatten(v)) do leaves[#leaves + 1] = t:requires_grad() end end
      local res
      if c.fn == 'jacobian' or c.fn == 'hessian' then res = AF[c.fn](f, x, { create_graph = true })
      else res = select(2, AF[c.fn](f, x, v, { create_graph = true })) end
      local flat = flatten(res)
      assert.are.equal(#c.w, #flat)
      local total = nil
      for i, r in ipairs(flat) do
        local term = (r * T(c.w[i])):sum()
        total = total and total + term or term
      end
      local grads = nl.autograd.grad(total, leaves, { allow_unused = true })
      for i, t in ipairs(leaves) do
        local g = grads[i] or nl.zeros(t:shape(), t:dtype())
        S.expect_close(g, c.grads[i], c.name .. ' gradient ' .. i, 1e-9, 1e-9)
      end
      -- no .grad was touched
      for _, t in ipairs(leaves) do assert.is_nil(t.grad) end
    end)
  end
end)

-- a float64 tensor of shape ... from S.rng (not nnlua's RNG)
local function rand64(rng, ...)
  return nl.tensor(S.nested({ ... }, function() return rng() end), 'float64')
end

describe('nl.autograd.functional closed forms and finite differences', function()
  it('gives the hessian of the quadratic x^T A x as A + A^T', function()
    local rng = S.rng(7)
    local A = rand64(rng, 5, 5)
    local f = function(x) return (x * nl.matmul(A, x)):sum() end
    local H = AF.hessian(f, rand64(rng, 5))
    S.expect_close(H, A + A:t(), 'hessian', 1e-12, 1e-12)
    -- and hvp = vhp = (A + A^T) v
    local v = rand64(rng, 5)
    local want = nl.matmul(A + A:t(), v)
    S.expect_close(select(2, AF.hvp(f, rand64(rng, 5), v)), want, 'hvp', 1e-12, 1e-12)
    S.expect_close(select(2, AF.vhp(f, rand64(rng, 5), v)), want, 'vhp', 1e-12, 1e-12)
  end)

  it('gives the jacobian of A x as A and of an elementwise function as a diagonal', function()
    local rng = S.rng(8)
    local A = rand64(rng, 4, 3)
    S.expect_close(AF.jacobian(function(x) return nl.matmul(A, x) end, rand64(rng, 3)), A, 'A x', 1e-14, 1e-14)
    local x = rand64(rng, 4)
    local J = AF.jacobian(function(t) return t:sin() end, x)
    local want = {}
    local xs = x:totable()
    for i = 1, 4 do
      want[i] = {}
      for j = 1, 4 do want[i][j] = i == j and math.cos(xs[i]) or 0 end
    end
    S.expect_close(J, nl.tensor(want, 'float64'), 'diag', 1e-14, 1e-14)
  end)

  it('agrees with itself: vjp = v^T J, jvp = J v, hvp = H v over two inputs', function()
    local rng = S.rng(9)
    local f = function(x, y) return { (x:view(2, 3) * y):tanh(), (x * x):sum() * y:sum() } end
    local x, y = rand64(rng, 6), rand64(rng, 2, 3)
    local J = AF.jacobian(f, { x, y })
    local v = { rand64(rng, 2, 3), rand64(rng, 1):view({}) }
    local _, vjp = AF.vjp(f, { x, y }, v)
    for j = 1, 2 do
      local want = nl.matmul(v[1]:reshape(1, 6), J[1][j]:reshape(6, -1)):reshape(j == 1 and { 6 } or { 2, 3 })
        + J[2][j] * v[2]
      S.expect_close(vjp[j], want, 'vjp ' .. j, 1e-12, 1e-12)
    end
    local u = { rand64(rng, 6), rand64(rng, 2, 3) }
    local _, jvp = AF.jvp(f, { x, y }, u)
    local want1 = nl.matmul(J[1][1]:reshape(6, 6), u[1]) + nl.matmul(J[1][2]:reshape(6, 6), u[2]:reshape(6))
    S.expect_close(jvp[1], want1:reshape(2, 3), 'jvp 1', 1e-12, 1e-12)
    S.expect_close(jvp[2], (J[2][1] * u[1]):sum() + (J[2][2] * u[2]):sum(), 'jvp 2', 1e-12, 1e-12)
    local g = function(a, b) return (a:sin():view(2, 3) * b:pow(2)):sum() end
    local H = AF.hessian(g, { x, y })
    local _, hvp = AF.hvp(g, { x, y }, u)
    S.expect_close(hvp[2], (nl.matmul(H[2][1]:reshape(6, 6), u[1]) + nl.matmul(H[2][2]:reshape(6, 6), u[2]:reshape(6)))
      :reshape(2, 3), 'hvp 2', 1e-12, 1e-12)
    -- the hessian's blocks are each other's transposes
    S.expect_close(H[1][2]:reshape(6, 6), H[2][1]:reshape(6, 6):t(), 'H symmetric', 1e-12, 1e-12)
  end)

  -- central differences of f's outputs (flat) in input j's element k
  local function numeric_column(f, xs, j, k, eps)
    local x = xs[j]:clone()
    local function at(d)
      local args = {}
      for i, t in ipairs(xs) do args[i] = t end
      local xd = x:clone()
      xd:view(-1)[k] = x:view(-1)[k] + d
      args[j] = xd
      return f(unpack(args))
    end
    return (at(eps) - at(-eps)) / (2 * eps)
  end

  it('matches float64 central differences: jacobian, hessian', function()
    local rng = S.rng(10)
    local f = function(a, b) return (nl.matmul(a, b):sigmoid() * a:sum()):exp() end
    local a, b = rand64(rng, 2, 3), rand64(rng, 3, 2)
    local J = AF.jacobian(f, { a, b })
    for j, x in ipairs({ a, b }) do
      for k = 1, x:numel() do
        local col = numeric_column(f, { a, b }, j, k, 1e-6)
        local got = J[j]:reshape(4, -1):select(2, k)
        S.expect_close(got, col:reshape(4), ('jacobian input %d column %d'):format(j, k), 1e-6, 1e-8)
      end
    end
    local g = function(x) return (x:pow(3) * x:sum():sin()):sum() end
    local x = rand64(rng, 4)
    local H = AF.hessian(g, x)
    local grad_of = function(t) return select(2, AF.vjp(g, t)) end
    for k = 1, 4 do
      local col = numeric_column(grad_of, { x }, 1, k, 1e-6)
      S.expect_close(H:select(2, k), col, 'hessian column ' .. k, 1e-6, 1e-8)
    end
  end)

  it('makes a create_graph hessian differentiable: a gradient of one entry matches central differences', function()
    local rng = S.rng(11)
    local f = function(x) return (x:sin() * x:pow(2)):sum() end
    local x = rand64(rng, 3):requires_grad()
    local H = AF.hessian(f, x, { create_graph = true })
    assert.is_true(H.is_requires_grad)
    local entry = H[1]:select(1, 2)           -- H[1][2], d2f / dx1 dx2
    local g = nl.autograd.grad(entry, x)[1]
    local entry_at = function(t) return AF.hessian(f, t)[1]:select(1, 2) end
    for k = 1, 3 do
      local num = numeric_column(entry_at, { x:detach() }, 1, k, 1e-5)
      S.expect_close(g:narrow(1, k, 1):reshape({}), num, 'd H12 / dx' .. k, 1e-6, 1e-8)
    end
    -- without create_graph the hessian has no graph, and the input no .grad
    assert.is_false(AF.hessian(f, x).is_requires_grad)
    assert.is_nil(x.grad)
  end)

  it('keeps v in the graph with create_graph: vjp is differentiable in v', function()
    local x = nl.tensor({ 0.5, -1.0, 2.0 }, 'float64'):requires_grad()
    local v = nl.tensor({ 1.0, 2.0, 3.0 }, 'float64'):requires_grad()
    local out, vjp = AF.vjp(function(t) return t:exp() end, x, v, { create_graph = true })
    assert.is_true(out.is_requires_grad)
    local gv = nl.autograd.grad(vjp:sum(), v)[1]
    S.expect_close(gv, x:detach():exp(), 'd sum(v exp(x)) / dv', 1e-14, 1e-14)
    -- without create_graph, neither the outputs nor the results carry a graph
    local out2, vjp2 = AF.vjp(function(t) return t:exp() end, x, v)
    assert.is_false(out2.is_requires_grad)
    assert.is_false(vjp2.is_requires_grad)
  end)

  it('gives zeros for an input the outputs do not use, and for a linear function\'s hessian', function()
    local H = AF.hessian(SCALAR.linear, { nl.ones(2, 'float64'), nl.ones(3, 'float64') })
    S.expect_close(H[1][1], nl.zeros(2, 2, 'float64'), 'linear part', 0, 0)
    S.expect_close(H[2][2], nl.eye(3, 3, 'float64') * 2, 'quadratic part', 0, 0)
    local _, jvp = AF.jvp(function(x) return nl.ones(2) end, nl.ones(2), nl.ones(2))
    S.expect_close(jvp, nl.zeros(2), 'constant output', 0, 0)
  end)

  it('runs in grad mode inside nl.no_grad', function()
    local J = nl.no_grad(function() return AF.jacobian(function(x) return x * x end, nl.tensor({ 1, 2 })) end)
    S.expect_close(J, nl.tensor({ { 2, 0 }, { 0, 4 } }), 'jacobian', 0, 0)
  end)
end)

describe('nl.autograd.functional errors', function()
  local x = nl.tensor({ 1, 2, 3 }, 'float64')
  local sq = function(t) return t * t end
  local function err(want, f, ...) S.contains(S.errmsg(f, ...), want) end

  it('checks v: its shape, its count, nil only for one one-element tensor', function()
    err('vjp: v has shape [2], but the output has shape [3]', AF.vjp, sq, x, nl.ones(2, 'float64'))
    err('jvp: v has shape [4], but the input has shape [3]', AF.jvp, sq, x, nl.ones(4, 'float64'))
    err('vjp: v has 1 entries for the 3 outputs', AF.vjp, VECTOR.multi, { x, nl.ones(2, 3, 'float64') }, { x })
    err('hvp: entry 2 of v has shape [3], but input 2 has shape [2,3]', AF.hvp,
        function(a, b) return (a * b):sum() end, { x, nl.ones(2, 3, 'float64') }, { x, x })
    err('vhp: v must be one tensor, as the input is, got a list of 2', AF.vhp, SCALAR.cubic, x, { x, x })
    err('vjp: v may be nil only when the function returns a single tensor of one element; the outputs is one tensor '
        .. 'of shape [3]', AF.vjp, sq, x)
    err('jvp: v may be nil only when inputs is a single tensor of one element', AF.jvp, sq, x)
    err('hvp: v may be nil only when inputs is a single tensor of one element; the inputs are a list of 2', AF.hvp,
        SCALAR.two_inputs, { x, x })
    err('vjp: entry 1 of v must be a tensor, got 1', AF.vjp, sq, x, { 1 })
  end)

  it('refuses outputs that are not a tensor or a list of tensors', function()
    err('jacobian: the output of the function must be a tensor or a list of tensors, got 3', AF.jacobian,
        function() return 3 end, x)
    err("vjp: entry 2 of the output of the function must be a tensor, got 'a'", AF.vjp,
        function(t) return { t, 'a' } end, x)
    err('vjp: the output of the function must be a tensor or a list of tensors, got a table that is not a list',
        AF.vjp, function(t) return { t, nil, t } end, x)
    err('jacobian: the function returned 2 values; return a tensor or a list of tensors', AF.jacobian,
        function(t) return t, t end, x)
    err('hessian: the function must return a single tensor, got a list of 1', AF.hessian,
        function(t) return { t:sum() } end, x)
    err('hessian: the function must return a tensor of one element, got shape [3]', AF.hessian, sq, x)
    err('vhp: the function must return a tensor of one element, got shape [3]', AF.vhp, sq, x, x)
    err('jacobian: inputs is an empty list', AF.jacobian, sq, {})
    err('jacobian: entry 2 of inputs must be a tensor, got 2', AF.jacobian, sq, { x, 2 })
    err('jacobian: expected a function, got nil', AF.jacobian, nil, x)
    err('jacobian: input 1 is an int64 tensor of shape [2]; only float tensors have gradients', AF.jacobian, sq,
        nl.tensor({ 1, 2 }, 'int64'))
  end)

  it('raises strict mode\'s errors, and gives zeros without it', function()
    local const = function(t) return nl.ones(3, 'float64') end
    err('jacobian: output 1 of the function (shape [3]) does not require grad; strict = true', AF.jacobian, const, x,
        { strict = true })
    local unused = VECTOR.unused_input
    local y = nl.ones(2, 'float64')
    err('jacobian: output 1 of the function (shape [3]) is independent of input 2 (shape [2]); strict = true refuses',
        AF.jacobian, unused, { x, y }, { strict = true })
    err('vjp: the output of the function is independent of input 2 (shape [2]); strict = true refuses this', AF.vjp,
        unused, { x, y }, x, { strict = true })
    err('jvp: the output of the function is independent of input 2 (shape [2]); strict = true', AF.jvp, unused,
        { x, y }, { x, y }, { strict = true })
    err('hessian: the jacobian of the function with respect to input 1 (shape [2]) is independent of the input',
        AF.hessian, SCALAR.linear, { y, x }, { strict = true })
    err('vhp: the jacobian of the function with respect to input 1 (shape [2]) is independent', AF.vhp,
        SCALAR.linear, { y, x }, { y, x }, { strict = true })
    err('hvp: the output of the function is independent of input 2 (shape [3])', AF.hvp,
        function(a, _) return a:pow(3):sum() end, { y, x }, { y, x }, { strict = true })
    -- with create_graph: a gradient that does not depend on the inputs
    err('vjp: the jacobian of the function is independent of input 1 (shape [3]); strict = true refuses this with '
        .. 'create_graph = true', AF.vjp, function(t) return t * 2 end, x, x, { strict = true, create_graph = true })
    err('jacobian: the jacobian of the function is independent of input 1 (shape [3]); strict = true', AF.jacobian,
        function(t) return t * 2 end, x, { strict = true, create_graph = true })
    -- the same without strict: zeros
    local J = AF.jacobian(unused, { x, y })
    S.expect_close(J[2], nl.zeros(3, 2, 'float64'), 'unused', 0, 0)
    local _, vjp = AF.vjp(unused, { x, y }, x)
    S.expect_close(vjp[2], nl.zeros(2, 'float64'), 'unused', 0, 0)
  end)

  it('refuses forward-mode, an unknown strategy, vectorize with strict and unknown options', function()
    err("jacobian: strategy 'forward-mode' needs forward-mode AD, which nnlua does not have", AF.jacobian, sq, x,
        { strategy = 'forward-mode', vectorize = true })
    err("hessian: outer_jacobian_strategy 'forward-mode' needs forward-mode AD", AF.hessian, SCALAR.cubic, x,
        { outer_jacobian_strategy = 'forward-mode' })
    err("jacobian: strategy must be 'reverse-mode' or 'forward-mode', got 'reverse'", AF.jacobian, sq, x,
        { strategy = 'reverse' })
    err('jacobian: strict = true and vectorize = true are not supported together', AF.jacobian, sq, x,
        { strict = true, vectorize = true })
    err("jacobian: unknown option 'create_grpah'", AF.jacobian, sq, x, { create_grpah = true })
    err("vjp: unknown option 'vectorize'", AF.vjp, sq, x, x, { vectorize = true })
    err('hvp: create_graph must be a boolean', AF.hvp, SCALAR.cubic, x, x, { create_graph = 1 })
    -- the reverse-mode strategy named is the default
    S.expect_close(AF.jacobian(sq, x, { strategy = 'reverse-mode' }), AF.jacobian(sq, x), 'named', 0, 0)
    -- options where v goes, with no v: one one-element input
    local one = nl.tensor({ 2 }, 'float64'):requires_grad()
    local _, jvp = AF.jvp(function(t) return t:pow(3) end, one, { create_graph = true })
    assert.is_true(jvp.is_requires_grad)
    S.expect_close(jvp, nl.tensor({ 12 }, 'float64'), 'jvp of x^3 at 2', 0, 0)
  end)
end)
