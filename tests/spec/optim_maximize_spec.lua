-- The optimizers' PyTorch 1.13 flags: maximize (ascend the loss) on every
-- optimizer that takes it, and foreach, differentiable, capturable and
-- fused, which change nothing on a CPU (foreach) or are refused when true.
-- Golden: tests/golden/optim_maximize.lua (tests/golden/gen_optim_maximize.py,
-- PyTorch 1.13): optim_spec's linear model 4 -> 3 trained 10 steps by each
-- configuration, in float32 and float64. Tolerance on every element:
--   |got - want| <= RTOL * |want| + ATOL,
--   float32: RTOL 1e-5, ATOL 1e-6; float64: RTOL 1e-10, ATOL 1e-12.
local nl = require 'nnlua'
local S = require 'support'

local optim = nl.optim
local G = dofile(S.root .. '/tests/golden/optim_maximize.lua')
local TOL = { float32 = { 1e-5, 1e-6 }, float64 = { 1e-10, 1e-12 } }
local flat = S.flat
local function assert_error(f, msg) S.contains(S.errmsg(f), msg) end

local function assert_close(got, want, rtol, atol, what)
  assert.are.equal(#want, #got, what .. ': element count')
  for i = 1, #want do
    if not S.close(got[i], want[i], rtol, atol) then
      error(('%s: element %d: got %.10g, want %.10g'):format(what, i, got[i], want[i]), 2)
    end
  end
end

local function run(c, opts)
  local m = S.optim_problem(G.problem, c.dtype)
  local opt = S.optim_make(optim, c, m, opts)
  local out = {}
  for step = 1, #c.steps do
    S.optim_step(opt, m)
    out[step] = { W = flat(m.W), b = flat(m.b) }
  end
  return out, opt
end

describe('maximize against PyTorch', function()
  it('the golden data covers every optimizer that takes maximize', function()
    local seen = {}
    for _, c in ipairs(G.optimizers) do seen[c.optim] = true end
    for _, n in ipairs({ 'SGD', 'Adam', 'AdamW', 'Adagrad', 'RMSprop', 'Adadelta', 'Adamax', 'ASGD', 'Rprop' }) do
      assert.is_true(seen[n], n)
    end
  end)

  for _, c in ipairs(G.optimizers) do
    it(('%s (%s): parameters after each of %d steps'):format(c.name, c.dtype, #c.steps), function()
      local rtol, atol = TOL[c.dtype][1], TOL[c.dtype][2]
      local got = run(c)
      for step, want in ipairs(c.steps) do
        assert_close(got[step].W, want.W, rtol, atol, ('step %d W'):format(step))
        assert_close(got[step].b, want.b, rtol, atol, ('step %d b'):format(step))
      end
    end)
  end

  it('leaves the gradients as backward made them', function()
    local c = S.optim_find(G.optimizers, 'adam_wd', 'float64')
    local m = S.optim_problem(G.problem, c.dtype)
    local opt = S.optim_make(optim, c, m)
    opt:zero_grad()
    S.optim_loss(m):backward()
    local g = m.W.grad:clone()
    opt:step()
    assert.are.same(flat(g), flat(m.W.grad))
  end)

  it('is kept in the param groups and in state_dict, false by default', function()
    local p = nl.zeros(2, 'float64'):requires_grad()
    local opt = optim.SGD({ p }, { lr = 0.1, maximize = true })
    assert.is_true(opt.param_groups[1].maximize)
    assert.is_true(opt:state_dict().param_groups[1].maximize)
    assert.is_false(optim.Adam({ p }).param_groups[1].maximize)
    -- a maximizing step ascends: p grows along the gradient of sum(p)
    p:sum():backward()
    opt:step()
    assert.are.same({ 0.1, 0.1 }, flat(p))
  end)
end)

describe('foreach, differentiable, capturable and fused', function()
  it('foreach = true or false steps as without it', function()
    local c = S.optim_find(G.optimizers, 'adamax_wd', 'float64')
    local base = run(c)
    for _, fe in ipairs({ true, false }) do
      local opts = {}
      for k, v in pairs(c.opts) do opts[k] = v end
      opts.foreach = fe
      local got = run(c, opts)
      assert.are.same(base[#base].W, got[#got].W)
    end
  end)

  it('are taken where torch.optim 1.13 takes them, false only but foreach', function()
    local p = nl.zeros(2):requires_grad()
    assert.has_no.errors(function()
      optim.Adam({ p }, { foreach = false, differentiable = false, capturable = false, fused = false })
      optim.AdamW({ p }, { foreach = true, capturable = false })
      optim.NAdam({ p }, { foreach = true })
      optim.RAdam({ { params = { p }, foreach = false } })
    end)
    assert_error(function() optim.SGD({ p }, { lr = 0.1, differentiable = true }) end,
                   'SGD: differentiable = true is not supported (the update runs in C, outside autograd)')
    assert_error(function() optim.Adam({ p }, { capturable = true }) end,
                   'Adam: capturable = true is not supported (it is for CUDA graphs; PyTorch refuses it for CPU tensors too)')
    assert_error(function() optim.Adam({ { params = { p }, fused = true } }) end,
                   "Adam: fused = true is not supported (PyTorch's fused kernel needs CUDA tensors)")
    assert_error(function() optim.Adam({ p }, { foreach = 1 }) end,
                   'Adam: foreach must be a boolean or nil, got 1')
    assert_error(function() optim.SGD({ p }, { lr = 0.1, maximize = 1 }) end,
                   'SGD: maximize must be a boolean, got number')
    -- PyTorch 1.13's NAdam and RAdam have no maximize, LBFGS no flags
    assert_error(function() optim.NAdam({ p }, { maximize = true }) end, "NAdam: unknown option 'maximize'")
    assert_error(function() optim.RAdam({ { params = { p }, maximize = true } }) end, "RAdam: unknown option 'maximize'")
    assert_error(function() optim.LBFGS({ p }, { foreach = true }) end, "LBFGS: unknown option 'foreach'")
    assert_error(function() optim.AdamW({ p }, { fused = false }) end, "AdamW: unknown option 'fused'")
  end)
end)
