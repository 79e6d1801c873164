-- nn.AdaptiveLogSoftmaxWithLoss against PyTorch 1.13 (tests/golden/
-- gen_adaptive_softmax.py): its weights loaded by state-dict name, the
-- forward's output and loss, the gradients of the input and every
-- parameter, log_prob and predict (1-based classes); batched and
-- unbatched, head_bias, one to three clusters, targets only in the
-- shortlist; output against log_prob; float64 gradchecks; misuse.
local nl = require 'nnlua'
local nn = nl.nn
local S = require 'support'

local golden = dofile(S.root .. '/tests/golden/adaptive_softmax.lua')
local TOL = { float32 = { 1e-5, 1e-5 }, float64 = { 1e-12, 1e-12 } }

local function build(c)
  local m = nn.AdaptiveLogSoftmaxWithLoss(c.args[1], c.args[2], c.args[3], c.opts)
  if c.dtype == 'float64' then m:double() end
  m:load_state_dict(S.golden_sd(c.state))
  return m
end

describe('AdaptiveLogSoftmaxWithLoss against PyTorch 1.13', function()
  for _, c in ipairs(golden) do
    it(c.name, function()
      local m = build(c)
      local tol = TOL[c.dtype]
      local names = {}
      for i, e in ipairs(c.state) do names[i] = e.name end
      assert.are.same(names, S.names_of(m:named_parameters()))
      local x = S.from_golden(c.input):requires_grad()
      local out, loss = m(x, S.from_golden(c.target))
      S.expect_golden(out, c.output, 'output', tol)
      S.expect_golden(loss, c.loss, 'loss', tol)
      ;((out * S.from_golden(c.w)):sum() + loss * S.from_golden(c.wl)):backward()
      S.expect_golden(x.grad, c.grad_input, 'input gradient', tol)
      for _, g in ipairs(c.grads) do
        local p = m:get_parameter(g.name)
        if g.t then S.expect_golden(p.grad, g.t, g.name .. ' gradient', tol)
        else assert.is_nil(p.grad, g.name .. ' has no gradient (no target in its cluster)') end
      end
      local xb = S.from_golden(c.input)
      if xb:dim() == 1 then xb = xb:view(1, -1) end
      S.expect_golden(m:log_prob(xb), c.log_prob, 'log_prob', tol)
      S.expect_golden(m:predict(xb), c.predict, 'predict')
    end)
  end

  it('gives each target\'s entry of log_prob, whose rows sum to 1, and predict its argmax', function()
    nl.manual_seed(12)
    local m = nn.AdaptiveLogSoftmaxWithLoss(6, 11, { 2, 5, 9 }, { div_value = 1.5, head_bias = true }):double()
    local x = S.randn64(30, 6)
    local t = nl.randint(1, 12, { 30 })
    local out, loss = m(x, t)
    local lp = m:log_prob(x)
    S.expect_close(out, lp:gather(2, t:view(-1, 1)):view(-1), 'output', 1e-12, 1e-12)
    S.expect_close(loss, -out:mean(), 'loss', 1e-12, 1e-12)
    S.expect_close(lp:exp():sum(2), nl.ones(30, 'float64'), 'probabilities', 1e-12, 1e-12)
    S.same_bits(m:predict(x), lp:argmax(2), 'predict')
  end)

  it('passes float64 gradchecks of the input and the weights', function()
    nl.manual_seed(13)
    local m = nn.AdaptiveLogSoftmaxWithLoss(4, 7, { 2, 4 }, { div_value = 2, head_bias = true }):double()
    local t = nl.tensor({ 1, 3, 5, 7, 2, 4 }, 'int64')
    S.gradcheck(function(x) local out, loss = m(x, t) return out * 1.5 + loss end, S.randn64(6, 4))
    local w0 = m.tail[2][1].weight:detach():clone()
    S.gradcheck(function(w)
      m.tail[2][1].weight = w
      local out = m(S.randn64(6, 4) * 0 + 0.5, t)
      return out
    end, w0)
  end)

  it('sizes the projections by Python\'s floor division and checks its arguments', function()
    local m = nn.AdaptiveLogSoftmaxWithLoss(1, 4, { 1, 2 }, { div_value = 0.1 })
    -- 1 // 0.1 is 9 in Python (floor(1 / 0.1) would be 10), 1 // 0.01 is 99
    assert.are.same({ 9, 1 }, m.tail[1][1].weight:shape())
    assert.are.same({ 99, 1 }, m.tail[2][1].weight:shape())
    local A = nn.AdaptiveLogSoftmaxWithLoss
    S.contains(S.errmsg(A, 8, 10, { 6, 3 }), 'AdaptiveLogSoftmaxWithLoss: cutoffs should be a list of unique, positive '
               .. 'integers sorted in an increasing order, each between 1 and n_classes - 1 = 9')
    S.contains(S.errmsg(A, 8, 10, { 3, 10 }), 'cutoffs should be')
    S.contains(S.errmsg(A, 8, 10, { 3, 3 }), 'cutoffs should be')
    S.contains(S.errmsg(A, 8, 10, {}), 'cutoffs should be')
    S.contains(S.errmsg(A, 8, 10, { 0 }), 'cutoffs should be')
    S.contains(S.errmsg(A, 8, 10, { 3 }, { div_value = 0 }), 'AdaptiveLogSoftmaxWithLoss: expected a positive div_value, got 0')
    S.contains(S.errmsg(A, 8, 10, { 3 }, { bias = true }), "AdaptiveLogSoftmaxWithLoss: unknown option 'bias'")
    S.contains(S.errmsg(A, 4, 10, { 3, 6 }), "cluster 2's projection has in_features // div_value^2 = 4 // 16 = 0 units")
  end)

  it('refuses bad inputs and targets, naming the shapes', function()
    local m = nn.AdaptiveLogSoftmaxWithLoss(4, 6, { 2 })
    local x = nl.randn(3, 4)
    local op = 'AdaptiveLogSoftmaxWithLoss'
    S.contains(S.errmsg(m, x, nl.tensor({ 1, 2, 7 }, 'int64')), op .. ': target values should be in 1..6, but values in 1..7')
    S.contains(S.errmsg(m, x, nl.tensor({ 0, 2, 3 }, 'int64')), 'values in 0..3')
    S.contains(S.errmsg(m, x, nl.tensor({ 1, 2 }, 'int64')),
               op .. ': a 1-D target expects input (N, in_features) of the same N, got input [3,4] and target [2]')
    S.contains(S.errmsg(m, x, nl.tensor({ 1, 2, 3 })), op .. ': target must be an int64 tensor')
    S.contains(S.errmsg(m, x, nl.ones({ 3, 1 }, 'int64')), op .. ': expected a 0-dim or 1-D target, got shape [3,1]')
    S.contains(S.errmsg(m, nl.randn(3, 5), nl.tensor({ 1, 2, 3 }, 'int64')),
               op .. ': expected input (N, in_features) with in_features = 4, got shape [3,5]')
    S.contains(S.errmsg(m, x, nl.tensor(1, 'int64')), op .. ': a 0-dim target expects a 1-D input, got input [3,4]')
    S.contains(S.errmsg(m, x:double(), nl.tensor({ 1, 2, 3 }, 'int64')), op .. ': input of dtype float64')
    S.contains(S.errmsg(function() return m:log_prob(nl.randn(4)) end), op .. '.log_prob: expected input (N, in_features)')
    S.contains(S.errmsg(function() return m:predict(nl.randn(2, 3)) end), op .. '.predict: expected input')
  end)
end)
