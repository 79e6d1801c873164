# gen_sortops.py: PyTorch golden values for nnlua's order statistics, scans
# that give indices and counting ops (lua/nnlua/tensor_sortops.lua):
# cummax, cummin, logcumsumexp, kthvalue, median, nanmedian, mode, nansum,
# nanmean, quantile, nanquantile, searchsorted, bucketize, bincount, histc,
# unique, unique_consecutive, count_nonzero and clamp with tensor bounds, in
# float32, float64 and int64, with ties, NaN and non-contiguous inputs.
# Writes tests/golden/sortops.lua (checked by tests/spec/sortops_spec.lua);
# it does not test anything itself. Regenerate, from the repository root, with
#
#     /usr/bin/python3 tests/golden/gen_sortops.py
#
# Each case is made as gen_tensor_ops.py makes its own: on seeded inputs,
# outs = op(inputs...), then the gradients of sum((out_i * w_i).sum()) over
# the float outputs, w_i fixed random tensors of their shapes and dtypes.
# int64 outputs are compared exactly; index outputs (and the places of
# searchsorted and bucketize, and bincount's bins) are 1-based in nnlua,
# so they are written + 1 (inputs given as ('index', t) are 1-based and
# reach PyTorch 0-based). NaN outputs are compared as NaN. New cases go at
# the end: the random stream of the earlier ones stays as it was.
#
# Where PyTorch 1.13 leaves a result unspecified or gets it wrong, the case
# avoids it and the spec checks nnlua's documented rule instead: the index
# kthvalue and mode give for equal values on long lanes (an unstable sort
# decides), nanmedian's index in a lane of NaN only, unique with NaN (1.13's sorted unique gives every NaN the
# inverse and count of another value), and histc with NaN (1.13 counts a
# NaN in the first bin through an undefined float-to-int conversion).
import torch
from common import F32, F64, I64, method_case, lua_method_case, write_golden

torch.manual_seed(20250927)
CASES = []
nan, inf = float('nan'), float('inf')


def randn(*shape, dtype=F32):
    return torch.randn(tuple(shape), dtype=dtype)


def ints(lo, hi, *shape, dtype=F32):
    """whole numbers in [lo, hi), as dtype: ties"""
    return torch.randint(lo, hi, tuple(shape)).to(dtype)


def with_values(x, places, v):
    """x with v at the given flat places"""
    x = x.clone().reshape(-1)
    x[list(places)] = v
    return x


def case(*args, **kw):
    CASES.append(method_case(*args, **kw))


def const(t):
    return ('const', t)


# ---- (1) cummax, cummin ------------------------------------------------------------------
case('cummax', 'cummax', lambda x: x.cummax(1), [randn(3, 5)], {'dim': 2})
case('cummin_middle_dim', 'cummin', lambda x: x.cummin(1), [randn(2, 4, 3)], {'dim': 2})
# equal values: the later one takes over (its index, its gradient)
case('cummax_ties', 'cummax', lambda x: x.cummax(1), [ints(0, 3, 4, 6)], {'dim': 2})
case('cummin_ties_transposed', 'cummin_t', lambda x: x.t().cummin(0), [ints(0, 3, 5, 3)], {'dim': 1})
case('cummax_f64', 'cummax', lambda x: x.cummax(-1), [randn(3, 4, dtype=F64)], {'dim': -1})
case('cummax_int64', 'cummax', lambda x: x.cummax(0), [const(torch.tensor([[3, -1], [3, 4], [-5, 4], [7, 0]]))],
     {'dim': 1}, int_values=[True, False])
# NaN propagates, each later NaN taking the index
case('cummax_nan', 'cummax', lambda x: x.cummax(1),
     [with_values(randn(3, 5), [2, 5, 13, 14], nan).view(3, 5)], {'dim': 2})
case('cummin_nan', 'cummin', lambda x: x.cummin(0),
     [with_values(randn(4, 3), [3, 4, 10], nan).view(4, 3)], {'dim': 1})

# ---- (2) logcumsumexp ----------------------------------------------------------------------
case('logcumsumexp', 'logcumsumexp', lambda x: x.logcumsumexp(1), [randn(3, 6)], {'dim': 2})
# magnitudes whose exp overflows float32 (and float64 at 1000)
case('logcumsumexp_large', 'logcumsumexp', lambda x: x.logcumsumexp(1), [randn(3, 6) * 60], {'dim': 2})
case('logcumsumexp_middle_dim', 'logcumsumexp', lambda x: x.logcumsumexp(1), [randn(2, 4, 3)], {'dim': 2})
case('logcumsumexp_transposed', 'logcumsumexp_t', lambda x: x.t().logcumsumexp(0), [randn(3, 5)], {'dim': 1})
case('logcumsumexp_f64_large', 'logcumsumexp', lambda x: x.logcumsumexp(-1), [randn(2, 5, dtype=F64) * 1000],
     {'dim': -1})
# -inf inside and first (PyTorch's gradient there: 0 inside, NaN at a -inf
# that starts a lane, where log|g| - (-inf) + (-inf) is NaN), and NaN
case('logcumsumexp_inf_nan_f64', 'logcumsumexp', lambda x: x.logcumsumexp(1),
     [torch.tensor([[1.0, -inf, 2.0, 0.5], [-inf, 0.0, 1.0, -1.0], [0.5, nan, 1.0, 2.0]], dtype=F64)], {'dim': 2})

# ---- (3) kthvalue, median, nanmedian, mode ------------------------------------------------------
case('kthvalue', 'kthvalue', lambda x: x.kthvalue(2, 1), [randn(3, 5)], {'k': 2, 'dim': 2})
case('kthvalue_keepdim_middle', 'kthvalue', lambda x: x.kthvalue(4, 1, True), [randn(2, 5, 3)],
     {'k': 4, 'dim': 2, 'keepdim': True})
case('kthvalue_transposed', 'kthvalue_t', lambda x: x.t().kthvalue(1, 0), [randn(3, 4)], {'k': 1, 'dim': 1})
case('kthvalue_default_dim_f64', 'kthvalue', lambda x: x.kthvalue(3), [randn(2, 4, dtype=F64)], {'k': 3})
case('kthvalue_int64', 'kthvalue', lambda x: x.kthvalue(2, 1),
     [const(torch.tensor([[4, -2, 9, 0], [1, 3, 2, 8]]))], {'k': 2, 'dim': 2}, int_values=[True, False])
# NaN sorts after every number: k = 3 of [a, NaN, b] is NaN
case('kthvalue_nan', 'kthvalue', lambda x: x.kthvalue(3, 1),
     [torch.tensor([[0.5, nan, -1.0], [2.0, 1.0, 3.0], [nan, nan, 4.0]])], {'k': 3, 'dim': 2})

case('median_all_odd', 'median_all', lambda x: x.median(), [randn(3, 5)])
case('median_all_even_lower', 'median_all', lambda x: x.median(), [randn(3, 4)])
# equal middle values: the gradient is shared among them
case('median_all_ties', 'median_all', lambda x: x.median(), [ints(0, 3, 3, 4)])
case('median_all_f64_transposed', 'median_all_t', lambda x: x.t().median(), [randn(3, 4, dtype=F64)])
case('median_all_int64', 'median_all', lambda x: x.median(), [const(torch.tensor([[5, -1, 3], [8, 0, 2]]))],
     int_values=True)
# a NaN: the median is NaN and its gradient shared among the NaNs
case('median_all_nan', 'median_all', lambda x: x.median(), [with_values(randn(2, 4), [1, 6], nan).view(2, 4)])
case('nanmedian_all', 'nanmedian_all', lambda x: x.nanmedian(),
     [with_values(randn(3, 4), [0, 5, 7], nan).view(3, 4)])
case('nanmedian_all_ties', 'nanmedian_all', lambda x: x.nanmedian(),
     [with_values(ints(0, 3, 3, 3), [4], nan).view(3, 3)])
case('nanmedian_all_nan', 'nanmedian_all', lambda x: x.nanmedian(), [torch.full((2, 2), nan)])

case('median_dim', 'median', lambda x: x.median(1), [randn(3, 5)], {'dim': 2})
case('median_dim_even_keepdim', 'median', lambda x: x.median(1, True), [randn(3, 4)], {'dim': 2, 'keepdim': True})
# PyTorch breaks ties by index: the stable sort's middle element
case('median_dim_ties', 'median', lambda x: x.median(1), [ints(0, 3, 4, 6)], {'dim': 2})
case('median_dim_transposed', 'median_t', lambda x: x.t().median(0), [ints(0, 4, 5, 3)], {'dim': 1})
case('median_dim_first_f64', 'median', lambda x: x.median(0), [randn(5, 3, dtype=F64)], {'dim': 1})
case('median_dim_int64', 'median', lambda x: x.median(-1), [const(torch.tensor([[5, -1, 3, 3], [8, 0, 2, 2]]))],
     {'dim': -1}, int_values=[True, False])
# a lane with a NaN gives its first NaN
case('median_dim_nan', 'median', lambda x: x.median(1),
     [torch.tensor([[1.0, nan, 3.0, nan, 0.0], [2.0, 1.0, 5.0, 4.0, 3.0], [nan, 0.0, 1.0, 2.0, 3.0]])], {'dim': 2})
# (a lane of NaN only is left out: 1.13's nth_element picks any of its NaNs)
case('nanmedian_dim', 'nanmedian', lambda x: x.nanmedian(1),
     [torch.tensor([[1.0, nan, 3.0, nan, 0.0], [2.0, 1.0, 5.0, 4.0, 3.0], [nan, 0.0, 1.0, 2.0, nan]])], {'dim': 2})
case('nanmedian_dim_keepdim_ties', 'nanmedian', lambda x: x.nanmedian(0, True),
     [with_values(ints(0, 3, 5, 3), [0, 4, 7, 13], nan).view(5, 3)], {'dim': 1, 'keepdim': True})

# lanes shorter than 16, where PyTorch's sort is an insertion sort (stable):
# of equal values, the last place
case('mode', 'mode', lambda x: x.mode(1), [ints(0, 4, 4, 7)], {'dim': 2})
case('mode_first_dim_keepdim', 'mode', lambda x: x.mode(0, True), [ints(-2, 2, 6, 3)], {'dim': 1, 'keepdim': True})
case('mode_default_dim_f64', 'mode', lambda x: x.mode(), [ints(0, 3, 3, 5, dtype=F64)])
case('mode_transposed', 'mode_t', lambda x: x.t().mode(0), [ints(0, 3, 5, 4)], {'dim': 1})
case('mode_int64', 'mode', lambda x: x.mode(1), [const(torch.tensor([[3, 1, 3, 1, 2], [7, 7, -1, -1, -1]]))],
     {'dim': 2}, int_values=[True, False])
# all distinct: the smallest, one of each
case('mode_distinct', 'mode', lambda x: x.mode(1), [randn(2, 5)], {'dim': 2})

# ---- (4) nansum, nanmean, count_nonzero ---------------------------------------------------
xn = with_values(randn(3, 4), [1, 6, 7, 9], nan).view(3, 4)
case('nansum_all', 'nansum', lambda x: x.nansum(), [xn])
case('nansum_dim', 'nansum', lambda x: x.nansum(1), [xn], {'dim': 2})
case('nansum_dims_keepdim', 'nansum', lambda x: x.nansum((0, 2), keepdim=True),
     [with_values(randn(2, 3, 4), [0, 5, 17, 23], nan).view(2, 3, 4)], {'dim': [1, 3], 'keepdim': True})
case('nansum_int64', 'nansum', lambda x: x.nansum(0), [const(torch.tensor([[3, -1], [4, 9]]))], {'dim': 1},
     int_values=True)
case('nansum_dtype_f64', 'nansum', lambda x: x.nansum(1, dtype=F64), [xn], {'dim': 2, 'dtype': 'float64'})
case('nanmean_dim', 'nanmean', lambda x: x.nanmean(1), [xn], {'dim': 2})
case('nanmean_all_f64', 'nanmean', lambda x: x.nanmean(),
     [with_values(randn(2, 5, dtype=F64), [2, 3], nan).view(2, 5)])
case('nanmean_dims_transposed', 'nanmean_t', lambda x: x.t().nanmean((0,), keepdim=True), [xn],
     {'dim': [1], 'keepdim': True})
case('count_nonzero_all', 'count_nonzero', lambda x: torch.count_nonzero(x),
     [const(torch.tensor([[0.0, nan, 1.0], [0.0, -2.0, 0.0]]))], int_values=True)
case('count_nonzero_dim', 'count_nonzero', lambda x: torch.count_nonzero(x, 1),
     [const(torch.tensor([[0.0, nan, 1.0], [0.0, -2.0, 0.0]]))], {'dim': 2}, int_values=True)
case('count_nonzero_dims_int64', 'count_nonzero', lambda x: torch.count_nonzero(x, (0, 2)),
     [const(torch.tensor([[[0, 1], [2, 0]], [[3, 0], [0, 0]]]))], {'dim': [1, 3]}, int_values=True)

# ---- (5) quantile, nanquantile -------------------------------------------------------------
case('quantile_all', 'quantile', lambda x: x.quantile(0.3), [randn(4, 5)], {'q': 0.3})
case('quantile_dim_q_tensor_keepdim', 'quantile_qt', lambda x, q: x.quantile(q, 1, True),
     [randn(3, 6), const(torch.tensor([0.0, 0.25, 0.5, 0.9, 1.0]))], {'dim': 2, 'keepdim': True})
case('quantile_all_keepdim_q_tensor', 'quantile_qt', lambda x, q: x.quantile(q, None, True),
     [randn(2, 3), const(torch.tensor([0.1, 0.75]))], {'keepdim': True})
for mode in ('lower', 'higher', 'midpoint', 'nearest'):
    # ranks 0.9, 2.25, 2.5 and 3.6 of lanes of 5: 'nearest' rounds 2.5 to even
    case('quantile_' + mode, 'quantile_qt', lambda x, q, m=mode: x.quantile(q, 1, interpolation=m),
         [randn(3, 5), const(torch.tensor([0.225, 0.5625, 0.625, 0.9]))], {'dim': 2, 'interpolation': mode})
case('quantile_transposed_f64', 'quantile_t', lambda x: x.t().quantile(0.7, 0), [randn(3, 4, dtype=F64)],
     {'q': 0.7, 'dim': 1})
case('quantile_q_scalar_tensor_middle_dim', 'quantile_qt', lambda x, q: x.quantile(q, 1),
     [randn(2, 4, 3), const(torch.tensor(0.4))], {'dim': 2})
# a lane with a NaN gives NaN
case('quantile_nan', 'quantile_qt', lambda x, q: x.quantile(q, 1),
     [with_values(randn(3, 4), [2], nan).view(3, 4), const(torch.tensor([0.2, 0.5]))], {'dim': 2})
case('nanquantile', 'nanquantile_qt', lambda x, q: x.nanquantile(q, 1),
     [with_values(randn(4, 5), [1, 3, 10, 11, 12, 13, 14], nan).view(4, 5), const(torch.tensor([0.2, 0.5, 1.0]))],
     {'dim': 2})
case('nanquantile_all_midpoint', 'nanquantile', lambda x: x.nanquantile(0.5, interpolation='midpoint'),
     [with_values(randn(3, 4), [0, 7], nan).view(3, 4)], {'q': 0.5, 'interpolation': 'midpoint'})

# ---- (6) searchsorted, bucketize ---------------------------------------------------------------
seq = torch.tensor([-1.0, 0.5, 0.5, 2.0, 3.0, 3.0, 7.5])
vals = torch.tensor([[0.5, 3.0, -2.0, 8.0], [2.5, -1.0, 7.5, 0.0]])
case('searchsorted_left', 'searchsorted', lambda s, v: torch.searchsorted(s, v), [const(seq), const(vals)])
case('searchsorted_right', 'searchsorted', lambda s, v: torch.searchsorted(s, v, right=True),
     [const(seq), const(vals)], {'right': True})
case('searchsorted_side_right', 'searchsorted', lambda s, v: torch.searchsorted(s, v, side='right'),
     [const(seq), const(vals)], {'side': 'right'})
case('searchsorted_rows', 'searchsorted', lambda s, v: torch.searchsorted(s, v),
     [const(torch.sort(randn(3, 5), 1)[0]), const(randn(3, 4))])
case('searchsorted_rows_right_f64', 'searchsorted', lambda s, v: torch.searchsorted(s, v, right=True),
     [const(torch.tensor([[0.0, 1.0, 1.0, 2.0], [5.0, 5.0, 6.0, 9.0]], dtype=F64)),
      const(torch.tensor([[1.0, 2.0, -1.0], [5.0, 9.0, 10.0]], dtype=F64))], {'right': True})
unsorted = torch.tensor([3.0, -1.0, 7.5, 0.5, 2.0])
case('searchsorted_sorter', 'searchsorted_sorter', lambda s, v, o: torch.searchsorted(s, v, sorter=o),
     [const(unsorted), const(vals), ('index', torch.argsort(unsorted) + 1)])
# int64 boundaries with float values: compared in float32, as PyTorch promotes
case('searchsorted_int64_float', 'searchsorted', lambda s, v: torch.searchsorted(s, v),
     [const(torch.tensor([1, 3, 5, 7])), const(torch.tensor([0.5, 3.0, 3.5, 8.0]))])
case('searchsorted_int64', 'searchsorted', lambda s, v: torch.searchsorted(s, v, right=True),
     [const(torch.tensor([[1, 3, 5, 7], [2, 2, 2, 4]])), const(torch.tensor([[3, 0, 7], [2, 5, 1]]))],
     {'right': True})
# NaN values go past every boundary; NaN boundaries (sorted last) count as largest
case('searchsorted_nan', 'searchsorted', lambda s, v: torch.searchsorted(s, v),
     [const(torch.tensor([0.0, 1.0, 2.0, nan])), const(torch.tensor([nan, 1.5, 3.0, -1.0]))])
case('bucketize', 'bucketize', lambda x, b: torch.bucketize(x, b),
     [const(torch.tensor([[0.5, 3.0, 9.0], [-4.0, 2.0, 1.0]])), const(torch.tensor([0.0, 1.0, 2.0, 3.0]))])
case('bucketize_right_int64', 'bucketize', lambda x, b: torch.bucketize(x, b, right=True),
     [const(torch.tensor([0, 1, 2, 3, 4, 5])), const(torch.tensor([1, 3, 3, 4]))], {'right': True})

# ---- (7) bincount, histc ----------------------------------------------------------------------
bins_in = torch.tensor([0, 2, 2, 5, 1, 2, 0])
case('bincount', 'bincount', lambda x: torch.bincount(x), [('index', bins_in + 1)], int_values=True)
case('bincount_minlength', 'bincount', lambda x: torch.bincount(x, minlength=9), [('index', bins_in + 1)],
     {'minlength': 9}, int_values=True)
case('bincount_weights_f32', 'bincount_w', lambda x, w: torch.bincount(x, w),
     [('index', bins_in + 1), const(randn(7))])
case('bincount_weights_f64_minlength', 'bincount_w', lambda x, w: torch.bincount(x, w, 8),
     [('index', bins_in + 1), const(randn(7, dtype=F64))], {'minlength': 8})
case('bincount_weights_int64', 'bincount_w', lambda x, w: torch.bincount(x, w),
     [('index', bins_in + 1), const(torch.tensor([1, 2, 3, 4, 5, 6, 7]))])
case('bincount_empty_minlength', 'bincount', lambda x: torch.bincount(x, minlength=3),
     [('index', torch.zeros(0, dtype=I64))], {'minlength': 3}, int_values=True)

hx = torch.tensor([[0.0, 0.6, 1.2, 1.8, 2.4], [3.0, -0.1, 3.5, 1.5, 0.75]])
case('histc', 'histc', lambda x: torch.histc(x, 5, 0, 3), [const(hx)], {'bins': 5, 'min': 0, 'max': 3})
case('histc_data_range', 'histc', lambda x: torch.histc(x, 7), [const(randn(40))], {'bins': 7})
case('histc_f64_edges', 'histc', lambda x: torch.histc(x, 4, -1, 1),
     [const(torch.tensor([-1.0, -0.5, 0.0, 0.5, 1.0, 0.49999999, -0.50000001, 2.0], dtype=F64))],
     {'bins': 4, 'min': -1, 'max': 1})
case('histc_constant_widened', 'histc', lambda x: torch.histc(x, 4), [const(torch.full((5,), 2.5))], {'bins': 4})
case('histc_default_bins_transposed', 'histc_t', lambda x: torch.histc(x.t(), min=-2, max=2), [const(randn(6, 5))],
     {'min': -2, 'max': 2})

# ---- (8) unique, unique_consecutive -------------------------------------------------------------
case('unique', 'unique', lambda x: torch.unique(x, return_inverse=True, return_counts=True),
     [const(ints(0, 5, 3, 4))], {'return_inverse': True, 'return_counts': True}, int_values=[False, False, True])
case('unique_int64_counts', 'unique', lambda x: torch.unique(x, return_counts=True),
     [const(torch.tensor([[3, -1, 3], [7, -1, 3]]))], {'return_counts': True}, int_values=[True, True])
ur = torch.tensor([[1, 2, 0], [0, 5, 1], [1, 2, 0], [0, 4, 9], [0, 5, 1]])
case('unique_dim_rows', 'unique', lambda x: torch.unique(x, dim=0, return_inverse=True, return_counts=True),
     [const(ur)], {'dim': 1, 'return_inverse': True, 'return_counts': True}, int_values=[True, False, True])
case('unique_dim_columns', 'unique', lambda x: torch.unique(x, dim=1, return_inverse=True),
     [const(ur.t().contiguous().to(F32))], {'dim': 2, 'return_inverse': True})
case('unique_dim_3d', 'unique', lambda x: torch.unique(x, dim=1, return_counts=True),
     [const(torch.tensor([[[1, 2], [0, 0], [1, 2]], [[3, 4], [5, 5], [3, 4]]]))], {'dim': 2, 'return_counts': True},
     int_values=[True, True])
case('unique_consecutive', 'unique_consecutive',
     lambda x: torch.unique_consecutive(x, return_inverse=True, return_counts=True),
     [const(torch.tensor([[1.0, 1.0, 2.0], [2.0, 2.0, 1.0]]))], {'return_inverse': True, 'return_counts': True},
     int_values=[False, False, True])
case('unique_consecutive_dim', 'unique_consecutive',
     lambda x: torch.unique_consecutive(x, dim=0, return_counts=True),
     [const(torch.tensor([[1, 2], [1, 2], [0, 5], [1, 2]]))], {'dim': 1, 'return_counts': True},
     int_values=[True, True])

# ---- (9) clamp with tensor bounds --------------------------------------------------------------
# min (4) and max (3, 1) broadcast over x (3, 4); in row 1 min > max somewhere
lo = torch.tensor([-0.5, 0.0, -1.0, 0.3])
hi = torch.tensor([[0.8], [0.1], [-0.2]])
case('clamp_tensors_broadcast', 'clamp', lambda x, a, b: torch.clamp(x, a, b), [randn(3, 4), lo, hi])
case('clamp_min_tensor', 'clamp', lambda x, a: torch.clamp(x, min=a), [randn(3, 4), randn(4)])
case('clamp_max_tensor', 'clamp_max', lambda x, b: torch.clamp(x, max=b), [randn(2, 3), randn(2, 1)])
# (PyTorch 1.13 takes a number beside a tensor bound only as a 0-dim tensor;
# nnlua takes the number, of the same type class)
case('clamp_number_and_tensor', 'clamp_lo_number', lambda x, b: torch.clamp(x, torch.tensor(-0.5), b),
     [randn(2, 4), randn(4)], {'min': -0.5})
# x equal to a bound, and min equal to max: PyTorch's gradient picks none of
# them where x < min = max, x where x = min = max
case('clamp_ties', 'clamp', lambda x, a, b: torch.clamp(x, a, b),
     [torch.tensor([0.0, 1.0, 0.5, -1.0, 2.0, 0.5]), torch.tensor([0.0, 0.0, 0.5, 0.5, 0.0, 0.5]),
      torch.tensor([1.0, 1.0, 0.5, 0.5, 2.0, 0.5])])
case('clamp_tensors_f64_transposed', 'clamp_t', lambda x, a, b: torch.clamp(x.t(), a, b),
     [randn(4, 3, dtype=F64), randn(4, dtype=F64) - 0.5, randn(3, 1, dtype=F64) + 0.5])
case('clamp_int64_float_bounds', 'clamp', lambda x, a, b: torch.clamp(x, a, b),
     [const(torch.tensor([[-3, 0, 2], [5, 1, -1]])), torch.tensor([-1.5, 0.5, 0.5]), torch.tensor(1.25)])
case('clamp_nan', 'clamp', lambda x, a, b: torch.clamp(x, a, b),
     [torch.tensor([nan, 0.5, 0.5, 2.0, -3.0]), torch.tensor([0.0, nan, 0.0, 0.0, 0.0]),
      torch.tensor([1.0, 1.0, nan, 1.0, 1.0])])


def main():
    write_golden('sortops.lua', [
        'sortops.lua: PyTorch %s golden values for nnlua order statistics and counting ops;' % torch.__version__,
        'generated by tests/golden/gen_sortops.py (do not edit by hand; regenerate with',
        '`/usr/bin/python3 tests/golden/gen_sortops.py`). Checked by tests/spec/sortops_spec.lua.',
        'Each case: inputs, args (1-based dims), w (one per float output, false for',
        'int64 ones), outs (index ones 1-based), and the grads of',
        'sum((out_i * w_i):sum()) for each input (false where it has none).',
    ], [lua_method_case(c, F64) for c in CASES])


if __name__ == '__main__':
    main()
