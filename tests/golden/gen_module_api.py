# gen_module_api.py: PyTorch 1.13's names for nnlua's nn.Module API
# (lua/nnlua/nn/module_api.lua and module.lua): of a model holding a
# Sequential, a ModuleDict, a ParameterList, BatchNorm and buffers of its
# own (one not persistent), the names named_modules, named_parameters and
# named_buffers give (which get_submodule, get_parameter and get_buffer
# take), the state dict's keys with and without a prefix, the parameters
# that require grad after a submodule's requires_grad_(False), and the
# missing_keys and unexpected_keys of load_state_dict(strict=False) for
# state dicts with keys dropped and added. Writes tests/golden/module_api.lua
# (checked by tests/spec/module_api_spec.lua); it does not test anything
# itself. Regenerate, from the repository root, with
#
#     /usr/bin/python3 tests/golden/gen_module_api.py
import torch
from torch import nn
from common import lua_value, write_golden

torch.manual_seed(5)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        # (its own tensors first: PyTorch lists a module's own before its
        # children's, nnlua in the order they were assigned)
        self.gain = nn.Parameter(torch.ones(1))
        self.register_buffer('step', torch.zeros(1))
        self.register_buffer('cache', torch.zeros(2), persistent=False)
        self.enc = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU())
        self.heads = nn.ModuleDict([('a', nn.Linear(4, 2)),
                                    ('b', nn.Sequential(nn.Linear(4, 4), nn.Tanh(), nn.Linear(4, 1)))])
        self.scales = nn.ParameterList([nn.Parameter(torch.randn(2)), nn.Parameter(torch.randn(1))])


net = Net()
names = {
    'modules': [n for n, _ in net.named_modules()],
    'params': [n for n, _ in net.named_parameters()],
    'buffers': [n for n, _ in net.named_buffers()],
    'state': list(net.state_dict().keys()),
    'prefixed': list(net.state_dict(prefix='net.').keys()),
}

# (unexpected keys sorted: nnlua's state dicts are Lua tables, which have
# no order; PyTorch gives them in the dict's)
loads = []
for drop, add in [(['enc.0.bias', 'heads.b.2.weight', 'scales.1'], ['enc.3.weight', 'heads.c.bias', 'extra']),
                  (['gain', 'step'], []),
                  ([], ['cache']),
                  (None, None)]:
    if drop is None:
        sd = net.state_dict(prefix='net.')
    else:
        sd = {k: v for k, v in net.state_dict().items() if k not in drop}
        for k in add:
            sd[k] = torch.zeros(1)
    r = Net().load_state_dict(sd, strict=False)
    loads.append({'prefix': 'net.' if drop is None else None, 'drop': drop or [], 'add': add or [],
                  'missing': list(r.missing_keys), 'unexpected': sorted(r.unexpected_keys)})

frozen = Net()
frozen.get_submodule('heads.b').requires_grad_(False)
frozen.get_submodule('enc.0').weight.requires_grad_(False)
names['trainable'] = [n for n, p in frozen.named_parameters() if p.requires_grad]

lines = ['  %s = %s,' % (k, lua_value(v)) for k, v in names.items()]
lines.append('  loads = {')
lines += ['    %s,' % lua_value(c) for c in loads]
lines.append('  },')
write_golden('module_api.lua', ["PyTorch 1.13 nn.Module names (tests/golden/gen_module_api.py)"], lines)
