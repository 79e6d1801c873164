-- sgd.lua: stochastic gradient descent with momentum, dampening, Nesterov
-- momentum and weight decay (L2), as torch.optim.SGD. The update is one C
-- call per parameter (nl_sgd_step); its state is the momentum buffer.
return function(nl, optim)
  local lib, check = nl._lib, nl._check
  local REQUIRED, zeros_like = optim._REQUIRED, optim._zeros_like

  local SGD = optim._class {
    name = 'SGD',
    defaults = { lr = REQUIRED, momentum = 0, dampening = 0, nesterov = false, weight_decay = 0 },
    _check = function(g)
      if not (g.momentum >= 0) then return ('invalid momentum %s (must be >= 0)'):format(g.momentum) end
      if not (g.weight_decay >= 0) then return ('invalid weight_decay %s (must be >= 0)'):format(g.weight_decay) end
      if g.nesterov and (g.momentum <= 0 or g.dampening ~= 0) then
        return 'Nesterov momentum requires a momentum and zero dampening'
      end
    end,
    state_keys = { momentum_buffer = 'optional' },
    _update = function(p, pc, gc, st, g)
      local buf, init = nil, 0
      if g.momentum ~= 0 then
        buf = st.momentum_buffer
        if buf == nil then          -- PyTorch: the first buffer is the gradient itself
          buf = zeros_like(p)
          init = 1
        end
      end
      check(lib.nl_sgd_step(pc, buf and buf.ptr, gc, g.lr, g.momentum, g.dampening,
                            g.weight_decay, g.nesterov and 1 or 0, init))
      if buf then st.momentum_buffer = buf end
    end,
  }
  optim.SGD = SGD.new
end
