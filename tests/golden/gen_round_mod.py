# gen_round_mod.py: PyTorch 1.13's round(decimals=d) and a % b, for nnlua's
# t:round(d) and the % operator. Writes tests/golden/round_mod.lua (checked
# by tests/spec/tensor_spec.lua); it does not test anything itself.
# Regenerate, from the repository root, with
#
#     /usr/bin/python3 tests/golden/gen_round_mod.py
import torch
from common import F32, F64, I64, lua_tensor, write_golden

VALUES = [1.23456, -2.5551, 1234.5, 0.125, -7.65, 0.5, -0.5, 2.675, 1e-3, 123456.789, 0.0, -0.0,
          float('inf'), float('-inf'), float('nan')]
lines = []
for dt, name in ((F32, 'float32'), (F64, 'float64')):
    x = torch.tensor(VALUES, dtype=dt)
    for d in (1, 2, 3, -1, -2):
        lines.append("  { op = 'round', decimals = %d, input = %s, want = %s }," % (d, lua_tensor(x), lua_tensor(x.round(decimals=d))))
A = [7.0, -7.0, 7.5, -7.5, 0.0, 5.25, -0.0, 1e10]
B = [3.0, 3.0, -2.0, -2.0, 3.0, 0.5, -3.0, 7.0]
for dt, name in ((F32, 'float32'), (F64, 'float64')):
    a, b = torch.tensor(A, dtype=dt), torch.tensor(B, dtype=dt)
    lines.append("  { op = 'mod', a = %s, b = %s, want = %s }," % (lua_tensor(a), lua_tensor(b), lua_tensor(a % b)))
    lines.append("  { op = 'mod', a = %s, b = 3, want = %s }," % (lua_tensor(a), lua_tensor(a % 3)))
ai, bi = torch.tensor([7, -7, 7, -7, 0], dtype=I64), torch.tensor([3, 3, -3, -3, 5], dtype=I64)
lines.append("  { op = 'mod', a = %s, b = %s, want = %s }," % (lua_tensor(ai), lua_tensor(bi), lua_tensor(ai % bi)))
write_golden('round_mod.lua', ['PyTorch 1.13 round(decimals) and % (tests/golden/gen_round_mod.py)'], lines)
