-- Adamax, NAdam, RAdam, Adadelta, Rprop and ASGD (nl.optim).
-- Golden: tests/golden/optim_extra.lua (tests/golden/gen_optim_extra.py,
-- PyTorch 1.13): optim_spec's linear model 4 -> 3 trained 10 steps by each
-- configuration (defaults, weight decay, two param groups with their own
-- options), in float32 and float64, with the loss computed by nnlua ops and
-- autograd; the parameters after every step, and the state tensors a
-- configuration records (ASGD's average, Rprop's step sizes, Adadelta's
-- running averages). Tolerance on every element:
--   |got - want| <= RTOL * |want| + ATOL,
--   float32: RTOL 1e-5, ATOL 1e-6; float64: RTOL 1e-10, ATOL 1e-12.
-- float64 holds to 1e-10 only with 1.13's float32 scalars: NAdam's
-- mu_product, ASGD's eta and mu.
local nl = require 'nnlua'
local S = require 'support'
local ffi = require 'ffi'

local optim, nn = nl.optim, nl.nn
local G = dofile(S.root .. '/tests/golden/optim_extra.lua')
local TOL = { float32 = { 1e-5, 1e-6 }, float64 = { 1e-10, 1e-12 } }
local NAMES = { 'Adamax', 'NAdam', 'RAdam', 'Adadelta', 'Rprop', 'ASGD' }
local flat = S.flat

local function assert_close(got, want, rtol, atol, what)
  assert.are.equal(#want, #got, what .. ': element count')
  for i = 1, #want do
    if not S.close(got[i], want[i], rtol, atol) then
      error(('%s: element %d: got %.10g, want %.10g'):format(what, i, got[i], want[i]), 2)
    end
  end
end

-- the golden problem (W, b leaves that require grad; x, t data), its loss
-- and the case's optimizer over it, as optim_spec's
local function problem(dtype, W, b) return S.optim_problem(G.problem, dtype, W, b) end
local loss_of = S.optim_loss
local function make_opt(c, m, opts) return S.optim_make(optim, c, m, opts) end
local train_step = S.optim_step
local function find_case(name, dtype) return S.optim_find(G.optimizers, name, dtype) end

describe('Adamax, NAdam, RAdam, Adadelta, Rprop and ASGD against PyTorch', function()
  it('the golden data covers every optimizer, with weight decay and param groups', function()
    local seen = {}
    for _, c in ipairs(G.optimizers) do
      seen[c.optim] = seen[c.optim] or {}
      if c.groups then seen[c.optim].groups = true end
      if c.opts.weight_decay or c.optim == 'Rprop' then seen[c.optim].wd = true end   -- Rprop has none
    end
    for _, n in ipairs(NAMES) do
      assert.is_table(seen[n], n)
      assert.is_true(seen[n].groups and seen[n].wd, n)
    end
  end)

  for _, c in ipairs(G.optimizers) do
    it(('%s (%s): parameters and state after each of %d steps'):format(c.name, c.dtype, #c.steps), function()
      local m = problem(c.dtype)
      local opt = make_opt(c, m)
      local rtol, atol = TOL[c.dtype][1], TOL[c.dtype][2]
      for step, want in ipairs(c.steps) do
        train_step(opt, m)
        assert_close(flat(m.W), want.W, rtol, atol, ('step %d W'):format(step))
        assert_close(flat(m.b), want.b, rtol, atol, ('step %d b'):format(step))
        for _, k in ipairs(c.record) do
          assert_close(flat(opt.state[1][k]), want[k .. '_W'], rtol, atol, ('step %d %s of W'):format(step, k))
          assert_close(flat(opt.state[2][k]), want[k .. '_b'], rtol, atol, ('step %d %s of b'):format(step, k))
        end
      end
    end)
  end
end)

-- Plain Lua versions of the updates, element by element in double (STYLE
-- 8), against the C kernels on float64 parameters long enough to cross
-- their 256-element blocks. The float32 scalars of NAdam and ASGD are
-- rounded as 1.13 rounds them (the golden cases above check that they are).
describe('update kernels against plain loops', function()
  local N = 1037
  local rnd = S.rng(777)
  local p0, grads = {}, {}
  for i = 1, N do p0[i] = rnd() end
  for s = 1, 4 do
    grads[s] = {}
    for i = 1, N do grads[s][i] = rnd() * (s == 2 and 1e-3 or 1) end
  end
  grads[3][5], grads[3][6] = 0, -grads[2][6]        -- Rprop: no change, and a sign flip
  local F = ffi.new('float[1]')
  local function f32(x) F[0] = x; return F[0] end
  local function sign(x) return x > 0 and 1 or (x < 0 and -1 or 0) end

  local ref = {}
  function ref.Adamax(o, p, g, st)
    st.t = (st.t or 0) + 1
    st.m, st.u = st.m or {}, st.u or {}
    local b1, b2 = o.betas[1], o.betas[2]
    local clr = o.lr / (1 - b1 ^ st.t)
    for i = 1, N do
      local gi = g[i] + o.weight_decay * p[i]
      local m = (st.m[i] or 0) * b1 + (1 - b1) * gi
      local u = math.max((st.u[i] or 0) * b2, math.abs(gi) + o.eps)
      st.m[i], st.u[i] = m, u
      p[i] = p[i] - clr * m / u
    end
  end
  function ref.NAdam(o, p, g, st)
    st.t = (st.t or 0) + 1
    st.m, st.v, st.prod = st.m or {}, st.v or {}, st.prod or 1
    local b1, b2, t = o.betas[1], o.betas[2], st.t
    local mu = b1 * (1 - 0.5 * 0.96 ^ (t * o.momentum_decay))
    local mu_next = b1 * (1 - 0.5 * 0.96 ^ ((t + 1) * o.momentum_decay))
    st.prod = f32(st.prod * f32(mu))
    local prod_next = f32(f32(st.prod * f32(mu)) * f32(mu_next))   -- 1.13 counts mu twice
    local c1 = -o.lr * (1 - mu) / (1 - st.prod)
    local c2 = -o.lr * mu_next / (1 - prod_next)
    local bc2 = 1 - b2 ^ t
    for i = 1, N do
      local gi = g[i] + o.weight_decay * p[i]
      local m = (st.m[i] or 0) * b1 + (1 - b1) * gi
      local v = (st.v[i] or 0) * b2 + (1 - b2) * gi * gi
      st.m[i], st.v[i] = m, v
      local d = math.sqrt(v / bc2) + o.eps
      p[i] = p[i] + c1 * gi / d + c2 * m / d
    end
  end
  function ref.RAdam(o, p, g, st)
    st.t = (st.t or 0) + 1
    st.m, st.v = st.m or {}, st.v or {}
    local b1, b2, t = o.betas[1], o.betas[2], st.t
    local bc1, bc2 = 1 - b1 ^ t, 1 - b2 ^ t
    local rho_inf = 2 / (1 - b2) - 1
    local rho_t = rho_inf - 2 * t * b2 ^ t / bc2
    for i = 1, N do
      local gi = g[i] + o.weight_decay * p[i]
      local m = (st.m[i] or 0) * b1 + (1 - b1) * gi
      local v = (st.v[i] or 0) * b2 + (1 - b2) * gi * gi
      st.m[i], st.v[i] = m, v
      if rho_t > 5 then
        local rect = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
        p[i] = p[i] - m / bc1 * o.lr * math.sqrt(bc2) / (math.sqrt(v) + o.eps) * rect
      else
        p[i] = p[i] - m / bc1 * o.lr
      end
    end
  end
  function ref.Adadelta(o, p, g, st)
    st.sq, st.acc = st.sq or {}, st.acc or {}
    for i = 1, N do
      local gi = g[i] + o.weight_decay * p[i]
      local sq = (st.sq[i] or 0) * o.rho + (1 - o.rho) * gi * gi
      local d = math.sqrt((st.acc[i] or 0) + o.eps) / math.sqrt(sq + o.eps) * gi
      st.sq[i], st.acc[i] = sq, (st.acc[i] or 0) * o.rho + (1 - o.rho) * d * d
      p[i] = p[i] - o.lr * d
    end
  end
  function ref.Rprop(o, p, g, st)
    st.prev, st.size = st.prev or {}, st.size or {}
    for i = 1, N do
      local s = sign(g[i] * (st.prev[i] or 0))
      local size = (st.size[i] or o.lr) * (s > 0 and o.etas[2] or s < 0 and o.etas[1] or 1)
      size = math.min(math.max(size, o.step_sizes[1]), o.step_sizes[2])
      local gi = s < 0 and 0 or g[i]
      p[i] = p[i] - sign(gi) * size
      st.prev[i], st.size[i] = gi, size
    end
  end
  function ref.ASGD(o, p, g, st)
    st.t = (st.t or 0) + 1
    st.ax, st.eta, st.mu = st.ax or {}, st.eta or f32(o.lr), st.mu or 1
    for i = 1, N do
      local gi = g[i] + o.weight_decay * p[i]
      p[i] = p[i] * (1 - o.lambd * st.eta) - st.eta * gi
      st.ax[i] = st.mu == 1 and p[i] or st.ax[i] + (p[i] - st.ax[i]) * st.mu
    end
    st.eta = f32(o.lr / (1 + o.lambd * o.lr * st.t) ^ o.alpha)
    st.mu = f32(1 / math.max(1, st.t - o.t0))
  end

  local configs = {
    { 'Adamax', { lr = 0.01, betas = { 0.8, 0.9 }, eps = 1e-8, weight_decay = 0.1 } },
    { 'NAdam', { lr = 0.01, betas = { 0.9, 0.999 }, eps = 1e-8, weight_decay = 0.1, momentum_decay = 0.05 } },
    -- beta2 = 0.5: rho_t passes 5 at the fourth step
    { 'RAdam', { lr = 0.01, betas = { 0.9, 0.5 }, eps = 1e-8, weight_decay = 0.1 } },
    { 'Adadelta', { lr = 0.5, rho = 0.8, eps = 1e-6, weight_decay = 0.1 } },
    { 'Rprop', { lr = 0.01, etas = { 0.4, 1.3 }, step_sizes = { 0.005, 0.015 } } },
    { 'ASGD', { lr = 0.05, lambd = 0.1, alpha = 0.75, t0 = 2, weight_decay = 0.1 } },
  }
  for _, cfg in ipairs(configs) do
    local name, o = cfg[1], cfg[2]
    it(name .. ' float64: 4 steps over 1037 elements', function()
      local p = {}
      for i = 1, N do p[i] = p0[i] end
      local W = nl.tensor(p0, 'float64'):requires_grad()
      local opt = optim[name]({ W }, o)
      local st = {}
      for s = 1, 4 do
        W.grad = nl.tensor(grads[s], 'float64')
        opt:step()
        ref[name](o, p, grads[s], st)
        assert_close(flat(W), p, 1e-13, 1e-15, ('step %d'):format(s))
      end
      assert.are_not.same(p0, flat(W))
    end)
  end

  it('results do not depend on the thread count (a 100000-element parameter)', function()
    local prev = nl.get_num_threads()
    finally(function() nl.set_num_threads(prev) end)
    for _, name in ipairs(NAMES) do
      local function run(threads)
        nl.set_num_threads(threads)
        nl.manual_seed(7)
        local W = nl.randn(100, 1000):requires_grad()
        local opt = optim[name]({ W }, { weight_decay = name ~= 'Rprop' and 0.01 or nil })
        for _ = 1, 3 do
          W.grad = nl.randn(100, 1000)
          opt:step()
        end
        return W
      end
      local W1, W2 = run(1), run(2)
      assert.are.equal(0, (W1 - W2):abs():max():item(), name)
    end
  end)
end)

describe('Rprop and Adamax at the edges, as PyTorch 1.13', function()
  -- torch.sign(nan) is 0: a NaN gradient moves nothing and keeps the step
  -- size; the next gradient meets a NaN prev, a factor of 1 again.
  -- torch: p = [1., 2.]; Rprop([p], lr=0.1); grads [nan, 1], then [1, 1]
  -- -> p [1.0, 1.9] then [0.9, 1.78]; step_size [0.1, 0.1] then [0.1, 0.12]
  it('Rprop: a NaN gradient leaves its element, as torch.sign(nan) = 0', function()
    local p = nl.tensor({ 1, 2 }, 'float64'):requires_grad()
    local o = optim.Rprop({ p }, { lr = 0.1 })
    p.grad = nl.tensor({ 0 / 0, 1 }, 'float64')
    o:step()
    assert_close(flat(p), { 1, 1.9 }, 1e-15, 0, 'step 1')
    assert_close(flat(o.state[1].step_size), { 0.1, 0.1 }, 1e-15, 0, 'step 1 sizes')
    p.grad = nl.tensor({ 1, 1 }, 'float64')
    o:step()
    assert_close(flat(p), { 0.9, 1.78 }, 1e-15, 0, 'step 2')
    assert_close(flat(o.state[1].step_size), { 0.1, 0.12 }, 1e-15, 0, 'step 2 sizes')
  end)

  -- step_size starts at the lr of the first step; a later lr is not read
  it('Rprop: the lr matters at the first step only', function()
    local p = nl.tensor({ 0 }, 'float64'):requires_grad()
    local o = optim.Rprop({ p }, { lr = 0.1 })
    p.grad = nl.tensor({ 1 }, 'float64')
    o:step()
    o:set_lr(5)
    o:step()
    assert_close(flat(p), { -0.1 - 0.12 }, 1e-15, 0, 'p')
  end)

  -- torch.amax propagates NaN: exp_inf and the parameter turn NaN
  it('Adamax: a NaN gradient makes the element NaN', function()
    local p = nl.tensor({ 1, 2 }):requires_grad()
    local o = optim.Adamax({ p })
    p.grad = nl.tensor({ 0 / 0, 1 })
    o:step()
    local e = o.state[1].exp_inf:totable()
    assert.is_true(e[1] ~= e[1])
    assert_close({ e[2] }, { 1 + 1e-8 }, 1e-7, 0, 'exp_inf[2]')
    local v = p:totable()
    assert.is_true(v[1] ~= v[1])
    assert_close({ v[2] }, { 2 - 2e-3 }, 1e-6, 0, 'p[2]')
  end)
end)

describe('state_dict and resume', function()
  local names = { 'adamax_wd_groups', 'nadam_wd', 'nadam_groups', 'radam_wd_groups', 'adadelta_wd_groups',
                  'rprop_etas_groups', 'asgd_avg_wd_groups' }
  for _, name in ipairs(names) do
    it(name .. ': a run resumed from state_dict continues identically', function()
      local c = find_case(name, 'float32')
      local m = problem('float32')
      local opt = make_opt(c, m)
      for _ = 1, 4 do train_step(opt, m) end
      opt:set_lr(opt.lr * 0.5)                  -- a changed hyperparameter travels too
      local sd = opt:state_dict()
      local W4, b4 = m.W:detach():clone(), m.b:detach():clone()
      local traj = {}
      for s = 1, 6 do
        train_step(opt, m)
        traj[s] = { flat(m.W), flat(m.b) }
      end
      -- a fresh optimizer over parameters at step 4, with another lr when
      -- the state_dict brings the lr
      local function resumed(load)
        local m2 = problem('float32', W4:totable(), b4:totable())
        local opts2 = {}
        for k, v in pairs(c.opts) do opts2[k] = v end
        opts2.lr = load and 0.125 or opt.lr
        local opt2 = make_opt(c, m2, opts2)
        if load then opt2:load_state_dict(sd) end
        local same = true
        for s = 1, 6 do
          train_step(opt2, m2)
          if load then
            assert.are.same(traj[s][1], flat(m2.W), ('step %d W'):format(s))
            assert.are.same(traj[s][2], flat(m2.b), ('step %d b'):format(s))
          end
          same = same and S.close(flat(m2.W)[1], traj[s][1][1], 0, 0)
        end
        return same
      end
      resumed(true)
      -- a control: without the state the run goes elsewhere
      assert.is_false(resumed(false))
    end)
  end

  it('keeps the numbers of the state as numbers, and refuses other values for them', function()
    local w = nl.ones(2):requires_grad()
    local n = optim.NAdam({ w })
    local a = optim.ASGD({ nl.ones(2):requires_grad() }, { t0 = 0 })
    w.grad = nl.ones(2)
    a.param_groups[1].params[1].grad = nl.ones(2)
    for _ = 1, 2 do n:step(); a:step() end
    local sd = n:state_dict()
    assert.is_number(sd.state[1].mu_product)
    assert.is_true(sd.state[1].mu_product < 1)
    local sa = a:state_dict()
    assert.is_number(sa.state[1].eta)
    assert.are.equal(0.5, sa.state[1].mu)        -- 1 / max(1, 2 - t0)
    local cases = {
      { n, 'mu_product', 'x', 'NAdam: load_state_dict: state mu_product of parameter 1 must be a number, got string' },
      { n, 'mu_product', nl.ones(2), 'NAdam: load_state_dict: state mu_product of parameter 1 must be a number, got a tensor' },
      { n, 'mu_product', nil, 'NAdam: load_state_dict: state of parameter 1 lacks mu_product' },
      { a, 'eta', nl.ones(2), 'ASGD: load_state_dict: state eta of parameter 1 must be a number, got a tensor' },
      { a, 'mu', nil, 'ASGD: load_state_dict: state of parameter 1 lacks mu' },
      { a, 'ax', 3, 'ASGD: load_state_dict: state ax of parameter 1 must be a tensor, got 3' },
    }
    for _, c in ipairs(cases) do
      local o, k, v, msg = c[1], c[2], c[3], c[4]
      local d = o:state_dict()
      d.state[1][k] = v
      local before = o:state_dict()
      local ok, err = pcall(o.load_state_dict, o, d)
      assert.is_false(ok)
      assert.is_truthy(err:find(msg, 1, true), err)
      assert.are.equal(before.state[1].step, o.state[1].step)
    end
  end)

  -- the checkpoint file holds the state's numbers in JSON: NAdam's and
  -- ASGD's float32 values must come back to the bit
  it('resumes NAdam and ASGD exactly from a model checkpoint', function()
    local dir = S.tmpdir()
    for _, name in ipairs({ 'NAdam', 'ASGD', 'Rprop' }) do
      nl.manual_seed(3)
      local X, y = nl.randn(16, 3), nl.randn(16, 2)
      local function make() return nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)) end
      local function step(m, o)
        o:zero_grad()
        nn.functional.mse_loss(m(X), y):backward()
        o:step()
      end
      local opts = name == 'ASGD' and { lr = 0.05, t0 = 1 } or {}
      local m = make()
      local o = optim[name](m:parameters(), opts)
      for _ = 1, 3 do step(m, o) end
      local path = dir .. '/' .. name .. '.safetensors'
      m:save(path, { optimizer = o })
      local m2, extra = nn.load(path)
      local o2 = optim[name](m2:parameters())
      o2:load_state_dict(extra.optimizer)
      for _ = 1, 4 do
        step(m, o)
        step(m2, o2)
      end
      for k, t in pairs(m:state_dict()) do
        assert.are.same(flat(t), flat(m2:state_dict()[k]), name .. ' ' .. k)
      end
    end
  end)

  -- fit's checkpoints and resume = true (fit_spec's check, with these
  -- optimizers given by name)
  it('compile by name: fit resumed from its checkpoint goes on as the uninterrupted run', function()
    local dir = S.tmpdir()
    nl.manual_seed(42)
    local Xr, yr = nl.randn(40, 3), nl.randn(40, 1)
    for _, name in ipairs({ 'adamax', 'nadam', 'radam', 'adadelta', 'rprop', 'asgd' }) do
      local path = dir .. '/' .. name .. '.st'
      local function run(epochs, checkpoint, resume)
        nl.manual_seed(1)
        local m = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 1))
        m:compile { optimizer = name, loss = 'mse' }
        local h = m:fit(Xr, yr, { epochs = epochs, batch_size = 8, verbose = 0, resume = resume,
                                  checkpoint = checkpoint and { path = path } or nil })
        return h, m
      end
      local ha, ma = run(4)
      run(2, true, false)
      local hb, mb = run(4, true, true)
      assert.are.same(ha.loss, hb.loss, name)
      assert.are.same(flat(ma:state_dict()['2.weight']), flat(mb:state_dict()['2.weight']), name)
      assert.is_true(ha.loss[4] ~= ha.loss[1], name .. ' trains')
    end
  end)
end)

describe('compile by name', function()
  it("gives each optimizer by its lower-case name, with compile's default lr", function()
    local want = { adamax = { 'Adamax', 1e-3 }, nadam = { 'NAdam', 1e-3 }, radam = { 'RAdam', 1e-3 },
                   adadelta = { 'Adadelta', 1e-3 }, rprop = { 'Rprop', 0.01 }, asgd = { 'ASGD', 0.01 } }
    for name, w in pairs(want) do
      assert.are.equal(optim[w[1]], optim.by_name[name], name)
      local m = nn.Linear(2, 1)
      m:compile { optimizer = name:upper() == 'NADAM' and 'NAdam' or name, loss = 'mse' }
      assert.are.equal(w[1], m.optimizer.name)
      assert.are.equal(w[2], m.optimizer.lr)
      m:compile { optimizer = name, lr = 0.5, loss = 'mse' }
      assert.are.equal(0.5, m.optimizer.lr)
    end
    local m = nn.Linear(2, 1)
    local msg = S.errmsg(m.compile, m, { optimizer = 'nadam', momentum = 0.9 })
    S.contains(msg, "compile: momentum applies to sgd and rmsprop, not 'nadam'")
    msg = S.errmsg(m.compile, m, { optimizer = 'lbfgs' })
    S.contains(msg, "compile: unknown optimizer 'lbfgs' (adadelta, adagrad, adam, adamax, adamw, asgd, nadam, "
                    .. 'radam, rmsprop, rprop, sgd)')
  end)
end)

-- OneCycleLR cycles the first beta of any optimizer with betas, as
-- PyTorch 1.13's (which starts it at max_momentum), and refuses one with
-- neither betas nor momentum
describe('OneCycleLR over these optimizers', function()
  it("cycles Adamax's, NAdam's and RAdam's first beta; refuses Adadelta, Rprop and ASGD", function()
    for _, name in ipairs(NAMES) do
      local opt = optim[name]({ nl.zeros(2):requires_grad() }, { lr = 0.01 })
      local make = function() return optim.OneCycleLR(opt, { max_lr = 0.1, total_steps = 10 }) end
      if opt.param_groups[1].betas then
        local s = make()
        assert.are.equal(0.95, opt.param_groups[1].betas[1], name)
        assert.are.equal(0.999, opt.param_groups[1].betas[2], name)
        opt:step()
        s:step()
        assert.is_true(opt.param_groups[1].betas[1] < 0.95, name)
      else
        local ok, err = pcall(make)
        assert.is_false(ok)
        assert.is_truthy(err:find('OneCycleLR: cycle_momentum needs an optimizer with momentum or betas', 1, true), err)
      end
    end
  end)
end)

describe('optimizer errors', function()
  local W = nl.zeros(2, 2):requires_grad()
  local function two(g2) return { { params = { W } }, g2 } end
  local cases = {
    { 'Adamax: invalid beta at index 1: 1 %(must be in %[0, 1%)%)', function() optim.Adamax({ W }, { betas = { 1, 0.9 } }) end },
    { 'Adamax: invalid learning rate %-1', function() optim.Adamax({ W }, { lr = -1 }) end },
    { "NAdam: unknown option 'maximize'", function() optim.NAdam({ W }, { maximize = true }) end },
    { 'NAdam: invalid momentum_decay %-0.1 %(must be >= 0%)', function() optim.NAdam({ W }, { momentum_decay = -0.1 }) end },
    { 'NAdam: invalid momentum_decay %-1 %(must be >= 0%) %(param group 2%)$',
      function() optim.NAdam(two({ params = { nl.zeros(1):requires_grad() }, momentum_decay = -1 })) end },
    { 'NAdam: betas must be a list of 2 numbers', function() optim.NAdam({ W }, { betas = { 0.9 } }) end },
    { 'NAdam: invalid weight_decay %-0.1', function() optim.NAdam({ W }, { weight_decay = -0.1 }) end },
    { 'RAdam: invalid eps %-1', function() optim.RAdam({ W }, { eps = -1 }) end },
    { 'RAdam: invalid beta at index 2: 1 ', function() optim.RAdam({ W }, { betas = { 0.9, 1 } }) end },
    { 'Adadelta: invalid rho 1.5 %(must be in %[0, 1%]%)', function() optim.Adadelta({ W }, { rho = 1.5 }) end },
    { 'Adadelta: invalid eps %-1', function() optim.Adadelta({ W }, { eps = -1 }) end },
    { 'Adadelta: invalid weight_decay %-1', function() optim.Adadelta({ W }, { weight_decay = -1 }) end },
    { 'Adadelta: rho must be a number, got string', function() optim.Adadelta({ W }, { rho = '0.9' }) end },
    { 'Rprop: invalid etas {1.5, 2} %(must be 0 < etaminus < 1 < etaplus%)', function() optim.Rprop({ W }, { etas = { 1.5, 2 } }) end },
    { 'Rprop: invalid etas {0.5, 1} ', function() optim.Rprop({ W }, { etas = { 0.5, 1 } }) end },
    { 'Rprop: etas must be a list of 2 numbers', function() optim.Rprop({ W }, { etas = 0.5 }) end },
    { 'Rprop: invalid step_sizes {1, 0.5} %(must be 0 <= min <= max%)', function() optim.Rprop({ W }, { step_sizes = { 1, 0.5 } }) end },
    { 'Rprop: invalid step_sizes {%-1, 0.5} %(must be 0 <= min <= max%) %(param group 2%)$',
      function() optim.Rprop(two({ params = { nl.zeros(1):requires_grad() }, step_sizes = { -1, 0.5 } })) end },
    { "Rprop: unknown option 'weight_decay'", function() optim.Rprop({ W }, { weight_decay = 0.1 }) end },
    { "ASGD: unknown option 'lambda'", function() optim.ASGD({ W }, { lambda = 0.1 }) end },
    { "ASGD: unknown option 'lambda' %(param group 2%) %(did you mean 'lambd'%?%)$",
      function() optim.ASGD(two({ params = { nl.zeros(1):requires_grad() }, lambda = 0.1 })) end },
    { 'ASGD: t0 must be a number, got string', function() optim.ASGD({ W }, { t0 = 'x' }) end },
    { 'ASGD: invalid weight_decay %-1', function() optim.ASGD({ W }, { weight_decay = -1 }) end },
    { 'ASGD: lambd must be a number, got nil$', function()
      local o = optim.ASGD({ W })
      o.param_groups[1].lambd = nil
      o:step()
    end },
    { 'NAdam: load_state_dict: the state_dict is from Adam$', function()
      optim.NAdam({ W }):load_state_dict(optim.Adam({ W }):state_dict())
    end },
  }
  for _, c in ipairs(cases) do
    it(c[1]:gsub('%%', ''), function()
      local ok, err = pcall(c[2])
      assert.is_false(ok)
      assert.matches(c[1], err)
    end)
  end

  it('the C updates name the optimizer, the state and the shapes', function()
    local lib = nl._lib
    local p, g, z = nl.zeros(4), nl.zeros(3), nl.zeros(4)
    local d = ffi.new('double[1]', 1)
    local e = ffi.new('double[1]', 0.01)
    local function err() return ffi.string(lib.nl_error()) end
    assert.are.equal(-1, lib.nl_adamax_step(p.ptr, z.ptr, nl.zeros(4).ptr, g.ptr, 0.1, 0.9, 0.999, 1e-8, 0, 1))
    assert.are.equal('adamax: grad of shape [3] for a parameter of shape [4]', err())
    assert.are.equal(-1, lib.nl_nadam_step(p.ptr, z.ptr, nl.zeros(2, 2).ptr, nl.zeros(4).ptr, 0.1, 0.9, 0.999,
                                           1e-8, 0, 4e-3, d, 1))
    assert.are.equal('nadam: exp_avg_sq of shape [2,2] for a parameter of shape [4]', err())
    assert.are.equal(-1, lib.nl_radam_step(p.ptr, z.ptr, nl.zeros(4).ptr, nl.zeros(4).ptr, 0.1, 0.9, 0.999, 1e-8, 0, 0))
    assert.are.equal('radam: step must be >= 1, got 0', err())
    assert.are.equal(-1, lib.nl_adadelta_step(p.ptr, nl.zeros(4, 'float64').ptr, nl.zeros(4).ptr, nl.zeros(4).ptr,
                                              1, 0.9, 1e-6, 0))
    assert.are.equal('adadelta: square_avg of dtype float64 for a float32 parameter', err())
    assert.are.equal(-1, lib.nl_rprop_step(p.ptr, p.ptr, nl.zeros(4).ptr, nl.zeros(4).ptr, 0.5, 1.2, 1e-6, 50))
    assert.are.equal('rprop: prev shares its storage with the parameter', err())
    assert.are.equal(-1, lib.nl_asgd_step(nl.zeros(4, 'int64').ptr, nl.zeros(4, 'int64').ptr, nl.zeros(4, 'int64').ptr,
                                          0.01, 1e-4, 0.75, 1e6, 0, e, d, 1))
    assert.matches('asgd: parameter of dtype int64', err())
    -- a refused call changes no state
    assert.are.equal(1, d[0])
    assert.are.equal(0.01, e[0])
  end)

  -- a leaf made from a transposed view steps as a contiguous one of its values
  it('updates a non-contiguous parameter as a contiguous one of its values', function()
    for _, name in ipairs(NAMES) do
      local function run(transposed)
        local v = nl.tensor({ { 1, -2, 3 }, { 4, 5, -6 } })
        local P = (transposed and v:t() or v:t():contiguous()):requires_grad()
        local opt = optim[name]({ P }, { lr = 0.1 })
        for i = 1, 3 do
          P.grad = nl.tensor({ { 0.5, -1 }, { 2, 0.25 }, { -3, i } })
          opt:step()
        end
        assert.are.equal(not transposed, P:is_contiguous())
        return flat(P)
      end
      local want = run(false)
      assert.are.same(want, run(true), name)
      assert.are_not.same({ 1, 4, -2, 5, 3, -6 }, want, name)
    end
  end)
end)
