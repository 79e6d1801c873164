-- nl_mse_loss: nn.functional.mse_loss and nn.MSELoss, summed or averaged,
-- run as one op. Its value and both gradients must be those of the ops it
-- replaces (sub, mul, then mean or sum; each tested against PyTorch and
-- float64 loops elsewhere) bit for bit, at any thread count; closed-form
-- cases and float64 finite differences check it on their own. Then the
-- fused cross-entropy and log_softmax at the edges, against closed forms;
-- and the class losses over class dims and class probabilities and the
-- composed losses (SmoothL1 to TripletMargin): float64 finite
-- differences, closed forms where nnlua parts from PyTorch, their errors.
local nl = require 'nnlua'
local S = require 'tests.spec.support'
local nn, F = nl.nn, nl.nn.functional

local same_bits = S.same_bits

-- the loss, and the gradients of both sides, through f
local function run(f, x, y, reduction)
  local xa, ya = x:clone():requires_grad(), y:clone():requires_grad()
  local l = f(xa, ya, reduction)
  l:backward()
  return l, xa.grad, ya.grad
end

local function composed(x, y, reduction)
  local d = x - y
  return reduction == 'sum' and (d * d):sum() or (d * d):mean()
end

local function fused(x, y, reduction)
  local l = F.mse_loss(x, y, { reduction = reduction })
  assert.are.equal('mse_loss', l:grad_fn())      -- one op, not the composed ones
  return l
end

describe('nl_mse_loss', function()
  it('gives the value and gradients of sub, mul and mean or sum, bit for bit, on 1 to 3 threads', function()
    -- a tail shorter than the four interleaved sums (7), several chunks of
    -- 16384 with a partial last one, a transposed view, float64; values of
    -- mixed magnitude so that any other order or rounding shows
    local prev = nl.get_num_threads()
    finally(function() nl.set_num_threads(prev) end)
    local cases = {
      { shape = { 7 } },
      { shape = { 3, 5, 11 } },
      { shape = { 64, 301 } },
      { shape = { 40003 } },
      { shape = { 120, 150 }, transposed = true },
      { shape = { 9, 2000 }, dtype = 'double' },
      { shape = { 3, 20001 }, dtype = 'double' },
    }
    local checked = 0
    for ci, c in ipairs(cases) do
      nl.manual_seed(ci)
      local x = nl.randn(c.shape) * nl.rand(c.shape):mul(1e3)
      local y = nl.randn(c.shape)
      if c.transposed then x, y = x:t(), y:t() end
      if c.dtype then x, y = x[c.dtype](x), y[c.dtype](y) end
      for _, th in ipairs({ 1, 2, 3 }) do
        nl.set_num_threads(th)
        for _, red in ipairs({ 'mean', 'sum' }) do
          local what = ('case %d, %s, %d threads'):format(ci, red, th)
          local la, gxa, gya = run(fused, x, y, red)
          local lb, gxb, gyb = run(composed, x, y, red)
          same_bits(la, lb, what .. ': value')
          same_bits(gxa, gxb, what .. ': input gradient')
          same_bits(gya, gyb, what .. ': target gradient')
          checked = checked + 1
        end
      end
    end
    assert.are.equal(#cases * 3 * 2, checked)
  end)

  it('matches closed-form values and gradients', function()
    local x = nl.tensor({ 1, 2, 3, 5 }, 'float64'):requires_grad()
    local y = nl.tensor({ 1, 1, 1, 1 }, 'float64')
    local l = F.mse_loss(x, y)                    -- (0 + 1 + 4 + 16) / 4
    assert.are.equal(21 / 4, l:item())
    l:backward()
    assert.are.same({ 0, 0.5, 1, 2 }, x.grad:totable())   -- 2 (x - y) / 4
    x.grad = nil
    local crit = nn.MSELoss({ reduction = 'sum' })
    l = crit(x, y)
    assert.are.equal(21, l:item())
    l:backward()
    assert.are.same({ 0, 2, 4, 8 }, x.grad:totable())
    assert.is_nil(y.grad)                         -- the target asked for none
  end)

  it('agrees with float64 finite differences in both arguments', function()
    nl.manual_seed(5)
    for _, red in ipairs({ 'mean', 'sum' }) do
      local x = nl.randn({ 4, 6 }, 'float64'):requires_grad()
      local y = nl.randn({ 4, 6 }, 'float64'):requires_grad()
      local ok, msg = nl.gradcheck(function(a, b) return F.mse_loss(a, b, { reduction = red }) end, { x, y },
                                   { eps = 1e-6, atol = 1e-5, rtol = 1e-5 })
      assert(ok, msg)
    end
  end)

  it('keeps the composed ops for what it does not take, and empty tensors', function()
    nl.manual_seed(3)
    local x, y = nl.randn({ 5, 4 }), nl.randn({ 5, 4 })
    -- unreduced: elementwise squares
    same_bits(F.mse_loss(x, y, { reduction = 'none' }), (x - y) * (x - y), 'none')
    -- mixed dtypes go through sub's promotion, as before
    local y64 = y:double()
    same_bits(F.mse_loss(x, y64), composed(x, y64, 'mean'), 'float32 against float64')
    -- empty: the mean is NaN and the sum 0, as mean and sum give them
    local e = nl.zeros({ 0, 3 }):requires_grad()
    local m = F.mse_loss(e, nl.zeros({ 0, 3 }))
    assert.is_true(m:item() ~= m:item())
    local s = F.mse_loss(e, nl.zeros({ 0, 3 }), { reduction = 'sum' })
    assert.are.equal(0, s:item())
    s:backward()
    assert.are.same({ 0, 3 }, e.grad:shape())
  end)

  it('names the op and both shapes when they differ', function()
    local msg = S.errmsg(F.mse_loss, nl.zeros({ 2, 3 }), nl.zeros({ 3, 2 }))
    S.contains(msg, 'mse_loss')
    S.contains(msg, '[2,3]')
    S.contains(msg, '[3,2]')
    msg = S.errmsg(F.mse_loss, nl.zeros({ 2 }), nl.zeros({ 2 }), { reduction = 'avg' })
    S.contains(msg, 'mse_loss')
    S.contains(msg, 'avg')
  end)

  -- a float loss of int64 values, which PyTorch refuses, was computed; a
  -- loss module dropped a third argument (options per call: the mean
  -- came back for reduction = 'sum')
  it('refuses int64 where PyTorch does, and a loss module refuses options at the call', function()
    local i2, f2 = nl.tensor({ 1, 2 }, 'int64'), nl.tensor({ 1, 3 })
    for _, op in ipairs({ 'mse_loss', 'l1_loss' }) do
      S.contains(S.errmsg(F[op], i2, i2), op .. ': expected float input or target, got input int64 [2] and target int64 [2]')
      assert.are.equal(op == 'mse_loss' and 0.5 or 0.5, F[op](f2, nl.tensor({ 1, 2 }, 'int64')):item())
    end
    -- but their sum and elementwise loss are int64, as PyTorch's
    assert.are.same({ 'int64', 1 }, { F.l1_loss(i2, nl.tensor({ 1, 3 }, 'int64'), { reduction = 'sum' }):dtype(),
                                     F.l1_loss(i2, nl.tensor({ 1, 3 }, 'int64'), { reduction = 'sum' }):item() })
    S.contains(S.errmsg(F.huber_loss, i2, f2), 'huber_loss: expected a float input, got int64 [2]')
    assert.are.equal(0.25, F.huber_loss(f2, i2):item())
    for _, args in ipairs({ { i2, f2 }, { f2, i2 } }) do
      S.contains(S.errmsg(F.binary_cross_entropy_with_logits, args[1], args[2]),
                 'binary_cross_entropy_with_logits: expected float input and target')
    end
    S.contains(S.errmsg(nn.MSELoss(), nl.ones(2), nl.zeros(2), { reduction = 'sum' }),
               'MSELoss: takes (input, target), got 3 arguments; give options to the constructor')
    S.contains(S.errmsg(nn.CrossEntropyLoss(), nl.ones(2, 3), nl.tensor({ 1, 2 }, 'int64'), { weight = nl.ones(3) }),
               'CrossEntropyLoss: takes (input, target)')
  end)
end)

-- closed forms at the edges where the fused cross-entropy and log_softmax
-- once failed: a masked class (a logit of -inf) made the loss NaN through
-- the label-smoothing term at smoothing 0 (0 * inf), and logits of 1e16 or
-- more lost log(sum exp) beside the max (log_softmax of [1e30, 1e30] was
-- [0, 0] and the loss 0)
describe('cross_entropy and log_softmax at the edges', function()
  local inf = math.huge

  it('a logit of -inf (a masked class) leaves the loss finite', function()
    for _, dt in ipairs({ 'float32', 'float64' }) do
      local x = nl.tensor({ { -inf, 0, 1 }, { -inf, 2, -inf } }, dt):requires_grad()
      local t = nl.tensor({ 2, 2 }, 'int64')
      local l = F.cross_entropy(x, t, { reduction = 'none' }):totable()
      assert.is_true(math.abs(l[1] - math.log(1 + math.exp(1))) < 1e-6, dt .. ' ' .. l[1])
      assert.are.equal(0, l[2])
      local m = F.cross_entropy(x, t)
      assert.is_true(math.abs(m:item() - math.log(1 + math.exp(1)) / 2) < 1e-6)
      m:backward()
      local g = x.grad:totable()
      assert.are.equal(0, g[1][1])
      assert.is_true(math.abs(g[1][2] - (1 / (1 + math.exp(1)) - 1) / 2) < 1e-6)
      -- with smoothing, the masked class's share of the target is -inf's: infinite, as PyTorch's
      assert.are.equal(inf, F.cross_entropy(x, t, { label_smoothing = 0.1 }):item())
    end
  end)

  -- with weight or ignore_index (the composed path) a -inf logit gave NaN
  -- (-inf * 0 picking the target), and a mean over no kept row a NaN
  -- gradient everywhere (PyTorch: 0)
  -- with label smoothing and no weight kept, PyTorch takes each part's
  -- mean on its own: the NLL's 0/0 makes NaN (one sum over 0 gave inf)
  it('with label smoothing and every kept weight 0, the mean is NaN, as PyTorch', function()
    local l = F.cross_entropy(nl.tensor({ { 1.5, -0.06, 0.9, -1 } }, 'float64'), nl.tensor({ 3 }, 'int64'),
                              { weight = nl.tensor({ 1, 0.5, 0, 0 }, 'float64'), label_smoothing = 0.1 }):item()
    assert.is_true(l ~= l, tostring(l))
  end)

  it('with weight or ignore_index: a -inf logit, and a batch all ignored', function()
    local x = nl.tensor({ { -inf, 1, 2 } }):requires_grad()
    local t = nl.tensor({ 2 }, 'int64')
    local want = math.log(math.exp(1) + math.exp(2)) - 1
    for _, o in ipairs({ { weight = nl.ones(3) }, { ignore_index = 1 }, { weight = nl.ones(3), label_smoothing = 0 } }) do
      local l = F.cross_entropy(x, t, o)
      assert.is_true(math.abs(l:item() - want) < 1e-6, tostring(l:item()))
    end
    assert.is_true(math.abs(F.nll_loss(x:log_softmax(2), t, { weight = nl.ones(3) }):item() - want) < 1e-6)
    -- an ignored row holding -inf, with smoothing
    local x2 = nl.tensor({ { -inf, 1, 2 }, { 0, 1, 2 } })
    local l2 = F.cross_entropy(x2, nl.tensor({ 1, 3 }, 'int64'), { ignore_index = 1, label_smoothing = 0.1 })
    assert.is_true(l2:item() == l2:item() and l2:item() < inf, tostring(l2:item()))
    local y = nl.tensor({ { 0.2, -1.3, 0.5 }, { 1.1, 0.4, -0.7 } }):requires_grad()
    local l3 = F.cross_entropy(y, nl.tensor({ 1, 1 }, 'int64'), { ignore_index = 1 })
    assert.is_true(l3:item() ~= l3:item(), 'the mean over no row is NaN, as PyTorch')
    l3:backward()
    for _, row in ipairs(y.grad:totable()) do
      for _, v in ipairs(row) do assert.are.equal(0, v) end
    end
  end)

  -- a weight larger than the input widened the loss (PyTorch refuses it)
  it('BCEWithLogits refuses a weight or pos_weight that does not broadcast to the input', function()
    local F_ = F.binary_cross_entropy_with_logits
    local ok, err = pcall(F_, nl.zeros(3), nl.ones(3), { weight = nl.ones(2, 3), reduction = 'none' })
    assert.is_false(ok)
    assert.is_truthy(err:find('weight must be a float32 tensor broadcasting to [3], got float32 [2,3]', 1, true), err)
    ok, err = pcall(F_, nl.zeros(3, 'float64'), nl.ones(3, 'float64'), { pos_weight = nl.ones(3) })
    assert.is_truthy(err:find('pos_weight must be a float64 tensor', 1, true), err)
    ok, err = pcall(F.binary_cross_entropy, nl.full({ 3 }, 0.5), nl.ones(3), { weight = nl.ones(2) })
    assert.is_truthy(err:find('binary_cross_entropy: weight must be a float32 tensor broadcasting to [3]', 1, true), err)
    assert.are.equal(3, #F_(nl.zeros(2, 3), nl.ones(2, 3), { pos_weight = nl.ones(3), weight = nl.ones(2, 1),
                                                            reduction = 'none' })[1])
  end)

  it('keeps log(sum exp) beside logits of 1e30 (float32) and 1e17 (float64)', function()
    for _, c in ipairs({ { 'float32', 1e30 }, { 'float64', 1e17 } }) do
      local x = nl.tensor({ { c[2], c[2] } }, c[1])
      for _, v in ipairs(x:log_softmax(2):totable()[1]) do
        assert.is_true(math.abs(v + math.log(2)) < 1e-6, c[1] .. ' ' .. v)
      end
      local v = x:log_softmax(1):totable()[1][1]           -- a dim of one: log(1)
      assert.are.equal(0, v)
      local xt = nl.tensor({ { c[2] }, { c[2] } }, c[1])  -- across rows: the strided kernel
      for _, r in ipairs(xt:log_softmax(1):totable()) do assert.is_true(math.abs(r[1] + math.log(2)) < 1e-6) end
      local l = F.cross_entropy(x, nl.tensor({ 1 }, 'int64')):item()
      assert.is_true(math.abs(l - math.log(2)) < 1e-6, c[1] .. ' ' .. l)
    end
  end)
end)

describe('losses at extreme values', function()
  -- the square in the branch where leaves out sent 0 * inf = NaN back for
  -- an infinite difference, or one that overflows (3e38 - -3e38)
  it('huber_loss gives +-delta as the gradient of an infinite difference', function()
    for _, delta in ipairs({ 1, 0.5 }) do
      local a = nl.tensor({ 1, math.huge, 3e38, -math.huge, 0.25 }):requires_grad()
      F.huber_loss(a, nl.tensor({ 0, 0, -3e38, 0, 0 }), { reduction = 'sum', delta = delta }):backward()
      assert.are.same({ delta, delta, delta, -delta, 0.25 }, a.grad:totable())
    end
    -- an infinite delta is the square everywhere; the unused linear part's
    -- gradient, 0 * inf, made every gradient NaN (PyTorch: the difference)
    local a = nl.tensor({ 0.5, -1, 3 }):requires_grad()
    local l = F.huber_loss(a, nl.zeros(3), { delta = math.huge })
    assert(math.abs(l:item() - (0.125 + 0.5 + 4.5) / 3) < 1e-6, tostring(l:item()))
    l:backward()
    local g = a.grad:totable()
    for i, want in ipairs({ 0.5 / 3, -1 / 3, 1 }) do assert(math.abs(g[i] - want) < 1e-7, tostring(g[i])) end
    -- a NaN difference: a NaN gradient, as PyTorch's (the linear branch's abs gave 0)
    for _, dl in ipairs({ 1, math.huge }) do
      local x = nl.tensor({ 0 / 0, 1 }):requires_grad()
      F.huber_loss(x, nl.tensor({ 0, 3 }), { delta = dl }):backward()
      assert.is_true(x.grad[1] ~= x.grad[1], 'delta ' .. dl)
      assert.are.equal(dl == 1 and -0.5 or -1, x.grad[2])
    end
  end)

  -- the gradient was 1 + (sigmoid(x) - 1): 0.5% off at x = -10, 0 below -17
  it('binary_cross_entropy_with_logits: the gradient is c sigmoid(x) - pos_weight y at any logit', function()
    local xs = { -10, -17, -20, -40, 0, 3, 25, -3, 1e-3 }
    local ys = { 0, 0, 0, 0, 0.3, 1, 1, 0.7, 0 }
    local pws = { 1, 2, 1, 1, 3, 0.5, 1, 2, 1 }
    local x = nl.tensor(xs):requires_grad()
    local y = nl.tensor(ys):requires_grad()
    local l = F.binary_cross_entropy_with_logits(x, y, { reduction = 'none', pos_weight = nl.tensor(pws) })
    l:sum():backward()
    for i = 1, #xs do
      local sig = 1 / (1 + math.exp(-xs[i]))
      local c = 1 + (pws[i] - 1) * ys[i]
      local want = c * sig - pws[i] * ys[i]
      assert(math.abs(x.grad[i] - want) <= 2e-6 * math.abs(want) + 1e-12, i .. ': ' .. x.grad[i] .. ' vs ' .. want)
      -- the loss and its target gradient: -x + (pw - 1) softplus(-x) = dl/dy
      local sp = math.log(1 + math.exp(-xs[i]))
      assert(math.abs(l[i] - ((1 - ys[i]) * xs[i] + c * sp)) <= 1e-5 * (1 + l[i]), i .. ': loss ' .. l[i])
      local wy = -xs[i] + (pws[i] - 1) * sp
      assert(math.abs(y.grad[i] - wy) <= 1e-5 * (1 + math.abs(wy)), i .. ': target gradient ' .. y.grad[i])
    end
  end)

  -- the target's gradient is -logit(p) = log(1 - p) - log(p), unclamped as
  -- PyTorch's; the logs clamped at -100 gave +-100 at p = 0 and 1
  it('binary_cross_entropy: the target gradient is -logit(p), infinite at 0 and 1', function()
    local p = nl.tensor({ 0, 1, 1e-45, 0.3 })
    local y = nl.tensor({ 0.5, 0.5, 0.5, 0.2 }):requires_grad()
    F.binary_cross_entropy(p, y, { reduction = 'sum' }):backward()
    local g = y.grad:totable()
    assert.are.equal(math.huge, g[1])
    assert.are.equal(-math.huge, g[2])
    local tiny = p[3]                                  -- the float32 denormal 1e-45 becomes
    assert(math.abs(g[3] + math.log(tiny)) < 1e-4, g[3])        -- PyTorch: 103.2789
    assert(math.abs(g[4] - math.log(0.7 / 0.3)) < 1e-6, g[4])
  end)

  -- PyTorch's EPSILON of both is the float 1e-12f (9.999999960041972e-13
  -- in float64): a double 1e-12 put float64 gradients 4e-9 (BCE at p = 0
  -- or 1) and 2e-9 (the cosine at a zero vector) off PyTorch's
  it('binary_cross_entropy and cosine_embedding_loss clamp at PyTorch\'s 1e-12f (golden, float64)', function()
    for _, c in ipairs(dofile(S.root .. '/tests/golden/loss_edges.lua')) do
      if c.op ~= 'binary_cross_entropy' and c.op ~= 'cosine_embedding_loss' then goto next end
      local xs = {}
      for i, g in ipairs(c.inputs) do xs[i] = S.from_golden(g) end
      local n = #c.grads
      for i = 1, n do xs[i] = xs[i]:requires_grad() end
      local l
      if c.op == 'binary_cross_entropy' then
        l = F.binary_cross_entropy(xs[1], xs[2], { weight = S.from_golden(c.weight), reduction = c.reduction })
      else
        l = F.cosine_embedding_loss(xs[1], xs[2], xs[3], { margin = c.margin, reduction = c.reduction })
      end
      l:backward()
      local what = c.op .. ' ' .. c.reduction
      S.expect_close(l, S.from_golden(c.out), what, 1e-13, 0)
      for i = 1, n do S.expect_close(xs[i].grad, S.from_golden(c.grads[i]), what .. ' grad ' .. i, 1e-13, 0) end
      ::next::
    end
  end)

  -- the square's 0.5 / beta overflowed (float32 beta 1e-39, float64
  -- 1e-310): NaN at a difference of 0, in the loss and the gradient
  -- refused as 'p must be a finite number > 0, got inf', where PyTorch
  -- takes it (the largest difference, a tie sharing its gradient)
  it('triplet_margin_loss takes p = inf, the largest difference (golden, swap too)', function()
    for _, c in ipairs(dofile(S.root .. '/tests/golden/loss_edges.lua')) do
      if c.op == 'triplet_margin_loss' then
        local xs = {}
        for i, g in ipairs(c.inputs) do xs[i] = S.from_golden(g):requires_grad() end
        local l = F.triplet_margin_loss(xs[1], xs[2], xs[3], { p = math.huge, eps = 0, swap = c.swap, margin = 2.5,
                                                              reduction = c.reduction })
        ;(l * 1.5):sum():backward()
        local what = ('triplet_margin_loss p = inf %s swap %s %s'):format(xs[1]:dtype(), tostring(c.swap), c.reduction)
        local tol = xs[1]:dtype() == 'float64' and 1e-12 or 1e-5
        S.expect_close(l, S.from_golden(c.out), what, tol, tol)
        for i = 1, 3 do S.expect_close(xs[i].grad, S.from_golden(c.grads[i]), what .. ' grad ' .. i, tol, tol) end
      end
    end
    S.contains(S.errmsg(nn.TripletMarginLoss, { p = 0 / 0 }), 'triplet_margin_loss: p must be a number > 0')
  end)

  it('smooth_l1_loss stays finite at a beta whose 0.5 / beta overflows (golden)', function()
    for _, c in ipairs(dofile(S.root .. '/tests/golden/loss_edges.lua')) do
      if c.op == 'smooth_l1_loss' then
        local x = S.from_golden(c.inputs[1]):requires_grad()
        local l = F.smooth_l1_loss(x, nl.zeros(x:shape(), x:dtype()), { beta = c.beta, reduction = c.reduction })
        l:sum():backward()
        local what = ('smooth_l1_loss %s beta %g %s'):format(x:dtype(), c.beta, c.reduction)
        -- (float32: the differences are denormal, of 17 bits or fewer; atol: a square of 3e-40 under
        -- beta keeps 4.5e-41 here, 0 in PyTorch, which squares first)
        local tol = x:dtype() == 'float64' and 1e-12 or 2e-5
        S.expect_close(l, S.from_golden(c.out), what, tol, x:dtype() == 'float64' and 1e-300 or 1e-38)
        S.expect_close(x.grad, S.from_golden(c.grads[1]), what .. ' grad', tol, 0)
      end
    end
  end)

  -- a NaN probability went through (the comment said "as in PyTorch";
  -- PyTorch 1.13 raises)
  it('binary_cross_entropy refuses a NaN input as one outside [0, 1]', function()
    local ok, err = pcall(F.binary_cross_entropy, nl.tensor({ 0 / 0, 0.5 }), nl.tensor({ 1, 0 }))
    assert.is_false(ok)
    assert.is_truthy(err:find('binary_cross_entropy: input must hold probabilities in [0, 1]', 1, true), err)
  end)
end)

describe('loss modules', function()
  -- weight and pos_weight stayed in the options: :double() left them
  -- float32 and the loss refused them; the state dict did not hold them
  it('hold weight and pos_weight as buffers: converted by double(), kept in the state dict', function()
    local w = nl.tensor({ 1, 2, 3 })
    local ce = nn.CrossEntropyLoss({ weight = w }):double()
    local x, y = nl.tensor({ { 1, 2, 3 }, { 0, 0, 1 } }, 'float64'), nl.tensor({ 1, 3 }, 'int64')
    local want = F.cross_entropy(x, y, { weight = w:double() }):item()
    assert.are.equal(want, ce(x, y):item())
    assert.are.equal('float64', ce:state_dict().weight:dtype())
    assert.are.same({ 1, 2, 3 }, ce:state_dict().weight:totable())
    local bce = nn.BCEWithLogitsLoss({ weight = nl.tensor({ 1, 0.5, 2 }), pos_weight = nl.tensor({ 3, 1, 1 }) }):double()
    local t = nl.tensor({ { 1, 0, 1 }, { 0, 1, 1 } }, 'float64')
    assert.are.equal(F.binary_cross_entropy_with_logits(x, t, { weight = nl.tensor({ 1, 0.5, 2 }, 'float64'),
                                                               pos_weight = nl.tensor({ 3, 1, 1 }, 'float64') }):item(),
                     bce(x, t):item())
    local names = {}
    for k in pairs(bce:state_dict()) do names[#names + 1] = k end
    table.sort(names)
    assert.are.same({ 'pos_weight', 'weight' }, names)
    assert.is_nil(next(nn.MSELoss():state_dict()))
  end)
end)

-- ---- class dims, class probabilities and the composed losses -------------------
-- Their values and gradients are checked against PyTorch in
-- nn_golden_spec; here: float64 finite differences of every float
-- argument (away from the kinks, where the two one-sided slopes differ),
-- closed forms where nnlua and PyTorch part on purpose, and the errors.
local TOL = { eps = 1e-6, atol = 1e-5, rtol = 1e-5 }

local function gradcheck(f, leaves)
  local ok, msg = nl.gradcheck(f, leaves, TOL)
  assert(ok, ('the check called at line %d: %s'):format(debug.getinfo(2, 'l').currentline, tostring(msg)))
  -- (gradcheck leaves .grad as it was: one backward of its own)
  f(unpack(leaves)):sum():backward()
  for i, l in ipairs(leaves) do assert.is_not_nil(l.grad, 'argument ' .. i .. ' got no gradient') end
end

-- a float64 leaf of the given shape, values from an LCG of this spec
local U = S.rng(4242)
local function leaf(shape, lo, hi)
  return nl.tensor(S.nested(shape, function() return U(lo or -2, hi or 2) end), 'float64'):requires_grad()
end
local function ids(t) return nl.tensor(t, 'int64') end

describe('cross_entropy and nll_loss over class dims and class probabilities', function()
  local t3 = ids({ { 1, 3, 2 }, { 2, 2, 1 } })               -- (N, d1) for input (N, C = 3, d1)

  it('agree with float64 finite differences: (N, C, d) with weight, ignore_index and smoothing', function()
    for _, r in ipairs({ 'mean', 'sum', 'none' }) do
      gradcheck(function(x, w)
        return F.cross_entropy(x, t3, { weight = w, ignore_index = 2, label_smoothing = 0.2, reduction = r })
      end, { leaf({ 2, 3, 3 }), leaf({ 3 }, 0.5, 2) })
      gradcheck(function(x) return F.cross_entropy(x, t3, { label_smoothing = 0.1, reduction = r }) end,
                { leaf({ 2, 3, 3 }) })
      gradcheck(function(x, w) return F.nll_loss(x:log_softmax(2), t3, { weight = w, reduction = r }) end,
                { leaf({ 2, 3, 3 }), leaf({ 3 }, 0.5, 2) })
    end
    gradcheck(function(x) return F.cross_entropy(x, ids(2)) end, { leaf({ 4 }) })
  end)

  it('agree with float64 finite differences: class probabilities, the target and weight too', function()
    for _, r in ipairs({ 'mean', 'sum', 'none' }) do
      gradcheck(function(x, y, w)
        return F.cross_entropy(x, y, { weight = w, label_smoothing = 0.3, reduction = r })
      end, { leaf({ 2, 3, 2 }), leaf({ 2, 3, 2 }, 0, 1), leaf({ 3 }, 0.5, 2) })
    end
  end)

  it('give the unreduced loss the target\'s shape, and an empty batch a NaN mean and 0 sum', function()
    local x = nl.randn(2, 4, 3, 5)
    local t = nl.tensor(S.nested({ 2, 3, 5 }, function() return math.random(1, 4) end), 'int64')
    assert.are.same({ 2, 3, 5 }, F.cross_entropy(x, t, { reduction = 'none' }):shape())
    assert.are.same({ 2, 3, 5 }, F.nll_loss(x, t, { reduction = 'none', ignore_index = 1 }):shape())
    assert.are.same({ 2, 3, 5 }, F.cross_entropy(x, x:softmax(2), { reduction = 'none' }):shape())
    assert.are.same({}, F.cross_entropy(nl.randn(4), ids(2), { reduction = 'none' }):shape())
    for _, o in ipairs({ {}, { weight = nl.ones(4) } }) do
      local e = nl.zeros({ 0, 4, 3 }):requires_grad()
      local m = F.cross_entropy(e, nl.zeros({ 0, 3 }, 'int64'), o)
      assert.is_true(m:item() ~= m:item())
      local s = F.cross_entropy(e, nl.zeros({ 0, 3 }, 'int64'), { reduction = 'sum', weight = o.weight })
      assert.are.equal(0, s:item())
      s:backward()
      assert.are.same({ 0, 4, 3 }, e.grad:shape())
      assert.are.same({ 0, 3 }, F.cross_entropy(e, nl.zeros({ 0, 3 }, 'int64'), { reduction = 'none' }):shape())
    end
    local m = F.cross_entropy(nl.zeros({ 0, 4 }), nl.zeros({ 0, 4 }))
    assert.is_true(m:item() ~= m:item(), 'the mean over no sample of probabilities is NaN, as PyTorch')
  end)

  it('name the op and the shapes when target and input do not fit', function()
    local msg = S.errmsg(F.cross_entropy, nl.zeros(2, 3, 4), nl.zeros({ 2, 3 }, 'int64'))
    S.contains(msg, 'cross_entropy: target of shape [2,3] does not fit input [2,3,4]: expected [2,4]')
    msg = S.errmsg(F.nll_loss, nl.zeros(3), nl.zeros({ 1 }, 'int64'))
    S.contains(msg, 'nll_loss: target of shape [1] does not fit input [3]: expected []')
    S.contains(S.errmsg(F.nll_loss, nl.zeros({}), ids(1)), 'nll_loss: input must be a float tensor (C), (N, C)')
    S.contains(S.errmsg(F.cross_entropy, nl.zeros({ 2, 3, 2 }, 'int64'), nl.ones({ 2, 2 }, 'int64')),
               'cross_entropy: input must be a float tensor (C), (N, C) or (N, C, d1, ...), got int64 [2,3,2]')
    S.contains(S.errmsg(F.cross_entropy, nl.zeros(2, 3, 4), nl.ones({ 2, 4 }, 'int64'), { weight = nl.ones(4) }),
               'cross_entropy: weight must be a float32 vector of the 3 classes, got float32 [4]')
    S.contains(S.errmsg(F.cross_entropy, nl.zeros(2, 3, 4), nl.tensor({ { 1, 4, 1, 1 }, { 1, 1, 1, 1 } }, 'int64')),
               'out of range for 3 classes')
    -- class probabilities: the input's shape and dtype, no ignore_index
    S.contains(S.errmsg(F.cross_entropy, nl.zeros(2, 3), nl.zeros(2, 3, 'float64')),
               'cross_entropy: a float target holds class probabilities, of the input\'s shape and dtype (float32 [2,3]), '
               .. 'got float64 [2,3]')
    S.contains(S.errmsg(F.cross_entropy, nl.zeros(2, 3), nl.zeros(2, 3), { ignore_index = 1 }),
               'cross_entropy: ignore_index applies to class-index targets')
    S.contains(S.errmsg(F.cross_entropy, nl.zeros(2, 3), nl.zeros(2, 3), { weight = nl.ones(2) }),
               'cross_entropy: weight must be a float32 vector of the 3 classes, got float32 [2]')
    S.contains(S.errmsg(F.nll_loss, nl.zeros(2, 3), nl.zeros(2, 3)), 'nll_loss: target must be an int64 tensor')
  end)
end)

describe('the composed losses', function()
  -- values kept a margin away from each loss's kinks
  local function pm(shape)       -- +-1 targets
    return nl.tensor(S.nested(shape, function() return U(0, 1) < 0.5 and -1 or 1 end), 'float64')
  end

  it('agree with float64 finite differences in every float argument', function()
    for _, r in ipairs({ 'mean', 'sum', 'none' }) do
      local o = function(t) t.reduction = r; return t end
      -- differences of 0.2 to 0.8 in size (beta 1) and 1.2 to 2 (beta 0.5, and beta 0)
      local y = nl.tensor(S.nested({ 3, 4 }, function() return U(-1, 1) end), 'float64')
      local d = nl.tensor(S.nested({ 3, 4 }, function() return (U(0, 1) < 0.5 and -1 or 1) * U(0.2, 0.8) end), 'float64')
      gradcheck(function(a, b) return F.smooth_l1_loss(a, b, o({})) end,
                { (y + d):requires_grad(), y:clone():requires_grad() })
      gradcheck(function(a, b) return F.smooth_l1_loss(a, b, o({ beta = 0.5 })) end,
                { (y + d * 2.5):requires_grad(), y:clone():requires_grad() })
      gradcheck(function(a, b) return F.smooth_l1_loss(a, b, o({ beta = 0 })) end,
                { (y + d):requires_grad(), y:clone():requires_grad() })
      gradcheck(function(a, b) return F.kl_div(a:log_softmax(2), b:softmax(2), o({})) end,
                { leaf({ 3, 4 }), leaf({ 3, 4 }) })
      gradcheck(function(a, b) return F.kl_div(a, b, o({ log_target = true })) end, { leaf({ 3, 4 }), leaf({ 3, 4 }) })
      -- margin_ranking: |x1 - x2| of 0.3 or more against margin 0.1
      local x2 = leaf({ 6 })
      local x1 = (x2:detach() + nl.tensor({ 0.5, -0.4, 0.9, -1.2, 0.3, -0.7 }, 'float64')):requires_grad()
      local ry = pm({ 6 })
      gradcheck(function(a, b) return F.margin_ranking_loss(a, b, ry, o({ margin = 0.1 })) end, { x1, x2 })
      local h = nl.tensor({ 0.2, 0.5, 1.4, -0.3, 2, 0.8 }, 'float64'):requires_grad()
      gradcheck(function(a) return F.hinge_embedding_loss(a, nl.tensor({ 1, -1, -1, -1, 1, 0 }, 'float64'), o({})) end,
                { h })
      local sy = pm({ 2, 3 })
      gradcheck(function(a) return F.soft_margin_loss(a, sy, o({})) end, { leaf({ 2, 3 }, -4, 4) })
      local cy = nl.tensor({ 1, -1, 1, -1 })
      gradcheck(function(a, b) return F.cosine_embedding_loss(a, b, cy, o({ margin = -0.9 })) end,
                { leaf({ 4, 3 }), leaf({ 4, 3 }) })
      gradcheck(function(a, b) return F.poisson_nll_loss(a, b, o({})) end, { leaf({ 2, 3 }), leaf({ 2, 3 }, 0, 4) })
      -- with full, the Stirling term is cut at target 1: targets away from it, 0 among them
      gradcheck(function(a, b) return F.poisson_nll_loss(a, b, o({ log_input = false, full = true })) end,
                { leaf({ 4 }, 0.5, 3), nl.tensor({ 0, 0.5, 2.5, 4 }, 'float64'):requires_grad() })
      gradcheck(function(a, b, v) return F.gaussian_nll_loss(a, b, v, o({ full = true })) end,
                { leaf({ 3, 2 }), leaf({ 3, 2 }), leaf({ 3, 2 }, 0.2, 2) })
      gradcheck(function(a, b, v) return F.gaussian_nll_loss(a, b, v, o({})) end,
                { leaf({ 3, 2 }), leaf({ 3, 2 }), leaf({ 3 }, 0.2, 2) })
      -- multi_margin: no term within 0.05 of 0 (a grid of distinct logits)
      local mx = nl.tensor({ { 0.1, 1.3, -0.6, 0.7 }, { 2.2, -1.1, 0.45, 1.0 } }, 'float64'):requires_grad()
      for _, p in ipairs({ 1, 2 }) do
        gradcheck(function(a, w) return F.multi_margin_loss(a, ids({ 2, 3 }), o({ p = p, weight = w })) end,
                  { mx, leaf({ 4 }, 0.5, 2) })
      end
      for _, tp in ipairs({ { p = 2 }, { p = 1, swap = true }, { p = 3, margin = 5 } }) do
        gradcheck(function(a, b, c) return F.triplet_margin_loss(a, b, c, o(tp)) end,
                  { leaf({ 3, 4 }), leaf({ 3, 4 }), leaf({ 3, 4 }) })
      end
    end
  end)

  -- where nnlua parts from PyTorch 1.13 on purpose
  it('soft_margin_loss stays finite past exp\'s range, and poisson_nll_loss\'s target gradient at 0', function()
    -- PyTorch: log1p(exp(100)) = inf in float32, and a NaN gradient
    local x = nl.tensor({ -100, 100, 0 }):requires_grad()
    local l = F.soft_margin_loss(x, nl.tensor({ 1, 1, -1 }), { reduction = 'none' })
    local v = l:totable()
    assert.are.equal(100, v[1])
    assert.are.equal(0, v[2])
    assert.is_true(math.abs(v[3] - math.log(2)) < 1e-6)
    l:sum():backward()
    local gx = x.grad:totable()
    assert.are.same({ -1, 0.5 }, { gx[1], gx[3] })
    assert.is_true(math.abs(gx[2]) < 1e-40, tostring(gx[2]))       -- -sigmoid(-100)
    -- PyTorch's target gradient with full is NaN at a target of 0 (its masked
    -- 0 log 0); the loss there is x - y log(x + eps), whose slope is -log(x + eps)
    local y = nl.tensor({ 0, 3 }, 'float64'):requires_grad()
    F.poisson_nll_loss(nl.tensor({ 2, 2 }, 'float64'), y, { log_input = false, full = true, reduction = 'sum' }):backward()
    local g = y.grad:totable()
    assert.is_true(math.abs(g[1] + math.log(2 + 1e-8)) < 1e-12, tostring(g[1]))
    assert.is_true(math.abs(g[2] - (-math.log(2 + 1e-8) + math.log(3) + 0.5 / 3)) < 1e-12, tostring(g[2]))
  end)

  it('gaussian_nll_loss clamps var at eps with the unclamped gradient, and takes var of one per row', function()
    local var = nl.tensor({ 0, 1e-8, 2 }, 'float64'):requires_grad()
    local x, y = nl.tensor({ 1, 0.5, 1 }, 'float64'), nl.zeros(3, 'float64')
    local l = F.gaussian_nll_loss(x, y, var, { reduction = 'none' }):totable()
    assert.are.equal(0.5 * (math.log(1e-6) + 1 / 1e-6), l[1])
    F.gaussian_nll_loss(x, y, var, { reduction = 'sum' }):backward()
    local g = var.grad:totable()
    assert.is_true(math.abs(g[1] - 0.5 * (1 / 1e-6 - 1 / 1e-12)) < 1e-3 * 0.5e12, tostring(g[1]))
    assert.is_true(math.abs(g[3] - 0.5 * (1 / 2 - 1 / 4)) < 1e-15, tostring(g[3]))
    local a, b = nl.randn(4, 3), nl.randn(4, 3)
    local v = nl.rand(4) + 0.5
    S.same_bits(F.gaussian_nll_loss(a, b, v, { reduction = 'none' }),
                F.gaussian_nll_loss(a, b, v:view(4, 1):expand(4, 3), { reduction = 'none' }), 'a var per row')
    S.same_bits(F.gaussian_nll_loss(a, b, v:view(4, 1)), F.gaussian_nll_loss(a, b, v), 'var (N, 1) and (N)')
  end)

  it('refuse unknown options, option values of the wrong kind, at construction too, naming op and value', function()
    local cases = {
      { 'SmoothL1Loss', { delta = 1 }, "smooth_l1_loss: unknown option 'delta'" },
      { 'SmoothL1Loss', { beta = -1 }, 'smooth_l1_loss: beta must be a number >= 0, got -1' },
      { 'KLDivLoss', { log_target = 1 }, 'kl_div: log_target must be a boolean (true or false), got 1' },
      { 'KLDivLoss', { reduction = 'avg' }, "kl_div: reduction must be 'mean', 'sum', 'batchmean' or 'none', got 'avg'" },
      { 'MSELoss', { reduction = 'batchmean' }, "mse_loss: reduction must be 'mean', 'sum' or 'none', got 'batchmean'" },
      { 'MarginRankingLoss', { margin = 0 / 0 }, 'margin_ranking_loss: margin must be a finite number, got nan' },
      { 'HingeEmbeddingLoss', { margin = '1' }, "hinge_embedding_loss: margin must be a finite number, got '1'" },
      { 'SoftMarginLoss', { margin = 1 }, "soft_margin_loss: unknown option 'margin'" },
      { 'CosineEmbeddingLoss', { margin = math.huge }, 'cosine_embedding_loss: margin must be a finite number, got inf' },
      { 'PoissonNLLLoss', { eps = -1 }, 'poisson_nll_loss: eps must be a finite number >= 0, got -1' },
      { 'PoissonNLLLoss', { full = 'yes' }, "poisson_nll_loss: full must be a boolean (true or false), got 'yes'" },
      { 'GaussianNLLLoss', { eps = -0.1 }, 'gaussian_nll_loss: eps must be a finite number >= 0, got -0.1' },
      { 'MultiMarginLoss', { p = 3 }, 'multi_margin_loss: p must be 1 or 2, got 3' },
      { 'TripletMarginLoss', { p = 0 }, 'triplet_margin_loss: p must be a number > 0 (math.huge for the largest '
        .. 'difference), got 0' },
      { 'TripletMarginLoss', { swap = 0 }, 'triplet_margin_loss: swap must be a boolean (true or false), got 0' },
      { 'TripletMarginLoss', { size_average = 1 }, 'triplet_margin_loss: size_average must be a boolean (true or false), got 1' },
      { 'GaussianNLLLoss', { size_average = true }, "gaussian_nll_loss: unknown option 'size_average'" },
      -- these four went through construction and failed at the first call
      { 'HuberLoss', { delta = 0 }, 'huber_loss: delta must be a positive number, got 0' },
      { 'HuberLoss', { delta = 0 / 0 }, 'huber_loss: delta must be a positive number, got nan' },
      { 'CrossEntropyLoss', { label_smoothing = 1.5 }, 'cross_entropy: label_smoothing must be a number in [0, 1], got 1.5' },
      { 'CrossEntropyLoss', { ignore_index = 'a' }, "cross_entropy: ignore_index must be an integer, got 'a'" },
      { 'NLLLoss', { ignore_index = 0.5 }, 'nll_loss: ignore_index must be an integer, got 0.5' },
      { 'NLLLoss', { weight = { 1, 2 } }, 'NLLLoss: weight must be a tensor, got table' },
      { 'BCEWithLogitsLoss', { pos_weight = 2 }, 'BCEWithLogitsLoss: pos_weight must be a tensor, got 2' },
    }
    for _, c in ipairs(cases) do
      S.contains(S.errmsg(nn[c[1]], c[2]), c[3])
    end
    S.contains(S.errmsg(F.smooth_l1_loss, nl.zeros(2), nl.zeros(2), { beta = -1 }), 'smooth_l1_loss: beta must be')
    S.contains(S.errmsg(F.huber_loss, nl.zeros(2), nl.zeros(2), { delta = -1 }), 'huber_loss: delta must be a positive')
    S.contains(S.errmsg(F.cross_entropy, nl.zeros(2, 3), ids({ 1, 1 }), { label_smoothing = -0.1 }),
               'cross_entropy: label_smoothing must be a number in [0, 1], got -0.1')
    S.contains(S.errmsg(F.nll_loss, nl.zeros(2, 3), ids({ 1, 1 }), { ignore_index = 1.5 }),
               'nll_loss: ignore_index must be an integer, got 1.5')
    S.contains(S.errmsg(F.multi_margin_loss, nl.zeros(2, 3), ids({ 1, 1 }), { p = 1.5 }), 'multi_margin_loss: p must be')
  end)

  it('name the op and the shapes of arguments that do not fit', function()
    local z = nl.zeros
    local cases = {
      { F.smooth_l1_loss, { z(2, 3), z(3, 2) }, 'smooth_l1_loss: expected tensors of one shape, got input [2,3], target [3,2]' },
      { F.kl_div, { z(4), z(2, 2) }, 'kl_div: expected tensors of one shape, got input [4], target [2,2]' },
      { F.margin_ranking_loss, { z(3), z(3), z(2) },
        'margin_ranking_loss: expected tensors of one shape, got input1 [3], input2 [3], target [2]' },
      { F.hinge_embedding_loss, { z(3), z(3, 1) }, 'hinge_embedding_loss: expected tensors of one shape' },
      { F.soft_margin_loss, { z(3), 5 }, 'soft_margin_loss: expected a tensor' },
      { F.cosine_embedding_loss, { z(2, 3), z(2, 3), z(3) },
        'cosine_embedding_loss: expected inputs (N, D) with a target (N), or inputs (D) with a 0-dim target, '
        .. 'got inputs [2,3] and target [3]' },
      { F.cosine_embedding_loss, { z(2, 3), z(2, 4), z(2) }, 'cosine_embedding_loss: expected tensors of one shape' },
      { F.poisson_nll_loss, { z(2), z(3) }, 'poisson_nll_loss: expected tensors of one shape' },
      { F.gaussian_nll_loss, { z(4, 3), z(4, 3), z(3) },
        "gaussian_nll_loss: var of shape [3] must have the input's shape [4,3], or that shape with its last dim 1 "
        .. 'or without it' },
      { F.gaussian_nll_loss, { z(2), z(2), nl.tensor({ 1, -1 }) }, 'gaussian_nll_loss: var has negative entries' },
      { F.multi_margin_loss, { z(2, 3), ids({ 1 }) }, 'multi_margin_loss: target must be a 1-D tensor of 2 class indices, got [1]' },
      { F.multi_margin_loss, { z(2, 3), ids({ 1, 4 }) }, 'multi_margin_loss: target class 4 out of range for 3 classes' },
      { F.multi_margin_loss, { z(2, 3, 1), ids({ 1, 1 }) }, 'multi_margin_loss: input must be a float tensor (N, C) or (C)' },
      { F.multi_margin_loss, { z(2, 3), z(2) }, 'multi_margin_loss: target must be an int64 tensor of class indices' },
      { F.multi_margin_loss, { z(2, 3), ids({ 1, 1 }), { weight = nl.ones(2) } },
        'multi_margin_loss: weight must be a float32 vector of the 3 classes, got float32 [2]' },
      { F.triplet_margin_loss, { z(2, 3), z(2, 3), z(3) },
        'triplet_margin_loss: expected tensors of one shape, got anchor [2,3], positive [2,3], negative [3]' },
      { F.triplet_margin_loss, { z({}), z({}), z({}) }, 'triplet_margin_loss: expected inputs (N, D) or (D), got 0-dim ones' },
      { F.kl_div, { nl.zeros({ 2 }, 'int64'), z(2) }, 'kl_div: expected float input and target' },
      { F.margin_ranking_loss, { nl.zeros({ 2 }, 'int64'), z(2), z(2) },
        'margin_ranking_loss: expected a float input, got int64 [2]' },
    }
    for _, c in ipairs(cases) do
      local a = c[2]
      S.contains(S.errmsg(c[1], unpack(a)), c[3])
    end
    -- the modules of three tensors take three, and their options at construction
    S.contains(S.errmsg(nn.TripletMarginLoss(), z(2), z(2), z(2), { swap = true }),
               'TripletMarginLoss: takes (anchor, positive, negative), got 4 arguments; give options to the constructor')
    S.contains(S.errmsg(nn.GaussianNLLLoss(), z(2), z(2)), 'gaussian_nll_loss: expected a tensor')
    S.contains(S.errmsg(nn.KLDivLoss(), z(2), z(2), { log_target = true }), 'KLDivLoss: takes (input, target), got 3')
  end)

  it('kl_div: batchmean is the sum over the batch size, and a 0-dim input\'s sum', function()
    local x, y = nl.randn(3, 4):log_softmax(2), nl.randn(3, 4):softmax(2)
    local s = F.kl_div(x, y, { reduction = 'sum' }):item()
    assert.is_true(math.abs(F.kl_div(x, y, { reduction = 'batchmean' }):item() - s / 3) < 1e-6 * math.abs(s))
    assert.is_true(math.abs(F.kl_div(x, y):item() - s / 12) < 1e-6 * math.abs(s))
    local x0, y0 = nl.tensor(-1.5), nl.tensor(0.25)
    assert.are.equal(F.kl_div(x0, y0, { reduction = 'sum' }):item(),
                     nn.KLDivLoss({ reduction = 'batchmean' })(x0, y0):item())
  end)

  -- PyTorch 1.13: NaN and 0 for each, but MultiMarginLoss's and
  -- MultiLabelMarginLoss's empty mean, uninitialised memory there
  it('give an empty batch a NaN mean and a 0 sum', function()
    local e, n = nl.zeros(0, 4), nl.zeros(0)
    local calls = {
      mse_loss = { e, e }, l1_loss = { e, e }, smooth_l1_loss = { e, e }, huber_loss = { e, e },
      soft_margin_loss = { e, e }, binary_cross_entropy = { e, e }, binary_cross_entropy_with_logits = { e, e },
      kl_div = { e, e }, poisson_nll_loss = { e, e }, hinge_embedding_loss = { e, e }, gaussian_nll_loss = { e, e, e },
      multilabel_soft_margin_loss = { e, e }, multi_margin_loss = { e, ids({}) },
      multilabel_margin_loss = { e, nl.zeros({ 0, 4 }, 'int64') }, triplet_margin_loss = { e, e, e },
      triplet_margin_with_distance_loss = { e, e, e }, cosine_embedding_loss = { e, e, n },
      margin_ranking_loss = { n, n, n },
    }
    for fn, args in pairs(calls) do
      for _, r in ipairs({ 'mean', 'sum' }) do
        local a = { unpack(args) }
        a[#a + 1] = { reduction = r }
        local v = F[fn](unpack(a)):item()
        if r == 'mean' then assert.is_true(v ~= v, fn .. ' mean: ' .. v) else assert.are.equal(0, v, fn .. ' sum') end
      end
    end
  end)
end)
