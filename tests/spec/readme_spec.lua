-- README.md's code blocks marked `<!-- readme_spec: name -->`: each is run
-- as bin/nnlua runs a script (a process of its own, with the runner's
-- globals nl, nn, optim and data and nothing else), and again in this
-- process in an environment of those globals, where what it made is
-- checked against what the README says of it. A block the README changes
-- so that it no longer runs, or no longer does what its comments say,
-- fails here.
local nl = require 'nnlua'
local S = require 'support'
local nn = nl.nn

local readme = S.read(S.root .. '/README.md')

-- the marked blocks: name -> source
local blocks = {}
for name, src in readme:gmatch('<!%-%- readme_spec: ([%w_]+) %-%->\n```lua\n(.-)\n```') do
  assert(blocks[name] == nil, 'two README blocks named ' .. name)
  blocks[name] = src
end

-- runs block name in an environment holding the runner's globals (and
-- Lua's own, print silenced); returns the environment, with the block's
-- top-level variables
local function run_here(name)
  local src = assert(blocks[name], 'no README block named ' .. name)
  local env = { nl = nl, nn = nl.nn, optim = nl.optim, data = nl.data, print = function() end }
  setmetatable(env, { __index = function(_, k)
    -- (only Lua's own globals: a spec's F or S would hide a block's missing local)
    if k == 'F' or k == 'S' then return nil end
    return _G[k]
  end })
  -- the block's top-level locals become the environment's fields, for the
  -- checks to read (the runner's run keeps them local)
  src = ('\n' .. src):gsub('\nlocal ', '\n')
  local f = assert(loadstring(src, '=README:' .. name))
  setfenv(f, env)
  f()
  return env
end

-- the block run by bin/nnlua: it must exit 0
local function run_runner(name)
  local path = os.tmpname() .. '.lua'
  S.write(path, blocks[name])
  local out = os.tmpname()
  local rc = os.execute(('cd %s && bin/nnlua %s > %s 2>&1'):format(S.q(S.root), S.q(path), S.q(out)))
  local text = S.read(out)
  os.remove(path)
  os.remove(out)
  assert(rc == 0, ('README block %s failed under bin/nnlua:\n%s'):format(name, text))
end

describe('README code blocks', function()
  it('are found: custom_module, checkpoint, lbfgs, linalg and save_load', function()
    for _, name in ipairs({ 'custom_module', 'checkpoint', 'lbfgs', 'linalg', 'save_load' }) do
      assert.is_string(blocks[name], name)
    end
  end)

  for _, name in ipairs({ 'custom_module', 'checkpoint', 'lbfgs', 'linalg', 'save_load' }) do
    it(name .. ' runs under bin/nnlua, whose globals are nl, nn, optim and data', function()
      run_runner(name)
    end)
  end

  it('profiler runs under bin/nnlua; its rows count what the block says', function()
    run_runner('profiler')
    local env = run_here('profiler')
    local count = {}
    for _, r in ipairs(env.rows) do count[r.key] = r.count end
    assert.are.equal(5, count.train_step)
    assert.are.equal(10, count['nn.Linear'])
    assert.are.equal(10, count.LinearBackward)
    assert.are.equal(5, count['Optimizer.step#Adam.step'])
  end)

  it('save_load: the checkpoint gives back its epoch, the weights and the optimizer', function()
    local env = run_here('save_load')
    assert.are.equal(3, env.ck.epoch)
    local x = nl.randn(4, 3)
    S.same_bits(env.copy(x), env.model(x), 'the copy of the model')
    assert.are.equal('Adam', env.ck.optim.optimizer)
  end)

  it('custom_module: children, parameters, buffers and the gradients it says', function()
    local env = run_here('custom_module')
    local net = env.net
    assert.are.same({ 'fc1.weight', 'fc1.bias', 'fc2.weight', 'fc2.bias', 'log_temp' }, S.names_of(net:named_parameters()))
    assert.are.equal(2, #net:children())
    local keys = {}
    for k in pairs(net:state_dict()) do keys[#keys + 1] = k end
    table.sort(keys)
    -- the persistent buffer in, the other out
    assert.are.same({ 'fc1.bias', 'fc1.weight', 'fc2.bias', 'fc2.weight', 'log_temp', 'seen' }, keys)
    assert.are.same({ 5, 3 }, env.out:shape())
    assert.are.equal(5, net.seen:item())                    -- counted in training
    for _, p in ipairs(net:parameters()) do assert.is_not_nil(p.grad) end
    -- d sum(out) / d log_temp = -sum(out) (out = z / e^t at t = 0)
    assert.is_true(math.abs(net.log_temp.grad:item() + env.out:sum():item()) < 1e-4)
    net:eval()
    net(nl.randn(2, 4))
    assert.are.equal(5, net.seen:item())                    -- not in eval
    -- the class rebuilds from a checkpoint, buffers and all
    local path = os.tmpname()
    net:save(path)
    local back = nn.load(path)
    os.remove(path)
    local x = nl.randn(3, 4)
    S.same_bits(back:eval()(x), net(x), 'rebuilt')
    assert.are.equal(5, back.seen:item())
  end)

  it('checkpoint: the resumed optimizer goes on as the first, the state dicts copy the model', function()
    local env = run_here('checkpoint')
    local x = nl.randn(4, 3)
    -- copy holds model's weights, through the state dict and then the safetensors file
    S.same_bits(env.copy(x), env.model(x), 'copy through the state dict and the safetensors file')
    assert.are.same({ note = 'any string' }, env.meta)
    local names = {}
    for name in pairs(env.tensors) do names[#names + 1] = name end
    table.sort(names)
    assert.are.same({ '0.bias', '0.weight', '2.bias', '2.weight' }, names)
    -- the original trained 5 more steps with its own optimizer: the same
    -- weights as the resumed one, bit for bit (Adam's restored moments and
    -- step counts; fresh ones take other steps)
    env.train(env.model, env.opt, 5)
    S.same_bits(env.m(x), env.model(x), 'resumed training')
  end)

  it('gradient_penalty runs under bin/nnlua, and its penalty reaches the weights', function()
    run_runner('gradient_penalty')
    local env = run_here('gradient_penalty')
    assert.is_true(env.g.is_requires_grad, 'the gradient has a graph')
    assert.is_true(env.penalty:item() > 0)
    for _, p in ipairs(env.D:parameters()) do assert.is_not_nil(p.grad) end
    -- a penalty alone sends the first layer's weight a gradient
    local x = nl.randn(4, 2):requires_grad()
    local d = env.D(x)
    local g = nl.autograd.grad(d, x, { grad_outputs = nl.ones_like(d), create_graph = true })[1]
    env.opt:zero_grad()
    g:pow(2):sum():backward()
    assert.is_true(env.D:parameters()[1].grad:abs():sum():item() > 0)
  end)

  it('lbfgs: recovers the least-squares fit it promises', function()
    local env = run_here('lbfgs')
    local w = env.model.weight:totable()[1]
    for i, want in ipairs({ 1, -2, 0.5 }) do assert.is_true(math.abs(w[i] - want) < 1e-4, 'weight ' .. w[i]) end
    assert.is_true(math.abs(env.model.bias:item() - 0.3) < 1e-4)
  end)

  it('linalg_decomp runs under bin/nnlua and gives what its comments say', function()
    run_runner('linalg_decomp')
    local env = run_here('linalg_decomp')
    assert.is_true(env.err < 1e-13)
    S.expect_close(env.L, (env.S * env.S):flip(1), 'eigh of A^T A', 1e-10, 1e-10)
    assert.are.same({ 3, 2 }, env.X:shape())
    assert.is_true(math.abs(env.nuc:item() - env.S:sum():item()) < 1e-12)
    assert.are.same({ 5, 3 }, env.Q:shape())
  end)

  it('functional_call runs under bin/nnlua; the gradients reach the tensors given, not the model\'s', function()
    run_runner('functional_call')
    local env = run_here('functional_call')
    for _, kv in ipairs(env.m:named_parameters()) do
      assert.is_nil(kv[2].grad, kv[1])
      assert.are.same(kv[2]:shape(), env.params[kv[1]].grad:shape(), kv[1])
    end
  end)

  it('autograd_functional runs under bin/nnlua and gives what its comments say', function()
    run_runner('autograd_functional')
    local env = run_here('autograd_functional')
    S.expect_close(env.H, nl.tensor({ { 4, 1 }, { 1, 6 } }, 'float64'), 'H', 1e-14, 1e-14)
    assert.are.equal(4, env.y:item())
    S.expect_close(env.hv, nl.tensor({ 4, 1 }, 'float64'), 'hv', 1e-14, 1e-14)
    S.expect_close(env.J[1][2], nl.tensor({ { 1, 0 }, { 0, -1 } }, 'float64'), 'J[1][2]', 0, 0)
    S.expect_close(env.J[2][1], nl.tensor({ 1, 1 }, 'float64'), 'J[2][1]', 0, 0)
  end)

  it('transforms runs under bin/nnlua; its loader gives augmented batches and the test set normalized', function()
    run_runner('transforms')
    local env = run_here('transforms')
    assert.are.equal(8, #env.losses)
    for _, l in ipairs(env.losses) do assert.is_true(l > 0 and l < 10, tostring(l)) end
    local plain = nl.data.FashionMNIST(nil, { train = false, flatten = false })
    local want = (plain:batch(nl.arange(1, 101, 1, 'int64')):unsqueeze(2) - 0.2860) / 0.3530
    assert.are.same({ 100, 1, 28, 28 }, env.xt:shape())
    assert.is_true((env.xt - want):abs():max():item() < 1e-6)
    -- a training batch: each image a 2-pixel shift, mirrored or not, of its own
    nl.manual_seed(4)
    local idx = nl.tensor({ 3, 3, 3, 3, 3, 3 }, 'int64')
    local xb = env.train:batch(idx)
    local img = (nl.data.FashionMNIST(nil, { flatten = false }):batch(idx):unsqueeze(2) - 0.2860) / 0.3530
    local padded = nl.nn.functional.pad(img[1], { 2, 2, 2, 2 }, 'constant', -0.2860 / 0.3530)
    local kinds = {}
    for k = 1, 6 do
      local found
      for i = 1, 5 do
        for j = 1, 5 do
          local win = padded:narrow(2, i, 28):narrow(3, j, 28)
          for _, m in ipairs({ win, win:flip(3) }) do
            if (xb[k] - m):abs():max():item() < 1e-6 then found = i .. j end
          end
        end
      end
      assert.is_truthy(found, 'image ' .. k)
      kinds[found] = true
    end
    assert.is_truthy(next(kinds, next(kinds)), 'six draws alike')
  end)

  it('linalg: the solve, factors and gradient it says', function()
    local env = run_here('linalg')
    local A = env.A:detach()
    S.expect_close(nl.matmul(A, env.x), env.b, 'A x = b', 1e-12, 1e-12)
    S.expect_close(nl.matmul(env.L, env.L:t()), A, 'L L^T = A', 1e-12, 1e-12)
    assert.are.same({ 1, 2, 3 }, env.pivots:totable())      -- no row swapped, counted from 1
    assert.are.equal(1, env.sign:item())
    assert.is_true(math.abs(env.logabsdet:item() - math.log(43)) < 1e-12)
    S.expect_close(env.A.grad, nl.linalg.inv(A):t() * 43, 'det(A) inv(A)^T', 1e-12, 1e-12)
  end)
end)
