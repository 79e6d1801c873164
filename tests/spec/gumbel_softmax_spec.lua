-- F.gumbel_softmax (PyTorch 1.13's, its noise from nnlua's generator, so
-- no golden values): the Gumbel-max frequencies are the softmax of the
-- logits; tau divides logits plus one noise; hard is the one-hot of the
-- soft sample's argmax with the soft sample's gradient (straight-through);
-- float64 gradchecks under a fixed seed; misuse.
local nl = require 'nnlua'
local F = nl.nn.functional
local S = require 'support'

local function seeded(seed, f, ...)
  nl.manual_seed(seed)
  return f(...)
end

describe('gumbel_softmax', function()
  -- the Gumbel-max trick: argmax(logits + g) is distributed as
  -- softmax(logits) only for Gumbel noise g
  it('draws classes with the softmax of the logits as their frequencies', function()
    nl.manual_seed(21)
    local probs = { 0.6, 0.3, 0.1 }
    local logits = nl.tensor(probs, 'float64'):log():view(1, 3):expand(40000, 3)
    local y = F.gumbel_softmax(logits, { hard = true })
    local freq = S.flat(y:mean(1))
    for k = 1, 3 do
      -- (4.5 standard errors of a frequency from 40000 draws)
      local se = math.sqrt(probs[k] * (1 - probs[k]) / 40000)
      assert.is_true(math.abs(freq[k] - probs[k]) < 4.5 * se, ('class %d: %g against %g'):format(k, freq[k], probs[k]))
    end
  end)

  it('is the softmax of (logits + g) / tau, one noise g for any tau', function()
    local rand = S.rand_by(3)
    local l = rand({ 3, 5 }, 'float64')
    local y1 = seeded(7, F.gumbel_softmax, l)
    local y2 = seeded(7, F.gumbel_softmax, l, 0.5)
    local y3 = seeded(7, F.gumbel_softmax, l, { tau = 0.5 })
    S.same_bits(y2, y3, 'positional and table tau')
    S.expect_close(y1:sum(2), nl.ones(3, 'float64'), 'sums', 1e-14, 1e-14)
    -- log y * tau - l is g minus a constant per row, in both
    local g1 = y1:log() - l
    local g2 = y2:log() * 0.5 - l
    local d = g1 - g2
    S.expect_close(d - d:narrow(2, 1, 1), nl.zeros(3, 5, 'float64'), 'noise differences', 0, 1e-12)
    -- and the noise is not zero (nor the same across elements)
    assert.is_true((g1 - g1:narrow(2, 1, 1)):abs():max():item() > 0.1)
  end)

  it('hard: the one-hot of the soft sample\'s argmax, with the soft sample\'s gradient', function()
    local rand = S.rand_by(5)
    local l0 = rand({ 4, 6 })
    local w = rand({ 4, 6 })
    local ls, lh = l0:clone():requires_grad(), l0:clone():requires_grad()
    local soft = seeded(9, F.gumbel_softmax, ls, { tau = 0.7 })
    local hard = seeded(9, F.gumbel_softmax, lh, { tau = 0.7, hard = true })
    local want = nl.zeros(4, 6):scatter(2, soft:detach():argmax(2, true), 1)
    S.expect_close(hard, want, 'one-hot', 0, 1e-7)
    assert.are.same({ 1, 1, 1, 1 }, S.flat(hard:detach():ne(0):sum(2)))
    ;(soft * w):sum():backward()
    ;(hard * w):sum():backward()
    S.expect_close(lh.grad, ls.grad, 'straight-through gradient', 1e-6, 1e-7)
    assert.is_true(ls.grad:abs():max():item() > 0)
  end)

  it('takes a 1-based dim and PyTorch\'s positional order', function()
    local rand = S.rand_by(8)
    local l = rand({ 5, 2 })
    local y = seeded(4, F.gumbel_softmax, l, { dim = 1 })
    S.expect_close(y:sum(1), nl.ones(2), 'sums along dim 1', 1e-6, 1e-6)
    S.same_bits(seeded(4, F.gumbel_softmax, l, 1, false, 1e-10, 1), y, 'positional')
    local h = seeded(4, F.gumbel_softmax, l, { dim = -2, hard = true })
    assert.are.same({ 1, 1 }, S.flat(h:sum(1)))
  end)

  it('passes float64 gradchecks under a fixed seed', function()
    local rand = S.rand_by(13)
    S.gradcheck(function(x) return seeded(2, F.gumbel_softmax, x, 0.8) end, rand({ 3, 4 }, 'float64'))
    S.gradcheck(function(x) return seeded(2, F.gumbel_softmax, x, { dim = 1 }) end, rand({ 3, 4 }, 'float64'))
  end)

  it('refuses a bad tau, dim, hard or input, naming the op', function()
    local l = nl.randn(2, 3)
    S.contains(S.errmsg(F.gumbel_softmax, l, 0), 'gumbel_softmax: expected a temperature tau > 0, got 0')
    S.contains(S.errmsg(F.gumbel_softmax, l, { tau = -1 }), 'gumbel_softmax: expected a temperature tau > 0, got -1')
    S.contains(S.errmsg(F.gumbel_softmax, l, { dim = 3 }), 'gumbel_softmax: dim 3 is out of range for input shape [2,3]')
    S.contains(S.errmsg(F.gumbel_softmax, l, { hard = 1 }), 'gumbel_softmax: hard must be a boolean')
    S.contains(S.errmsg(F.gumbel_softmax, l, { temperature = 1 }), "gumbel_softmax: unknown option 'temperature'")
    S.contains(S.errmsg(F.gumbel_softmax, nl.ones({ 2 }, 'int64')), 'gumbel_softmax')
    S.contains(S.errmsg(F.gumbel_softmax, nl.tensor(1)), 'gumbel_softmax: expected logits of 1 or more dims')
    -- hard's argmax along an empty dim (PyTorch's max refuses it; the soft
    -- sample of no classes is empty, as PyTorch's)
    S.contains(S.errmsg(F.gumbel_softmax, nl.randn(2, 0), 1, true),
               'gumbel_softmax: hard = true takes the argmax along dim 2, of size 0 in shape [2,0]')
    assert.are.same({ 2, 0 }, F.gumbel_softmax(nl.randn(2, 0)):shape())
    assert.are.same({ 0, 3 }, F.gumbel_softmax(nl.randn(0, 3), 1, true):shape())
    S.contains(S.errmsg(F.gumbel_softmax, l, 1, false, 1e-10, -1, 5), 'gumbel_softmax: takes')
  end)
end)
