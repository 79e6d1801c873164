-- nl.profiler: exact call counts of a known script (forward ops, backward
-- nodes, module forwards, optimizer steps, user ranges, DataLoader
-- batches), the nesting and the arithmetic of the times (self <= total,
-- children inside parents, self times summing to the top-level times),
-- the table, the Chrome trace read back as JSON, nothing left installed
-- once a profile stops, and the errors of misuse.
local S = require 'support'
local nl = require 'nnlua'
local json = require 'nnlua.json'
local nn, optim = nl.nn, nl.optim

-- the rows of key_averages by name
local function by_key(ka)
  local t = {}
  for _, r in ipairs(ka.rows) do t[r.key] = r end
  return t
end

-- 7 matmuls, a mul, an add and a sum forward; their 10 backward nodes
local function chain(a, b)
  local x = a
  for _ = 1, 7 do x = nl.matmul(x, b) end
  local y = (x * 2 + a:matmul(b)):sum()
  y:backward()
end

describe('profiler', function()
  local a, b
  before_each(function()
    a = nl.randn(4, 3):requires_grad()
    b = nl.randn(3, 3):requires_grad()
  end)

  it('counts each op, backward node, module, optimizer step and range exactly', function()
    local m = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 2))
    local opt = optim.SGD(m:parameters(), { lr = 0.1 })
    local p = nl.profiler.profile(function()
      chain(a, b)
      for _ = 1, 3 do
        nl.profiler.record_function('train_step', function()
          opt:zero_grad()
          local loss = m(a:detach()):pow(2):mean()
          loss:backward()
          opt:step()
        end)
      end
    end)
    local r = by_key(p:key_averages())
    assert.are.equal(8, r.matmul.count)             -- 7 nl.matmul and one a:matmul
    assert.are.equal(8, r.MatmulBackward.count)
    assert.are.equal(1, r.mul.count)
    assert.are.equal(1, r.MulBackward.count)
    assert.are.equal(1, r.add.count)
    assert.are.equal(1, r.AddBackward.count)
    assert.are.equal(1, r.sum.count)
    assert.are.equal(1, r.SumBackward.count)
    assert.are.equal(4, r.backward.count)            -- chain's and 3 steps'
    assert.are.equal(3, r.train_step.count)
    assert.are.equal(3, r['nn.Sequential'].count)
    assert.are.equal(6, r['nn.Linear'].count)
    assert.are.equal(3, r['nn.Tanh'].count)
    assert.are.equal(6, r.LinearBackward.count)
    assert.are.equal(3, r.TanhBackward.count)
    assert.are.equal(3, r.PowBackward.count)
    assert.are.equal(3, r.MeanBackward.count)
    assert.are.equal(3, r['Optimizer.step#SGD.step'].count)
    assert.are.equal(3, r['Optimizer.zero_grad#SGD.zero_grad'].count)
    -- the backward nodes run inside the backward calls
    local evs = p:events()
    for _, e in ipairs(evs) do
      if e.kind == 'backward' then
        assert.is_not_nil(e.parent, e.name)
        assert.are.equal('backward', evs[e.parent].name)
      end
    end
  end)

  it('times each batch of a DataLoader epoch that starts in the profile', function()
    local loader = nl.data.DataLoader(nl.data.TensorDataset(nl.randn(10, 3), nl.zeros(10)), { batch_size = 4 })
    local batches = 0
    local p = nl.profiler.profile(function()
      for _ in loader:iter() do batches = batches + 1 end
      for _ in loader do batches = batches + 1 end
    end)
    assert.are.equal(6, batches)
    -- 3 batches and the call that ends the epoch, twice
    assert.are.equal(8, by_key(p:key_averages())['DataLoader.__next__'].count)
    -- an epoch started outside a profile is not timed
    local it = loader:iter()
    local q = nl.profiler.profile(function() for _ in it do end end)
    assert.is_nil(by_key(q:key_averages())['DataLoader.__next__'])
  end)

  it('keeps self <= total, children inside their parents, and the self times summing to the whole', function()
    local p = nl.profiler.profile(function()
      nl.profiler.record_function('outer', function()
        chain(a, b)
        nl.profiler.record_function('inner', function() return nl.matmul(a, b):relu() end)
      end)
      -- (an op that raised and was caught holds no later event)
      assert.is_false(pcall(nl.matmul, a, nl.ones(5, 2)))
      nl.matmul(a, b)
    end)
    local evs = p:events()
    local top, self_sum = 0, 0
    local child_sum = {}
    for i, e in ipairs(evs) do
      assert.is_true(e.duration > 0, e.name)
      assert.is_true(e.self >= 0 and e.self <= e.duration, e.name)
      self_sum = self_sum + e.self
      if e.parent then
        local q = evs[e.parent]
        assert.is_true(e.parent < i)
        assert.are.equal(q.depth + 1, e.depth)
        assert.is_true(e.start >= q.start and e.start + e.duration <= q.start + q.duration + 1e-6, e.name)
        child_sum[e.parent] = (child_sum[e.parent] or 0) + e.duration
      else
        assert.are.equal(0, e.depth)
        top = top + e.duration
      end
    end
    -- a parent's self time is its time less its children's
    for i, e in ipairs(evs) do
      assert.is_true(math.abs(e.self - (e.duration - (child_sum[i] or 0))) < 1e-6, e.name)
    end
    assert.is_true(math.abs(self_sum - top) < 1e-6 * #evs)
    -- the ranges nest: inner's parent is outer, and outer holds the chain's ops
    local outer, inner
    for i, e in ipairs(evs) do
      if e.name == 'outer' then outer = i elseif e.name == 'inner' then inner = e end
    end
    assert.are.equal(outer, inner.parent)
    assert.are.equal('user_annotation', inner.kind)
    local under = {}
    for _, e in ipairs(evs) do
      if e.parent == outer then under[e.name] = (under[e.name] or 0) + 1 end
    end
    assert.are.equal(8, under.matmul)
    assert.are.equal(1, under.backward)
    -- the matmul outside outer is a top-level event
    local last = evs[#evs]
    assert.are.equal('matmul', last.name)
    assert.is_nil(last.parent)
    -- key_averages agrees with the events
    local r = by_key(p:key_averages())
    local total, count = 0, 0
    for _, e in ipairs(evs) do
      if e.name == 'matmul' then total, count = total + e.duration, count + 1 end
    end
    assert.are.equal(11, r.matmul.count)
    assert.are.equal(11, count)
    assert.is_true(math.abs(r.matmul.cpu_time_total - total) < 1e-6)
    assert.is_true(math.abs(r.matmul.cpu_time - total / 11) < 1e-6)
    assert.is_true(r.outer.self_cpu_time_total < r.outer.cpu_time_total)
  end)

  it('runs with start and stop, records input shapes, and prints a table sorted and limited', function()
    local p = nl.profiler.profile({ record_shapes = true })
    assert.are.equal(p, p:start())
    assert.is_true(nl.profiler.is_running())
    nl.matmul(a, b)
    nl.matmul(a, b)
    nl.matmul(b, b)
    local _ = a * 3
    p:stop()
    assert.is_false(nl.profiler.is_running())
    local rows = p:key_averages({ group_by_input_shape = true }).rows
    local shapes = {}
    for _, r in ipairs(rows) do shapes[r.key .. ' ' .. r.input_shapes] = r.count end
    assert.are.equal(2, shapes['matmul [[4, 3], [3, 3]]'])
    assert.are.equal(1, shapes['matmul [[3, 3], [3, 3]]'])
    assert.are.equal(1, shapes['mul [[4, 3], []]'])
    local s = p:table({ sort_by = 'count', row_limit = 1 })
    S.contains(s, 'Self CPU %')
    S.contains(s, '# of Calls')
    S.contains(s, 'Self CPU time total: ')
    -- one row: matmul, 3 calls
    local body = {}
    for l in s:gmatch('[^\n]+') do
      if not l:match('^%-') and not l:match('Name') and not l:match('^Self CPU time') then body[#body + 1] = l end
    end
    assert.are.equal(1, #body)
    assert.is_truthy(body[1]:match('^%s*matmul%s.*%s3%s*$'), body[1])
    S.contains(p:table({ group_by_input_shape = true }), '[[4, 3], [3, 3]]')
    -- sorted largest first by self time (the default)
    local lines = {}
    for l in tostring(p:key_averages()):gmatch('[^\n]+') do lines[#lines + 1] = l end
    assert.is_true(#lines >= 6)
  end)

  it('writes a Chrome trace that reads back as JSON with one event per call', function()
    local p = nl.profiler.profile(function()
      nl.profiler.record_function('step', function() chain(a, b) end)
    end, { record_shapes = true })
    local path = S.tmpdir() .. '/trace.json'
    assert.are.equal(path, p:export_chrome_trace(path))
    local doc = json.decode(S.read(path))
    local evs = p:events()
    assert.are.equal(#evs, #doc.traceEvents)
    local count = {}
    for i, e in ipairs(doc.traceEvents) do
      assert.are.equal('X', e.ph)
      assert.are.equal(evs[i].name, e.name)
      assert.is_true(e.dur > 0 and e.ts >= 0)
      count[e.name] = (count[e.name] or 0) + 1
      if e.name == 'step' then assert.are.equal('user_annotation', e.cat) end
      if e.name == 'MatmulBackward' then assert.are.equal('backward', e.cat) end
    end
    assert.are.equal(8, count.matmul)
    assert.are.equal(8, count.MatmulBackward)
    assert.are.equal(1, count.step)
    assert.are.equal('[[4, 3], [3, 3]]', doc.traceEvents[2].args['Input Shapes'])
    -- a path it cannot write leaves nothing and says so
    local bad = S.tmpdir() .. '/no/such/dir/trace.json'
    S.contains(S.errmsg(p.export_chrome_trace, p, bad), 'export_chrome_trace')
    assert.is_nil(io.open(bad))
  end)

  it('leaves nothing installed once stopped, nor when fn raises', function()
    local before = {
      add = nl.Tensor.add, mm = nl.matmul, back = nl.Tensor.backward, mul = nl._tensor_mt.__mul,
      unm = nl._tensor_mt.__unm, fwd = nn.Linear.forward, step = optim.Optimizer.step, relu = nn.functional.relu,
      pcall = pcall,
    }
    local p = nl.profiler.profile()
    p:start()
    assert.are_not.equal(before.mm, nl.matmul)
    assert.are_not.equal(before.mul, nl._tensor_mt.__mul)
    assert.are_not.equal(before.fwd, nn.Linear.forward)
    p:stop()
    local after = {
      add = nl.Tensor.add, mm = nl.matmul, back = nl.Tensor.backward, mul = nl._tensor_mt.__mul,
      unm = nl._tensor_mt.__unm, fwd = nn.Linear.forward, step = optim.Optimizer.step, relu = nn.functional.relu,
      pcall = pcall,
    }
    for k, f in pairs(before) do assert.are.equal(f, after[k], k) end
    -- the runtime's record of backward nodes is off: a backward adds no event
    chain(a, b)
    local n = require('ffi').new('int64_t[1]')
    nl._lib.nl_profiler_events(n)
    assert.are.equal(0, tonumber(n[0]))
    assert.are.equal(0, nl._lib.nl_profiler_enable(0))
    -- profile(fn) stops the profile when fn raises, and the error goes on
    local err = S.errmsg(nl.profiler.profile, function() nl.matmul(a, nl.ones(5, 2)) end)
    S.contains(err, 'matmul')
    assert.is_false(nl.profiler.is_running())
    assert.are.equal(before.mm, nl.matmul)
    -- and record_function outside a profile just calls its function
    assert.are.equal(7, nl.profiler.record_function('r', function(x) return x + 1 end, 6))
  end)

  it('refuses misuse with a message', function()
    local P = nl.profiler
    S.contains(S.errmsg(function() P.profile():stop() end), 'stop without start')
    local p = P.profile()
    p:start()
    local q = P.profile()
    S.contains(S.errmsg(q.start, q), 'nested profiles are not supported')
    S.contains(S.errmsg(p.key_averages, p), 'call p:stop() first')
    S.contains(S.errmsg(P.profile, function() end), 'already running')
    p:stop()
    S.contains(S.errmsg(p.stop, p), 'already stopped')
    S.contains(S.errmsg(p.start, p), 'already run')
    S.contains(S.errmsg(function() P.profile():table() end), 'call p:start() first')
    S.contains(S.errmsg(P.profile, { record_shape = true }), "unknown option 'record_shape'")
    S.contains(S.errmsg(P.profile, { record_shapes = 1 }), 'record_shapes must be a boolean')
    S.contains(S.errmsg(P.profile, 5), 'options must be a table')
    S.contains(S.errmsg(P.record_function, 'x'), 'expected a function')
    S.contains(S.errmsg(P.record_function, 5, function() end), 'expected a name')
    S.contains(S.errmsg(p.table, p, { sort_by = 'cpu' }), "sort_by must be one of")
    S.contains(S.errmsg(p.table, p, { row_limit = 0 }), 'row_limit must be a positive integer')
    S.contains(S.errmsg(p.key_averages, p, { group_by_input_shape = true }), 'record_shapes = true')
    S.contains(S.errmsg(p.export_chrome_trace, p), 'expected a file path')
    S.contains(S.errmsg(function() p.stop() end), 'must be called on a profile')
  end)
end)
