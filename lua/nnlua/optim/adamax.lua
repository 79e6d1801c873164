-- adamax.lua: Adamax (Adam with an infinity norm in place of the second
-- moment; L2 weight decay), as torch.optim.Adamax. The update is one C call
-- per parameter (nl_adamax_step); the state is step, exp_avg and exp_inf.
return function(nl, optim)
  local lib, check = nl._lib, nl._check
  local zeros_like = optim._zeros_like

  local Adamax = optim._class {
    name = 'Adamax',
    defaults = { lr = 2e-3, betas = { 0.9, 0.999 }, eps = 1e-8, weight_decay = 0 },
    _check = optim._check_adam,
    state_keys = { step = 'required', exp_avg = 'required', exp_inf = 'required' },
    _update = function(p, pc, gc, st, g)
      local step = (st.step or 0) + 1
      if st.exp_avg == nil then st.exp_avg, st.exp_inf = zeros_like(p), zeros_like(p) end
      check(lib.nl_adamax_step(pc, st.exp_avg.ptr, st.exp_inf.ptr, gc, g.lr, g.betas[1], g.betas[2],
                               g.eps, g.weight_decay, step))
      st.step = step
    end,
  }
  optim.Adamax = Adamax.new
end
