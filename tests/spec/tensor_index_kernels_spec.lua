-- index_select, index_add(_), index_copy(_) and index_fill(_) by their C
-- kernels (nl_index_select, nl_index_add(_), nl_index_put_ in src/tensor.c)
-- against the plain definition, a loop over the index of one slice each
-- (select, then copy_, add_ or fill_; stack for index_select): bit for bit,
-- on contiguous and strided tensors, sources and indices, along each dim
-- of 1-, 2- and 3-D tensors, in float32, float64 and int64, on 1 and 2
-- threads. Then the refusals: a repeated index (index_copy), indices out
-- of range, named with the op and the shapes.
local nl = require 'nnlua'
local S = require 'support'

local DTYPES = { 'float32', 'float64', 'int64' }

-- a tensor of shape with values from the spec's own generator (whole
-- numbers for int64); strided: a transposed copy viewed back, so that its
-- strides are not row-major
local function data(shape, dtype, seed, strided)
  local rng = S.rng(seed)
  local n = S.numel(shape)
  local v = {}
  for i = 1, n do v[i] = dtype == 'int64' and math.floor(rng(-50, 50)) or rng(-2, 2) end
  local t = nl.tensor(v, dtype):view(shape)
  if strided and #shape >= 2 then t = t:transpose(1, #shape):contiguous():transpose(1, #shape) end
  return t
end

-- the plain definitions, slice by slice
local function ref_select(t, d, ks)
  local parts = {}
  for i, k in ipairs(ks) do parts[i] = t:select(d, k) end
  return nl.stack(parts, d)
end
local function ref_add(t, d, ks, src, alpha)
  local r = t:clone()
  for i, k in ipairs(ks) do r:select(d, k):add_(src:select(d, i), alpha) end
  return r
end
local function ref_copy(t, d, ks, src)
  local r = t:clone()
  local n = t:size(d)
  for i, k in ipairs(ks) do r:select(d, k < 0 and k + n + 1 or k):copy_(src:select(d, i)) end
  return r
end
local function ref_fill(t, d, ks, v)
  local r = t:clone()
  local n = t:size(d)
  for _, k in ipairs(ks) do r:select(d, k < 0 and k + n + 1 or k):fill_(v) end
  return r
end

-- m places in 1..n: distinct (a permutation's head) unless repeats
local function places(n, m, seed, repeats)
  local rng = S.rng(seed)
  local ks = {}
  if repeats then
    for i = 1, m do ks[i] = 1 + math.floor(rng(0, 1) * n) % n end
    return ks
  end
  local p = {}
  for i = 1, n do p[i] = i end
  for i = n, 2, -1 do
    local j = 1 + math.floor(rng(0, 1) * i) % i
    p[i], p[j] = p[j], p[i]
  end
  for i = 1, m do ks[i] = p[i] end
  return ks
end
-- the index as an int64 tensor, contiguous or a stride-2 view
local function index_of(ks, strided)
  if not strided then return nl.tensor(ks, 'int64') end
  local two = {}
  for i, k in ipairs(ks) do two[2 * i - 1], two[2 * i] = k, -999 end
  return nl.tensor(two, 'int64'):view(#ks, 2):select(2, 1)
end

-- each op on each layout, checked against its definition on `threads`
local function check_all(threads)
  local before = nl.get_num_threads()
  nl.set_num_threads(threads)
  local ok, err = pcall(function()
    local seed = 1
    for _, shape in ipairs({ { 40 }, { 33, 70 }, { 5, 37, 9 } }) do
      for d = 1, #shape do
        for _, dtype in ipairs(DTYPES) do
          for _, strided in ipairs({ false, true }) do
            seed = seed + 1
            local what = ('%s %s dim %d%s, %d thread(s)'):format(dtype, table.concat(shape, 'x'), d,
              strided and ' strided' or '', threads)
            local n = shape[d]
            local m = math.max(1, math.floor(n * 0.6))
            local t = data(shape, dtype, seed, strided)
            local sshape = {}
            for q = 1, #shape do sshape[q] = q == d and m or shape[q] end
            local src = data(sshape, dtype, seed + 1000, not strided)
            local ks = places(n, m, seed)
            local rks = places(n, m, seed + 7, true)
            local idx = index_of(ks, strided)
            -- index_select, distinct and repeated places
            S.same_bits(t:index_select(d, idx), ref_select(t, d, ks), 'index_select ' .. what)
            S.same_bits(t:index_select(d, index_of(rks, strided)), ref_select(t, d, rks), 'index_select rep ' .. what)
            -- index_add with repeats: the adds in the index's order
            local alpha = dtype == 'int64' and 3 or 0.37
            local want = ref_add(t, d, rks, src, alpha)
            S.same_bits(t:index_add(d, index_of(rks, strided), src, alpha), want, 'index_add ' .. what)
            local y = t:clone()
            y:index_add_(d, index_of(rks, strided), src, alpha)
            S.same_bits(y, want, 'index_add_ ' .. what)
            -- index_copy, some places counted from the end
            local neg = {}
            for i, k in ipairs(ks) do neg[i] = i % 3 == 0 and k - n - 1 or k end
            want = ref_copy(t, d, neg, src)
            S.same_bits(t:index_copy(d, index_of(neg, strided), src), want, 'index_copy ' .. what)
            y = t:clone()
            y:index_copy_(d, index_of(neg, strided), src)
            S.same_bits(y, want, 'index_copy_ ' .. what)
            -- index_fill, repeats allowed
            local v = dtype == 'int64' and -7 or 0.625
            want = ref_fill(t, d, rks, v)
            S.same_bits(t:index_fill(d, index_of(rks, strided), v), want, 'index_fill ' .. what)
            y = t:clone()
            y:index_fill_(d, index_of(rks, strided), nl.tensor(v, dtype))
            S.same_bits(y, want, 'index_fill_ ' .. what)
            -- in place into a strided destination (t itself a view)
            if #shape >= 2 then
              local base = data(shape, dtype, seed + 5)
              local view = base:transpose(1, #shape)
              local vd = d == 1 and #shape or (d == #shape and 1 or d)
              local vsrc = src:transpose(1, #shape)
              local w = ref_copy(view, vd, ks, vsrc)
              view:index_copy_(vd, index_of(ks, false), vsrc)
              S.same_bits(view, w, 'index_copy_ into a view ' .. what)
            end
          end
        end
      end
    end
  end)
  nl.set_num_threads(before)
  if not ok then error(err, 0) end
end

describe('index kernels against the slice-by-slice definition', function()
  it('agree bit for bit on 1 thread', function() check_all(1) end)
  it('agree bit for bit on 2 threads', function() check_all(2) end)

  it('give one result on 1 and 2 threads where the work is split', function()
    -- large enough that the lanes go to 2 threads; repeated places
    local before = nl.get_num_threads()
    local t = data({ 64, 1500 }, 'float32', 3)
    local src = data({ 64, 400 }, 'float32', 4)
    local rks = places(1500, 400, 5, true)
    local idx = nl.tensor(rks, 'int64')
    local r = {}
    for th = 1, 2 do
      nl.set_num_threads(th)
      r[th] = { t:index_add(2, idx, src, 0.5), t:index_select(2, idx), t:clone():index_fill_(2, idx, 1.5) }
    end
    nl.set_num_threads(before)
    for k = 1, 3 do S.same_bits(r[1][k], r[2][k], 'op ' .. k) end
    S.same_bits(r[1][1], ref_add(t, 2, rks, src, 0.5), 'index_add')
  end)

  it('read a source in the destination\'s own memory before writing it', function()
    local t = nl.arange(1, 13):double():view(3, 4)
    local want = ref_copy(t, 1, { 1, 2 }, t:narrow(1, 2, 2):clone())
    t:index_copy_(1, nl.tensor({ 1, 2 }, 'int64'), t:narrow(1, 2, 2))
    S.same_bits(t, want, 'index_copy_')
    t = nl.arange(1, 13):double():view(3, 4)
    want = ref_add(t, 1, { 1, 2 }, t:narrow(1, 2, 2):clone(), 1)
    t:index_add_(1, nl.tensor({ 1, 2 }, 'int64'), t:narrow(1, 2, 2))
    S.same_bits(t, want, 'index_add_')
  end)

  it('copy a source\'s bits: -0 stays -0, as PyTorch\'s (the composition added it to 0, giving +0)', function()
    local r = nl.ones(3, 'float64'):index_copy(1, nl.tensor({ 2 }, 'int64'), nl.tensor({ -0.0 }, 'float64'))
    assert.are.equal(-math.huge, 1 / r[2])
  end)

  it('keep the gradients of the out-of-place forms', function()
    local t = nl.randn({ 4, 3 }, 'float64'):requires_grad_()
    local s = nl.randn({ 2, 3 }, 'float64'):requires_grad_()
    local idx = nl.tensor({ 4, 2 }, 'int64')
    S.gradcheck(function(a, b) return a:index_copy(1, idx, b) end, t, s)
    S.gradcheck(function(a, b) return a:index_add(1, idx, b, 0.5) end, t, s)
    S.gradcheck(function(a) return a:index_fill(1, idx, 2) end, t)
    S.gradcheck(function(a) return a:index_select(2, nl.tensor({ 3, 1, 3 }, 'int64')) end, t)
  end)
end)

describe('index kernels refuse bad indices, naming the op and the shapes', function()
  local x = nl.zeros(5, 'float64')
  local m = nl.zeros(3, 4, 'float32')

  it('refuse a repeated index in index_copy (also one given from the end)', function()
    for _, op in ipairs({ 'index_copy', 'index_copy_' }) do
      for _, ks in ipairs({ { 2, 2 }, { 5, -1 }, { 1, 3, 4, 3 } }) do
        local msg = S.errmsg(function() return x:clone()[op](x:clone(), 1, nl.tensor(ks, 'int64'), nl.ones(#ks, 'float64')) end)
        S.contains(msg, op .. ':')
        S.contains(msg, 'an index appears more than once')
      end
    end
    -- the destination untouched by the refusal
    local y = nl.arange(1, 6):double()
    pcall(y.index_copy_, y, 1, nl.tensor({ 1, 1 }, 'int64'), nl.zeros(2, 'float64'))
    S.same_bits(y, nl.arange(1, 6):double(), 'after the refusal')
  end)

  it('refuse indices out of range', function()
    for _, ks in ipairs({ { 2, 6 }, { 0 }, { -6, 1 } }) do
      local idx = nl.tensor(ks, 'int64')
      local bad = tostring(ks[#ks] == 1 and ks[1] or ks[#ks])
      for _, op in ipairs({ 'index_copy', 'index_copy_', 'index_fill', 'index_fill_' }) do
        local arg = op:find('fill') and 1 or nl.ones(#ks, 'float64')
        local msg = S.errmsg(function() local y = x:clone(); return y[op](y, 1, idx, arg) end)
        S.contains(msg, op .. ':')
        S.contains(msg, 'index ' .. bad .. ' out of range for dim 1 of size 5')
        S.contains(msg, 'shape [5]')
      end
      -- index_add and index_select take no index from the end
      for _, op in ipairs({ 'index_add', 'index_add_', 'index_select' }) do
        local msg = S.errmsg(function()
          local y = x:clone()
          if op == 'index_select' then return y:index_select(1, idx) end
          return y[op](y, 1, idx, nl.ones(#ks, 'float64'))
        end)
        S.contains(msg, op .. ': index ' .. (ks[1] == 2 and '6' or tostring(ks[1])) .. ' out of range for dim 1 of shape [5]')
      end
    end
    -- along dim 2 of a 2-D tensor, a strided index
    local idx = nl.tensor({ { 1, 9 }, { 5, 9 } }, 'int64'):select(2, 1)
    S.contains(S.errmsg(function() return m:index_select(2, idx) end),
      'index_select: index 5 out of range for dim 2 of shape [3,4]')
    S.contains(S.errmsg(function() return m:index_add(2, idx, nl.ones(3, 2)) end),
      'index_add: index 5 out of range for dim 2 of shape [3,4]')
    S.contains(S.errmsg(function() return m:clone():index_copy_(2, idx, nl.ones(3, 2)) end),
      'index_copy_: index 5 out of range for dim 2 of size 4 (1 to 4, or -1 to -4) in shape [3,4]')
    S.contains(S.errmsg(function() return m:index_fill(2, idx, 0) end),
      'index_fill: index 5 out of range for dim 2 of size 4 (1 to 4, or -1 to -4) in shape [3,4]')
  end)

  it('refuse a source of the wrong shape, naming both shapes', function()
    local idx = nl.tensor({ 4, 1 }, 'int64')
    S.contains(S.errmsg(function() return m:index_copy(2, idx, nl.ones(2, 2)) end),
      "index_copy: source of shape [2,2] must be the tensor's shape [3,4] but 2 (the index's length) in dim 2")
    S.contains(S.errmsg(function() return m:clone():index_add_(2, idx, nl.ones(2, 2)) end),
      "index_add_: source of shape [2,2] must be the tensor's shape [3,4] but 2 (the index's length) in dim 2")
  end)
end)

-- gather, scatter and scatter_add by their row kernels (gather_raw and
-- scatter_raw in src/tensor.c: the index's rows along its last dim)
-- against the definition read element by element from Lua tables, along
-- each dim of 3-D tensors, contiguous and strided (tensor, index, source),
-- an index smaller than the tensor in the other dims
describe('gather and scatter by rows of the index', function()
  local TS, IS = { 4, 5, 6 }, { 3, 4, 5 }
  -- an index of shape IS into t's dim d: unique along d for each place of
  -- the other dims (scatter's writes do not collide) when unique
  local function index(d, seed, unique, strided)
    local rng = S.rng(seed)
    local v = {}
    for i, pos in ipairs(S.indices(IS)) do
      local shift = (pos[1] * 7 + pos[2] * 3 + pos[3]) % TS[d]
      v[i] = unique and (pos[d] - 1 + shift) % TS[d] + 1 or math.floor(rng(1, TS[d] + 1))
      if v[i] > TS[d] then v[i] = TS[d] end
    end
    local t = nl.tensor(v, 'int64'):view(IS)
    if strided then t = t:transpose(1, 3):contiguous():transpose(1, 3) end
    return t
  end
  local function nested(t) return t:contiguous():totable() end
  for _, dt in ipairs(DTYPES) do
    for d = 1, 3 do
      for _, strided in ipairs({ false, true }) do
        local what = ('%s along dim %d%s'):format(dt, d, strided and ', strided' or '')
        it('gather ' .. what, function()
          local t, idx = data(TS, dt, 10 + d, strided), index(d, 20 + d, false, strided)
          local tv, iv, want = nested(t), nested(idx), {}
          for i, pos in ipairs(S.indices(IS)) do
            local at = { pos[1], pos[2], pos[3] }
            at[d] = S.get(iv, pos)
            want[i] = S.get(tv, at)
          end
          S.same_bits(t:gather(d, idx), nl.tensor(want, dt):view(IS), 'gather')
        end)
        it('scatter and scatter_add ' .. what, function()
          local t, src = data(TS, dt, 30 + d, strided), data(IS, dt, 40 + d, strided)
          for _, add in ipairs({ false, true }) do
            local idx = index(d, 50 + d, not add, strided)
            local want, iv, sv = nested(t), nested(idx), nested(src)
            for _, pos in ipairs(S.indices(IS)) do
              local row = want
              local at = { pos[1], pos[2], pos[3] }
              at[d] = S.get(iv, pos)
              row = want[at[1]][at[2]]
              row[at[3]] = add and row[at[3]] + S.get(sv, pos) or S.get(sv, pos)
            end
            local got = add and t:scatter_add(d, idx, src) or t:scatter(d, idx, src)
            if add and dt ~= 'int64' then
              S.expect_close(got, nl.tensor(want, dt), 'scatter_add', 1e-6, 1e-6)
            else
              S.same_bits(got, nl.tensor(want, dt), add and 'scatter_add' or 'scatter')
            end
          end
        end)
      end
    end
  end

  -- scatter_ and scatter_add_ where no gradient is needed: into t's own
  -- memory by one C call (nl_scatter_), no copy of t made
  it('scatter_ and scatter_add_ write into t itself, through a view, and copy nothing of t\'s size', function()
    for _, add in ipairs({ false, true }) do
      local op = add and 'scatter_add_' or 'scatter_'
      local base = data({ 256, 300 }, 'float32', 60)
      local want = base:clone()
      local t = base:narrow(2, 1, 256)              -- a view: rows strided by 300
      -- scatter_: each row reversed (no place twice); scatter_add_: places at random
      local idx = nl.arange(256, 0, -1, 'int64'):view(1, 256):expand(256, 256):contiguous()
      if add then
        local rng = S.rng(62)
        idx = nl.tensor(S.nested({ 256, 256 }, function() return math.floor(rng(1, 257)) end), 'int64')
      end
      local src = data({ 256, 256 }, 'float32', 63)
      local expect = add and want:narrow(2, 1, 256):scatter_add(2, idx, src) or want:narrow(2, 1, 256):scatter(2, idx, src)
      want:narrow(2, 1, 256):copy_(expect)
      local before = nl.memory().allocated
      local r = t[op](t, 2, idx, src)
      local grew = nl.memory().allocated - before
      assert.are.equal(t, r)
      assert.is_true(grew < 256 * 256 * 4, op .. ' allocated ' .. grew .. ' bytes')
      S.same_bits(base, want, op .. ' through a view')
    end
  end)

  it('scatter_ reads a source that is t itself as it was', function()
    local t = data({ 6, 7 }, 'float64', 64)
    local idx = nl.arange(7, 0, -1, 'int64'):view(1, 7):expand(6, 7):contiguous()
    local want = t:scatter(2, idx, t)
    S.same_bits(t:scatter_(2, idx, t), want, 'scatter_ by itself')
    local u = nl.tensor({ { 3, 1, 2 } }, 'int64')
    S.same_bits(u:scatter_(2, u, u), nl.tensor({ { 1, 2, 3 } }, 'int64'), 'index and source t itself')
  end)

  it('scatter_ writes a tensor that requires grad under no_grad, and refuses it with grad on', function()
    local x = nl.randn({ 3, 4 }, 'float64'):requires_grad()
    local y = x * 2
    S.contains(S.errmsg(function() y:scatter_(2, nl.tensor({ { 1 }, { 2 }, { 4 } }, 'int64'), nl.zeros({ 3, 1 }, 'float64')) end),
      'scatter_: in-place change of a tensor of shape [3,4] that requires grad')
    nl.no_grad(function()
      local z = nl.ones(2, 2):requires_grad()
      z:scatter_(1, nl.tensor({ { 2, 1 } }, 'int64'), nl.zeros(1, 2))
      S.same_bits(z, nl.tensor({ { 1, 0 }, { 0, 1 } }), 'under no_grad')
    end)
  end)

  -- index_select along the last dim of 8 rows or more: the index made
  -- 0-based once, then each row gathered by it
  it('index_select along the last dim of many rows, and a bad entry named', function()
    for _, dt in ipairs(DTYPES) do
      local t = data({ 3, 16, 9 }, dt, 70)
      local ks = { 9, 1, 4, 4, 7, 2, 9, 3, 5, 6, 1 }
      S.same_bits(t:index_select(3, nl.tensor(ks, 'int64')), ref_select(t, 3, ks), dt .. ' index_select')
    end
    local t = nl.zeros(16, 9)
    S.contains(S.errmsg(function() return t:index_select(2, nl.tensor({ 1, 10, 2 }, 'int64')) end),
      'index_select: index 10 out of range for dim 2 of shape [16,9]')
  end)

  -- index_copy with a gradient asked for: one scatter, whose C backward
  -- gives t g but at the index and the source g's slices at the index
  it('index_copy with a gradient: one scatter op, its gradients, and a bad source named as index_copy', function()
    for d = 1, 2 do
      local t = nl.randn({ 4, 5 }, 'float64'):requires_grad()
      local ss = { 4, 5 }
      ss[d] = 2
      local src = nl.randn(ss, 'float64'):requires_grad()
      local idx = nl.tensor({ 4, 2 }, 'int64')
      local y = t:index_copy(d, idx, src)
      assert.are.equal('scatter', y:grad_fn())
      S.same_bits(y:detach(), t:detach():index_copy(d, idx, src:detach()), 'values')
      local g = nl.randn({ 4, 5 }, 'float64')
      local gs = nl.autograd.grad((y * g):sum(), { t, src })
      S.same_bits(gs[1], g:index_fill(d, idx, 0), 'gradient of t')
      S.same_bits(gs[2], g:index_select(d, idx), 'gradient of the source')
    end
    local t = nl.randn({ 4, 3 }, 'float64'):requires_grad()
    S.contains(S.errmsg(function() return t:index_copy(1, nl.tensor({ 4, 2 }, 'int64'), nl.randn({ 3, 3 }, 'float64')) end),
      "index_copy: source of shape [3,3] must be the tensor's shape [4,3] but 2 (the index's length) in dim 1")
  end)

  it('refuses an index out of range along a leading dim, naming it', function()
    local t = nl.zeros(4, 5, 6)
    local idx = nl.ones({ 3, 4, 5 }, 'int64')
    idx[2][3][4] = 5
    S.contains(S.errmsg(function() return t:gather(1, idx) end), 'gather: index 5 out of range for dim 1 of shape [4,5,6]')
    idx[2][3][4] = 0
    S.contains(S.errmsg(function() return t:gather(1, idx) end), 'gather: index 0 out of range for dim 1 of shape [4,5,6]')
    S.contains(S.errmsg(function() return nl.zeros(0, 3):gather(1, nl.ones({ 1, 3 }, 'int64')) end),
      'gather: index 1 out of range for dim 1 of shape [0,3]')
  end)
end)

-- 0-dim tensors, indices and sources taken as one element: the values and
-- shapes are PyTorch 1.13's (torch.gather(torch.tensor(5.), 0,
-- torch.tensor([0, 0])) is tensor([5., 5.]); torch.scatter_add(
-- torch.tensor(5.), 0, torch.tensor([0, 0]), torch.tensor([1., 2.])) is
-- tensor(8.); torch.scatter(torch.tensor([5.]), 0, torch.tensor(0), 3.)
-- is tensor([3.]); the gradients of torch.scatter(x, 0, torch.tensor(0), y)
-- with x, y 0-dim are 0 and 1, of scatter_add 1 and 1)
describe('gather and scatter of 0-dim tensors', function()
  local function i64(v) return nl.tensor(v, 'int64') end
  local function same(got, shape, values)
    assert.same(shape, got:size())
    assert.same(values, S.flat(got))
  end
  it('take a 0-dim tensor, index or source along dim 1 or -1', function()
    same(nl.tensor(5):gather(1, i64(1)), {}, { 5 })
    same(nl.tensor(5):gather(-1, i64({ 1, 1 })), { 2 }, { 5, 5 })
    same(nl.tensor({ 5 }):gather(1, i64(1)), {}, { 5 })
    same(nl.tensor(5):scatter(1, i64(1), nl.tensor(7)), {}, { 7 })
    same(nl.tensor(5):scatter(-1, i64({ 1 }), 3), {}, { 3 })
    same(nl.tensor({ 5 }):scatter(1, i64(1), 3), { 1 }, { 3 })
    same(nl.tensor({ 5 }):scatter(1, { 1 }, nl.tensor(7)), { 1 }, { 7 })
    same(nl.tensor(5):scatter_add(1, i64({ 1, 1 }), nl.tensor({ 1, 2 })), {}, { 8 })
    same(nl.tensor(5, 'float64'):scatter_add(1, i64(1), nl.tensor({ 7 }, 'float64')), {}, { 12 })
  end)
  it('in place, into the tensor itself', function()
    local t = nl.tensor(5)
    assert.equal(t, t:scatter_(1, i64(1), nl.tensor(7)))
    same(t, {}, { 7 })
    assert.equal(t, t:scatter_add_(-1, i64(1), nl.tensor(7)))
    same(t, {}, { 14 })
  end)
  it('with gradients', function()
    local x, y = nl.tensor(2):requires_grad(), nl.tensor(3):requires_grad()
    x:scatter(1, i64(1), y):backward()
    same(x.grad, {}, { 0 })
    same(y.grad, {}, { 1 })
    x, y = nl.tensor(2):requires_grad(), nl.tensor({ 3 }):requires_grad()
    x:scatter_add(1, i64({ 1 }), y):backward()
    same(x.grad, {}, { 1 })
    same(y.grad, { 1 }, { 1 })
    x = nl.tensor(2):requires_grad()
    x:gather(1, i64({ 1, 1 })):sum():backward()
    same(x.grad, {}, { 2 })
  end)
  it('refuse an index out of range or dim 2, giving the shape []', function()
    S.contains(S.errmsg(function() return nl.tensor(5):gather(1, i64(2)) end),
      'gather: index 2 out of range for dim 1 of shape []')
    S.contains(S.errmsg(function() return nl.tensor(5):scatter(2, i64(1), 3) end),
      'scatter: dim 2 out of range for shape [] (dims 1 to 1, or -1 to -1)')
    S.contains(S.errmsg(function() return nl.tensor(5):scatter_add_(1, i64(0), nl.tensor(1)) end),
      'scatter_add_: index 0 out of range for dim 1 of shape []')
  end)
end)
