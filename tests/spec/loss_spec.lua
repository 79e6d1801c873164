-- nl_mse_loss: nn.functional.mse_loss and nn.MSELoss, summed or averaged,
-- run as one op. Its value and both gradients must be those of the ops it
-- replaces (sub, mul, then mean or sum; each tested against PyTorch and
-- float64 loops elsewhere) bit for bit, at any thread count; closed-form
-- cases and float64 finite differences check it on their own. Then the
-- fused cross-entropy and log_softmax at the edges, against closed forms.
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
