-- stats.lua: PyTorch 1.13's cov, corrcoef and histogram, and the special
-- functions i0, frexp and nextafter (nl.<name> and the Tensor methods),
-- composed of nnlua's ops, so that autograd gives cov's, corrcoef's, i0's
-- and frexp's gradients. Loaded on first use with the other Tensor extras
-- (init.lua's TENSOR_EXTRAS). histc and bincount are tensor_sortops.lua's.
return function(nl)
  local Tensor = nl.Tensor
  local raise, argerror, is_tensor, shape_str = nl._raise, nl._argerror, nl.is_tensor, nl._shape_str
  local describe = nl._describe_arg
  local INF = math.huge

  local function no_extra(op, takes, ...)
    if select('#', ...) > 0 then nl._no_extra_args(op, takes, nil, ...) end
  end
  local function float_arg(op, what, x)
    if not is_tensor(x) then argerror(op, 'a tensor as ' .. what, x) end
    if Tensor.dtype(x) == 'int64' then
      raise(('%s: expected a float32 or float64 tensor as %s, got int64 %s'):format(op, what, shape_str(x)))
    end
    return x
  end

  -- ---- covariance and correlation ----------------------------------------------------

  -- nl.cov(x, [{correction = 1, fweights, aweights}]): the covariance of
  -- x's rows (variables) over its columns (observations); x 1-D: one
  -- variable, a 0-D result. fweights (int64) and aweights (float), of one
  -- entry per observation, weigh them as PyTorch's (numpy's); int64 x
  -- gives float32, float32 x with float64 aweights float64
  function nl.cov(x, opts, ...)
    local op = 'cov'
    no_extra(op, '(x, [opts])', ...)
    opts = nl._opts(op, opts, { correction = 1, fweights = 1, aweights = 1 })
    if not is_tensor(x) then argerror(op, 'a tensor as x', x) end
    if Tensor.dim(x) > 2 then raise(('%s: x must be 1-D or 2-D, got shape %s'):format(op, shape_str(x))) end
    -- the dtype of x and aweights promoted, int64 x as the default dtype, as PyTorch's
    local to = Tensor.dtype(x) == 'int64' and nl._default_float() or Tensor.dtype(x)
    if is_tensor(opts.aweights) and Tensor.dtype(opts.aweights) == 'float64' then to = 'float64' end
    if Tensor.dtype(x) ~= to then x = Tensor.to(x, to) end
    local correction = opts.correction == nil and 1 or opts.correction
    if type(correction) ~= 'number' or correction ~= math.floor(correction) then
      raise(('%s: correction must be a whole number, got %s'):format(op, describe(correction)))
    end
    local X = Tensor.dim(x) < 2 and Tensor.reshape(x, { 1, -1 }) or x
    local n = Tensor.size(X, 2)
    local dt = Tensor.dtype(x)
    local function weights(name, w, int)
      if w == nil then return nil end
      if not is_tensor(w) then argerror(op, 'a tensor as ' .. name, w) end
      if Tensor.dim(w) > 1 then raise(('%s: %s must be 1-D, got shape %s'):format(op, name, shape_str(w))) end
      if Tensor.numel(w) ~= n then
        raise(('%s: %s %s must have one entry per observation (%d, the columns of x %s)'):format(
          op, name, shape_str(w), n, shape_str(x)))
      end
      if int and Tensor.dtype(w) ~= 'int64' then
        raise(('%s: fweights must be int64, got %s %s'):format(op, Tensor.dtype(w), shape_str(w)))
      end
      if not int and Tensor.dtype(w) == 'int64' then
        raise(('%s: aweights must be float, got int64 %s'):format(op, shape_str(w)))
      end
      if n > 0 and Tensor.item(Tensor.min(Tensor.detach(w))) < 0 then
        raise(('%s: %s cannot be negative'):format(op, name))
      end
      return Tensor.reshape(Tensor.to(w, dt), { n })
    end
    local fw, aw = weights('fweights', opts.fweights, true), weights('aweights', opts.aweights, false)
    local w = fw
    if aw then w = w and w * aw or aw end
    local wsum, avg
    if w then
      wsum = Tensor.sum(w)
      if Tensor.item(wsum) == 0 then
        raise(('%s: the weights of the %d observations sum to zero, so they cannot be normalized'):format(op, n))
      end
      avg = Tensor.sum(X * w, 2) / wsum
    else
      wsum = n
      avg = Tensor.mean(X, 2)
    end
    local norm
    if w and aw and correction ~= 0 then
      norm = wsum - correction * Tensor.sum(w * aw) / wsum
    else
      norm = wsum - correction
    end
    -- degrees of freedom <= 0: as PyTorch's, a 0 (inf or NaN out)
    if is_tensor(norm) then norm = nl.where(Tensor.le(norm, 0), 0, norm)
    elseif norm < 0 then norm = 0 end
    local xm = X - Tensor.unsqueeze(avg, 2)
    local c = nl.matmul(w and xm * w or xm, Tensor.transpose(xm, 1, 2)) / norm
    if Tensor.size(c, 1) == 1 then return Tensor.reshape(c, {}) end
    return c
  end
  Tensor.cov = nl.cov

  -- nl.corrcoef(x): Pearson's correlation of x's rows (cov(x) over the
  -- outer product of the standard deviations, clipped to [-1, 1])
  function nl.corrcoef(x, ...)
    no_extra('corrcoef', '(x)', ...)
    if not is_tensor(x) then argerror('corrcoef', 'a tensor as x', x) end
    if Tensor.dim(x) > 2 then raise(('corrcoef: x must be 1-D or 2-D, got shape %s'):format(shape_str(x))) end
    local c = nl.cov(x)
    if Tensor.dim(c) == 0 then return c / c end
    local sd = Tensor.sqrt(Tensor.diagonal(c))
    c = c / Tensor.unsqueeze(sd, 2)
    c = c / Tensor.unsqueeze(sd, 1)
    return Tensor.clamp(c, -1, 1)
  end
  Tensor.corrcoef = nl.corrcoef

  -- ---- histogram ------------------------------------------------------------------

  -- the bin_ct + 1 edges from lo to hi as PyTorch's linspace sets them
  -- (from the start up to half way, from the end after), in dtype dt
  local function edges_of(lo, hi, bins, dt)
    local step = (hi - lo) / bins
    local v = {}
    local half = math.floor((bins + 1) / 2)
    for i = 0, bins do
      if i < half then v[i + 1] = lo + step * i else v[i + 1] = hi - step * (bins - i) end
    end
    return nl.tensor(v, dt)
  end

  -- nl.histogram(x, [bins = 100], [{range, weight, density}]): hist and
  -- bin_edges of x's elements, bins a count (equal bins over range, {lo,
  -- hi}, the data's by default) or a 1-D tensor of increasing edges; each
  -- bin holds [edge_i, edge_i+1), the last its right edge too; elements
  -- outside are left out. weight: one per element of x; density: hist
  -- over its sum and the widths. Float hist of x's dtype; no gradient, as
  -- PyTorch's
  function nl.histogram(x, bins, opts, ...)
    local op = 'histogram'
    no_extra(op, '(x, [bins], [opts])', ...)
    if type(bins) == 'table' and not is_tensor(bins) and opts == nil then bins, opts = nil, bins end
    opts = nl._opts(op, opts, { range = 1, weight = 1, density = 'flag' })
    float_arg(op, 'x', x)
    local dt = Tensor.dtype(x)
    x = Tensor.reshape(Tensor.detach(x), { -1 })
    if bins == nil then bins = 100 end
    local edges
    if is_tensor(bins) then
      -- (one edge, no bin, was taken: PyTorch 1.13 refuses it, "bins must be > 0, but got 0")
      if Tensor.dim(bins) ~= 1 or Tensor.numel(bins) < 2 then
        raise(('%s: bins as a tensor must be 1-D with at least two edges (one bin), got shape %s'):format(op,
          shape_str(bins)))
      end
      if Tensor.dtype(bins) ~= dt then
        raise(('%s: bins (%s %s) must have the dtype of x (%s)'):format(op, Tensor.dtype(bins), shape_str(bins), dt))
      end
      if opts.range ~= nil then raise(op .. ': range goes with a number of bins, not with a tensor of edges') end
      edges = Tensor.detach(bins)
      local e = Tensor.totable(edges)
      for i = 2, #e do
        if not (e[i] >= e[i - 1]) then raise(op .. ': bin edges must be increasing') end
      end
    else
      if type(bins) ~= 'number' or bins ~= math.floor(bins) or bins < 1 or bins >= 2 ^ 40 then
        raise(('%s: bins must be a whole number > 0 or a 1-D tensor of edges, got %s'):format(op, describe(bins)))
      end
      local lo, hi = 0, 0
      if opts.range ~= nil then
        local r = opts.range
        if type(r) ~= 'table' or is_tensor(r) or nl._list_len(r) ~= 2 or type(r[1]) ~= 'number'
          or type(r[2]) ~= 'number' then
          argerror(op, 'range as {min, max}', r)
        end
        lo, hi = r[1], r[2]
      elseif Tensor.numel(x) > 0 then
        lo, hi = Tensor.item(Tensor.min(x)), Tensor.item(Tensor.max(x))
      else
        hi = 1            -- no data and no range: [0, 1], as PyTorch's (numpy's)
      end
      if dt == 'float32' then     -- the range as x's float32 holds it
        lo, hi = Tensor.item(nl.tensor(lo, 'float32')), Tensor.item(nl.tensor(hi, 'float32'))
      end
      if lo - lo ~= 0 or hi - hi ~= 0 then
        raise(('%s: range of [%s, %s] is not finite'):format(op, tostring(lo), tostring(hi)))
      end
      if lo > hi then raise(('%s: min %s should not exceed max %s'):format(op, tostring(lo), tostring(hi))) end
      if lo == hi then lo, hi = lo - 0.5, hi + 0.5 end
      edges = edges_of(lo, hi, bins, dt)
    end
    local nb = Tensor.numel(edges) - 1
    local w = opts.weight
    if w ~= nil then
      float_arg(op, 'weight', w)
      if table.concat(Tensor.shape(w), ',') ~= table.concat(Tensor.shape(x), ',')
        and Tensor.numel(w) ~= Tensor.numel(x) then
        raise(('%s: weight %s must have the shape of x'):format(op, shape_str(w)))
      end
      if Tensor.dtype(w) ~= dt then
        raise(('%s: weight (%s %s) must have the dtype of x (%s)'):format(op, Tensor.dtype(w), shape_str(w), dt))
      end
      w = Tensor.reshape(Tensor.detach(w), { -1 })
    end
    local first, last = Tensor.item(Tensor.select(edges, 1, 1)), Tensor.item(Tensor.select(edges, 1, nb + 1))
    -- the bin of each element (1..nb), nb + 1 for those outside
    local pos = nl.searchsorted(edges, x, true) - 1
    pos = nl.where(Tensor.eq(x, last), nb, pos)
    local inside = Tensor.ge(x, first) * Tensor.le(x, last)
    pos = Tensor.long(nl.where(Tensor.gt(inside, 0), pos, nb + 1))
    local counts = Tensor.bincount(pos, w and Tensor.to(w, 'float64') or nil, nb + 1)
    local hist = Tensor.to(Tensor.narrow(counts, 1, 1, nb), dt)
    if opts.density then
      local widths = Tensor.narrow(edges, 1, 2, nb) - Tensor.narrow(edges, 1, 1, nb)
      hist = hist / (Tensor.sum(hist) * widths)
    end
    return hist, edges
  end

  -- ---- special functions -------------------------------------------------------------

  -- t:i0(), nl.i0(t): the modified Bessel function of the first kind of
  -- order 0, i0e(x) e^|x| in float64 (nl.special.i0e: a C op with
  -- PyTorch's gradient and second derivative), so that autograd gives I1
  -- as its gradient; where e^|x| overflows, e^|x| alone (inf, its
  -- gradient +-inf, as PyTorch's), each branch on its own range
  local LOG_MAX = 709.782712893384   -- log(DBL_MAX)
  function Tensor.i0(t, ...)
    no_extra('i0', '()', ...)
    if not is_tensor(t) then argerror('i0', 'a tensor', t) end
    local dt = Tensor.dtype(t)
    local x = Tensor.double(t)
    local big = Tensor.gt(Tensor.abs(x), LOG_MAX)
    local xs, xb = nl.where(big, 0, x), nl.where(big, x, LOG_MAX + 1)
    local r = nl.where(big, Tensor.exp(Tensor.abs(xb)), nl.special.i0e(xs) * Tensor.exp(Tensor.abs(xs)))
    -- |x| < 1: the series sum (x^2/4)^k / (k!)^2 to k = 10 (error < 1e-19),
    -- whose gradients keep their digits: i0e's product's gradient
    -- (i1e - i0e) e^x + i0e e^x cancelled to a relative 1e-8 at x = 1e-8
    local small = Tensor.lt(Tensor.abs(x), 1)
    local xq = nl.where(small, x, 0)
    local q = xq * xq * 0.25
    local sum = q / 100 + 1
    for k = 9, 1, -1 do sum = sum * q / (k * k) + 1 end
    r = nl.where(small, sum, r)
    return Tensor.to(r, dt == 'int64' and nl._default_float() or dt)
  end
  nl.i0 = Tensor.i0

  -- the mantissa (float64, |m| in [0.5, 1)) and exponent (float64) of
  -- float64 x, x = m 2^e; 0, inf and NaN: x itself and 0
  local function frexp64(x)
    local ax = Tensor.abs(x)
    local normal = Tensor.isfinite(x) * Tensor.gt(ax, 0)
    local safe = nl.where(normal, ax, 1)
    local e = Tensor.floor(Tensor.log2(safe)) + 1
    local function scale(v, k)           -- v 2^-k, in two exact steps (k may pass 1023)
      local h = Tensor.floor(k * 0.5)
      return v * Tensor.exp2(-h) * Tensor.exp2(h - k)
    end
    local m = scale(safe, e)
    -- log2 rounded across a power of two: one step back
    local over, under = Tensor.ge(m, 1), Tensor.lt(m, 0.5)
    e = e + over - under
    e = nl.where(normal, e, 0)
    return e
  end

  -- nl.frexp(t), t:frexp(): the mantissa (t's dtype, |m| in [0.5, 1))
  -- and the exponent (int64; PyTorch's int32) with t = m 2^e; 0, inf and
  -- NaN give themselves and 0. The mantissa's gradient is PyTorch's, the
  -- incoming one over 2^e
  function Tensor.frexp(t, ...)
    no_extra('frexp', '()', ...)
    float_arg('frexp', 'input', t)
    local dt = Tensor.dtype(t)
    local e = nl.no_grad(function() return frexp64(Tensor.double(Tensor.detach(t))) end)
    local normal = Tensor.ne(e, 0)
    local m = nl.where(normal, t * Tensor.to(Tensor.exp2(-Tensor.floor(e * 0.5)), dt)
                                 * Tensor.to(Tensor.exp2(Tensor.floor(e * 0.5) - e), dt), t)
    return m, Tensor.long(e)
  end
  nl.frexp = Tensor.frexp

  local TINY = { float64 = 2 ^ -1074, float32 = 2 ^ -149 }
  local DIGITS = { float64 = 53, float32 = 24 }
  local MAXV = { float64 = 1.7976931348623157e308, float32 = 3.4028234663852886e38 }
  -- nl.nextafter(a, b), a:nextafter(b): the next value of a's dtype after
  -- a toward b (b where they are equal; NaN where either is NaN); a and b
  -- broadcast, of one float dtype; no gradient, as PyTorch's
  function Tensor.nextafter(a, b, ...)
    local op = 'nextafter'
    no_extra(op, '(a, b)', ...)
    float_arg(op, 'a', a)
    if type(b) == 'number' then b = nl.tensor(b, Tensor.dtype(a)) end
    float_arg(op, 'b', b)
    local dt = Tensor.dtype(a)
    if Tensor.dtype(b) ~= dt then
      raise(('%s: a (%s %s) and b (%s %s) must have one dtype'):format(op, dt, shape_str(a), Tensor.dtype(b),
                                                                      shape_str(b)))
    end
    return nl.no_grad(function()
      local x, y = Tensor.double(Tensor.detach(a)), Tensor.double(Tensor.detach(b))
      local ok, r = pcall(function() return x + y * 0 end)
      if not ok then raise(('%s: the shapes of a %s and b %s do not broadcast'):format(op, shape_str(a), shape_str(b))) end
      local shape = Tensor.shape(r)
      x, y = Tensor.expand(x, shape), Tensor.expand(y, shape)
      local tiny = TINY[dt]
      local e = frexp64(x)
      local ulp = Tensor.exp2(e - DIGITS[dt])
      local dir = Tensor.sign(y - x)
      local ax = Tensor.abs(x)
      -- toward zero from a power of two, the spacing below it is half
      local pow2 = Tensor.eq(ax, Tensor.exp2(e - 1))
      local toward0 = Tensor.ne(Tensor.sign(x), dir)
      local step = nl.where(pow2 * toward0, ulp * 0.5, ulp)
      step = nl.where(Tensor.lt(step, tiny), tiny, step)
      r = x + dir * step
      r = nl.where(Tensor.eq(x, 0), dir * tiny, r)
      r = nl.where(Tensor.isinf(x), Tensor.sign(x) * MAXV[dt], r)
      r = nl.where(Tensor.eq(x, y), y, r)
      r = nl.where(Tensor.isnan(x) + Tensor.isnan(y), 0 / 0, r)
      return Tensor.to(r, dt)
    end)
  end
  nl.nextafter = Tensor.nextafter

  -- an error of an op inside (a copy of an expanded x too large to make:
  -- 'contiguous: out of memory allocating [1048576,1048576] float32')
  -- names the op called first (tensor_linalg.lua's nl._as_op)
  nl.cov = nl._as_op('cov', nl.cov)
  Tensor.cov = nl.cov
  nl.corrcoef = nl._as_op('corrcoef', nl.corrcoef)
  Tensor.corrcoef = nl.corrcoef
  nl.histogram = nl._as_op('histogram', nl.histogram)
end
