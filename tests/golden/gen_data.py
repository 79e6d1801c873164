# gen_data.py: PyTorch 1.13 golden values for nnlua's data sampling: the
# sizes random_split gives for lengths and fractions (or that it refuses
# them), the batches of BatchSampler over a sequential sampler (+1: nnlua's
# rows count from 1), and default_collate's batches of nested samples.
# Writes tests/golden/data.lua (checked by tests/spec/data_sampling_spec.lua);
# it does not test anything itself. Regenerate, from the repository root, with
#
#     /usr/bin/python3 tests/golden/gen_data.py
import math
import warnings

import torch
from torch.utils.data import BatchSampler, SequentialSampler, random_split
from torch.utils.data import default_collate
from common import lua_tensor, write_golden

warnings.simplefilter('ignore')          # random_split's warning of an empty split

SPLITS = [
    (10, [0.7, 0.3]), (10, [0.3, 0.3, 0.4]), (11, [0.5, 0.5]), (7, [1 / 3, 1 / 3, 1 / 3]),
    (100, [0.1] * 10), (3, [0.25, 0.25, 0.25, 0.25]), (0, [0.5, 0.5]), (1000, [0.6, 0.2, 0.2]),
    (17, [0.05, 0.95]), (10, [1.0]), (10, [1, 0]), (9, [0.5, 0.4999999999]), (60000, [0.8, 0.2]),
    (101, [0.15, 0.15, 0.7]), (5, [0.0, 1.0]), (2, [0.1, 0.1, 0.8]),
    (10, [3, 7]), (10, [0, 10]), (10, [2, 3, 5]), (1, [1]), (0, [0]),
    # refused
    (10, [3, 6]), (10, [0.5, 0.6]), (10, [1.5, -0.5]), (10, [0.7, 0.3000001]),
    # fractions whose float sum is 1.0000000000000002 in this order: 1.13
    # refuses them (sum <= 1 fails); nnlua takes them by the documented rule
    (10, [0.2, 0.4, 0.3, 0.1]),
]


def rule(n, fracs):
    """the documented rule: floor(n * f) each, the remainder dealt round-robin"""
    sizes = [math.floor(n * f) for f in fracs]
    for i in range(n - sum(sizes)):
        sizes[i % len(sizes)] += 1
    return sizes


def lua_nums(v):
    return '{ %s }' % ', '.join(repr(x) for x in v)


lines = []
for n, lengths in SPLITS:
    try:
        parts = random_split(range(n), lengths, generator=torch.Generator().manual_seed(0))
        got = 'sizes = %s' % lua_nums([len(p) for p in parts])
    except ValueError as e:
        got = "error = %r" % str(e)
    extra = ''
    if any(isinstance(x, float) for x in lengths) and math.isclose(sum(lengths), 1) \
            and all(0 <= x <= 1 for x in lengths):
        extra = ', rule = %s' % lua_nums(rule(n, lengths))
    lines.append("  { op = 'random_split', n = %d, lengths = %s, %s%s }," % (n, lua_nums(lengths), got, extra))

for n, bs, drop in [(10, 3, False), (10, 3, True), (9, 3, False), (9, 3, True), (2, 5, False), (2, 5, True),
                    (0, 4, False), (7, 1, False), (7, 7, True)]:
    b = BatchSampler(SequentialSampler(range(n)), bs, drop)
    batches = ', '.join(lua_nums([i + 1 for i in x]) for x in b)
    lines.append("  { op = 'BatchSampler', n = %d, batch_size = %d, drop_last = %s, len = %d, batches = { %s } },"
                 % (n, bs, 'true' if drop else 'false', len(b), batches))


# default_collate: samples and the batch as nested Lua values; tensors as
# { tensor = {shape, data, dtype} }, Python's tuples and lists as Lua lists
def lua_nested(v):
    if isinstance(v, torch.Tensor) and v.dtype == torch.bool:
        return '{ tensor = %s }' % lua_tensor(v.long()).replace("'int64'", "'bool'")
    if isinstance(v, torch.Tensor):
        return '{ tensor = %s }' % lua_tensor(v)
    if isinstance(v, dict):
        return '{ %s }' % ', '.join('%s = %s' % (k, lua_nested(x)) for k, x in v.items())
    if isinstance(v, (list, tuple)):
        return '{ %s }' % ', '.join(lua_nested(x) for x in v)
    if isinstance(v, str):
        return "'%s'" % v
    if isinstance(v, bool):
        return 'true' if v else 'false'
    return repr(v)


g = torch.Generator().manual_seed(0)
def randn(*s):
    return torch.randn(*s, generator=g)


COLLATE = [
    ('tuples', [(randn(3), i + 1) for i in range(4)]),
    ('dicts', [{'img': randn(2, 2), 'label': 3 - i, 'meta': (0.25 * (i + 1), 'n%d' % i)} for i in range(3)]),
    ('lists of numbers', [[i + 1, 2.5 * i + 0.5, True if i % 2 else False] for i in range(3)]),
    ('nested', [{'pair': [randn(2), {'k': i + 1}], 'name': 'a%d' % i} for i in range(2)]),
    ('tensors', [randn(2, 3) for _ in range(3)]),
    ('numbers', [0.5, 1.5, 2.25]),
]
for name, samples in COLLATE:
    batch = default_collate(samples)
    lines.append("  { op = 'default_collate', name = '%s', samples = %s, batch = %s },"
                 % (name, lua_nested(samples), lua_nested(batch)))

write_golden('data.lua', ['PyTorch 1.13 random_split sizes, BatchSampler batches and default_collate '
                          '(tests/golden/gen_data.py)'], lines)
