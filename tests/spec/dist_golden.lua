-- dist_golden.lua: the golden runner of the distribution specs
-- (distributions_spec, distributions_more_spec, distributions_relaxed_spec):
-- PyTorch's values and gradients as tests/golden/dist_golden.py writes the
-- cases. The specs' own checks (sampling, errors) stay in the specs.
local S = require 'support'
local DG = {}

-- the leaves (requiring grad) of a case's golden parameters
local function leaves_of(params)
  local out = {}
  for i, p in ipairs(params) do out[i] = S.from_golden(p):requires_grad() end
  return out
end

-- the leaves' gradients of (out * w):sum() against the golden grads; a
-- parameter with none written must get none, or only zeros
local function check_grads(c, leaves, out, w, grads, tol, what)
  local assert = require 'luassert'
  for _, l in ipairs(leaves) do l.grad = nil end
  local loss = (out * S.from_golden(w)):sum()
  if loss.is_requires_grad then loss:backward({ retain_graph = true }) end
  for i, l in ipairs(leaves) do
    local want = grads[i]
    if want then
      assert.is_not_nil(l.grad, ('%s %s: no gradient for parameter %d'):format(c.name, what, i))
      S.expect_golden(l.grad, want, ('%s %s grad %d'):format(c.name, what, i), tol)
    elseif l.grad then
      assert.are.equal(0, l.grad:abs():sum():item(), ('%s %s: gradient for parameter %d'):format(c.name, what, i))
    end
  end
end

-- kl case c: kl_divergence(build[c.p](p leaves), build[c.q](q leaves))
local function check_kl(c, build, tol_of)
  local D = require('nnlua').distributions
  local pl, ql = leaves_of(c.p_params), leaves_of(c.q_params)
  local tol = tol_of(c, pl[1]:dtype())
  local out = D.kl_divergence(build[c.p](unpack(pl)), build[c.q](unpack(ql)))
  S.expect_golden(out, c.out, c.name, tol)
  local all = {}
  for _, l in ipairs(pl) do all[#all + 1] = l end
  for _, l in ipairs(ql) do all[#all + 1] = l end
  check_grads(c, all, out, c.w, c.grads, tol, 'kl')
end

-- distribution case c: build[c.kind](leaves)'s shapes, then each method's
-- output (a method of m.value, entropy, or a property) and gradients
local function check_methods(c, build, tol_of)
  local assert = require 'luassert'
  local leaves = leaves_of(c.params)
  local tol = tol_of(c, leaves[1]:dtype())
  local d = build[c.kind](unpack(leaves))
  assert.are.same(c.batch_shape, d.batch_shape)
  assert.are.same(c.event_shape, d.event_shape)
  for _, m in ipairs(c.methods) do
    local out
    if m.value then
      out = d[m.m](d, S.from_golden(m.value))
    elseif m.m == 'entropy' then
      out = d:entropy()
    else
      out = d[m.m]
    end
    S.expect_golden(out, m.out, c.name .. ' ' .. m.m, tol)
    check_grads(c, leaves, out, m.w, m.grads, tol, m.m)
  end
end

-- The golden tests of the cases in tests/golden/<file>, made with busted's
-- it (a spec's global, which this module does not see): one that every
-- builder in build has a case (as a kind, or a kl's p or q), then one per
-- case, within tol[dtype] = { rtol, atol }, or kind_tol[c.kind][dtype] for
-- the kinds kind_tol (optional) names.
function DG.its(it, file, build, tol, kind_tol)
  local G = dofile(S.root .. '/tests/golden/' .. file)
  local function tol_of(c, dtype) return (kind_tol and kind_tol[c.kind] or tol)[dtype] end
  it('covers every builder with a case', function()
    local assert = require 'luassert'
    local seen = {}
    for _, c in ipairs(G) do
      seen[c.kind] = true
      if c.kind == 'kl' then seen[c.p], seen[c.q] = true, true end
    end
    for k in pairs(build) do assert.is_true(seen[k] == true, 'no golden case for ' .. k) end
  end)
  for _, c in ipairs(G) do
    it(c.name, function()
      if c.kind == 'kl' then check_kl(c, build, tol_of) else check_methods(c, build, tol_of) end
    end)
  end
end

return DG
