-- adagrad.lua: Adagrad with lr decay, L2 weight decay and an initial
-- accumulator value, as torch.optim.Adagrad. The update is one C call per
-- parameter (nl_adagrad_step); the state is step and sum.
return function(nl, optim)
  local lib, check = nl._lib, nl._check

  local Adagrad = optim._class {
    name = 'Adagrad',
    defaults = { lr = 1e-2, lr_decay = 0, weight_decay = 0, initial_accumulator_value = 0, eps = 1e-10 },
    _check = function(g)
      if not (g.lr_decay >= 0) then return ('invalid lr_decay %s (must be >= 0)'):format(g.lr_decay) end
      if not (g.weight_decay >= 0) then return ('invalid weight_decay %s (must be >= 0)'):format(g.weight_decay) end
      if not (g.initial_accumulator_value >= 0) then
        return ('invalid initial_accumulator_value %s (must be >= 0)'):format(g.initial_accumulator_value)
      end
      if not (g.eps >= 0) then return ('invalid eps %s (must be >= 0)'):format(g.eps) end
    end,
    state_keys = { step = 'required', sum = 'required' },
    _update = function(p, pc, gc, st, g)
      local step = (st.step or 0) + 1
      if st.sum == nil then st.sum = nl.full(p:shape(), g.initial_accumulator_value, p:dtype()) end
      check(lib.nl_adagrad_step(pc, st.sum.ptr, gc, g.lr, g.lr_decay, g.weight_decay, g.eps, step))
      st.step = step
    end,
  }
  optim.Adagrad = Adagrad.new
end
