-- Training survives being killed: fit writes checkpoints (model, optimizer,
-- generators, progress), a run killed with SIGKILL mid-epoch is resumed,
-- and every loss after the resume equals the uninterrupted run's, bit for
-- bit at one thread (dropout included, so the generators must be right).
local S = require 'support'

local script = S.path_prelude .. [[
local nl = require 'nnlua'
local nn, data = nl.nn, nl.data
local path = arg[1]
nl.manual_seed(11)
local train = data.fashion_mnist()
local X, y = train.X:narrow(1, 1, 2048), train.y:narrow(1, 1, 2048)
local model = nn.Sequential(nn.Linear(784, 64), nn.ReLU(), nn.Dropout(0.2), nn.Linear(64, 10))
model:compile { optimizer = 'adam', lr = 1e-3, loss = 'cross_entropy', metrics = { 'accuracy' } }
local h = model:fit(X, y, { epochs = 3, batch_size = 64, verbose = 0, resume = true,
                            checkpoint = { path = path, every = 5 },
                            on_step = function(e, s, l)
                              io.write(('step %d %d %.17g\n'):format(e, s, l)); io.flush()
                            end })
io.write(('history %.17g %.17g %.17g\n'):format(h.loss[1], h.loss[2], h.loss[3]))
]]

-- the same with a StepLR schedule and early stopping that restores the
-- best weights (BatchNorm's running statistics among them): the lrs, the
-- stop and the weights left at the end must come out equal too
local script_callbacks = S.path_prelude .. [[
local nl = require 'nnlua'
local nn, optim = nl.nn, nl.optim
local path = arg[1]
nl.manual_seed(5)
local X, y = nl.randn(256, 8), nl.randn(256, 1)
local Xv, yv = nl.randn(64, 8), nl.randn(64, 1)
local model = nn.Sequential(nn.Linear(8, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Dropout(0.2), nn.Linear(32, 1))
model:compile { optimizer = 'sgd', lr = 0.05, momentum = 0.9, loss = 'mse' }
local sched = optim.StepLR(model.optimizer, { step_size = 2, gamma = 0.5 })
local h = model:fit(X, y, { epochs = 12, batch_size = 16, verbose = 0, resume = true, validation_data = { Xv, yv },
                            lr_scheduler = sched, checkpoint = { path = path, every = 5 },
                            early_stopping = { mode = 'max', patience = 3, restore_best_weights = true },
                            on_step = function(e, s, l)
                              io.write(('step %d %d %.17g\n'):format(e, s, l)); io.flush()
                            end })
local out = {}
for e = 1, #h.loss do out[e] = ('%.17g %.17g %.17g'):format(h.loss[e], h.val_loss[e], h.lr[e]) end
io.write('epochs ', #h.loss, '\n')
io.write('history ', table.concat(out, ' '), '\n')
local sd, names = model:state_dict(), model:state_names()
for _, k in ipairs(names) do
  local v = {}
  for i, x in ipairs(sd[k]:double():reshape(-1):totable()) do v[i] = ('%.17g'):format(x) end
  io.write('weights ', k, ' ', table.concat(v, ' '), '\n')
end
]]

local function write(path, text)
  local f = assert(io.open(path, 'w'))
  f:write(text)
  f:close()
end

-- runs the script; with kill_after, SIGKILLs it once that many steps printed
local function run(script_path, ckpt, kill_after)
  local p = io.popen(('sh -c \'echo pid $$; NNLUA_NUM_THREADS=1 exec luajit %s %s\' 2>&1'):format(script_path, ckpt))
  local pid = p:read('*l'):match('pid (%d+)')
  local lines, steps = {}, 0
  for line in p:lines() do
    lines[#lines + 1] = line
    if line:match('^step') then steps = steps + 1 end
    if kill_after and steps == kill_after then
      os.execute('kill -9 ' .. pid)
      break
    end
  end
  p:close()
  return lines
end

local function losses(lines)
  local out = {}
  for _, l in ipairs(lines) do
    local e, s, v = l:match('^step (%d+) (%d+) (%S+)')
    if e then out[e .. ':' .. s] = v end
  end
  return out
end

describe('fit with checkpoints', function()
  local tmp = os.tmpname()
  local script_path = tmp .. '.lua'
  write(script_path, script)
  teardown(function() os.remove(script_path); os.remove(tmp .. '-a'); os.remove(tmp .. '-b'); os.remove(tmp) end)

  it('resumes a run killed with SIGKILL so that its later losses equal an uninterrupted run', function()
    local full = run(script_path, tmp .. '-a')
    local want = losses(full)
    local n = 0
    for _ in pairs(want) do n = n + 1 end
    assert.are.equal(96, n, table.concat(full, '\n'))          -- 3 epochs x 32 steps

    local first = run(script_path, tmp .. '-b', 45)               -- killed in epoch 2
    assert.are.equal(45, #first)
    -- the child may have run a little past the kill before the signal
    -- landed; it resumes from its last checkpoint, whichever that was
    local rest = run(script_path, tmp .. '-b')
    local got = losses(rest)
    local e0, s0
    for _, l in ipairs(rest) do
      local e, st = l:match('^step (%d+) (%d+)')
      if e then e0, s0 = tonumber(e), tonumber(st); break end
    end
    assert.is_truthy(e0, table.concat(rest, '\n'))
    local done = (e0 - 1) * 32 + s0 - 1                           -- steps before the resume point
    assert.is_true(done >= 40, 'resumed from epoch ' .. e0 .. ' step ' .. s0 .. ', before the kill')
    assert.are.equal(0, (s0 - 1) % 5, 'a resume point is a checkpoint: every 5 steps')
    local compared = 0
    for k, v in pairs(got) do
      assert.are.equal(want[k], v, 'loss at epoch:step ' .. k)
      compared = compared + 1
    end
    assert.are.equal(96 - done, compared)
    -- the per-epoch history, partly from before the kill, matches too
    local hist_full = full[#full]:match('^history (.*)$')
    local hist_rest = rest[#rest]:match('^history (.*)$')
    assert.are.equal(hist_full, hist_rest)
  end)

  it('with an lr_scheduler and early_stopping, the resumed run stops where the uninterrupted one did, '
     .. 'with its lrs and best weights', function()
    local path = tmp .. '-cb.lua'
    write(path, script_callbacks)
    local function tail(lines)          -- all but the step lines
      local out = {}
      for _, l in ipairs(lines) do if not l:match('^step') then out[#out + 1] = l end end
      return out
    end
    local full = run(path, tmp .. '-c')
    local epochs = tonumber(table.concat(full, '\n'):match('\nepochs (%d+)'))
    -- 16 steps an epoch; killed in epoch 2 (after the checkpoint of its
    -- step 5), before its schedule step and the earliest stop (epoch 4,
    -- with patience 3)
    assert.is_true(epochs ~= nil and epochs >= 4 and epochs < 12, table.concat(tail(full), '\n'))
    local first = run(path, tmp .. '-d', 25)
    assert.are.equal(25, #first)
    local rest = run(path, tmp .. '-d')
    local want, got, compared = losses(full), losses(rest), 0
    for k, v in pairs(got) do
      assert.are.equal(want[k], v, 'loss at epoch:step ' .. k)
      compared = compared + 1
    end
    assert.is_true(compared >= 16 * (epochs - 2), 'compared ' .. compared .. ' steps')
    assert.are.same(tail(full), tail(rest))
    os.remove(path); os.remove(tmp .. '-c'); os.remove(tmp .. '-d')
  end)
end)
