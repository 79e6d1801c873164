-- asgd.lua: ASGD (SGD with a decaying step eta, a decay of the weights by
-- lambd * eta, and a running average ax of the iterates from step t0 on;
-- L2 weight decay), as torch.optim.ASGD. The update is one C call per
-- parameter (nl_asgd_step); the state is step, eta and mu (numbers: the
-- next step's size and averaging weight, float32 values as 1.13 keeps
-- them) and ax, the average.
return function(nl, optim)
  local lib, check = nl._lib, nl._check
  local ffi = require 'ffi'
  local zeros_like = optim._zeros_like
  local ETA, MU = ffi.new('double[1]'), ffi.new('double[1]')   -- nl_asgd_step's, in and out
  local F32 = ffi.new('float[1]')

  local ASGD = optim._class {
    name = 'ASGD',
    defaults = { lr = 1e-2, lambd = 1e-4, alpha = 0.75, t0 = 1e6, weight_decay = 0 },
    _check = function(g)
      if not (g.weight_decay >= 0) then return ('invalid weight_decay %s (must be >= 0)'):format(g.weight_decay) end
    end,
    state_keys = { step = 'required', eta = 'required', mu = 'required', ax = 'required' },
    state_numbers = { eta = true, mu = true },
    _update = function(p, pc, gc, st, g)
      local step = (st.step or 0) + 1
      if st.ax == nil then
        F32[0] = g.lr                 -- PyTorch's torch.tensor(lr): float32
        st.ax, st.eta, st.mu = zeros_like(p), F32[0], 1
      end
      ETA[0], MU[0] = st.eta, st.mu
      check(lib.nl_asgd_step(pc, st.ax.ptr, gc, g.lr, g.lambd, g.alpha, g.t0, g.weight_decay, ETA, MU, step))
      st.eta, st.mu, st.step = ETA[0], MU[0], step
    end,
  }
  optim.ASGD = ASGD.new
end
