-- adadelta.lua: Adadelta (steps scaled by the running RMS of past steps
-- over that of the gradients; L2 weight decay), as torch.optim.Adadelta.
-- The update is one C call per parameter (nl_adadelta_step); the state is
-- step, square_avg and acc_delta.
return function(nl, optim)
  local lib, check = nl._lib, nl._check
  local zeros_like = optim._zeros_like

  local Adadelta = optim._class {
    name = 'Adadelta',
    defaults = { lr = 1.0, rho = 0.9, eps = 1e-6, weight_decay = 0 },
    _check = function(g)
      if not (g.rho >= 0 and g.rho <= 1) then return ('invalid rho %s (must be in [0, 1])'):format(g.rho) end
      if not (g.eps >= 0) then return ('invalid eps %s (must be >= 0)'):format(g.eps) end
      if not (g.weight_decay >= 0) then return ('invalid weight_decay %s (must be >= 0)'):format(g.weight_decay) end
    end,
    state_keys = { step = 'required', square_avg = 'required', acc_delta = 'required' },
    _update = function(p, pc, gc, st, g)
      if st.square_avg == nil then st.square_avg, st.acc_delta = zeros_like(p), zeros_like(p) end
      check(lib.nl_adadelta_step(pc, st.square_avg.ptr, st.acc_delta.ptr, gc, g.lr, g.rho, g.eps, g.weight_decay))
      st.step = (st.step or 0) + 1
    end,
  }
  optim.Adadelta = Adadelta.new
end
