-- adam.lua: Adam (weight decay as L2, optional amsgrad) and AdamW (decoupled
-- weight decay), as torch.optim.Adam / AdamW. The update is one C call per
-- parameter (nl_adam_step); the state is step, exp_avg, exp_avg_sq and,
-- with amsgrad, max_exp_avg_sq.
return function(nl, optim)
  local lib, check = nl._lib, nl._check
  local zeros_like = optim._zeros_like

  local function check_adam(g)
    if not (g.eps >= 0) then return ('invalid eps %s (must be >= 0)'):format(g.eps) end
    for i = 1, 2 do
      local b = g.betas[i]
      if not (b >= 0 and b < 1) then return ('invalid beta at index %d: %s (must be in [0, 1))'):format(i, b) end
    end
    if not (g.weight_decay >= 0) then return ('invalid weight_decay %s (must be >= 0)'):format(g.weight_decay) end
  end

  -- (Adamax, NAdam and RAdam check their betas, eps and weight_decay so too)
  optim._check_adam = check_adam

  -- The class of Adamax or RAdam: Adam's defaults but lr, without amsgrad;
  -- Adam's checks; a state of step, exp_avg and the second moment named
  -- second, made at the first step; and the C step step_fn, which both
  -- declare alike: (param, exp_avg, second, grad, lr, beta1, beta2, eps,
  -- weight_decay, step).
  function optim._adam_kin(name, lr, second, step_fn)
    return optim._class {
      name = name,
      defaults = { lr = lr, betas = { 0.9, 0.999 }, eps = 1e-8, weight_decay = 0 },
      _check = check_adam,
      state_keys = { step = 'required', exp_avg = 'required', [second] = 'required' },
      _update = function(p, pc, gc, st, g)
        local step = (st.step or 0) + 1
        if st.exp_avg == nil then st.exp_avg, st[second] = zeros_like(p), zeros_like(p) end
        check(lib[step_fn](pc, st.exp_avg.ptr, st[second].ptr, gc, g.lr, g.betas[1], g.betas[2],
                           g.eps, g.weight_decay, step))
        st.step = step
      end,
    }
  end

  local STATE_KEYS = { step = 'required', exp_avg = 'required', exp_avg_sq = 'required', max_exp_avg_sq = 'optional' }

  local function update(decoupled)
    return function(p, pc, gc, st, g)
      local step = (st.step or 0) + 1
      if st.exp_avg == nil then
        st.exp_avg, st.exp_avg_sq = zeros_like(p), zeros_like(p)
      end
      local vmax = nil
      if g.amsgrad then
        if st.max_exp_avg_sq == nil then st.max_exp_avg_sq = zeros_like(p) end
        vmax = st.max_exp_avg_sq.ptr
      end
      check(lib.nl_adam_step(pc, st.exp_avg.ptr, st.exp_avg_sq.ptr, vmax, gc, g.lr,
                             g.betas[1], g.betas[2], g.eps, g.weight_decay, decoupled, step))
      st.step = step
    end
  end

  local Adam = optim._class {
    name = 'Adam',
    defaults = { lr = 1e-3, betas = { 0.9, 0.999 }, eps = 1e-8, weight_decay = 0, amsgrad = false },
    _check = check_adam,
    state_keys = STATE_KEYS,
    _update = update(0),
  }
  optim.Adam = Adam.new

  local AdamW = optim._class {
    name = 'AdamW',
    defaults = { lr = 1e-3, betas = { 0.9, 0.999 }, eps = 1e-8, weight_decay = 1e-2, amsgrad = false },
    _check = check_adam,
    state_keys = STATE_KEYS,
    _update = update(1),
  }
  optim.AdamW = AdamW.new
end
