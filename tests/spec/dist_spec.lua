-- dist_spec.lua: training over processes on Open MPI. Scripts run under
-- mpirun with two ranks (one thread each) and print what each rank saw:
-- nl.dist's collectives against values worked out here; nn.DataParallel
-- with batch 64 on each of two ranks ending where one process with the
-- concatenated batch of 128 ends; fit printing and checkpointing on rank 0
-- only, each rank on its share of the data; a rank that fails ending the
-- job at once. In this process: data.DistributedSampler's shares, and
-- libmpi staying unloaded until nl.dist.init(). Needs bin/nnlua (make;
-- NNLUA_BIN overrides) and Open MPI (make deps installs openmpi-bin).
local nl = require 'nnlua'
local S = require 'support'
local nn, data = nl.nn, nl.data

local BIN = os.getenv('NNLUA_BIN') or S.root .. '/bin/nnlua'
-- As root, in a container too: no ssh needed (plm isolated), shared memory
-- between the ranks without cross-memory attach, which ptrace rules often
-- forbid there; --oversubscribe for machines with fewer cores than ranks.
local MPIRUN = 'mpirun --allow-run-as-root --oversubscribe --bind-to none --mca plm isolated '
  .. '--mca pml ob1 --mca btl self,vader --mca btl_vader_single_copy_mechanism none'

local q, slurp = S.q, S.read

local tmpfiles = {}
local function tmpname(suffix)
  local p = os.tmpname() .. (suffix or '')
  tmpfiles[#tmpfiles + 1] = p
  return p
end
local function script(text) return S.write(tmpname('.lua'), text) end

-- Runs cmd (a shell command) with one thread per process, at most 120 s.
-- Returns { out, err, rc, seconds }.
local function run(cmd)
  local errfile = tmpname()
  local t0 = nl.time()
  local p = assert(io.popen('NNLUA_NUM_THREADS=1 timeout 120 ' .. cmd .. ' 2>' .. q(errfile) .. '; echo "__rc=$?"'))
  local out = p:read('*a')
  p:close()
  local rc = tonumber(out:match('__rc=(%d+)\n$'))
  return { out = out:gsub('__rc=%d+\n$', ''), err = slurp(errfile), rc = rc, seconds = nl.time() - t0 }
end
local function mpirun(path, args) return run(MPIRUN .. ' -np 2 ' .. q(BIN) .. ' ' .. q(path) .. ' ' .. (args or '')) end
local function nnlua(path, args) return run(q(BIN) .. ' ' .. q(path) .. ' ' .. (args or '')) end

-- "@@ key rank value" lines -> t[key][rank] = value (a string). The mark
-- finds them in mpirun's output, where rank 0's progress bar (no newline)
-- may come right before a line of rank 1.
local function records(out)
  local t = {}
  for key, rank, value in out:gmatch('@@ (%S+) (%d) ([^\r\n]*)') do
    t[key] = t[key] or {}
    t[key][tonumber(rank)] = value
  end
  return t
end

local function explain(r) return ('exit %s\nstdout:\n%s\nstderr:\n%s'):format(tostring(r.rc), r.out, r.err) end

describe('nl.dist', function()
  teardown(function() for _, p in ipairs(tmpfiles) do os.remove(p) end end)

  it('finds mpirun (make deps installs openmpi-bin)', function()
    local r = run('mpirun --version')
    assert.are.equal(0, r.rc, 'mpirun is missing: apt-get install openmpi-bin libopenmpi-dev')
    assert.matches('Open MPI', r.out)
  end)

  it('loads libmpi only when nl.dist.init() runs, and says so when it is missing', function()
    local r = nnlua(script([[
local function mpi_mapped()
  for l in io.lines('/proc/self/maps') do if l:find('libmpi', 1, true) then return true end end
  return false
end
-- a bit of everything else first: tensors, autograd, a model, fit
local m = nn.Sequential(nn.Linear(3, 2))
m:compile { optimizer = 'sgd', loss = 'mse' }
m:fit(nl.randn(8, 3), nl.randn(8, 2), { epochs = 1, batch_size = 4, verbose = 0 })
print('@@ after-fit 0 ' .. tostring(mpi_mapped()))
print('@@ initialized 0 ' .. tostring(nl.dist.is_initialized()))
print('@@ after-module 0 ' .. tostring(mpi_mapped()))
local ok, err = pcall(nl.dist.allreduce, nl.ones(2))
print('@@ early 0 ' .. tostring(err))
local rank, size = nl.dist.init()
print('@@ after-init 0 ' .. tostring(mpi_mapped()) .. ' ' .. rank .. ' ' .. size)
]]))
    assert.are.equal(0, r.rc, explain(r))
    assert.is_falsy(r.err:find('exiting improperly', 1, true), r.err)   -- finalized by itself at exit
    local t = records(r.out)
    assert.are.equal('false', t['after-fit'][0])
    assert.are.equal('false', t.initialized[0])
    assert.are.equal('false', t['after-module'][0])
    assert.matches('dist.allreduce: nl.dist is not initialized', t.early[0], 1, true)
    assert.are.equal('true 0 1', t['after-init'][0])   -- alone: a job of one

    local missing = run('env NNLUA_MPI_LIB=/nonexistent/libmpi.so ' .. q(BIN) .. " -e 'nl.dist.init()'")
    assert.are.equal(1, missing.rc)
    assert.matches('dist.init: libmpi not found (install openmpi-bin', missing.err, 1, true)
  end)

  it('allreduces, broadcasts and waits at barriers across two ranks', function()
    local r = mpirun(script([[
local dist = nl.dist
local rank, size = dist.init()
local function put(key, v) print('@@ ' .. key .. ' ' .. rank .. ' ' .. v) end
put('size', size)
local function flat(t)
  local s = {}
  for i, v in ipairs(t:reshape(-1):totable()) do s[i] = ('%.17g'):format(v) end
  return table.concat(s, ',')
end
-- rank r holds (r+1) * (1 .. 6) as a 2x3 matrix, and so on
put('sum', flat(dist.allreduce(nl.arange(1, 7):float():view(2, 3) * (rank + 1))))
put('default', flat(dist.allreduce(nl.tensor({ 0.5, rank }, 'float64'))))
put('mean', flat(dist.allreduce(nl.tensor({ 1, 2 }, 'float64') * (rank + 1), 'mean')))
put('max', flat(dist.allreduce(nl.tensor({ rank, 10 - rank }, 'int64'), 'max')))
put('min', flat(dist.allreduce(nl.tensor({ rank, 10 - rank }, 'int64'), 'min')))
put('big', dist.allreduce(nl.full({ 300000 }, rank + 1)):sum():item())
put('bcast', flat(dist.broadcast(nl.tensor({ 7 * rank + 1, -rank }, 'int64'), 1)))
put('bcast0', flat(dist.broadcast(nl.tensor({ rank + 0.25 }))))
-- a parameter (a leaf that requires grad) is reduced in place too
local w = nl.ones(3):requires_grad()
put('param', flat(dist.allreduce(w, 'mean')))
for _, case in ipairs({
  { 'noncontig', function() dist.allreduce(nl.zeros(4, 3):t()) end },
  { 'op', function() dist.allreduce(nl.ones(2), 'prod') end },
  { 'intmean', function() dist.allreduce(nl.ones({ 2 }, 'int64'), 'mean') end },
  { 'root', function() dist.broadcast(nl.ones(2), 2) end },
  { 'notensor', function() dist.allreduce({ 1, 2 }) end },
}) do
  local ok, err = pcall(case[2])
  put('err-' .. case[1], tostring(ok) .. ' ' .. tostring(err))
end
-- rank 1 arrives at the barrier 0.3 s late: rank 0 waits for it there
if rank == 1 then local t = nl.time(); while nl.time() - t < 0.3 do end end
local t0 = nl.time()
dist.barrier()
put('waited', ('%.3f'):format(nl.time() - t0))
-- DataParallel starts every rank from rank 0's parameters and buffers
nl.manual_seed(rank + 1)
local bn = nn.BatchNorm1d(3)
bn.running_mean:fill_(rank + 5)
local dp = nn.DataParallel(nn.Sequential(nn.Linear(4, 3), bn))
put('weight', flat(dp.module[1].weight))
put('running', flat(bn.running_mean))
-- gradients, one bucket per parameter: a is used on both ranks, b on rank 0
-- only (rank 1 counts zeros for it), c on neither (it keeps no gradient)
local Two = nn.Module:extend('Two')
function Two:init()
  self.a = nl.tensor({ 1, 2 }):requires_grad()
  self.b = nl.tensor({ 3 }):requires_grad()
  self.c = nl.ones(1):requires_grad()
end
function Two:forward(x)
  local out = (self.a * x):sum()
  if rank == 0 then out = out + self.b:sum() * 4 end
  return out
end
local two = nn.DataParallel(Two(), { bucket_mb = 1e-6 })
two(nl.tensor({ rank + 1, 10 * rank })):backward()
put('grad-a', flat(two.module.a.grad))
put('grad-b', flat(two.module.b.grad))
put('grad-c', tostring(two.module.c.grad))
]]))
    assert.are.equal(0, r.rc, explain(r))
    assert.is_falsy(r.err:find('exiting improperly', 1, true), r.err)   -- no finalize call: done at exit
    local t = records(r.out)
    for rank = 0, 1 do
      assert.are.equal('2', t.size[rank])
      assert.are.equal('3,6,9,12,15,18', t.sum[rank])
      assert.are.equal('1,1', t.default[rank])
      assert.are.equal('1.5,3', t.mean[rank])
      assert.are.equal('1,10', t.max[rank])
      assert.are.equal('0,9', t.min[rank])
      assert.are.equal(('%.17g'):format(300000 * 3), t.big[rank])
      assert.are.equal('8,-1', t.bcast[rank])
      assert.are.equal('0.25', t.bcast0[rank])
      assert.are.equal('1,1,1', t.param[rank])
      assert.are.equal('false', t['err-noncontig'][rank]:match('^%S+'))
      assert.matches('dist.allreduce: tensor [3,4] float32 is not contiguous', t['err-noncontig'][rank], 1, true)
      assert.matches("dist.allreduce: unknown op 'prod' (sum, mean, max, min)", t['err-op'][rank], 1, true)
      assert.matches('dist.allreduce: mean of an int64 tensor [2]', t['err-intmean'][rank], 1, true)
      assert.matches('dist.broadcast: root 2 out of range 0..1', t['err-root'][rank], 1, true)
      assert.matches('dist.allreduce: expected a tensor, got table', t['err-notensor'][rank], 1, true)
      assert.are.equal('5,5,5', t.running[rank])
      assert.are.equal('1.5,5', t['grad-a'][rank])              -- the mean of (1, 0) and (2, 10)
      assert.are.equal('2', t['grad-b'][rank])                  -- the mean of 4 and nothing
      assert.are.equal('nil', t['grad-c'][rank])
    end
    assert.are.equal(t.weight[0], t.weight[1])
    assert(tonumber(t.waited[0]) >= 0.2, 'rank 0 left the barrier after ' .. t.waited[0] .. ' s')
  end)

  -- Two ranks with batch 64 each against one process with batch 128, the
  -- two ranks' batches one after the other; the ranks start from different
  -- seeds, so DataParallel's broadcast matters too. Buckets of 1 kB put each
  -- of the four parameters in a bucket of its own; with SGD the buckets start inside
  -- backward as their gradients finish (the default), with Adam after it
  -- (overlap = false). Each rank prints how many started inside backward.
  local equivalence = script([[
local mode, optname, out = arg[1], arg[2], arg[3]
nl.manual_seed(7)                        -- the data: the same in every process
local X = nl.randn(30 * 128, 64)
local y = (nl.rand(30 * 128) * 10):long() + 1
local rank = 0
if mode == 'dp' then rank = nl.dist.init() end
nl.manual_seed(100 + rank)
local model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
if mode == 'dp' then
  model = nn.DataParallel(model, { bucket_mb = 1 / 1024, overlap = optname == 'sgd' })
else
  model:save(out .. 'init')
end
local opt = optname == 'adam' and optim.Adam(model:parameters(), { lr = 1e-3 })
  or optim.SGD(model:parameters(), { lr = 0.05, momentum = 0.9 })
local crit = nn.CrossEntropyLoss()
for s = 0, 29 do
  local first = s * 128 + 1
  local xb, yb
  if mode == 'dp' then first = first + rank * 64 end
  local n = mode == 'dp' and 64 or 128
  local loss = crit(model(X:narrow(1, first, n)), y:narrow(1, first, n))
  opt:zero_grad()
  loss:backward()
  opt:step()
end
model:save(out .. rank)
if mode == 'dp' then print(('early %d %d'):format(rank, model:overlapped_buckets())) end
]])

  for _, optname in ipairs({ 'sgd', 'adam' }) do
    it('trains two ranks of batch 64 to the parameters of one process of batch 128 (' .. optname .. ')', function()
      local base = tmpname()
      local single = nnlua(equivalence, 'single ' .. optname .. ' ' .. q(base .. '-single'))
      assert.are.equal(0, single.rc, explain(single))
      local dp = mpirun(equivalence, 'dp ' .. optname .. ' ' .. q(base .. '-dp'))
      assert.are.equal(0, dp.rc, explain(dp))
      for rank = 0, 1 do
        local early = tonumber(dp.out:match('early ' .. rank .. ' (%d+)'))
        assert.are.equal(optname == 'sgd' and 4 or 0, early, explain(dp))
      end
      for _, suffix in ipairs({ '-singleinit', '-single0', '-dp0', '-dp1' }) do tmpfiles[#tmpfiles + 1] = base .. suffix end
      local want = nl.load_safetensors(base .. '-single0')
      local init = nl.load_safetensors(base .. '-singleinit')
      for rank = 0, 1 do
        local got = nl.load_safetensors(base .. '-dp' .. rank)
        local n, worst, moved = 0, 0, 0
        for name, w in pairs(want) do
          n = n + 1
          assert.are.equal(w:dtype(), got[name]:dtype())
          worst = math.max(worst, (got[name] - w):abs():max():item())
          moved = math.max(moved, (w - init[name]):abs():max():item())
        end
        assert.are.equal(4, n)
        assert(worst <= 1e-5, ('rank %d: max abs difference %.3g from the single process'):format(rank, worst))
        assert(moved > 1e-2, 'training moved the parameters by only ' .. moved)
      end
      -- the checkpoint of a DataParallel model is the plain model's
      local plain = nn.load(base .. '-dp0')
      assert.matches('^Sequential', tostring(plain))
    end)
  end

  it('fits under mpirun: rank 0 prints and checkpoints, each rank trains on its half', function()
    local base = tmpname()
    local r = mpirun(script([[
local base = arg[1]
local rank = nl.dist.init()
local train = data.fashion_mnist()
local X, y = train.X:narrow(1, 1, 512), train.y:narrow(1, 1, 512)
nl.manual_seed(3)
local model = nn.DataParallel(nn.Sequential(nn.Linear(784, 16), nn.ReLU(), nn.Linear(16, 10)))
model:compile { optimizer = 'sgd', lr = 0.1, loss = 'cross_entropy', metrics = { 'accuracy' } }
local steps = 0
local h = model:fit(X, y, { epochs = 2, batch_size = 64, verbose = 1,
                            checkpoint = { path = base .. rank },
                            on_step = function() steps = steps + 1 end })
io.write(('@@ steps %d %d\n'):format(rank, steps))
io.write(('@@ history %d %.17g %.17g %.17g\n'):format(rank, h.loss[1], h.loss[2], h.accuracy[2]))
local sum = 0
for _, p in ipairs(model:parameters()) do sum = sum + p:abs():sum():item() end
io.write(('@@ params %d %.17g\n'):format(rank, sum))
local loss, metrics = model:evaluate(X, y)
io.write(('@@ evaluate %d %.17g\n'):format(rank, loss))
]]), q(base))
    tmpfiles[#tmpfiles + 1] = base .. '0'
    assert.are.equal(0, r.rc, explain(r))
    -- mpirun gives the ranks a terminal: rank 0 draws its progress bar,
    -- then clears it for the epoch's line
    local epochs = {}
    for line in r.out:gsub('\27%[K', ''):gmatch('[^\r\n]+') do
      if line:match('^epoch') then epochs[#epochs + 1] = line end
    end
    assert.are.equal(2, #epochs, r.out)                        -- one line per epoch, from one rank
    assert.matches('^epoch 1/2 %- loss [%d.]+ %- accuracy [%d.]+ %- %d+ samples/s', epochs[1])
    local t = records(r.out)
    assert.are.equal('8', t.steps[0])                          -- 2 epochs x 256 rows / 64
    assert.are.equal('8', t.steps[1])
    assert.are.equal(t.history[0], t.history[1])
    assert.are.equal(t.params[0], t.params[1])
    assert.are.equal(t.evaluate[0], t.evaluate[1])
    local l1, l2 = t.history[0]:match('^(%S+) (%S+)')
    assert(tonumber(l2) < tonumber(l1), 'loss went from ' .. l1 .. ' to ' .. l2)
    local f = io.open(base .. '0', 'rb')
    assert.is_truthy(f, 'rank 0 wrote no checkpoint')
    f:close()
    local g = io.open(base .. '1', 'rb')
    if g then g:close() end
    assert.is_nil(g, 'rank 1 wrote a checkpoint')
    local saved = nn.load(base .. '0')
    local sum = 0
    for _, p in ipairs(saved:parameters()) do sum = sum + p:abs():sum():item() end
    assert.are.equal(tonumber(t.params[0]), sum)
  end)

  -- nl.metrics objects' counts (lists) summed over the ranks: the epoch's
  -- AUC and precision are those of every rank's outputs together (lr 0:
  -- the outputs are predict's), as is a function metric's mean
  it('sums nl.metrics counts over the ranks under DataParallel', function()
    local r = mpirun(script([[
local rank = nl.dist.init()
nl.manual_seed(1)
local X = nl.randn(64, 3)
local y = (X:narrow(2, 1, 2) + nl.randn(64, 2) * 0.5):gt(0):float()
nl.manual_seed(3)
local model = nn.DataParallel(nn.Sequential(nn.Linear(3, 2), nn.Sigmoid()))
model:compile { optimizer = 'sgd', lr = 0, loss = 'binary_crossentropy',
                metrics = { 'auc', 'precision', function(a, b) return (a - b):abs():mean() end } }
local h = model:fit(X, y, { epochs = 1, batch_size = 8, verbose = 0 })
local out = model:predict(X)
local a, p = nl.metrics.AUC(), nl.metrics.Precision()
a:update_state(y, out)
p:update_state(y, out)
io.write(('@@ got %d %.15g %.15g %.9g\n'):format(rank, h.auc[1], h.precision[1], h.fn_1[1]))
io.write(('@@ want %d %.15g %.15g %.9g\n'):format(rank, a:result(), p:result(), (out - y):abs():mean():item()))
]]))
    assert.are.equal(0, r.rc, explain(r))
    local t = records(r.out)
    assert.are.equal(t.got[0], t.got[1])
    local g, w = {}, {}
    for v in t.got[0]:gmatch('%S+') do g[#g + 1] = tonumber(v) end
    for v in t.want[0]:gmatch('%S+') do w[#w + 1] = tonumber(v) end
    for i = 1, 3 do assert(math.abs(g[i] - w[i]) <= 1e-6 * math.abs(w[i]), t.got[0] .. ' vs ' .. t.want[0]) end
  end)

  it('ends the whole job within seconds when one rank fails', function()
    local r = mpirun(script([[
local dist = nl.dist
local rank = dist.init()
dist.barrier()
if rank == 1 then error('rank 1 gives up') end
dist.barrier()            -- rank 0 would wait here for ever
print('rank 0 passed the barrier')
]]))
    assert.are_not.equal(0, r.rc, explain(r))
    assert(r.seconds < 20, ('the job took %.1f s to end'):format(r.seconds))
    assert.matches('rank 1 gives up', r.err, 1, true)
    assert.matches('nnlua: rank 1 of 2 exited with status 1; aborting the job', r.err, 1, true)
    assert.is_falsy(r.out:find('passed the barrier', 1, true))
  end)

  -- A rank that ended cleanly while another waited in a collective it never
  -- started left that one waiting for ever (and Open MPI's finalize with
  -- it): the job hung. Now the leaver tells the others, and the waiter fails.
  it('fails a rank that waits for one which left cleanly, where the job hung', function()
    local r = mpirun(script([[
local dist = nl.dist
local rank = dist.init()
dist.barrier()
if rank == 1 then
  if arg[1] == 'finalize' then dist.finalize() end
  return                                  -- a clean exit, status 0
end
local ok, err = pcall(dist.barrier)
print('@@ barrier 0 ' .. tostring(ok) .. ' ' .. tostring(err))
]]), 'return')
    assert.are.equal(0, r.rc, explain(r))
    assert(r.seconds < 20, ('the job took %.1f s to end'):format(r.seconds))
    assert.matches('false .*dist.barrier: rank 1 of 2 has exited after 1 collectives, while this rank waits in '
                   .. 'collective 2', records(r.out).barrier[0])
    -- the same after dist.finalize(); and an unhandled one ends the job
    local r2 = mpirun(script([[
local dist = nl.dist
local rank = dist.init()
if rank == 1 then dist.finalize(); return end
dist.allreduce(nl.ones(3))
print('rank 0 passed')
]]))
    assert.are_not.equal(0, r2.rc, explain(r2))
    assert(r2.seconds < 20, ('the job took %.1f s to end'):format(r2.seconds))
    assert.matches('dist.allreduce: rank 1 of 2 has exited', r2.err, 1, true)
    assert.is_falsy(r2.out:find('passed', 1, true))
  end)

  -- a DataParallel rank that trained fewer steps left the other waiting for
  -- the gradients of a step it never took
  it('ends a DataParallel job whose ranks take different numbers of steps', function()
    local r = mpirun(script([[
local rank = nl.dist.init()
nl.manual_seed(1)
local m = nn.DataParallel(nn.Linear(4, 2))
local opt = nl.optim.SGD(m:parameters(), { lr = 0.1 })
for _ = 1, rank == 0 and 5 or 3 do
  opt:zero_grad()
  m(nl.ones(2, 4)):sum():backward()
  opt:step()
end
print('@@ done ' .. rank .. ' yes')
]]))
    assert.are_not.equal(0, r.rc, explain(r))
    assert(r.seconds < 20, ('the job took %.1f s to end'):format(r.seconds))
    assert.matches('DataParallel: rank 1 of 2 has exited after %d+ collectives, while this rank waits', r.err)
    assert.are.equal('yes', records(r.out).done[1])
    assert.is_nil(records(r.out).done[0])
  end)

  -- A backward that did not reach a DataParallel model spent its
  -- averaging (a GAN's discriminator step on a detached sample: the
  -- generator's gradients stayed each rank's own); two models in one
  -- backward, one with a parameter only rank 0 uses, started their buckets
  -- in different orders on the two ranks (one model's sums went into the
  -- other's); a backward that failed left a model half averaged, and the
  -- next step used its stale gradients. Expected values: the mean over
  -- the ranks of each rank's gradient, worked out by hand (the input on
  -- rank r is r + 1).
  it('averages each model in the backward that reaches it, in one order on every rank', function()
    local r = mpirun(script([[
local rank = nl.dist.init()
local x = nl.ones(4, 2) * (rank + 1)
-- a backward through other tensors leaves G's averaging to G's backward
local G = nn.DataParallel(nn.Linear(2, 3))
local out = G(x)
local other = nl.ones(1):requires_grad()
;(other * 2):sum():backward()
out:sum():backward()
print('@@ gan ' .. rank .. ' ' .. G.module.weight.grad:sum():item())
-- two models in one backward, b used on rank 0 only, small buckets
local A = nn.Module:extend('SpecTwoA')
function A:init() self.a = nl.ones(4):requires_grad(); self.b = nl.ones(4):requires_grad() end
function A:forward(v)
  local o = (self.a * v):sum()
  if rank == 0 then o = o + (self.b * v):sum() end
  return o
end
local B = nn.Module:extend('SpecTwoB')
function B:init() self.c = nl.ones(4):requires_grad() end
function B:forward(v) return (self.c * v * 100):sum() end
for _, mb in ipairs({ 1e-6, 25 }) do
  local ma, mbm = nn.DataParallel(A(), { bucket_mb = mb }), nn.DataParallel(B(), { bucket_mb = mb })
  local v = nl.ones(4) * (rank + 1)
  ;(mbm(v) + ma(v)):backward()
  print(('@@ two%g %d %g %g %g'):format(mb, rank, ma.module.a.grad[1], ma.module.b.grad[1], mbm.module.c.grad[1]))
end
-- a failed backward (anomaly mode: sqrt's gradient at 0 is inf), caught
local l1, l2 = nn.Linear(2, 2), nn.Linear(2, 1)
local M = nn.DataParallel(nn.Sequential(l1, l2))
nl.detect_anomaly(true)
local y = l2((l1(x) * 0):sqrt())
local ok = pcall(function() y:sum():backward() end)
nl.detect_anomaly(false)
for _, p in ipairs(M:parameters()) do p.grad = nil end
M(x):sum():backward()
print('@@ failed ' .. rank .. ' ' .. tostring(ok) .. ' ' .. l2.weight.grad:sum():item())
local h = l1(nl.ones(1, 2) * 1.5)
print('@@ failedwant ' .. rank .. ' ' .. (h:sum():item() * 4))
-- a teacher whose output is always detached, frozen or not, did not let
-- the student start its buckets inside backward at any later step
for _, frozen in ipairs({ true, false }) do
  local tm = nn.Linear(16, 4)
  if frozen then for _, p in ipairs(tm:parameters()) do p:requires_grad(false) end end
  local T = nn.DataParallel(tm)
  local St = nn.DataParallel(nn.Sequential(nn.Linear(16, 64), nn.ReLU(), nn.Linear(64, 4)), { bucket_mb = 0.005 })
  local xs, early = nl.ones(4, 16) * (rank + 1), {}
  for _ = 1, 3 do
    ((St(xs) - T(xs):detach()) ^ 2):mean():backward()
    early[#early + 1] = St:overlapped_buckets()
  end
  print('@@ teacher' .. tostring(frozen) .. ' ' .. rank .. ' ' .. table.concat(early, ','))
end
]]))
    assert.are.equal(0, r.rc, explain(r))
    local t = records(r.out)
    for rank = 0, 1 do
      -- d sum(x W^T + b) / dW = 4 (rank + 1) per element, 6 elements: 24 and 48, mean 36
      assert.are.equal('36', t.gan[rank], explain(r))
      -- a: (1 + 2) / 2; b: rank 0 only, 1 / 2; c: 100 (1 + 2) / 2
      assert.are.equal('1.5 0.5 150', t['two1e-06'][rank], explain(r))
      assert.are.equal('1.5 0.5 150', t.two25[rank], explain(r))
      assert.are.equal('false', t.failed[rank]:match('^%a+'), explain(r))
    end
    -- l2's weight gradient: the sum over rows of l1's output, 4 rows of
    -- x = rank + 1, averaged over ranks: as one row of 1.5, times 4
    local got, want = tonumber(t.failed[0]:match(' (%S+)$')), tonumber(t.failedwant[0])
    assert(math.abs(got - want) <= 1e-5 * math.abs(want) + 1e-6, ('%s against %s'):format(got, want))
    assert.are.equal(t.failed[0], t.failed[1])
    for rank = 0, 1 do
      local frozen = {}
      for n in t.teachertrue[rank]:gmatch('%d+') do frozen[#frozen + 1] = tonumber(n) end
      local trained = {}
      for n in t.teacherfalse[rank]:gmatch('%d+') do trained[#trained + 1] = tonumber(n) end
      assert(frozen[1] > 0 and frozen[3] > 0, t.teachertrue[rank])
      assert(trained[3] > 0, t.teacherfalse[rank])        -- (its first step gives the place away)
    end
  end)

  -- tensors of other dtypes or sizes gave garbage (int64 bits read as
  -- float64, a stale tail) or died inside MPI
  it('refuses, on every rank, collectives whose tensors differ between the ranks', function()
    local r = mpirun(script([[
local dist = nl.dist
local rank = dist.init()
local function try(name, f)
  local ok, err = pcall(f)
  print('@@ ' .. name .. ' ' .. rank .. ' ' .. tostring(ok) .. ' ' .. tostring(err))
end
try('dtype', function() dist.allreduce(rank == 0 and nl.ones({ 4 }, 'int64') or nl.ones({ 4 }, 'float64')) end)
try('size', function() dist.broadcast(rank == 0 and nl.ones(4) or nl.ones(6)) end)
try('shape', function() dist.allreduce(rank == 0 and nl.ones(2, 3) or nl.ones(3, 2)) end)
-- other calls: an allreduce against a broadcast waited for ever; each
-- rank its own root, or sum against mean, gave each rank its own answer;
-- a barrier against an allreduce died in MPI
try('kind', function() if rank == 0 then dist.allreduce(nl.ones(4)) else dist.broadcast(nl.ones(4), 0) end end)
try('root', function() dist.broadcast(nl.full({ 4 }, rank + 1), rank) end)
try('op', function() dist.allreduce(nl.ones(2), rank == 0 and 'sum' or 'mean') end)
try('barrier', function() if rank == 0 then dist.barrier() else dist.allreduce(nl.ones(3)) end end)
dist.barrier()
local v = nl.full({ 3 }, rank + 1)
dist.allreduce(v)
print('@@ after ' .. rank .. ' ' .. v[1])
]]))
    assert.are.equal(0, r.rc, explain(r))
    local t = records(r.out)
    for rank = 0, 1 do
      assert.matches('false .*dist.allreduce: the ranks pass tensors of different dtypes or shapes %(rank ' .. rank,
                     t.dtype[rank])
      assert.matches('false .*dist.broadcast: the ranks pass tensors of different dtypes or shapes', t.size[rank])
      assert.matches('false .*dist.allreduce: the ranks pass tensors', t.shape[rank])
      local differ = 'the ranks make different collective calls %(rank ' .. rank .. ': '
      assert.matches('false .*dist%.' .. (rank == 0 and "allreduce: " .. differ .. "allreduce%(float32 %[4%], 'sum'%)%)"
                                                    or 'broadcast: ' .. differ .. 'broadcast%(float32 %[4%], root 0%)%)'),
                     t.kind[rank])
      assert.matches('false .*dist%.broadcast: ' .. differ .. 'broadcast%(float32 %[4%], root ' .. rank .. '%)%)', t.root[rank])
      assert.matches("false .*dist%.allreduce: " .. differ .. "allreduce%(float32 %[2%], '" .. (rank == 0 and 'sum' or 'mean'),
                     t.op[rank])
      assert.matches('false .*' .. (rank == 0 and 'dist%.barrier: ' .. differ .. 'barrier%(%)' or 'dist%.allreduce: ' .. differ),
                     t.barrier[rank])
      assert.are.equal('3', t.after[rank])
    end
  end)

  -- only rank 0 writes checkpoints: with a path of each rank's own, rank 0
  -- resumed and the others started over, and the run went apart
  it('fit refuses to resume ranks from different points', function()
    local base = tmpname()
    local code = script([[
local base, resume = arg[1], arg[2] == 'resume'
local rank = nl.dist.init()
nl.manual_seed(1)
local X, y = nl.randn(64, 5), (nl.rand(64) * 3):long() + 1
local m = nn.DataParallel(nn.Sequential(nn.Linear(5, 3)))
m:compile { optimizer = 'sgd', lr = 0.1, loss = 'cross_entropy' }
local ok, err = pcall(m.fit, m, X, y, { epochs = resume and 2 or 1, batch_size = 16, verbose = 0,
                                        checkpoint = { path = base .. rank }, resume = resume })
print('@@ fit ' .. rank .. ' ' .. tostring(ok) .. ' ' .. tostring(err))
]])
    local r1 = mpirun(code, q(base) .. ' no')
    tmpfiles[#tmpfiles + 1] = base .. '0'
    assert.are.equal(0, r1.rc, explain(r1))
    local r = mpirun(code, q(base) .. ' resume')
    assert.are.equal(0, r.rc, explain(r))
    local t = records(r.out)
    assert.matches('false .*fit: the ranks resume from different points %(rank 0: epoch 2, step 0', t.fit[0])
    assert.matches('false .*fit: the ranks resume from different points %(rank 1: no checkpoint at', t.fit[1])
  end)

  -- ranks that build different models: a clear error at construction
  -- (unchecked, the broadcast took the wrong size and backward died inside
  -- MPI); the same model passes
  it('DataParallel refuses ranks whose models differ, naming each rank\'s tensors', function()
    local r = mpirun(script([[
local rank = nl.dist.init()
local same = nn.DataParallel(nn.Linear(4, 3))
print('@@ same ' .. rank .. ' ok')
local ok, err = pcall(nn.DataParallel, nn.Linear(4, rank == 0 and 3 or 5))
print('@@ differ ' .. rank .. ' ' .. tostring(ok) .. ' ' .. tostring(err))
local ok2, err2 = pcall(nn.DataParallel, rank == 0 and nn.Linear(4, 6) or nn.Linear(6, 4))   -- equal totals
print('@@ swapped ' .. rank .. ' ' .. tostring(ok2) .. ' ' .. tostring(err2))
]]))
    assert.are.equal(0, r.rc, explain(r))
    local t = records(r.out)
    for rank = 0, 1 do
      assert.are.equal('ok', t.same[rank])
      assert.matches('false .*DataParallel: the ranks hold different models; rank ' .. rank, t.differ[rank])
      assert.matches('false .*DataParallel: the ranks hold different models', t.swapped[rank])
    end
    assert.matches('float32%[5,4%] float32%[5%]', t.differ[1])
  end)

  it('runs examples/fashion_mnist_ddp.lua', function()
    local dir = tmpname()
    os.remove(dir)                                        -- the example makes it a directory
    local r = mpirun(S.root .. '/examples/fashion_mnist_ddp.lua', '1 ' .. q(dir) .. ' 4096')
    assert.are.equal(0, r.rc, explain(r))
    assert.matches('4096 training images shared by 2 ranks', r.out, 1, true)
    local acc = tonumber(r.out:match('test accuracy ([%d.]+)%%'))
    assert(acc and acc > 65, 'test accuracy ' .. tostring(acc))
    local model = nn.load(dir .. '/fashion_mnist_ddp.safetensors')
    local _, test = data.fashion_mnist()
    local again = model:predict(test.X):argmax(2):eq(test.y):float():mean():item() * 100
    assert(math.abs(again - acc) < 0.006, ('%.4f%% printed, %.4f%% from the checkpoint'):format(acc, again))
    os.remove(dir .. '/fashion_mnist_ddp.safetensors')
    os.remove(dir)
  end)
end)

describe('data.DistributedSampler', function()
  -- the shares of all R ranks, as Lua tables
  local function shares(n, R, opts)
    local out = {}
    for r = 0, R - 1 do
      local o, epoch = { num_replicas = R, rank = r }, nil
      for k, v in pairs(opts or {}) do
        if k == 'epoch' then epoch = v else o[k] = v end
      end
      local s = data.DistributedSampler(n, o)
      if epoch then s:set_epoch(epoch) end
      out[r + 1] = s:order():totable()
      assert.are.equal(#out[r + 1], #s)
    end
    return out
  end
  -- how many times each row appears over all shares
  local function counts(sh)
    local c = {}
    for _, s in ipairs(sh) do for _, i in ipairs(s) do c[i] = (c[i] or 0) + 1 end end
    return c
  end

  it('covers every row exactly once per epoch when the ranks divide the rows', function()
    local sh = shares(12, 3)
    local c = counts(sh)
    for i = 1, 12 do assert.are.equal(1, c[i], 'row ' .. i) end
    for r = 1, 3 do assert.are.equal(4, #sh[r]) end
    assert.are_not.same({ 1, 4, 7, 10 }, sh[1])               -- shuffled
  end)

  it('deals one permutation, shared by every rank, in turn', function()
    local sh = shares(12, 3, { seed = 5 })
    local perm = {}
    for k = 1, 4 do for r = 1, 3 do perm[#perm + 1] = sh[r][k] end end
    local seen = {}
    for _, i in ipairs(perm) do seen[i] = true end
    for i = 1, 12 do assert.is_true(seen[i]) end
    -- without shuffling: rank r gets r+1, r+1+R, ...
    assert.are.same({ { 1, 4, 7, 10 }, { 2, 5, 8, 11 }, { 3, 6, 9, 12 } }, shares(12, 3, { shuffle = false }))
  end)

  it('pads with the first rows, or drops the last ones, when they do not divide', function()
    local sh = shares(10, 3, { seed = 2 })
    for r = 1, 3 do assert.are.equal(4, #sh[r]) end
    local c = counts(sh)
    local twice = 0
    for i = 1, 10 do
      assert(c[i] == 1 or c[i] == 2, 'row ' .. i .. ' seen ' .. tostring(c[i]) .. ' times')
      if c[i] == 2 then twice = twice + 1 end
    end
    assert.are.equal(2, twice)
    -- the two repeated rows are the permutation's first two
    assert.are.equal(2, c[sh[1][1]])
    assert.are.equal(2, c[sh[2][1]])
    local dropped = shares(10, 3, { seed = 2, drop_last = true })
    local dc = counts(dropped)
    local distinct = 0
    for _, k in pairs(dc) do
      assert.are.equal(1, k)
      distinct = distinct + 1
    end
    assert.are.equal(9, distinct)
    assert.are.same({ { 1, 4, 7 }, { 2, 5, 8 }, { 3, 6, 9 } }, shares(10, 3, { shuffle = false, drop_last = true }))
    -- fewer rows than ranks: every rank still gets one
    assert.are.same({ { 1 }, { 2 }, { 1 } }, shares(2, 3, { shuffle = false }))
  end)

  it('draws the same order for the same seed and epoch, a new one for a new epoch or seed', function()
    local a, b = shares(50, 2, { seed = 9 }), shares(50, 2, { seed = 9 })
    assert.are.same(a, b)
    assert.are_not.same(a, shares(50, 2, { seed = 9, epoch = 1 }))
    assert.are_not.same(a, shares(50, 2, { seed = 10 }))
    local s = data.DistributedSampler(50, { num_replicas = 2, rank = 0, seed = 9 })
    s:set_epoch(3)
    assert.are.equal(3, s.epoch)
    assert.are.same(shares(50, 2, { seed = 9, epoch = 3 })[1], s:order():totable())
  end)

  it('feeds a DataLoader the rank\'s rows, batch by batch', function()
    local X = nl.arange(1, 21):float():view(10, 2)        -- row i holds 2i-1, 2i
    local y = nl.arange(1, 11, 'int64')
    local s = data.DistributedSampler(data.TensorDataset(X, y), { num_replicas = 2, rank = 1, seed = 4 })
    local loader = data.DataLoader(data.TensorDataset(X, y), { batch_size = 2, sampler = s })
    assert.are.equal(3, #loader)                          -- 5 rows in batches of 2
    local got = {}
    for xb, yb in loader:iter() do
      for i, v in ipairs(yb:totable()) do
        got[#got + 1] = v
        assert.are.equal(2 * v, xb[i][2])                 -- the rows travel with their labels
      end
    end
    assert.are.same(s:order():totable(), got)
  end)

  it('rejects bad options with errors that name the problem', function()
    local function err(f)
      local ok, e = pcall(f)
      assert.is_false(ok)
      return tostring(e)
    end
    assert.matches('DistributedSampler: nl.dist is not initialized', err(function() data.DistributedSampler(10) end), 1, true)
    assert.matches('DistributedSampler: rank must be an integer in 0..1, got 2',
      err(function() data.DistributedSampler(10, { num_replicas = 2, rank = 2 }) end), 1, true)
    assert.matches('DistributedSampler: num_replicas must be a positive integer',
      err(function() data.DistributedSampler(10, { num_replicas = 0, rank = 0 }) end), 1, true)
    assert.matches("DistributedSampler: unknown options 'seeds', 'shufle'",
      err(function() data.DistributedSampler(10, { num_replicas = 2, rank = 0, shufle = false, seeds = 3 }) end), 1, true)
    local s = data.DistributedSampler(10, { num_replicas = 2, rank = 0 })
    assert.matches('DataLoader: give shuffle or a sampler, not both',
      err(function() data.DataLoader(data.TensorDataset(nl.ones(10)), { sampler = s, shuffle = true }) end), 1, true)
    assert.matches('set_epoch: the epoch must be a non-negative integer', err(function() s:set_epoch(-1) end), 1, true)
    local wrong = data.DistributedSampler(20, { num_replicas = 1, rank = 0 })
    local loader = data.DataLoader(data.TensorDataset(nl.ones(10)), { sampler = wrong })
    assert.matches('DataLoader: sampler:order() returned a row index outside 1..10',
      err(function() loader:iter() end), 1, true)
  end)
end)
