-- nn.utils.prune. Golden: tests/golden/prune.lua (tests/golden/gen_prune.py,
-- PyTorch 1.13): l1_unstructured (a fraction, a count, importance scores),
-- ln_structured (n = 1, 2, 3, math.huge, -math.huge, 'fro', several dims,
-- Python's half-to-even rounding), global_unstructured, iterative pruning
-- through PruningContainer, custom_from_mask; the masks after each step,
-- the output, the gradients (weight_orig's), the state dict in PyTorch's
-- names and order, and after remove. Closed forms: the gradient of
-- weight_orig is the mask times the weight's; the random methods' counts
-- and their reproducibility under nl.manual_seed; a subclass of
-- BasePruningMethod; save/load and clone; errors.
local nl = require 'nnlua'
local S = require 'support'

local nn = nl.nn
local G = dofile(S.root .. '/tests/golden/prune.lua')
local prune = nn.utils.prune
local TOL = { 1e-5, 1e-5 }

local build = {
  Linear = function(s) return nn.Linear(s[2], s[3]) end,
  Conv1d = function(s) return nn.Conv1d(s[2], s[3], s[4]) end,
  Conv2d = function(s) return nn.Conv2d(s[2], s[3], s[4]) end,
}

local function model_of(c)
  local layers = {}
  for i, s in ipairs(c.layers) do layers[i] = build[s[1]](s) end
  local m = nn.Sequential(unpack(layers))
  local sd = S.golden_sd(c.state0)
  for _, kv in ipairs(m:named_parameters()) do
    nl.no_grad(function() kv[2]:copy_(sd[kv[1]]) end)
  end
  return m
end

-- step st of a golden case on model m; form picks between the positional
-- and the options-table calls
local function run_step(m, st, form)
  local scores = st.fn ~= 'global' and S.from_golden(st.scores) or nil
  if st.fn == 'l1' then
    if form == 1 then prune.l1_unstructured(m[st.layer], st.name, st.amount, scores)
    else prune.l1_unstructured(m[st.layer], st.name, { amount = st.amount, importance_scores = scores }) end
  elseif st.fn == 'ln' then
    if form == 1 then prune.ln_structured(m[st.layer], st.name, st.amount, st.n, st.dim, scores)
    else prune.ln_structured(m[st.layer], st.name, { amount = st.amount, n = st.n, dim = st.dim, importance_scores = scores }) end
  elseif st.fn == 'custom' then
    prune.custom_from_mask(m[st.layer], st.name, S.from_golden(st.mask))
  elseif st.fn == 'global' then
    local params = {}
    for i, p in ipairs(st.params) do params[i] = { m[p[1]], p[2] } end
    local sc
    if st.scores then
      -- by position (form 1), or by module and name (form 2)
      sc = {}
      for _, s in ipairs(st.scores) do
        if form == 1 then
          for i, p in ipairs(st.params) do if p[1] == s[1] and p[2] == s[2] then sc[i] = S.from_golden(s[3]) end end
        else
          sc[m[s[1]]] = sc[m[s[1]]] or {}
          sc[m[s[1]]][s[2]] = S.from_golden(s[3])
        end
      end
    end
    if form == 1 then prune.global_unstructured(params, prune.L1Unstructured, { amount = st.amount, importance_scores = sc })
    else prune.global_unstructured(params, { pruning_method = prune.L1Unstructured, amount = st.amount, importance_scores = sc }) end
  end
end

local function check_list(got_sd, got_names, list, what, tol)
  assert.are.same(S.names_of((function()
    local out = {}
    for i, e in ipairs(list) do out[i] = { e.name } end
    return out
  end)()), got_names, what .. ': names in order')
  for _, e in ipairs(list) do S.expect_golden(got_sd[e.name], e.t, what .. ' ' .. e.name, tol) end
end

describe('nn.utils.prune against PyTorch 1.13', function()
  for _, c in ipairs(G) do
    for form = 1, 2 do
      it(c.name .. (form == 1 and ' (positional)' or ' (options)'), function()
        local m = model_of(c)
        for i, st in ipairs(c.steps) do
          run_step(m, st, form)
          local sd = m:state_dict()
          for _, e in ipairs(c.masks[i]) do
            S.expect_golden(sd[e.name], e.t, ('%s step %d %s'):format(c.name, i, e.name))
          end
        end
        assert.is_true(prune.is_pruned(m))
        local out = m(S.from_golden(c.x))
        S.expect_golden(out, c.out, c.name .. ' out', TOL)
        for _, e in ipairs(c.pruned) do
          local li, pn = e.name:match('^(%d+)%.(.+)$')
          S.expect_golden(m[tonumber(li) + 1][pn], e.t, c.name .. ' pruned ' .. e.name, TOL)
        end
        (out * S.from_golden(c.w)):sum():backward()
        local params = {}
        for _, kv in ipairs(m:named_parameters()) do params[#params + 1] = { kv[1] } end
        local grads = {}
        for _, kv in ipairs(m:named_parameters()) do grads[kv[1]] = kv[2].grad end
        check_list(grads, S.names_of(params), c.grads, c.name .. ' grad', TOL)
        check_list(m:state_dict(), m:state_names(), c.state, c.name .. ' state', TOL)
        for _, e in ipairs(c.pruned) do
          local li, pn = e.name:match('^(%d+)%.(.+)$')
          prune.remove(m[tonumber(li) + 1], pn)
        end
        assert.is_false(prune.is_pruned(m))
        check_list(m:state_dict(), m:state_names(), c.removed, c.name .. ' removed', TOL)
      end)
    end
  end

  it("loads PyTorch's state dict of a pruned model, weight_orig and weight_mask", function()
    local c = G[10]   -- iterative_l1_ln_l1
    assert.are.equal('iterative_l1_ln_l1', c.name)
    local m = nn.Sequential(nn.Linear(8, 6))
    prune.identity(m[1], 'weight')
    m:load_state_dict(S.golden_sd(c.state))
    S.expect_golden(m(S.from_golden(c.x)), c.out, 'out', TOL)
    S.expect_golden(m[1].weight, c.pruned[1].t, 'weight', TOL)
  end)
end)

describe('nn.utils.prune', function()
  it("replaces the parameter by name_orig and the buffer name_mask; name is mask * orig, recomputed before m(x)",
     function()
    nl.manual_seed(3)
    local m = nn.Linear(4, 3)
    local w = m.weight
    prune.l1_unstructured(m, 'weight', 5)
    assert.are.equal(w, m.weight_orig)
    assert.are.same({ 'bias', 'weight_orig' }, S.names_of(m:named_parameters()))
    assert.are.same({ 'weight_mask' }, S.names_of(m:named_buffers()))
    assert.are.same({ 'bias', 'weight_orig', 'weight_mask' }, m:state_names())
    assert.are.equal(7, m.weight_mask:sum():item())
    S.same_bits(m.weight, w * m.weight_mask, 'weight')
    -- a step on weight_orig shows in weight at the next call, not before
    nl.no_grad(function() m.weight_orig:add_(1) end)
    local before = m.weight
    m(nl.ones(2, 4))
    S.same_bits(m.weight, m.weight_orig * m.weight_mask, 'recomputed')
    assert.is_true(before ~= m.weight)
  end)

  it('gives weight_orig the gradient of weight times the mask (closed form)', function()
    nl.manual_seed(5)
    local m = nn.Linear(5, 4)
    prune.ln_structured(m, 'weight', 2, 2, 1)
    local x, w = nl.randn(3, 5), nl.randn(3, 4)
    local loss = (m(x) * w):sum()
    loss:backward()
    -- d loss / d weight = w^T x
    local gw = nl.matmul(w:t(), x)
    S.expect_close(m.weight_orig.grad, gw * m.weight_mask, 'grad', 1e-5, 1e-6)
    -- two rows are pruned whole: their gradient is 0
    local zero_rows = 0
    for i = 1, 4 do if m.weight_orig.grad[i]:abs():sum():item() == 0 then zero_rows = zero_rows + 1 end end
    assert.are.equal(2, zero_rows)
  end)

  it('random_unstructured prunes the exact count, reproducibly under nl.manual_seed, later amounts of what is left',
     function()
    local function mask_of(seed, amount)
      nl.manual_seed(seed)
      local m = nn.Linear(5, 4)
      nl.manual_seed(seed + 100)
      prune.random_unstructured(m, 'weight', amount)
      return m
    end
    local a, b, c = mask_of(1, 0.3), mask_of(1, 0.3), mask_of(2, 0.3)
    assert.are.equal(14, a.weight_mask:sum():item())          -- round(0.3 * 20) = 6 pruned
    S.same_bits(a.weight_mask, b.weight_mask, 'same seed')
    assert.is_false(table.concat(S.flat(a.weight_mask), ',') == table.concat(S.flat(c.weight_mask), ','))
    assert.are.equal(11, mask_of(1, 9).weight_mask:sum():item())
    -- again: half of the 14 left, and the 6 stay pruned
    local first = a.weight_mask:clone()
    prune.random_unstructured(a, 'weight', 0.5)
    assert.are.equal(7, a.weight_mask:sum():item())
    assert.are.equal(0, (a.weight_mask * (1 - first)):sum():item())
    assert.are.equal('PruningContainer', getmetatable(rawget(a, '_prune').weight.method).__index.__name)
  end)

  it('random_structured prunes whole units along dim, the exact count, reproducibly', function()
    local function pruned(seed, amount, dim)
      nl.manual_seed(seed)
      local m = nn.Conv2d(3, 6, 3)
      prune.random_structured(m, 'weight', amount, dim)
      return m.weight_mask
    end
    for _, c in ipairs({ { 0.5, 1, 6, 3 }, { 2, 2, 3, 2 }, { 1, -1, 3, 1 } }) do
      local mask = pruned(7, c[1], c[2])
      local d = c[2] < 0 and 4 + c[2] + 1 or c[2]
      local others = {}
      for i = 1, 4 do if i ~= d then others[#others + 1] = i end end
      local per = mask:sum(others)
      local units, zero = S.flat(per), 0
      local whole = mask:numel() / c[3]
      for _, u in ipairs(units) do
        assert.is_true(u == 0 or u == whole, 'whole units')
        if u == 0 then zero = zero + 1 end
      end
      assert.are.equal(c[4], zero, 'count')
      S.same_bits(mask, pruned(7, c[1], c[2]), 'reproducible')
    end
  end)

  it('remove makes the pruning permanent: the tensor that was name_orig, holding mask * orig, a parameter again',
     function()
    nl.manual_seed(9)
    local m = nn.Linear(4, 3)
    local orig = m.weight
    prune.l1_unstructured(m, 'weight', 0.5)
    local want = orig:detach() * m.weight_mask
    prune.remove(m, 'weight')
    assert.are.equal(orig, m.weight)
    S.same_bits(m.weight, want, 'weight')
    assert.are.same({ 'bias', 'weight' }, S.names_of(m:named_parameters()))
    assert.are.same({}, m:named_buffers())
    assert.is_nil(rawget(m, 'weight_orig'))
    assert.is_nil(rawget(m, '_fwd_hooks'))
    assert.is_false(prune.is_pruned(m))
  end)

  it('is_pruned looks through submodules', function()
    local m = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.Linear(2, 2)))
    assert.is_false(prune.is_pruned(m))
    prune.identity(m[2][1], 'bias')
    assert.is_true(prune.is_pruned(m))
    assert.are.same({ 1, 1 }, S.flat(m[2][1].bias_mask))
  end)

  it('takes a BasePruningMethod subclass, applied with Class:apply and composed with others', function()
    local Threshold = prune.BasePruningMethod:extend('Threshold')
    Threshold.PRUNING_TYPE = 'unstructured'
    function Threshold:init(t) self.t = t end
    function Threshold:compute_mask(t, default_mask) return default_mask * t:abs():gt(self.t) end
    local m = nn.Linear(1, 6)
    nl.no_grad(function() m.weight:copy_(nl.tensor({ { 0.1 }, { -0.5 }, { 0.3 }, { -0.05 }, { 0.9 }, { -0.7 } })) end)
    local method = Threshold:apply(m, 'weight', 0.2)
    assert.are.equal(Threshold, getmetatable(method).__index)
    assert.are.same({ 0, 1, 1, 0, 1, 1 }, S.flat(m.weight_mask))
    -- L1 of 1 more on the 4 left: -0.3 goes; importance scores given
    local c = prune.L1Unstructured:apply(m, 'weight', 1)
    assert.are.equal(2, #c)
    assert.are.same({ 0, 1, 0, 0, 1, 1 }, S.flat(m.weight_mask))
    prune.L1Unstructured:apply(m, 'weight', { amount = 1, importance_scores = nl.tensor({ { 9 }, { 1 }, { 9 }, { 9 }, { 5 }, { 3 } }) })
    assert.are.same({ 0, 0, 0, 0, 1, 1 }, S.flat(m.weight_mask))
    assert.are.equal(3, #c)
    -- prune() of a tensor
    local p = prune.L1Unstructured(2):prune(nl.tensor({ 3, -1, 2, 0.5 }))
    assert.are.same({ 3, 0, 2, 0 }, S.flat(p))
  end)

  it('is saved, loaded and cloned with its masks', function()
    nl.manual_seed(11)
    local m = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    prune.l1_unstructured(m[1], 'weight', 0.5)
    prune.ln_structured(m[3], 'weight', 1, 1, 1)
    local x = nl.randn(5, 4)
    local want = m(x)
    local path = os.tmpname() .. '.safetensors'
    m:save(path)
    local l = nn.load(path)
    os.remove(path)
    S.same_bits(l(x), want, 'loaded')
    S.same_bits(l[1].weight_mask, m[1].weight_mask, 'mask')
    assert.is_true(prune.is_pruned(l))
    local c = m:clone()
    S.same_bits(c(x), want, 'clone')
    prune.remove(c[1], 'weight')
    assert.is_true(rawget(m[1], 'weight_orig') ~= nil)
  end)

  it('raises clear errors', function()
    local m = nn.Linear(4, 3)
    S.contains(S.errmsg(prune.l1_unstructured, m, 'weight', 1.5),
               'l1_unstructured: amount must be a whole number of units >= 0 or a fraction in [0, 1], got 1.5')
    S.contains(S.errmsg(prune.l1_unstructured, m, 'weight', -1), 'amount must be a whole number')
    S.contains(S.errmsg(prune.random_unstructured, m, 'weight', 0 / 0), 'amount must be a whole number')
    S.contains(S.errmsg(prune.l1_unstructured, m, 'weight', 13),
               'l1_unstructured: amount=13 is more than the 12 elements there are to prune')
    -- the failed call leaves the module as it was
    assert.are.same({ 'weight', 'bias' }, S.names_of(m:named_parameters()))
    assert.is_false(prune.is_pruned(m))
    S.contains(S.errmsg(prune.l1_unstructured, m, 'wieght', 1),
               "l1_unstructured: Linear has no parameter 'wieght' (its parameters: weight, bias)")
    S.contains(S.errmsg(prune.ln_structured, m, 'weight', 4, 2, 1),
               'ln_structured: amount=4 is more than the 3 units along dim 1 there are to prune')
    S.contains(S.errmsg(prune.ln_structured, m, 'bias', 1, 2, 1),
               'ln_structured: structured pruning needs a tensor of at least 2 dims, got shape [3]')
    S.contains(S.errmsg(prune.ln_structured, m, 'weight', 1, 2, 3),
               'ln_structured: dim must be a dim of the float32 tensor of shape [3,4] from 1')
    S.contains(S.errmsg(prune.ln_structured, m, 'weight', 1, 2, 0), 'ln_structured: dim must be a whole number')
    S.contains(S.errmsg(prune.ln_structured, m, 'weight', 1, 'nuc', 1),
               "ln_structured: n must be a number, math.huge, -math.huge or 'fro', got 'nuc'")
    S.contains(S.errmsg(prune.ln_structured, m, 'weight', 1, 2), 'ln_structured: dim is required')
    S.contains(S.errmsg(prune.l1_unstructured, m, 'weight', 1, nl.ones(4, 3)),
               "l1_unstructured: importance_scores must be a tensor of the shape [3,4] of the parameter 'weight'")
    S.contains(S.errmsg(prune.custom_from_mask, m, 'weight', nl.ones(3)), 'custom_from_mask: the mask has shape [3]')
    S.contains(S.errmsg(prune.remove, m, 'weight'),
               "remove: parameter 'weight' of Linear has to be pruned before pruning can be removed")
    assert.is_false(prune.is_pruned(m))
    -- a container takes methods on its own tensor only
    local a, b = prune.L1Unstructured(1), prune.L1Unstructured(1)
    rawset(a, '_tensor_name', 'weight')
    rawset(b, '_tensor_name', 'bias')
    S.contains(S.errmsg(function() prune.PruningContainer(a, b) end),
               "can only add pruning methods acting on the parameter named 'weight' to this container, found 'bias'")
    -- after a failed second pruning, the first stands
    prune.l1_unstructured(m, 'weight', 2)
    S.contains(S.errmsg(prune.l1_unstructured, m, 'weight', 11),
               'l1_unstructured: amount=11 is more than the 10 elements there are to prune')
    assert.are.equal(10, m.weight_mask:sum():item())
    assert.are.equal(1, #rawget(m, '_fwd_hooks').pre)
    -- weight_orig taken by another reparametrization (spectral_norm's)
    local s = nn.utils.spectral_norm(nn.Linear(2, 2))
    S.contains(S.errmsg(prune.l1_unstructured, s, 'weight', 1), "l1_unstructured: Linear has no parameter 'weight'")
    S.contains(S.errmsg(prune.identity, nn.Linear(2, 2), 'weight', 3), 'identity: takes (module, name), got 3 arguments')
    S.contains(S.errmsg(prune.global_unstructured, { { m, 'bias' } }, prune.LnStructured, { amount = 1, n = 1 }),
               'global_unstructured: only a pruning method of PRUNING_TYPE "unstructured" can prune globally')
    S.contains(S.errmsg(prune.L1Unstructured.apply, m, 'weight', 1),
               'BasePruningMethod.apply: call it on the class, with a colon')
    S.contains(S.errmsg(prune.BasePruningMethod:extend('NoMask').apply, prune.BasePruningMethod:extend('NoMask'), m, 'bias'),
               'NoMask: compute_mask is not implemented')
    S.contains(S.errmsg(prune.global_unstructured, { m }, prune.L1Unstructured, { amount = 1 }),
               'global_unstructured: parameters[1] must be a {module, name} pair')
  end)
end)
