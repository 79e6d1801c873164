# gen_creation.py: PyTorch golden values for nnlua's linspace and logspace
# (start, end, steps, base, dtype), the creation functions whose values are
# not draws. Writes tests/golden/creation.lua (checked by
# tests/spec/tensor_creation_spec.lua); it does not test anything itself.
# Regenerate, from the repository root, with
#
#     /usr/bin/python3 tests/golden/gen_creation.py
import torch
from common import F32, F64, lua_tensor, write_golden

LINSPACE = [
    (0, 1, 5), (-1, 1, 4), (3, 3, 1), (0, 1, 0), (0, 10, 11), (1, -2, 7),
    (-3.7, 12.1, 33), (0, 1, 1000), (1e-3, 5e4, 9), (2.5, 2.5, 4),
]
LOGSPACE = [
    (0, 2, 3, 10), (0, 3, 4, 2), (-2, 2, 9, 10), (1, 0, 5, 3.5), (-1, 1, 1, 10), (0.5, 4, 8, 2.718281828459045),
]

lines = []
for dt, name in ((F32, 'float32'), (F64, 'float64')):
    for a, b, n in LINSPACE:
        t = torch.linspace(a, b, n, dtype=dt)
        lines.append("  { op = 'linspace', args = { %r, %r, %d }, dtype = '%s', want = %s }," % (a, b, n, name, lua_tensor(t)))
    for a, b, n, base in LOGSPACE:
        t = torch.logspace(a, b, n, base=base, dtype=dt)
        lines.append("  { op = 'logspace', args = { %r, %r, %d, %r }, dtype = '%s', want = %s }," % (a, b, n, base, name, lua_tensor(t)))

# int64: PyTorch cuts the ends toward zero first, then places the points
for a, b, n in [(0.5, 10.7, 5), (-2.7, 3.9, 4), (0, 7, 4), (-5.5, -0.5, 6)]:
    t = torch.linspace(a, b, n, dtype=torch.int64)
    lines.append("  { op = 'linspace', args = { %r, %r, %d }, dtype = 'int64', want = %s }," % (a, b, n, lua_tensor(t)))
for a, b, n, base in [(0.5, 2.5, 3, 10), (0, 3.9, 4, 2)]:
    t = torch.logspace(a, b, n, base=base, dtype=torch.int64)
    lines.append("  { op = 'logspace', args = { %r, %r, %d, %r }, dtype = 'int64', want = %s }," % (a, b, n, base, lua_tensor(t)))

write_golden('creation.lua', ['PyTorch 1.13 linspace and logspace (tests/golden/gen_creation.py)'], lines)
