-- rprop.lua: Rprop (a step size per element that grows while the
-- gradient keeps its sign and shrinks when it flips), as torch.optim.Rprop.
-- The update is one C call per parameter (nl_rprop_step); the state is
-- step, prev (the last gradient) and step_size, which starts at the lr of
-- the first step: a later lr changes nothing, as in PyTorch.
return function(nl, optim)
  local lib, check = nl._lib, nl._check
  local zeros_like = optim._zeros_like

  local Rprop = optim._class {
    name = 'Rprop',
    defaults = { lr = 1e-2, etas = { 0.5, 1.2 }, step_sizes = { 1e-6, 50 } },
    _check = function(g)
      local em, ep = g.etas[1], g.etas[2]
      if not (em > 0 and em < 1 and ep > 1) then
        return ('invalid etas {%s, %s} (must be 0 < etaminus < 1 < etaplus)'):format(em, ep)
      end
      -- PyTorch takes any pair: a max below the min clamped every step
      -- size to the max, a negative max made the steps climb the loss
      local lo, hi = g.step_sizes[1], g.step_sizes[2]
      if not (lo >= 0 and lo <= hi) then
        return ('invalid step_sizes {%s, %s} (must be 0 <= min <= max)'):format(lo, hi)
      end
    end,
    state_keys = { step = 'required', prev = 'required', step_size = 'required' },
    _update = function(p, pc, gc, st, g)
      if st.prev == nil then st.prev, st.step_size = zeros_like(p), nl.full(p:shape(), g.lr, p:dtype()) end
      check(lib.nl_rprop_step(pc, st.prev.ptr, st.step_size.ptr, gc, g.etas[1], g.etas[2],
                              g.step_sizes[1], g.step_sizes[2]))
      st.step = (st.step or 0) + 1
    end,
  }
  optim.Rprop = Rprop.new
end
