# Golden data for nl.metrics (tests/spec/metrics_spec.lua): Keras's
# Precision, Recall and AUC worked from their documented definitions in
# float64, not from Keras (not installed) or nnlua. An entry is predicted
# positive at threshold t where its output is above t; the targets that
# are not 0 are the positives; the counts are sums of the sample weights.
# AUC's thresholds are num_thresholds points evenly spaced over [0, 1]
# with the ends moved to -1e-7 and 1 + 1e-7; ROC is (fpr, tpr) and PR
# (recall, precision) at each, summed as trapezoids (interpolation) or
# with the lower (minoring) or upper (majoring) height of each step,
# except PR with interpolation, Davis and Goadrich's: between two
# thresholds the true positives grow linearly with the predicted
# positives q, and precision tp(q) / q is integrated over recall
# tp(q) / P, here numerically (midpoint rule, 20000 points a step),
# independent of the closed form nnlua uses.
# Regenerate: /usr/bin/python3 tests/golden/gen_metrics.py
import torch
from common import F32, F64, seed, lua_tensor, lua_value, num, write_golden

EPS = 1e-7


def thresholds(n):
    return torch.tensor([-EPS] + [(i + 1) / (n - 1) for i in range(n - 2)] + [1 + EPS], dtype=F64)


def counts(y, p, w, thr):
    """tp, fp, fn, tn (each of thr's length), entries flattened"""
    pos = (y != 0).to(F64).reshape(-1)
    w = w.expand(y.shape).reshape(-1)
    above = (p.reshape(-1, 1) > thr.reshape(1, -1)).to(F64)
    tp = ((pos * w).reshape(-1, 1) * above).sum(0)
    fp = (((1 - pos) * w).reshape(-1, 1) * above).sum(0)
    return tp, fp, (pos * w).sum() - tp, ((1 - pos) * w).sum() - fp


def div0(a, b):
    return torch.where(b > 0, a / torch.where(b > 0, b, torch.ones_like(b)), torch.zeros_like(a))


def pr_interpolated(tp, fp, P):
    total = 0.0
    for i in range(len(tp) - 1):
        q0, q1 = (tp[i] + fp[i]).item(), (tp[i + 1] + fp[i + 1]).item()
        t0, t1 = tp[i].item(), tp[i + 1].item()
        if q0 <= q1 or P <= 0:
            continue
        k = 20000
        q = q1 + (torch.arange(k, dtype=F64) + 0.5) * (q0 - q1) / k
        t = t1 + (t0 - t1) * (q - q1) / (q0 - q1)
        # d recall = (dtp / dq) dq / P
        total += ((t / q) * ((t0 - t1) / (q0 - q1)) * (q0 - q1) / k).sum().item() / P
    return total


def auc(y, p, w, n, curve, summation):
    tp, fp, fn, tn = counts(y, p, w, thresholds(n))
    if curve == 'PR' and summation == 'interpolation':
        return pr_interpolated(tp, fp, (tp + fn)[0].item())
    rec = div0(tp, tp + fn)
    if curve == 'ROC':
        x, h = div0(fp, fp + tn), rec
    else:
        x, h = rec, div0(tp, tp + fp)
    if summation == 'interpolation':
        hh = (h[:-1] + h[1:]) / 2
    elif summation == 'minoring':
        hh = torch.minimum(h[:-1], h[1:])
    else:
        hh = torch.maximum(h[:-1], h[1:])
    return ((x[:-1] - x[1:]) * hh).sum().item()


def precision_recall(y, p, w, t):
    tp, fp, fn, _ = counts(y, p, w, torch.tensor([t], dtype=F64))
    return div0(tp, tp + fp).item(), div0(tp, tp + fn).item()


cases = []


def case(name, shape, opts, logits=False, weights=None, prevalence=0.4):
    """targets 0/1 (float32) and outputs (float32: probabilities, or
    logits where from_logits) of shape; weights: None, 'sample' (N) or
    'entry' (shape)"""
    seed(name)
    y = (torch.rand(shape, dtype=F64) < prevalence).to(F32)
    # scores that lean towards the targets, so that the curves are not flat
    s = torch.randn(shape, dtype=F64) + 1.2 * y.to(F64)
    p = (s if logits else torch.sigmoid(s)).to(F32)
    w = None
    if weights == 'sample':
        w = torch.rand(shape[0], dtype=F64).to(F32) * 2
    elif weights == 'entry':
        w = torch.rand(shape, dtype=F64).to(F32) * 2
    pp = p.to(F64)
    if logits:
        pp = torch.sigmoid(pp)
    wb = torch.ones(1, dtype=F64) if w is None else w.to(F64)
    if w is not None and w.dim() < y.dim():
        wb = wb.reshape([shape[0]] + [1] * (len(shape) - 1))
    out = {}
    if opts['class'] == 'AUC':
        out['result'] = auc(y, pp, wb, opts.get('num_thresholds', 200), opts.get('curve', 'ROC'),
                            opts.get('summation_method', 'interpolation'))
    else:
        t = opts.get('thresholds', 0.5)
        prec, rec = precision_recall(y, pp, wb, t)
        out['result'] = prec if opts['class'] == 'Precision' else rec
    cases.append((name, opts, y, p, w, out['result']))


case('auc_roc_default', (40, 1), {'class': 'AUC'})
case('auc_roc_multilabel', (16, 5), {'class': 'AUC'})
case('auc_roc_10_thresholds', (30, 2), {'class': 'AUC', 'num_thresholds': 10})
case('auc_roc_minoring', (30, 2), {'class': 'AUC', 'num_thresholds': 25, 'summation_method': 'minoring'})
case('auc_roc_majoring', (30, 2), {'class': 'AUC', 'num_thresholds': 25, 'summation_method': 'majoring'})
case('auc_pr_default', (40, 1), {'class': 'AUC', 'curve': 'PR'})
case('auc_pr_multilabel', (16, 5), {'class': 'AUC', 'curve': 'PR'}, prevalence=0.25)
case('auc_pr_8_thresholds', (30, 2), {'class': 'AUC', 'curve': 'PR', 'num_thresholds': 8})
case('auc_pr_majoring', (30, 2), {'class': 'AUC', 'curve': 'PR', 'num_thresholds': 30,
                                  'summation_method': 'majoring'})
case('auc_pr_minoring', (30, 2), {'class': 'AUC', 'curve': 'PR', 'num_thresholds': 30,
                                  'summation_method': 'minoring'})
case('auc_roc_logits', (24, 3), {'class': 'AUC', 'from_logits': True}, logits=True)
case('auc_pr_logits', (24, 3), {'class': 'AUC', 'curve': 'PR', 'from_logits': True}, logits=True)
case('auc_roc_sample_weight', (30, 2), {'class': 'AUC'}, weights='sample')
case('auc_pr_entry_weight', (30, 2), {'class': 'AUC', 'curve': 'PR'}, weights='entry')
case('auc_roc_3d', (6, 2, 4), {'class': 'AUC', 'num_thresholds': 50})
case('precision_default', (40, 1), {'class': 'Precision'})
case('precision_0.3_multilabel', (12, 4), {'class': 'Precision', 'thresholds': 0.3})
case('precision_sample_weight', (20, 3), {'class': 'Precision', 'thresholds': 0.6}, weights='sample')
case('recall_default', (40, 1), {'class': 'Recall'})
case('recall_0.7_multilabel', (12, 4), {'class': 'Recall', 'thresholds': 0.7})
case('recall_entry_weight', (20, 3), {'class': 'Recall'}, weights='entry')

lines = []
for name, opts, y, p, w, result in cases:
    lines.append('  {')
    lines.append("    name = '%s', class = '%s'," % (name, opts['class']))
    o = {k: v for k, v in opts.items() if k != 'class'}
    lines.append('    opts = { %s },' % ', '.join(
        '%s = %s' % (k, ('true' if v is True else 'false') if isinstance(v, bool) else lua_value(v, F64))
        for k, v in o.items()))
    lines.append('    y = %s,' % lua_tensor(y))
    lines.append('    p = %s,' % lua_tensor(p))
    lines.append('    w = %s,' % lua_tensor(w))
    lines.append('    result = %s,' % num(result, F64))
    lines.append('  },')
write_golden('metrics.lua', ['Generated by gen_metrics.py (PyTorch %s).' % torch.__version__, 'Do not edit.'], lines)
