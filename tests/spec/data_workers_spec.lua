-- DataLoader's worker processes (num_workers > 0, data_workers.lua):
-- the batches and their order against num_workers = 0's, value for value
-- (shuffled or not, drop_last, collate_fn, batch_sampler, skip, values of
-- every kind a batch can hold); the two workers of a dataset that sleeps
-- 20 ms a row sleep at the same time; tensor ops in a worker after the parent ran
-- multi-threaded ones; a worker's error, death and a timeout as errors
-- naming the worker; no child process or socket left after an epoch, a
-- loop left early, an error in its body, shutdown or the loader's
-- collection (waitpid, /proc); get_worker_info, the workers' seeds and
-- worker_init_fn; persistent workers across epochs; fit, evaluate and
-- predict against num_workers = 0's, bit for bit; the options' errors.
local nl = require 'nnlua'
local S = require 'support'
local ffi = require 'ffi'
local nn, data = nl.nn, nl.data

local errmsg, contains = S.errmsg, S.contains

for _, decl in ipairs({ 'int usleep(unsigned int usec);', 'int getpid(void);', 'int kill(int pid, int sig);',
                        'int waitpid(int pid, int *status, int options);', 'int getppid(void);' }) do
  pcall(ffi.cdef, decl)
end
local C = ffi.C
local WNOHANG, ECHILD, ESRCH = 1, 10, 3

-- a batch's values as plain Lua values: a tensor as its dtype, shape and
-- elements
local function snap(v)
  if nl.is_tensor(v) then return { '<tensor>', v:dtype(), v:shape(), v:numel() > 0 and S.flat(v) or {} } end
  if type(v) == 'table' then
    local o = {}
    for k, x in pairs(v) do o[k] = snap(x) end
    return o
  end
  return v
end

-- every batch of an iterator, each the list of its values (and their number)
local function epoch(it)
  local out = {}
  while true do
    local vals = { n = 0 }
    local function take(...)
      vals.n = select('#', ...)
      for i = 1, vals.n do vals[i] = snap((select(i, ...))) end
      return (...)
    end
    if take(it()) == nil then break end
    out[#out + 1] = vals
  end
  return out
end

-- a dataset of n rows as a userdata (#ds works), row i what get(i) returns
local function dataset(n, get)
  local ds = newproxy(true)
  local mt = getmetatable(ds)
  mt.__len = function() return n end
  mt.__index = function(_, i) return get(i) end
  return ds
end

-- true when this process has no child process, live or zombie
local status = ffi.new('int[1]')
local function no_children()
  local r = C.waitpid(-1, status, WNOHANG)
  return r == -1 and ffi.errno() == ECHILD
end
local function gone(pid)
  return C.kill(pid, 0) == -1 and ffi.errno() == ESRCH and io.open('/proc/' .. pid .. '/stat') == nil
end
-- the sockets this process has open (a worker's is one)
local function sockets()
  local p = assert(io.popen('ls -l /proc/' .. C.getpid() .. '/fd'))
  local k = {}
  for l in p:lines() do k[#k + 1] = l:match('%d+ %-> socket:.*') end
  p:close()
  return k
end

-- rows whose values say which row they are, a row of a pid dataset the worker's pid
local X = nl.arange(1, 23):float():view(22, 1) * nl.tensor({ { 1, -0.5 } })
local Y = nl.arange(1, 23)
local numbered = data.TensorDataset(X, Y)
local pids = dataset(12, function(i) return { nl.full({ 1 }, i), C.getpid() } end)

describe('DataLoader with num_workers', function()
  it('gives the batches of num_workers = 0, in the same order', function()
    local rows = {}
    for i = 1, 22 do rows[i] = { x = X[i], label = i % 3 == 0 and 'fizz' or 'n' .. i, odd = i % 2 == 1, w = i / 4 } end
    local worked = dataset(22, function(i) return { (X[i] * 2):exp(), Y[i] } end)
    local function collate(samples)
      local xs, ids = {}, {}
      for r, s in ipairs(samples) do xs[r], ids[r] = s[1], s[2] end
      return { x = nl.stack(xs, 1), ids = ids, tag = 'b' }, #samples
    end
    -- values of every kind, and nils among them
    local function odd_values(samples)
      return nl.tensor(#samples + 0.5), nl.zeros({ 0, 3 }, 'float64'), nl.tensor({ 2 ^ 62, -7 }, 'int64'), nil,
             'a\0b', { 1, { 2, { deep = true, [false] = -1 / 0 } } }, nl.tensor({ { 1, 2 }, { 3, 4 } }):t()
    end
    local cases = {
      { numbered, { batch_size = 5 } },
      { numbered, { batch_size = 4, shuffle = true, seed = 7 } },
      { numbered, { batch_size = 4, shuffle = true, drop_last = true, seed = 8 } },
      { numbered, { batch_size = 6, drop_last = true } },
      { rows, { batch_size = 4, shuffle = true, seed = 9 } },
      { worked, { batch_size = 3, collate_fn = collate } },
      { worked, { batch_size = 5, collate_fn = odd_values } },
      { numbered, { batch_sampler = { { 3, 1 }, { 22 }, { 5, 6, 7, 8 }, { 2, 2 } } } },
      -- (samplers of their own each time: their generators are seeded once)
      { numbered, { batch_sampler = { factory = function()
        return data.BatchSampler(data.RandomSampler(numbered, { seed = 4 }), 5, false)
      end } } },
      { numbered, { sampler = { factory = function() return data.RandomSampler(numbered, { seed = 5 }) end },
                    batch_size = 3 } },
    }
    for ci, c in ipairs(cases) do
      local function make(nw, extra)
        local o = { num_workers = nw > 0 and nw or nil }
        for k, v in pairs(c[2]) do o[k] = type(v) == 'table' and v.factory and v.factory() or v end
        for k, v in pairs(extra or {}) do o[k] = v end
        return data.DataLoader(c[1], o)
      end
      local want0 = make(0)
      local want = { epoch(want0:iter()), epoch(want0:iter()), epoch(want0:iter(2)) }
      assert.is_true(#want[1] >= 3, 'case ' .. ci)
      for _, nw in ipairs({ 1, 3 }) do
        for _, persistent in ipairs({ false, true }) do
          local got = make(nw, { persistent_workers = persistent, prefetch_factor = persistent and 1 or nil })
          assert.are.same(want, { epoch(got:iter()), epoch(got:iter()), epoch(got:iter(2)) },
                          ('case %d, %d workers'):format(ci, nw))
          got:shutdown()
        end
      end
    end
    -- nl's generator shuffles the same way (the workers' seeds draw nothing from it)
    nl.manual_seed(12)
    local want = epoch(data.DataLoader(numbered, { batch_size = 4, shuffle = true }):iter())
    nl.manual_seed(12)
    local loader = data.DataLoader(numbered, { batch_size = 4, shuffle = true, num_workers = 2 })
    assert.are.same(want, epoch(loader:iter()))
    nl.manual_seed(13)
    want = epoch(data.DataLoader(numbered, { batch_size = 4, shuffle = true }):iter())
    nl.manual_seed(13)
    assert.are.same(want, epoch(loader:iter()))
    -- the generic for
    local seen = {}
    for _, yb in data.DataLoader(numbered, { batch_size = 8, num_workers = 2 }) do seen[#seen + 1] = yb:totable() end
    assert.are.same({ { 1, 2, 3, 4, 5, 6, 7, 8 }, { 9, 10, 11, 12, 13, 14, 15, 16 }, { 17, 18, 19, 20, 21, 22 } },
                    seen)
    assert.is_true(no_children())
  end)

  it('makes the batches of a slow dataset in parallel', function()
    -- each row says which worker made it and when its 20 ms sleep began
    -- and ended (nl.time is CLOCK_MONOTONIC, one clock for all processes):
    -- the two workers' sleeps overlap. (A bound on the wall time failed on
    -- a loaded 2-core host; an overlap needs only that both workers run.)
    local slow = dataset(24, function(i)
      local t0 = nl.time()
      C.usleep(20000)
      return { nl.tensor({ data.get_worker_info().id, t0, nl.time() }, 'float64'), i }
    end)
    local loader = data.DataLoader(slow, { batch_size = 2, num_workers = 2 })
    local spans, k = { [0] = {}, [1] = {} }, 0
    for xb, yb in loader:iter() do
      for _, r in ipairs(xb:totable()) do table.insert(spans[r[1]], { r[2], r[3] }) end
      k = k + yb:numel()
    end
    assert.are.equal(24, k)
    assert.are.equal(12, #spans[0])
    assert.are.equal(12, #spans[1])
    local overlaps = 0
    for _, a in ipairs(spans[0]) do
      for _, b in ipairs(spans[1]) do
        if a[1] < b[2] and b[1] < a[2] then overlaps = overlaps + 1 end
      end
    end
    assert.is_true(overlaps > 0, 'no two rows of the two workers slept at the same time')
    assert.is_true(no_children())
  end)

  it('runs tensor ops in a worker after the parent ran them on several threads', function()
    local threads = nl.get_num_threads()
    nl.set_num_threads(2)
    local a = nl.randn(256, 256)
    local _ = nl.matmul(a, a):sum(), (a:double() * 2 + 1):exp():sum(), nl.matmul(a:double(), a:double())
    local ds = dataset(8, function(i) return nl.full({ 256, 64 }, i / 8) end)
    local function collate(samples)
      local s = nl.stack(samples, 1)
      local m = nl.matmul(s:view(-1, 64):t(), s:view(-1, 64))
      local d = nl.matmul(a:double(), a:double()):sum()
      return (s * 2 + 1):sum(), m, d, (nl.matmul(a, a) - nl.matmul(a, a)):abs():max()
    end
    local ok, err = pcall(function()
      local want = epoch(data.DataLoader(ds, { batch_size = 4, collate_fn = collate }):iter())
      local got = epoch(data.DataLoader(ds, { batch_size = 4, collate_fn = collate, num_workers = 2, timeout = 10 })
                        :iter())
      assert.are.equal(#want, #got)
      for b = 1, #want do
        for v = 1, 4 do
          local w, g = want[b][v][4], got[b][v][4]
          for i = 1, #w do assert.is_true(math.abs(w[i] - g[i]) <= 1e-5 * (1 + math.abs(w[i])), b .. ' ' .. v) end
        end
      end
    end)
    nl.set_num_threads(threads)
    assert(ok, err)
  end)

  it('raises a worker\'s error in the parent, naming the worker', function()
    local bad = dataset(10, function(i)
      if i == 5 then error('bad row 5') end
      return { nl.full({ 1 }, i) }
    end)
    local loader = data.DataLoader(bad, { batch_size = 2, num_workers = 2 })
    local seen = 0
    local msg = errmsg(function() for _ in loader:iter() do seen = seen + 1 end end)
    contains(msg, 'DataLoader: worker 0 (pid ')
    contains(msg, 'raised an error making batch 3')
    contains(msg, 'bad row 5')
    assert.are.equal(2, seen)
    assert.is_true(no_children())
    -- and again next epoch; persistent workers are started anew after one
    loader = data.DataLoader(bad, { batch_size = 2, num_workers = 2, persistent_workers = true })
    contains(errmsg(function() for _ in loader:iter() do end end), 'bad row 5')
    contains(errmsg(function() for _ in loader:iter() do end end), 'bad row 5')
    assert.is_true(no_children())
    msg = errmsg(function()
      for _ in data.DataLoader(numbered, { num_workers = 2, worker_init_fn = function(id)
        if id == 1 then error('no init for 1') end
      end }):iter() do end
    end)
    contains(msg, 'worker 1')
    contains(msg, 'worker_init_fn')
    contains(msg, 'no init for 1')
    -- what a worker cannot send back
    msg = errmsg(function()
      for _ in data.DataLoader(numbered, { num_workers = 1, collate_fn = function() return print end }):iter() do end
    end)
    contains(msg, 'cannot send a function')
    assert.is_true(no_children())
  end)

  it('reports a worker that dies, also when the parent was writing to it', function()
    local function dies(how)
      return dataset(10, function(i)
        if i == 3 then how() end
        return { nl.full({ 1 }, i) }
      end)
    end
    local msg = errmsg(function()
      for _ in data.DataLoader(dies(function() os.exit(3) end), { batch_size = 2, num_workers = 2 }):iter() do end
    end)
    contains(msg, 'DataLoader: worker 1 (pid ')
    contains(msg, 'exited unexpectedly (exit status 3)')
    msg = errmsg(function()
      for _ in data.DataLoader(dies(function() C.kill(C.getpid(), 9) end), { batch_size = 2, num_workers = 2 })
               :iter() do end
    end)
    contains(msg, 'was killed by signal 9')
    -- a batch of 300000 rows fills the socket; its worker is gone (no SIGPIPE kills the parent)
    local big = nl.arange(1, 300001)
    msg = errmsg(function()
      for _ in data.DataLoader(data.TensorDataset(big), { batch_size = 300000, num_workers = 1,
                                                         worker_init_fn = function() os.exit(5) end }):iter() do end
    end)
    contains(msg, 'exit status 5')
    assert.is_true(no_children())
  end)

  it('leaves no process or socket behind: an epoch\'s end, break, an error in the loop, shutdown, collection', function()
    collectgarbage('collect')
    local fds = sockets()
    local function worker_pids(batch) return batch:totable() end
    -- an epoch's end
    local loader = data.DataLoader(pids, { batch_size = 2, num_workers = 2 })
    local all = {}
    for _, pb in loader:iter() do for _, p in ipairs(worker_pids(pb)) do all[#all + 1] = p end end
    assert.is_true(no_children())
    for _, p in ipairs(all) do assert.is_true(gone(p)) end
    -- a loop left by break, with batches in flight (in a function of its
    -- own: a frame's dead slots may hold the iterator until it returns)
    local function first_pid()
      for _, pb in loader:iter() do
        assert.are.equal(#fds + 2, #sockets())
        return pb[1]
      end
    end
    local first = first_pid()
    assert.is_false(gone(first))
    collectgarbage('collect')
    collectgarbage('collect')
    assert.is_true(gone(first))
    assert.is_true(no_children())
    -- a generic for over the loader, left by break, ends when the next one starts
    collectgarbage('stop')
    for _, pb in loader do
      first = pb[1]
      break
    end
    assert.is_false(gone(first))
    local k = 0
    for _ in loader do k = k + 1 end
    collectgarbage('restart')
    assert.are.equal(6, k)
    assert.is_true(gone(first))
    assert.is_true(no_children())
    -- an error in the loop's body
    local ok = pcall(function() for _ in loader:iter() do error('in the body') end end)
    assert.is_false(ok)
    collectgarbage('collect')
    collectgarbage('collect')
    assert.is_true(no_children())
    -- persistent workers: shutdown, and the collection of the loader
    local kept = data.DataLoader(pids, { batch_size = 2, num_workers = 2, persistent_workers = true })
    for _ in kept:iter() do end
    assert.is_false(no_children())
    assert.are.equal(#fds + 2, #sockets())
    kept:shutdown()
    assert.is_true(no_children())
    for _ in kept:iter() do end
    assert.is_false(no_children())
    kept = nil
    collectgarbage('collect')
    collectgarbage('collect')
    assert.is_true(no_children())
    assert.are.same(fds, sockets())
  end)

  it('ends the workers of a loop over an IterableDataset\'s loader left early when the next loop starts', function()
    local Stream = data.IterableDataset:extend('Stream')
    function Stream:iter()
      local i = 0
      return function()
        i = i + 1
        if i <= 40 then return nl.tensor({ i }) end
      end
    end
    local loader = data.DataLoader(Stream(), { batch_size = 2, num_workers = 2 })
    collectgarbage('stop')
    for _ in loader do break end
    local n = 0
    for _ in loader do n = n + 1 end
    local none = no_children()
    collectgarbage('restart')
    -- (a dataset that does not split by get_worker_info: each worker makes all 20 batches)
    assert.are.equal(40, n)
    assert.is_true(none)
  end)

  it('keeps few pools of loops left early alive', function()
    collectgarbage('collect')
    assert.is_true(no_children())
    local loader = data.DataLoader(pids, { batch_size = 2, num_workers = 2 })
    local function first_pid()
      for _, pb in loader:iter() do return pb[1] end
    end
    -- (the collector stopped: only the loader's own collection reaps them;
    -- each of the 8 pools held 2 processes and 2 sockets until collected)
    collectgarbage('stop')
    local firsts = {}
    for e = 1, 8 do firsts[e] = first_pid() end
    collectgarbage('restart')
    local live = 0
    for _, p in ipairs(firsts) do live = live + (gone(p) and 0 or 1) end
    assert.is_true(live <= 3, live .. ' pools of loops left early alive')
    collectgarbage('collect')
    collectgarbage('collect')
    assert.is_true(no_children())
  end)

  it('ends the workers on an interrupt while it waits for a batch', function()
    -- Ctrl-C while the parent waits for batch 3: the error reaches the
    -- loop, and the workers (which ignore SIGINT) end with it
    local rows = {}
    for i = 1, 8 do rows[i] = i end
    local slow = data.DataLoader(rows, { batch_size = 1, num_workers = 2, collate_fn = function(s)
      if s[1] == 3 then
        C.usleep(300000)
        C.kill(C.getppid(), 2)
        C.usleep(300000)
      end
      return s[1]
    end })
    local got = {}
    local ok, err = pcall(function() for b in slow:iter() do got[#got + 1] = b end end)
    assert.is_false(ok)
    contains(tostring(err), 'interrupted')
    assert.are.same({ 1, 2 }, got)
    assert.is_true(no_children())
  end)

  it('gives get_worker_info and distinct seeds in a worker, and runs worker_init_fn there first', function()
    assert.is_nil(data.get_worker_info())
    local ds = dataset(12, function(i)
      local info = data.get_worker_info()
      return { nl.tensor({ info.id, info.num_workers, info.seed, rawget(_G, 'init_id') or -1 }, 'float64'),
               nl.rand(1, 'float64') }
    end)
    local function run(seed, persistent)
      local loader = data.DataLoader(ds, { batch_size = 2, num_workers = 3, seed = seed, persistent_workers = persistent,
                                          worker_init_fn = function(id) rawset(_G, 'init_id', id) end })
      local out = {}
      for e = 1, 2 do
        out[e] = {}
        for info, r in loader:iter() do out[e][#out[e] + 1] = { info:totable(), r:totable() } end
      end
      loader:shutdown()
      return out
    end
    local a, b = run(1), run(1)
    assert.are.same(a, b)                   -- the same on every run with the loader's seed
    for e = 1, 2 do
      local base = a[e][1][1][1][3]
      for k, batch in ipairs(a[e]) do
        local id = (k - 1) % 3
        for _, row in ipairs(batch[1]) do
          -- batch k from worker (k-1) % 3, whose seed is the epoch's base + id
          assert.are.same({ id, 3, base + id, id }, row)
        end
      end
      -- nl's generator seeded with the worker's seed, a draw of its own per worker
      nl.manual_seed(base + 1)
      local r1, r2 = nl.rand(1, 'float64'), nl.rand(1, 'float64')
      assert.are.same({ r1:totable(), r2:totable() }, a[e][2][2])
      assert.are_not.same(a[e][1][2], a[e][2][2])
    end
    assert.are_not.equal(a[1][1][1][1][3], a[2][1][1][1][3])      -- a new seed each epoch
    assert.are_not.same(a, run(2))
    -- persistent workers keep their seed and generator from epoch to epoch
    local p = run(1, true)
    assert.are.equal(p[1][1][1][1][3], p[2][1][1][1][3])
    assert.are_not.same(p[1][1][2], p[2][1][2])
    assert.is_nil(data.get_worker_info())
  end)

  it('repeats an epoch\'s worker draws after nl.manual_seed, as PyTorch\'s base seed drawn from the generator', function()
    -- (a random transform in the workers: nl.manual_seed(s) before each epoch gave other draws)
    local ds = dataset(8, function() return nl.rand(1, 'float64') end)
    local loader = data.DataLoader(ds, { batch_size = 2, num_workers = 2 })
    local function one()
      local out = {}
      for r in loader:iter() do out[#out + 1] = r:totable() end
      return out
    end
    nl.manual_seed(3)
    local a = one()
    local b = one()                           -- the next epoch, not seeded again: new draws
    nl.manual_seed(3)
    local c = one()
    nl.manual_seed(4)
    local d = one()
    loader:shutdown()
    assert.are_not.same(a, b)
    assert.are.same(a, c)
    assert.are_not.same(a, d)
  end)

  it('keeps persistent workers from epoch to epoch, and starts others each epoch', function()
    local function epoch_pids(loader)
      local seen, list = {}, {}
      for _, pb in loader:iter() do
        for _, p in ipairs(pb:totable()) do
          if not seen[p] then seen[p] = true; list[#list + 1] = p end
        end
      end
      table.sort(list)
      return list
    end
    local kept = data.DataLoader(pids, { batch_size = 2, num_workers = 2, persistent_workers = true })
    local e1, e2 = epoch_pids(kept), epoch_pids(kept)
    assert.are.equal(2, #e1)
    assert.are.same(e1, e2)
    for _, p in ipairs(e1) do assert.is_false(gone(p)) end
    -- a new epoch while one is unfinished: its batches, and the old loop refused
    local old = kept:iter()
    assert.are.same({ 1, 2 }, (select(1, old())):view(-1):totable())
    local fresh = epoch(kept:iter())
    assert.are.equal(6, #fresh)
    assert.are.same({ 1, 2 }, fresh[1][1][4])
    contains(errmsg(old), 'a later loader:iter() took over the persistent workers')
    kept:shutdown()
    for _, p in ipairs(e1) do assert.is_true(gone(p)) end
    local each = data.DataLoader(pids, { batch_size = 2, num_workers = 2 })
    local f1, f2 = epoch_pids(each), epoch_pids(each)
    assert.are_not.same(f1, f2)
    for _, p in ipairs(f1) do assert.is_true(gone(p)) end
  end)

  it('raises after timeout seconds without a batch', function()
    local slow = dataset(4, function(i)
      C.usleep(i == 3 and 2000000 or 0)
      return { nl.full({ 1 }, i) }
    end)
    local loader = data.DataLoader(slow, { batch_size = 1, num_workers = 2, timeout = 0.2 })
    local t0, seen = nl.time(), 0
    local msg = errmsg(function() for _ in loader:iter() do seen = seen + 1 end end)
    contains(msg, 'DataLoader: timed out after 0.2 s waiting for batch 3 from worker 0')
    assert.are.equal(2, seen)
    assert.is_true(nl.time() - t0 < 1.5)
    assert.is_true(no_children())
  end)

  it('trains, evaluates and predicts as on num_workers = 0, bit for bit', function()
    nl.manual_seed(41)
    local Xs, ys = nl.randn(40, 4), nl.randint(1, 4, { 40 })
    local rows = dataset(40, function(i) return { Xs[i] * 1, ys[i] } end)
    local function net()
      nl.manual_seed(3)
      local m = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.25), nn.Linear(8, 3))
      m:compile { optimizer = 'adam', lr = 1e-2, loss = 'cross_entropy', metrics = { 'accuracy' } }
      return m
    end
    local function run(nw)
      local o = { batch_size = 8, num_workers = nw > 0 and nw or nil }
      local train = data.DataLoader(rows, { batch_size = 8, shuffle = true, seed = 2, num_workers = o.num_workers })
      local m = net()
      local h = m:fit(train, { epochs = 3, verbose = 0, validation_data = data.DataLoader(rows, o) })
      local loss, metrics = m:evaluate(data.DataLoader(rows, o))
      return { h, loss, metrics, S.flat(m:predict(data.DataLoader(rows, o))) }
    end
    assert.are.same(run(0), run(2))
    assert.is_true(no_children())
  end)

  it('refuses options it cannot use, as PyTorch does', function()
    contains(errmsg(data.DataLoader, numbered, { num_workers = -1 }), 'DataLoader: num_workers must be an integer')
    contains(errmsg(data.DataLoader, numbered, { num_workers = 1.5 }), 'num_workers must be an integer in 0..1024')
    contains(errmsg(data.DataLoader, numbered, { num_workers = 2, prefetch_factor = 0 }),
             'DataLoader: prefetch_factor must be a positive integer, got 0')
    contains(errmsg(data.DataLoader, numbered, { prefetch_factor = 2 }), 'prefetch_factor needs num_workers > 0')
    contains(errmsg(data.DataLoader, numbered, { persistent_workers = true }), 'persistent_workers needs num_workers > 0')
    contains(errmsg(data.DataLoader, numbered, { num_workers = 1, persistent_workers = 'yes' }),
             'persistent_workers must be a boolean')
    contains(errmsg(data.DataLoader, numbered, { num_workers = 1, timeout = -1 }),
             'DataLoader: timeout must be a non-negative number of seconds')
    contains(errmsg(data.DataLoader, numbered, { num_workers = 1, worker_init_fn = 3 }),
             'DataLoader: worker_init_fn must be a function')
    local loader = data.DataLoader(numbered, { batch_size = 4, num_workers = 2 })
    assert.are.equal('DataLoader(22 rows, batch_size=4, shuffle=false, drop_last=false, num_workers=2: 6 batches)',
                     tostring(loader))
    assert.are.equal(2, loader.num_workers)
    assert.are.equal(2, loader.prefetch_factor)
    assert.is_true(no_children())
  end)
end)
