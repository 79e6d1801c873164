-- optim.swa_utils: AveragedModel, SWALR and update_bn. Golden:
-- tests/golden/swa.lua (tests/golden/gen_swa.py, PyTorch 1.13): the
-- averaged state dict (PyTorch's names) and output after each of four
-- updates, for the default average and an EMA avg_fn, with and without
-- use_buffers; SWALR's lrs over 15 steps for both strategies and several
-- anneal_epochs; BatchNorm running statistics after update_bn. Closed
-- forms: the default average is the mean of the models; errors.
local nl = require 'nnlua'
local S = require 'support'

local nn, optim = nl.nn, nl.optim
local G = dofile(S.root .. '/tests/golden/swa.lua')
local swa = optim.swa_utils
local TOL = { 2e-6, 1e-7 }

local function mlp() return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2)) end

local function check_state(m, want, what)
  local sd = m:state_dict()
  local names = {}
  for _, e in ipairs(want) do
    names[#names + 1] = e.name
    assert.is_true(nl.is_tensor(sd[e.name]), what .. ': no ' .. e.name)
    S.expect_golden(sd[e.name], e.t, what .. ' ' .. e.name, e.t.dtype ~= 'int64' and TOL or nil)
  end
  local got = m:state_names()
  table.sort(got)
  table.sort(names)
  assert.are.same(names, got, what .. ': state dict names')
end

local function ema(avg, p) return avg * G.ema_decay + p * (1 - G.ema_decay) end

describe('optim.swa_utils.AveragedModel', function()
  for _, c in ipairs(G.averaged) do
    it('averages as PyTorch 1.13 does: ' .. c.name, function()
      local model = mlp()
      model:load_state_dict(S.golden_sd(c.init))
      local avg = swa.AveragedModel(model, { avg_fn = c.avg_fn and ema or nil, use_buffers = c.use_buffers })
      avg:eval()
      local x = S.from_golden(c.x)
      for k, st in ipairs(c.steps) do
        model:load_state_dict(S.golden_sd(st.model))
        avg:update_parameters(model)
        check_state(avg, st.averaged, ('%s step %d'):format(c.name, k))
        S.expect_golden(nl.no_grad(function() return avg(x) end), st.out, c.name .. ' out', { 1e-5, 1e-6 })
      end
      -- the copy is the averaged model's own: the model's tensors unchanged
      S.same_bits(model[1].weight, S.from_golden(c.steps[#c.steps].model[1].t), c.name .. ' model untouched')
    end)
  end

  it('gives the mean of the models with the default average (closed form)', function()
    nl.manual_seed(3)
    local model = nn.Linear(4, 3)
    local avg = swa.AveragedModel(model)
    local sum = nl.zeros(3, 4, 'float64')
    for _ = 1, 5 do
      nl.no_grad(function() model.weight:copy_(nl.randn(3, 4)) end)
      sum = sum + model.weight:double()
      avg:update_parameters(model)
    end
    S.expect_close(avg.module.weight:double(), sum / 5, 'mean', 1e-6, 1e-6)
    assert.are.equal(5, avg.n_averaged:item())
    assert.are.equal('int64', avg.n_averaged:dtype())
  end)

  it('moves 1:1 with state dicts and nn.load', function()
    local model = mlp()
    local avg = swa.AveragedModel(model)
    avg:update_parameters(model)
    local other = swa.AveragedModel(mlp())
    other:load_state_dict(avg:state_dict())
    assert.are.equal(1, other.n_averaged:item())
    S.same_bits(other.module[1].weight, avg.module[1].weight, 'loaded')
    local path = S.tmpdir() .. '/avg.safetensors'
    avg:save(path)
    local back = nn.load(path)
    assert.are.equal('AveragedModel', back.__name)
    S.same_bits(back.module[4].weight, avg.module[4].weight, 'nn.load')
    assert.are.equal(1, back.n_averaged:item())
  end)

  it('refuses bad arguments and a model of another shape', function()
    local model = mlp()
    S.contains(S.errmsg(swa.AveragedModel, 5), 'AveragedModel')
    S.contains(S.errmsg(swa.AveragedModel, model, { avg_fn = 3 }), 'avg_fn must be a function')
    S.contains(S.errmsg(swa.AveragedModel, model, { use_buffers = 1 }), 'use_buffers must be a boolean')
    S.contains(S.errmsg(swa.AveragedModel, model, { decay = 0.9 }), "unknown option 'decay'")
    local avg = swa.AveragedModel(model)
    S.contains(S.errmsg(avg.update_parameters, avg, nn.Linear(3, 4)), 'the model has 2 parameters, the averaged model 6')
    S.contains(S.errmsg(avg.update_parameters, avg,
      nn.Sequential(nn.Linear(3, 5), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2))), 'has shape [5,3] in the model')
    S.contains(S.errmsg(avg.update_parameters, avg, 'model'), 'update_parameters')
    S.contains(S.errmsg(avg.update_parameters), 'call it as swa_model:update_parameters')
    avg:update_parameters(model)
    local bad = swa.AveragedModel(model, { avg_fn = function() return 1 end })
    bad:update_parameters(model)
    S.contains(S.errmsg(bad.update_parameters, bad, model), 'avg_fn must return a tensor, got 1')
  end)
end)

describe('optim.swa_utils.SWALR', function()
  local function build(c)
    local groups = {}
    for i, lr in ipairs(G.lrs) do groups[i] = { params = { nl.zeros(1):requires_grad() }, lr = lr } end
    local opt = optim.SGD(groups, { lr = G.lrs[1], momentum = 0.9 })
    return opt, swa.SWALR(opt, c.opts)
  end
  local function check(got, want, what)
    for i = 1, #want do
      assert.is_true(S.close(got[i], want[i], 1e-12, 0), ('%s, group %d: got %.17g, want %.17g'):format(what, i,
        got[i], want[i]))
    end
  end

  for _, c in ipairs(G.swalr) do
    it("gives PyTorch 1.13's lrs: " .. c.name, function()
      local opt, sched = build(c)
      check(S.lrs_of(opt), c.lrs[1], c.name .. ' made')
      for k = 2, #c.lrs do
        opt:step()
        sched:step()
        check(S.lrs_of(opt), c.lrs[k], ('%s step %d'):format(c.name, k - 1))
        check(sched:get_last_lr(), c.lrs[k], ('%s get_last_lr %d'):format(c.name, k - 1))
      end
      assert.are.equal(#c.lrs - 1, sched.last_epoch)
    end)
  end

  it('resumes from state_dict exactly', function()
    local c = G.swalr[3]
    local opt, sched = build(c)
    for _ = 1, 2 do sched:step() end
    local osd, ssd = opt:state_dict(), sched:state_dict()
    local opt2, sched2 = build(c)
    opt2:load_state_dict(osd)
    sched2:load_state_dict(ssd)
    for k = 4, #c.lrs do
      sched2:step()
      check(S.lrs_of(opt2), c.lrs[k], 'resumed step ' .. (k - 1))
    end
  end)

  it('takes last_epoch, and refuses bad options', function()
    local opt = optim.SGD({ { params = { nl.zeros(1):requires_grad() } }, { params = { nl.zeros(1):requires_grad() } } },
                          { lr = 0.1 })
    S.contains(S.errmsg(swa.SWALR, opt, { swa_lr = 0.1, last_epoch = 4 }), 'param group 1 has no initial_lr')
    swa.SWALR(opt, { swa_lr = 0.05 })
    local sched = swa.SWALR(opt, { swa_lr = 0.05, last_epoch = 4 })
    assert.are.equal(5, sched.last_epoch)
    assert.are.equal(0.05, opt.param_groups[2].swa_lr)
    S.contains(S.errmsg(swa.SWALR, opt, {}), 'swa_lr is required')
    S.contains(S.errmsg(swa.SWALR, opt, { swa_lr = { 0.1 } }), 'a list of 2 numbers, one per param group')
    S.contains(S.errmsg(swa.SWALR, opt, { swa_lr = 0.1, anneal_strategy = 'exp' }),
               "anneal_strategy must be 'cos' or 'linear', got 'exp'")
    S.contains(S.errmsg(swa.SWALR, opt, { swa_lr = 0.1, anneal_epochs = -1 }), 'anneal_epochs must be a whole number >= 0')
    S.contains(S.errmsg(swa.SWALR, opt, { swa_lr = 0.1, anneal_epochs = 2.5 }), 'anneal_epochs must be')
    S.contains(S.errmsg(swa.SWALR, opt, { swa_lr = 0.1 }, 5), 'SWALR: takes (optimizer, {options})')
    S.contains(S.errmsg(swa.SWALR, 'opt', { swa_lr = 0.1 }), 'SWALR: expected an optimizer')
    S.contains(S.errmsg(sched.step), 'call it as sched:step')
  end)
end)

describe('optim.swa_utils.update_bn', function()
  local build = {
    mlp = mlp,
    mlp2 = function()
      return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4, { momentum = 0.3 }), nn.Tanh(), nn.Linear(4, 5),
                           nn.BatchNorm1d(5))
    end,
    convy = function()
      local Convy = nn.Module:extend('SwaSpecConvy')
      function Convy:init()
        self.conv = nn.Conv2d(2, 3, 3, { padding = 1 })
        self.bn = nn.BatchNorm2d(3, { momentum = 0.3 })
        self.fc = nn.Linear(3 * 4 * 4, 2)
      end
      function Convy:forward(x) return self.fc(self.bn(self.conv(x)):relu():flatten(2)) end
      return Convy()
    end,
  }
  for _, c in ipairs(G.update_bn) do
    it("recomputes the running statistics as PyTorch 1.13's: " .. c.name, function()
      local model = build[c.kind]()
      model:load_state_dict(S.golden_sd(c.init))
      model:eval()
      local momenta = {}
      for i, m in ipairs(model:modules()) do momenta[i] = rawget(m, 'momentum') end
      local loader = {}
      for i, b in ipairs(c.batches) do
        local x = S.from_golden(b)
        loader[i] = c.pairs and { x, nl.zeros(x:size(1)) } or x
      end
      assert.is_nil(swa.update_bn(loader, model))
      check_state(model, c.after, c.name)
      assert.is_false(model.training)
      for i, m in ipairs(model:modules()) do
        assert.are.equal(momenta[i], rawget(m, 'momentum'))
        assert.is_false(m.training)
      end
    end)
  end

  it('takes a DataLoader, and keeps training mode', function()
    local c = G.update_bn[2]
    local model = build[c.kind]()
    model:load_state_dict(S.golden_sd(c.init))
    model:train()
    -- the golden batches (6 and 5 rows) as a DataLoader's batches of 6
    local xs = {}
    for i, b in ipairs(c.batches) do xs[i] = S.from_golden(b) end
    local X = nl.cat(xs, 1)
    local loader = nl.data.DataLoader(nl.data.TensorDataset(X, nl.zeros(X:size(1))), { batch_size = 6 })
    swa.update_bn(loader, model)
    check_state(model, c.after, 'DataLoader')
    assert.is_true(model.training)
  end)

  it('leaves a model without BatchNorm alone, and refuses bad input', function()
    local lin = nn.Linear(2, 2)
    assert.is_nil(swa.update_bn({ 5 }, lin))
    local model = mlp()
    S.contains(S.errmsg(swa.update_bn, 5, model), 'update_bn: expected a DataLoader or a list of batches')
    S.contains(S.errmsg(swa.update_bn, {}, 'model'), 'update_bn: expected a module')
    model:eval()
    S.contains(S.errmsg(swa.update_bn, { nl.randn(4, 3), 'x' }, model), "batch 2 must be a tensor")
    -- the momenta and mode are restored after a failure too
    assert.are.equal(0.1, model[2].momentum)
    assert.is_false(model.training)
    S.contains(S.errmsg(swa.update_bn, { nl.randn(4, 5) }, model), 'Linear')
  end)

  it('recomputes subclasses of BatchNorm too (closed form), as PyTorch\'s isinstance', function()
    local MyBN = nn.BatchNorm1d:extend('SwaSpecMyBN')
    local P = nn.utils.parametrize
    local Twice = nn.Module:extend('SwaSpecTwice')
    function Twice:forward(w) return w * 2 end
    local model = nn.Sequential(MyBN(2), nn.BatchNorm1d(2))
    P.register_parametrization(model[2], 'weight', Twice())
    local xs = { nl.randn(5, 2), nl.randn(3, 2) }
    swa.update_bn(xs, model)
    local want = (xs[1]:mean(1) + xs[2]:mean(1)) / 2
    S.expect_close(model[1].running_mean, want, 'subclass running_mean', 1e-5, 1e-6)
    assert.are.equal(2, model[1].num_batches_tracked:item())
    -- (a parametrized BatchNorm's second layer sees the first's output)
    assert.are.equal(2, model[2].num_batches_tracked:item())
  end)

  it('momentum false on BatchNorm is the plain average of the batches (closed form)', function()
    local bn = nn.BatchNorm1d(2, { momentum = false })
    local xs = { nl.randn(5, 2), nl.randn(3, 2), nl.randn(4, 2) }
    local sum = nl.zeros(2)
    for _, x in ipairs(xs) do
      bn(x)
      sum = sum + x:mean(1)
    end
    S.expect_close(bn.running_mean, sum / 3, 'mean', 1e-5, 1e-6)
    S.contains(tostring(bn), 'momentum=None')
  end)
end)
