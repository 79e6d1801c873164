# gen_backward_inputs.py: PyTorch 1.13 golden values for backward's
# inputs option (Tensor.backward(inputs=...), nnlua's
# t:backward({inputs = ...})). Writes tests/golden/backward_inputs.lua
# (checked by tests/spec/backward_inputs_spec.lua); it does not test
# anything itself. Regenerate, from the repository root, with
#
#     /usr/bin/python3 tests/golden/gen_backward_inputs.py
#
# (Debian's python3 with torch 1.13; not a pyenv python3 on PATH.)
#
# Each case is a small graph that the spec builds again in nnlua from the
# same leaves; after the backward passes the case names, the .grad of
# every leaf (false: None) and of the tensors an op made that were listed
# is written, with the hooks' calls where the case has hooks.
import torch
from common import F32, F64, lua_tensor, write_golden

torch.manual_seed(20261129)


def rnd(dtype, *shape):
    return torch.randn(shape, dtype=F64).to(dtype)


def leaves(**kw):
    return {k: v.clone().requires_grad_(True) for k, v in kw.items()}


def grads(d):
    return {k: (v.grad.detach().clone() if v.grad is not None else None) for k, v in d.items()}


CASES = []


def case(name, inputs, result, extra=None):
    CASES.append((name, inputs, result, extra or {}))


# only the listed leaf: tanh(x * w) + b, squared, summed; inputs = {x}
lv = dict(x=rnd(F64, 2, 3), w=rnd(F64, 2, 3), b=rnd(F64, 3))
L = leaves(**lv)
(((L['x'] * L['w']).tanh() + L['b']) ** 2).sum().backward(inputs=[L['x']])
case('only_listed', lv, grads(L))

# a two-layer net, float32: only W1 and b2 take gradients
lv = dict(X=rnd(F32, 4, 3), W1=rnd(F32, 3, 5), b1=rnd(F32, 5), W2=rnd(F32, 5, 2), b2=rnd(F32, 2),
          Y=rnd(F32, 4, 2))
L = leaves(**lv)
h = torch.tanh(L['X'] @ L['W1'] + L['b1'])
loss = ((h @ L['W2'] + L['b2'] - L['Y']) ** 2).mean()
loss.backward(inputs=[L['W1'], L['b2']])
case('mlp', lv, grads(L))

# accumulation: w and x have a .grad already; inputs = {w} adds into w's
# and leaves x's as it was
lv = dict(x=rnd(F64, 4), w=rnd(F64, 4))
g0 = dict(x=rnd(F64, 4), w=rnd(F64, 4))
L = leaves(**lv)
for k in L:
    L[k].grad = g0[k].clone()
(L['x'].exp() * L['w'] * L['w']).sum().backward(inputs=[L['w']])
case('accumulate', lv, grads(L), {'grad0': g0})

# a tensor an op made: y = sin(x) * 2, loss = sum(y * y * x); inputs = {y}
# gives y.grad (x's stays None); a plain backward after it adds into y.grad
# (y retains its gradient from then on) and fills x's
lv = dict(x=rnd(F64, 3))
L = leaves(**lv)
y = L['x'].sin() * 2
loss = (y * y * L['x']).sum()
loss.backward(inputs=[y], retain_graph=True)
first = grads(L)
first['y'] = y.grad.detach().clone()
loss.backward()
after = grads(L)
after['y'] = y.grad.detach().clone()
case('nonleaf', lv, first, {'after': after})

# hooks: y = x * 3 with a hook that multiplies by 10, loss = sum(y * y * w);
# inputs = {x, w}: y's hook runs (its gradient flows to x), the leaves'
# hooks run; the order of the hooks' calls and what they saw
lv = dict(x=rnd(F64, 3), w=rnd(F64, 3))
L = leaves(**lv)
seen = []
y = L['x'] * 3
L['x'].register_hook(lambda g: seen.append(('x', g.detach().clone())))
L['w'].register_hook(lambda g: seen.append(('w', g.detach().clone())))
y.register_hook(lambda g: g * 10)
y.register_hook(lambda g: seen.append(('y', g.detach().clone())))
(y * y * L['w']).sum().backward(inputs=[L['x'], L['w']])
case('hooks', lv, grads(L), {'seen': seen})

# hooks of a listed tensor an op made run before its .grad takes the
# gradient; one returning a gradient changes what .grad gets
lv = dict(x=rnd(F64, 3))
L = leaves(**lv)
y = L['x'].exp()
seen = []
y.register_hook(lambda g: seen.append(('y', g.detach().clone(), y.grad is None)))
y.register_hook(lambda g: g * -2)
(y * y).sum().backward(inputs=y)
res = grads(L)
res['y'] = y.grad.detach().clone()
case('hooks_nonleaf', lv, res, {'seen': [(k, g) for k, g, _ in seen], 'grad_was_none': [n for _, _, n in seen]})

# create_graph: x.grad = 3 x^2 w keeps a graph; its sum's backward with
# inputs = {w} gives w.grad = 3 x^2 (and x's stays)
lv = dict(x=rnd(F64, 3), w=rnd(F64, 3))
L = leaves(**lv)
(L['x'] ** 3 * L['w']).sum().backward(inputs=[L['x']], create_graph=True)
first = grads(L)
L['x'].grad.sum().backward(inputs=[L['w']])
case('create_graph', lv, first, {'after': grads(L)})

# retain_graph: one pass for x, a second for w, through the same graph
lv = dict(x=rnd(F32, 2, 2), w=rnd(F32, 2, 2))
L = leaves(**lv)
loss = (L['x'] @ L['w']).sigmoid().sum()
loss.backward(inputs=[L['x']], retain_graph=True)
first = grads(L)
loss.backward(inputs=[L['w']])
case('retain_graph', lv, first, {'after': grads(L)})

# a given gradient for a non-scalar root; a leaf the root does not depend
# on (u) keeps .grad None
lv = dict(x=rnd(F64, 3), u=rnd(F64, 2))
v = rnd(F64, 3)
L = leaves(**lv)
(L['x'] * L['x'].cos()).backward(v, inputs=[L['u'], L['x']])
case('given_gradient', lv, grads(L), {'v': v})

HEADER = ['PyTorch 1.13 golden values for backward(inputs = ...): written by',
          'tests/golden/gen_backward_inputs.py']


def tensors(d):
    return '{ %s }' % ', '.join('%s = %s' % (k, lua_tensor(v)) for k, v in d.items())


def seen_list(s):
    return '{ %s }' % ', '.join("{ '%s', %s }" % (k, lua_tensor(g)) for k, g in s)


lines = []
for name, inputs, result, extra in CASES:
    lines.append("  %s = {" % name)
    lines.append('    leaves = %s,' % tensors(inputs))
    lines.append('    grads = %s,' % tensors(result))
    for k, v in extra.items():
        if k == 'seen':
            lines.append('    seen = %s,' % seen_list(v))
        elif isinstance(v, dict):
            lines.append('    %s = %s,' % (k, tensors(v)))
        elif isinstance(v, list):
            lines.append('    %s = { %s },' % (k, ', '.join('true' if b else 'false' for b in v)))
        else:
            lines.append('    %s = %s,' % (k, lua_tensor(v)))
    lines.append('  },')
write_golden('backward_inputs.lua', HEADER, lines)
