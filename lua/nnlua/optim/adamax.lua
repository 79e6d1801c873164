-- adamax.lua: Adamax (Adam with an infinity norm in place of the second
-- moment; L2 weight decay), as torch.optim.Adamax. The update is one C call
-- per parameter (nl_adamax_step); the state is step, exp_avg and exp_inf.
-- The class is Adam's kin (optim._adam_kin, adam.lua).
return function(nl, optim)
  optim.Adamax = optim._adam_kin('Adamax', 2e-3, 'exp_inf', 'nl_adamax_step').new
end
