-- rmsprop.lua: RMSprop (optionally centered, with momentum and L2 weight
-- decay), as torch.optim.RMSprop. The update is one C call per parameter
-- (nl_rmsprop_step); the state is step, square_avg, and momentum_buffer
-- and grad_avg where momentum and centered ask for them.
return function(nl, optim)
  local lib, check = nl._lib, nl._check
  local zeros_like = optim._zeros_like

  local RMSprop = optim._class {
    name = 'RMSprop',
    defaults = { lr = 1e-2, alpha = 0.99, eps = 1e-8, weight_decay = 0, momentum = 0, centered = false },
    _check = function(g)
      if not (g.eps >= 0) then return ('invalid eps %s (must be >= 0)'):format(g.eps) end
      if not (g.momentum >= 0) then return ('invalid momentum %s (must be >= 0)'):format(g.momentum) end
      if not (g.weight_decay >= 0) then return ('invalid weight_decay %s (must be >= 0)'):format(g.weight_decay) end
      if not (g.alpha >= 0) then return ('invalid alpha %s (must be >= 0)'):format(g.alpha) end
    end,
    state_keys = { step = 'required', square_avg = 'required', momentum_buffer = 'optional', grad_avg = 'optional' },
    _update = function(p, pc, gc, st, g)
      if st.square_avg == nil then st.square_avg = zeros_like(p) end
      local buf, gavg = nil, nil
      if g.momentum > 0 then
        if st.momentum_buffer == nil then st.momentum_buffer = zeros_like(p) end
        buf = st.momentum_buffer.ptr
      end
      if g.centered then
        if st.grad_avg == nil then st.grad_avg = zeros_like(p) end
        gavg = st.grad_avg.ptr
      end
      check(lib.nl_rmsprop_step(pc, st.square_avg.ptr, buf, gavg, gc, g.lr, g.alpha, g.eps,
                                g.weight_decay, g.momentum))
      st.step = (st.step or 0) + 1
    end,
  }
  optim.RMSprop = RMSprop.new
end
