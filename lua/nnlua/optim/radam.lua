-- radam.lua: RAdam (Adam whose adaptive step is rectified by the variance
-- of its second moment, and a momentum step while that is undefined; L2
-- weight decay), as torch.optim.RAdam. The update is one C call per
-- parameter (nl_radam_step); the state is step, exp_avg and exp_avg_sq.
-- The class is Adam's kin (optim._adam_kin, adam.lua).
return function(nl, optim)
  optim.RAdam = optim._adam_kin('RAdam', 1e-3, 'exp_avg_sq', 'nl_radam_step').new
end
