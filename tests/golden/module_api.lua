-- PyTorch 1.13 nn.Module names (tests/golden/gen_module_api.py)
return {
  modules = { '', 'enc', 'enc.0', 'enc.1', 'enc.2', 'heads', 'heads.a', 'heads.b', 'heads.b.0', 'heads.b.1', 'heads.b.2', 'scales' },
  params = { 'gain', 'enc.0.weight', 'enc.0.bias', 'enc.1.weight', 'enc.1.bias', 'heads.a.weight', 'heads.a.bias', 'heads.b.0.weight', 'heads.b.0.bias', 'heads.b.2.weight', 'heads.b.2.bias', 'scales.0', 'scales.1' },
  buffers = { 'step', 'cache', 'enc.1.running_mean', 'enc.1.running_var', 'enc.1.num_batches_tracked' },
  state = { 'gain', 'step', 'enc.0.weight', 'enc.0.bias', 'enc.1.weight', 'enc.1.bias', 'enc.1.running_mean', 'enc.1.running_var', 'enc.1.num_batches_tracked', 'heads.a.weight', 'heads.a.bias', 'heads.b.0.weight', 'heads.b.0.bias', 'heads.b.2.weight', 'heads.b.2.bias', 'scales.0', 'scales.1' },
  prefixed = { 'net.gain', 'net.step', 'net.enc.0.weight', 'net.enc.0.bias', 'net.enc.1.weight', 'net.enc.1.bias', 'net.enc.1.running_mean', 'net.enc.1.running_var', 'net.enc.1.num_batches_tracked', 'net.heads.a.weight', 'net.heads.a.bias', 'net.heads.b.0.weight', 'net.heads.b.0.bias', 'net.heads.b.2.weight', 'net.heads.b.2.bias', 'net.scales.0', 'net.scales.1' },
  trainable = { 'gain', 'enc.0.bias', 'enc.1.weight', 'enc.1.bias', 'heads.a.weight', 'heads.a.bias', 'scales.0', 'scales.1' },
  loads = {
    { prefix = nil, drop = { 'enc.0.bias', 'heads.b.2.weight', 'scales.1' }, add = { 'enc.3.weight', 'heads.c.bias', 'extra' }, missing = { 'enc.0.bias', 'heads.b.2.weight', 'scales.1' }, unexpected = { 'enc.3.weight', 'extra', 'heads.c.bias' } },
    { prefix = nil, drop = { 'gain', 'step' }, add = {  }, missing = { 'gain', 'step' }, unexpected = {  } },
    { prefix = nil, drop = {  }, add = { 'cache' }, missing = {  }, unexpected = { 'cache' } },
    { prefix = 'net.', drop = {  }, add = {  }, missing = { 'gain', 'step', 'enc.0.weight', 'enc.0.bias', 'enc.1.weight', 'enc.1.bias', 'enc.1.running_mean', 'enc.1.running_var', 'heads.a.weight', 'heads.a.bias', 'heads.b.0.weight', 'heads.b.0.bias', 'heads.b.2.weight', 'heads.b.2.bias', 'scales.0', 'scales.1' }, unexpected = { 'net.enc.0.bias', 'net.enc.0.weight', 'net.enc.1.bias', 'net.enc.1.num_batches_tracked', 'net.enc.1.running_mean', 'net.enc.1.running_var', 'net.enc.1.weight', 'net.gain', 'net.heads.a.bias', 'net.heads.a.weight', 'net.heads.b.0.bias', 'net.heads.b.0.weight', 'net.heads.b.2.bias', 'net.heads.b.2.weight', 'net.scales.0', 'net.scales.1', 'net.step' } },
  },
}
