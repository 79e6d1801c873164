-- optim: the optimizers (one file per family; the update itself is one C
-- call per parameter, src/optim.c), the LR schedulers, gradient clipping
-- and the L1 penalty. require('nnlua.optim')(nl) fills and returns nl.optim.
return function(nl)
  local optim = {}
  nl.optim = optim
  require('nnlua.optim.optimizer')(nl, optim)
  require('nnlua.optim.sgd')(nl, optim)
  require('nnlua.optim.adam')(nl, optim)
  require('nnlua.optim.rmsprop')(nl, optim)
  require('nnlua.optim.adagrad')(nl, optim)
  require('nnlua.optim.adamax')(nl, optim)
  require('nnlua.optim.nadam')(nl, optim)
  require('nnlua.optim.radam')(nl, optim)
  require('nnlua.optim.adadelta')(nl, optim)
  require('nnlua.optim.rprop')(nl, optim)
  require('nnlua.optim.asgd')(nl, optim)
  require('nnlua.optim.lbfgs')(nl, optim)
  require('nnlua.optim.lr_scheduler')(nl, optim)
  require('nnlua.optim.lr_scheduler_extra')(nl, optim)
  require('nnlua.optim.grad')(nl, optim)
  -- lower-case names, for model:compile{optimizer = 'adam'}
  optim.by_name = {
    sgd = optim.SGD, adam = optim.Adam, adamw = optim.AdamW,
    rmsprop = optim.RMSprop, adagrad = optim.Adagrad,
    adamax = optim.Adamax, nadam = optim.NAdam, radam = optim.RAdam,
    adadelta = optim.Adadelta, rprop = optim.Rprop, asgd = optim.ASGD,
  }
  -- optim.swa_utils (AveragedModel, SWALR, update_bn) loads on first use
  setmetatable(optim, { __index = function(t, k)
    if k ~= 'swa_utils' then return nil end
    local swa = require('nnlua.optim.swa_utils')(nl, optim)
    rawset(t, k, swa)
    return swa
  end })
  return optim
end
