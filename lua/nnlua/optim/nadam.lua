-- nadam.lua: NAdam (Adam with Nesterov momentum and PyTorch 1.13's
-- momentum schedule, momentum_decay; L2 weight decay), as torch.optim.NAdam.
-- The update is one C call per parameter (nl_nadam_step); the state is
-- step, mu_product (a number: the product of the momentum factors so far,
-- a float32 value as 1.13 keeps it), exp_avg and exp_avg_sq.
return function(nl, optim)
  local lib, check = nl._lib, nl._check
  local ffi = require 'ffi'
  local zeros_like = optim._zeros_like
  local MU = ffi.new('double[1]')     -- nl_nadam_step's mu_product, in and out

  local NAdam = optim._class {
    name = 'NAdam',
    defaults = { lr = 2e-3, betas = { 0.9, 0.999 }, eps = 1e-8, weight_decay = 0, momentum_decay = 4e-3 },
    _check = function(g)
      local msg = optim._check_adam(g)
      if msg then return msg end
      if not (g.momentum_decay >= 0) then return ('invalid momentum_decay %s (must be >= 0)'):format(g.momentum_decay) end
    end,
    state_keys = { step = 'required', mu_product = 'required', exp_avg = 'required', exp_avg_sq = 'required' },
    state_numbers = { mu_product = true },
    _update = function(p, pc, gc, st, g)
      local step = (st.step or 0) + 1
      if st.exp_avg == nil then st.exp_avg, st.exp_avg_sq = zeros_like(p), zeros_like(p) end
      MU[0] = st.mu_product or 1
      check(lib.nl_nadam_step(pc, st.exp_avg.ptr, st.exp_avg_sq.ptr, gc, g.lr, g.betas[1], g.betas[2],
                              g.eps, g.weight_decay, g.momentum_decay, MU, step))
      st.mu_product, st.step = MU[0], step
    end,
  }
  optim.NAdam = NAdam.new
end
