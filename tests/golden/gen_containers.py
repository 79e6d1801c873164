# gen_containers.py: PyTorch golden values for nnlua's nn.ModuleDict,
# nn.ParameterList and nn.ParameterDict: the state dict of a model that
# holds all three (PyTorch's names, in its order), its named parameters
# in order, and, in eval mode, one forward through them and the gradients
# of every parameter. Writes tests/golden/containers.lua (checked by
# tests/spec/nn_dict_spec.lua); it does not test anything itself.
# Regenerate, from the repository root, with
#
#     /usr/bin/python3 tests/golden/gen_containers.py
import torch
from torch import nn
from common import lua_tensor, write_golden

torch.manual_seed(83)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.heads = nn.ModuleDict([('a', nn.Linear(2, 2)),
                                    ('b', nn.Sequential(nn.Linear(2, 3), nn.ReLU())),
                                    ('bn', nn.BatchNorm1d(3))])
        self.scales = nn.ParameterList([nn.Parameter(torch.randn(2)), nn.Parameter(torch.randn(3))])
        self.extra = nn.ParameterDict({'shift': nn.Parameter(torch.randn(3)), 'gain': nn.Parameter(torch.randn(1))})

    def forward(self, x):
        a = self.heads['a'](x) * self.scales[0]
        b = self.heads['bn'](self.heads['b'](a)) * self.scales[1] + self.extra['shift']
        return b * self.extra['gain']


net = Net()
with torch.no_grad():
    net.heads['bn'].running_mean.copy_(torch.randn(3) * 0.1)
    net.heads['bn'].running_var.copy_(torch.rand(3) + 0.5)
    net.heads['bn'].num_batches_tracked.fill_(7)
net.eval()
x = torch.randn(4, 2)
out = net(x)
out.sum().backward()

lines = ['  state = {']
lines += ["    { name = '%s', t = %s }," % (k, lua_tensor(v)) for k, v in net.state_dict().items()]
lines.append('  },')
lines.append('  params = {')
lines += ["    { name = '%s', grad = %s }," % (k, lua_tensor(p.grad)) for k, p in net.named_parameters()]
lines.append('  },')
lines.append('  x = %s,' % lua_tensor(x))
lines.append('  out = %s,' % lua_tensor(out.detach()))
write_golden('containers.lua', ['PyTorch 1.13 ModuleDict, ParameterList and ParameterDict (tests/golden/gen_containers.py)'],
             lines)
