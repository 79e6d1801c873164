-- radam.lua: RAdam (Adam whose adaptive step is rectified by the variance
-- of its second moment, and a momentum step while that is undefined; L2
-- weight decay), as torch.optim.RAdam. The update is one C call per
-- parameter (nl_radam_step); the state is step, exp_avg and exp_avg_sq.
return function(nl, optim)
  local lib, check = nl._lib, nl._check
  local zeros_like = optim._zeros_like

  local RAdam = optim._class {
    name = 'RAdam',
    defaults = { lr = 1e-3, betas = { 0.9, 0.999 }, eps = 1e-8, weight_decay = 0 },
    _check = optim._check_adam,
    state_keys = { step = 'required', exp_avg = 'required', exp_avg_sq = 'required' },
    _update = function(p, pc, gc, st, g)
      local step = (st.step or 0) + 1
      if st.exp_avg == nil then st.exp_avg, st.exp_avg_sq = zeros_like(p), zeros_like(p) end
      check(lib.nl_radam_step(pc, st.exp_avg.ptr, st.exp_avg_sq.ptr, gc, g.lr, g.betas[1], g.betas[2],
                              g.eps, g.weight_decay, step))
      st.step = step
    end,
  }
  optim.RAdam = RAdam.new
end
