# gen_custom_function.py: PyTorch golden values for torch.autograd.Function's
# ctx.mark_dirty (an input changed in place and returned), as
# nl.autograd.Function takes it (lua/nnlua/autograd_function.lua). Writes
# tests/golden/custom_function.lua (checked by
# tests/spec/autograd_function_spec.lua); it does not test anything itself.
# Regenerate, from the repository root, with
#
#     /usr/bin/python3 tests/golden/gen_custom_function.py
#
# (Debian's python3 with torch 1.13; not a pyenv python3 on PATH.)
#
# Each case: float64 inputs (a, b, ... leaves, w weights), the same graph
# in the spec, and what PyTorch gives: the leaves' gradients, and where a
# case says so the values of the results, a hook's gradient and a retained
# .grad.
import torch
from common import F64, lua_tensor, write_golden

torch.manual_seed(20261128)


def rnd(*shape):
    return torch.randn(shape, dtype=F64)


class InplaceTanh(torch.autograd.Function):
    """x.tanh_(), marked dirty; the gradient from the saved output"""
    @staticmethod
    def forward(ctx, x):
        x.tanh_()
        ctx.mark_dirty(x)
        ctx.save_for_backward(x)
        return x

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * (1 - y * y)


class ScaleTwo(torch.autograd.Function):
    """x *= s and y *= x (both dirty), and a new result x + y"""
    @staticmethod
    def forward(ctx, x, y, s):
        ctx.save_for_backward(x.clone(), y.clone())
        ctx.s = s
        x.mul_(s)
        y.mul_(x)
        ctx.mark_dirty(x, y)
        return x, y, x + y

    @staticmethod
    def backward(ctx, gx, gy, gr):
        x0, y0 = ctx.saved_tensors
        s = ctx.s
        gx, gy = gx + gr, gy + gr
        return gx * s + gy * y0 * s, gy * x0 * s, None


class AddSquare(torch.autograd.Function):
    """x += w * w, x marked dirty (x needs no grad, w does)"""
    @staticmethod
    def forward(ctx, x, w):
        ctx.save_for_backward(w)
        x.add_(w * w)
        ctx.mark_dirty(x)
        return x

    @staticmethod
    def backward(ctx, g):
        (w,) = ctx.saved_tensors
        return g, 2 * w * g


class Triple(torch.autograd.Function):
    """x *= 3 in place, not marked dirty: PyTorch returns a view"""
    @staticmethod
    def forward(ctx, x):
        x.mul_(3)
        return x

    @staticmethod
    def backward(ctx, g):
        return g * 3


def leaf(t):
    return t.clone().requires_grad_()


out = []
# tanh in place on an op's output y = 2a + 1, which an add used before
a, b, w1, w2 = rnd(5), rnd(5), rnd(5), rnd(5)
la, lb = leaf(a), leaf(b)
y = la * 2 + 1
u = y + lb
r = InplaceTanh.apply(y)
assert r is y
(r * w1 + u * w2).sum().backward()
out.append('  tanh = { a = %s, b = %s, w1 = %s, w2 = %s, y = %s, grads = { %s, %s } },' % (
    lua_tensor(a, True), lua_tensor(b, True), lua_tensor(w1, True), lua_tensor(w2, True), lua_tensor(y.detach(), True),
    lua_tensor(la.grad, True), lua_tensor(lb.grad, True)))

# two dirty inputs of one function, and a new result
a, b, w1, w2, w3 = rnd(2, 3), rnd(2, 3), rnd(2, 3), rnd(2, 3), rnd(2, 3)
la, lb = leaf(a), leaf(b)
x, y = la * 1, lb - 0
rx, ry, rs = ScaleTwo.apply(x, y, 1.5)
assert rx is x and ry is y
(rx * w1 + ry * w2 + rs * w3).sum().backward()
out.append('  two = { a = %s, b = %s, w1 = %s, w2 = %s, w3 = %s, grads = { %s, %s } },' % (
    lua_tensor(a, True), lua_tensor(b, True), lua_tensor(w1, True), lua_tensor(w2, True), lua_tensor(w3, True),
    lua_tensor(la.grad, True), lua_tensor(lb.grad, True)))

# a dirty input that needs no grad: it becomes the function's output
c, w, wt = rnd(4), rnd(4), rnd(4)
lw = leaf(w)
x = c.clone()
r = AddSquare.apply(x, lw)
assert r is x and x.requires_grad and not x.is_leaf
(x * wt).sum().backward()
out.append('  nograd_input = { c = %s, w = %s, wt = %s, grads = { %s } },' % (
    lua_tensor(c, True), lua_tensor(w, True), lua_tensor(wt, True), lua_tensor(lw.grad, True)))

# hooks and retain_grad on the input before: the hook stays with the old
# history (its gradient, the old y's), retain_grad goes to the new
a, w1, w2 = rnd(3), rnd(3), rnd(3)
la = leaf(a)
y = la * 1
z = y * 3
seen = []
y.register_hook(lambda g: seen.append(g.clone()))
y.retain_grad()
InplaceTanh.apply(y)
(z * w1 + y * y * w2).sum().backward()
out.append('  hooks = { a = %s, w1 = %s, w2 = %s, hook = %s, retained = %s, grads = { %s } },' % (
    lua_tensor(a, True), lua_tensor(w1, True), lua_tensor(w2, True), lua_tensor(seen[0], True),
    lua_tensor(y.grad, True), lua_tensor(la.grad, True)))

# not marked dirty: a new tensor (a view) over the input's memory gets
# the node, the input keeps its history; also on a leaf that requires grad
a, w1, w2 = rnd(4), rnd(4), rnd(4)
la = leaf(a)
y = la * 1
r = Triple.apply(y)
assert r is not y and y.grad_fn is not None
(r * w1 + y * w2).sum().backward()
lg = la.grad.clone()
lb = leaf(a)
r = Triple.apply(lb)
(r * w1).sum().backward()
out.append('  unmarked = { a = %s, w1 = %s, w2 = %s, grads = { %s }, leaf_grad = %s, leaf_after = %s },' % (
    lua_tensor(a, True), lua_tensor(w1, True), lua_tensor(w2, True), lua_tensor(lg, True), lua_tensor(lb.grad, True),
    lua_tensor(lb.detach(), True)))

write_golden('custom_function.lua',
             ['PyTorch 1.13 golden values for autograd.Function with ctx.mark_dirty: written by',
              'tests/golden/gen_custom_function.py'], out)
