"""Shared by the distribution generators (gen_distributions.py,
gen_distributions_more.py, gen_distributions_relaxed.py): float64 draws
cast to a dtype, and the writing of their cases (a distribution's methods,
or a kl_divergence, with the parameters' gradients of (out * w).sum(), w
a random tensor) as tests/spec/dist_golden.lua reads them."""
import torch
import torch.distributions as D
from common import F64, lua_tensor


def rn(*s, dtype=F64):
    """standard normal draws of shape s, made in float64"""
    return torch.randn(s, dtype=F64).to(dtype)


def ru(lo, hi, *s, dtype=F64):
    """uniform draws in [lo, hi) of shape s, made in float64"""
    return (torch.rand(s, dtype=F64) * (hi - lo) + lo).to(dtype)


def lua_list_of(ts):
    """a list of tensors, float64 at their shortest digits (false for None)"""
    return '{ %s }' % ', '.join(lua_tensor(t, True) for t in ts)


def out_and_grads(leaves, out, keep_zero_grads=False):
    """w = randn of out's shape and dtype, out detached, and the leaves'
    gradients of (out * w).sum(): None where unused, or (unless
    keep_zero_grads) zero throughout"""
    w = torch.randn(out.shape, dtype=out.dtype)
    grads = [None] * len(leaves)
    if out.requires_grad:
        gs = torch.autograd.grad((out * w).sum(), leaves, allow_unused=True, retain_graph=True)
        grads = list(gs) if keep_zero_grads else [None if g is None or bool((g == 0).all()) else g for g in gs]
    return w, out.detach(), grads


class CaseWriter:
    """The lines of a generator's cases. build: kind -> a function of the
    leaves giving the distribution; stats: the methods that are properties
    (entropy and those of values are called); keep_zero_grads: write
    gradients that are zero throughout; one_based: prefixes of the kinds
    whose values are labels (written 1-based)."""

    def __init__(self, build, stats, keep_zero_grads=False, one_based=()):
        self.build, self.stats = build, stats
        self.keep_zero_grads, self.one_based = keep_zero_grads, one_based
        self.lines = []

    def head(self, name, kind, params, d):
        """a case's opening lines: its name, kind, params and d's shapes"""
        self.lines.append('  {')
        self.lines.append("    name = '%s', kind = '%s'," % (name, kind))
        self.lines.append('    params = %s,' % lua_list_of(params))
        self.lines.append('    batch_shape = { %s }, event_shape = { %s },' % (
            ', '.join(str(s) for s in d.batch_shape), ', '.join(str(s) for s in d.event_shape)))

    def case(self, name, kind, params, methods, values=None):
        """a distribution case: params (leaves), methods (names of outputs:
        the stats and entropy take nothing, the others values[m])"""
        leaves = [p.clone().requires_grad_(True) for p in params]
        d = self.build[kind](*leaves)
        self.head(name, kind, params, d)
        self.lines.append('    methods = {')
        for m in methods:
            value = None
            if m in self.stats:
                out = getattr(d, m)
            elif m == 'entropy':
                out = d.entropy()
            else:
                value = values[m]
                out = getattr(d, m)(value)
            w, out, grads = out_and_grads(leaves, out, self.keep_zero_grads)
            shown = value
            if value is not None and kind.startswith(self.one_based):
                shown = value + 1
            self.lines.append("      { m = '%s', value = %s, w = %s, out = %s, grads = %s }," % (
                m, lua_tensor(shown, True), lua_tensor(w, True), lua_tensor(out, True), lua_list_of(grads)))
        self.lines.append('    },')
        self.lines.append('  },')

    def kl_case(self, name, pkind, pparams, qkind, qparams):
        """kl_divergence(build[pkind](pparams), build[qkind](qparams)) and
        the gradients w.r.t. both's parameters"""
        pl = [p.clone().requires_grad_(True) for p in pparams]
        ql = [q.clone().requires_grad_(True) for q in qparams]
        out = D.kl_divergence(self.build[pkind](*pl), self.build[qkind](*ql))
        w, out, grads = out_and_grads(pl + ql, out, self.keep_zero_grads)
        self.lines.append('  {')
        self.lines.append("    name = '%s', kind = 'kl', p = '%s', q = '%s'," % (name, pkind, qkind))
        self.lines.append('    p_params = %s,' % lua_list_of(pparams))
        self.lines.append('    q_params = %s,' % lua_list_of(qparams))
        self.lines.append('    w = %s, out = %s, grads = %s,' % (
            lua_tensor(w, True), lua_tensor(out, True), lua_list_of(grads)))
        self.lines.append('  },')
