-- autograd_higher.lua: backward with create_graph (higher-order
-- gradients). The C backward kernels record nothing, so this walk reads
-- the tape's nodes (nl_node_read) and computes each node's input
-- gradients with ordinary nnlua ops, in grad mode: they are recorded, and
-- the gradients it gives have a graph of their own (a gradient penalty, a
-- Hessian-vector product, d2u/dx2). An op without a rule here is refused,
-- by name, before any gradient is computed. Tensor hooks run as in the
-- plain backward, on gradients that have a graph. Loaded on first use by
-- autograd.lua; the plain backward (C's walk) does not come here.
local ffi = require 'ffi'

return function(nl)
  local lib, wrap, raise = nl._lib, nl._wrap, nl._raise
  local info = ffi.new('nl_node_info')
  local HOOKED, GRAPH_FREED = lib.NL_FLAG_HOOKED, lib.NL_FLAG_GRAPH_FREED
  local run_hooks = nl._run_hooks
  local band = bit.band

  local function addr(p) return tonumber(ffi.cast('uintptr_t', p)) end
  -- a Lua handle of its own on a C tensor the graph holds
  local function handle(p)
    lib.nl_retain(p)
    return wrap(p)
  end
  local function op_name(op) return ffi.string(lib.nl_op_name(op)) end

  -- ---- small differentiable helpers (C's 0-based dims) -------------------
  local SUM = lib.NL_OP_SUM
  local function zero_like_scalar(t) return wrap(lib.nl_full(0, nil, 0, t.ptr.dtype)) end
  local function reshape_as(t, xp) return wrap(lib.nl_reshape(t.ptr, xp.ndim, xp.sizes)) end
  local function expand_as(t, xp) return wrap(lib.nl_expand(t.ptr, xp.ndim, xp.sizes)) end
  local function same_shape(a, b)
    if a.ndim ~= b.ndim then return false end
    for i = 0, a.ndim - 1 do if a.sizes[i] ~= b.sizes[i] then return false end end
    return true
  end
  -- g summed over the dims it was broadcast along, to xp's shape
  local function sum_to(g, xp)
    local gp = g.ptr
    if same_shape(gp, xp) then return g end
    local lead = gp.ndim - xp.ndim
    local acc = g
    for d = 0, gp.ndim - 1 do
      if d < lead or (xp.sizes[d - lead] == 1 and gp.sizes[d] ~= 1) then
        acc = wrap(lib.nl_reduce(SUM, acc.ptr, d, 1, 0, nil))
      end
    end
    return reshape_as(acc, xp)
  end
  local function cmp(op, x, s) return wrap(lib.nl_binary_scalar(op, x.ptr, s, 0)) end   -- a 0/1 mask, no graph
  local function scal(op, x, s, first) return wrap(lib.nl_binary_scalar(op, x.ptr, s, first and 1 or 0)) end
  local function where(c, a, b) return wrap(lib.nl_where(c.ptr, a.ptr, b.ptr)) end
  -- t, with x an input of its graph whose gradient is zeros of no graph
  -- (floor's): PyTorch's backward functions of the piecewise-linear
  -- activations take x (relu: its output) and give it zeros_like(grad),
  -- so a second derivative in x alone is zeros, not unused
  local FLOOR = lib.NL_OP_FLOOR
  local function tie(t, x)
    return wrap(lib.nl_where(zero_like_scalar(t).ptr, wrap(lib.nl_unary(FLOOR, x.ptr)).ptr, t.ptr))
  end
  -- g where mask m (a 0/1 mask of cmp's) is 1, else 0: a where, as PyTorch's
  -- threshold_backward and kin, so an inf or NaN of g where m is 0 gives 0
  -- (g * m gave NaN there, where the first-order C backward gives 0)
  local function keep(g, m) return where(m, g, zero_like_scalar(g)) end
  local function unsqueeze(t, d) return wrap(lib.nl_unsqueeze(t.ptr, d)) end
  local function transpose(t, a, b) return wrap(lib.nl_transpose(t.ptr, a, b)) end
  local function matmul(a, b) return wrap(lib.nl_matmul(a.ptr, b.ptr)) end
  local function rsum(t, d, keep) return wrap(lib.nl_reduce(SUM, t.ptr, d, keep and 1 or 0, 0, nil)) end
  local function unary(op, t) return wrap(lib.nl_unary(op, t.ptr)) end
  local sizes_buf = ffi.new('int64_t[8]')
  -- zeros of xp's shape but len along d, in dtype
  local function zeros_along(xp, d, len, dtype)
    for i = 0, xp.ndim - 1 do sizes_buf[i] = xp.sizes[i] end
    sizes_buf[d] = len
    return wrap(lib.nl_full(xp.ndim, sizes_buf, 0, dtype))
  end
  -- g (of xp's shape but its length along d) placed at [at, at + len) of
  -- zeros of xp's shape: a cat, so that it stays differentiable in g
  local function pad_along(g, xp, d, at)
    local len, size = tonumber(g.ptr.sizes[d]), tonumber(xp.sizes[d])
    local parts = {}
    if at > 0 then parts[#parts + 1] = zeros_along(xp, d, at, g.ptr.dtype) end
    parts[#parts + 1] = g
    if at + len < size then parts[#parts + 1] = zeros_along(xp, d, size - at - len, g.ptr.dtype) end
    if #parts == 1 then return g end
    local arr = ffi.new('nl_tensor *[?]', #parts)
    for i, t in ipairs(parts) do arr[i - 1] = t.ptr end
    return wrap(lib.nl_cat(#parts, arr, d))
  end
  -- rows of eye(c) at the class targets (counted from base): a constant
  local function onehot(target, c, base, dtype)
    local e = wrap(lib.nl_eye(c, c, dtype))
    return wrap(lib.nl_index_select(e.ptr, 0, target.ptr, base))
  end

  -- ---- the rules: a node's input gradients from its output's, g ----------
  -- n: the node's record (n:x(i) its input i, n:out() its output, n.s and
  -- n.a its scalars and ints, 0-based as C keeps them, n.want[i]); each
  -- returns the list of input gradients (nil where none), shapes as the
  -- inputs' or to be summed to them.
  local R = {}
  local OP = setmetatable({}, { __index = function(_, k) return lib['NL_OP_' .. k] end })
  -- a tensor-tensor op's two gradients, summed back over broadcast dims
  local function two(n, ga, gb)
    return { ga and n.want[1] and sum_to(ga, n.ins[1]) or nil, gb and n.want[2] and sum_to(gb, n.ins[2]) or nil }
  end

  R[OP.ADD] = function(n, g)
    if n.a[0] ~= 0 then return { g } end
    return two(n, g, g)
  end
  R[OP.SUB] = function(n, g)
    if n.a[0] ~= 0 then return { n.a[1] ~= 0 and -g or g } end
    return two(n, g, n.want[2] and -g or nil)
  end
  R[OP.MUL] = function(n, g)
    if n.a[0] ~= 0 then return { scal(OP.MUL, g, n.s[0]) } end
    return two(n, n.want[1] and g * n:x(2) or nil, n.want[2] and g * n:x(1) or nil)
  end
  R[OP.DIV] = function(n, g)
    local a, s = n:x(1), n.s[0]
    if n.a[0] ~= 0 then
      if n.a[1] ~= 0 then return { scal(OP.MUL, g, -s) / (a * a) } end   -- s / a
      return { scal(OP.DIV, g, s) }
    end
    local b = n:x(2)
    local ga = g / b
    return two(n, ga, n.want[2] and -(ga * a / b) or nil)
  end
  R[OP.POW] = function(n, g)
    local a, s = n:x(1), n.s[0]
    if n.a[0] ~= 0 then
      if n.a[1] ~= 0 then                                 -- s ^ a: g * out * log(s)
        local fac = scal(OP.MUL, n:out(), math.log(s))
        if s == 0 then fac = where(cmp(OP.GE, a, 0), zero_like_scalar(fac), fac) end
        return { g * fac }
      end
      if s == 0 then return { wrap(lib.nl_full(g.ptr.ndim, g.ptr.sizes, 0, g.ptr.dtype)) } end
      return { g * scal(OP.MUL, scal(OP.POW, a, s - 1), s) }   -- a ^ s: g * s * a^(s-1)
    end
    local b = n:x(2)
    local ga, gb
    if n.want[1] then
      ga = g * (b * wrap(lib.nl_binary(OP.POW, a.ptr, scal(OP.SUB, b, 1).ptr)))
      ga = where(cmp(OP.EQ, b, 0), zero_like_scalar(ga), ga)
    end
    if n.want[2] then
      local fac = n:out() * unary(OP.LOG, a)
      local base0 = cmp(OP.EQ, a, 0) * cmp(OP.GE, b, 0)
      gb = g * where(base0, zero_like_scalar(fac), fac)
    end
    return two(n, ga, gb)
  end
  -- max/min of two: g halved at ties, zero where the other side wins (constant masks)
  local function extremum(n, g)
    local a, s = n:x(1), n.s[0]
    local lose_a, lose_b = OP.LT, OP.GT
    if n.op == OP.MINIMUM then lose_a, lose_b = OP.GT, OP.LT end
    if n.a[0] ~= 0 then
      local m = (1 - cmp(lose_a, a, s)) * (1 - 0.5 * cmp(OP.EQ, a, s))
      return { g * m }
    end
    local b = n:x(2)
    local tie = 1 - 0.5 * wrap(lib.nl_binary(OP.EQ, a.ptr, b.ptr))
    return two(n, n.want[1] and g * ((1 - wrap(lib.nl_binary(lose_a, a.ptr, b.ptr))) * tie) or nil,
               n.want[2] and g * ((1 - wrap(lib.nl_binary(lose_b, a.ptr, b.ptr))) * tie) or nil)
  end
  R[OP.MAXIMUM], R[OP.MINIMUM] = extremum, extremum

  -- unary: gx = g * f'(x), f' made of ops where it has a derivative of its own
  R[OP.NEG] = function(_, g) return { -g } end
  R[OP.EXP] = function(n, g) return { g * n:out() } end
  R[OP.LOG] = function(n, g) return { g / n:x(1) } end
  R[OP.SQRT] = function(n, g) return { scal(OP.MUL, g, 0.5) / n:out() } end
  R[OP.ABS] = function(n, g) local x = n:x(1) return { tie(g * (cmp(OP.GT, x, 0) - cmp(OP.LT, x, 0)), x) } end
  R[OP.SIGMOID] = function(n, g) local y = n:out() return { g * y * scal(OP.SUB, y, 1, true) } end
  R[OP.TANH] = function(n, g) local y = n:out() return { g * scal(OP.SUB, y * y, 1, true) } end
  R[OP.SIN] = function(n, g) return { g * unary(OP.COS, n:x(1)) } end
  R[OP.COS] = function(n, g) return { -(g * unary(OP.SIN, n:x(1))) } end
  -- (relu's tied to its output, as PyTorch's threshold_backward(g, result, 0))
  R[OP.RELU] = function(n, g) return { tie(keep(g, 1 - cmp(OP.LE, n:x(1), 0)), n:out()) } end   -- NaN passes g, as C's
  -- (g or g * slope selected, as PyTorch's leaky_relu_backward: an infinite
  -- slope gave (1 - inf) + inf = NaN where x > 0; a NaN x takes the slope)
  R[OP.LEAKY_RELU] = function(n, g)
    local x, sl = n:x(1), n.s[0]
    local dt = g.ptr.dtype
    return { tie(g * where(cmp(OP.GT, x, 0), wrap(lib.nl_full(0, nil, 1, dt)), wrap(lib.nl_full(0, nil, sl, dt))), x) }
  end
  R[OP.CLAMP] = function(n, g)
    local x = n:x(1)
    local m = nil
    if n.a[0] ~= 0 then m = cmp(OP.GE, x, n.s[0]) end
    if n.a[1] ~= 0 then local hi = cmp(OP.LE, x, n.s[1]) m = m and m * hi or hi end
    return { m and keep(g, m) or g }
  end
  R[OP.HARDTANH] = function(n, g)
    local x = n:x(1)
    return { tie(keep(g, cmp(OP.GT, x, n.s[0]) * cmp(OP.LT, x, n.s[1])), x) }
  end
  for _, k in ipairs({ 'FLOOR', 'CEIL', 'ROUND', 'TRUNC' }) do
    R[OP[k]] = function(n, g) local xp = n.ins[1] return { wrap(lib.nl_full(xp.ndim, xp.sizes, 0, g.ptr.dtype)) } end
  end
  R[OP.GELU] = function(n, g)             -- Phi(x) + x phi(x)
    local x = n:x(1)
    local phi = scal(OP.MUL, unary(OP.EXP, scal(OP.MUL, x * x, -0.5)), 0.39894228040143268)
    local cdf = scal(OP.MUL, scal(OP.ADD, wrap(lib.nl_math(OP.ERF, scal(OP.MUL, x, 0.70710678118654752).ptr, 0)), 1), 0.5)
    return { g * (cdf + x * phi) }
  end
  R[OP.GELU_TANH] = function(n, g)
    local x = n:x(1)
    local x2 = x * x
    local th = unary(OP.TANH, scal(OP.MUL, x + scal(OP.MUL, x2 * x, 0.044715), 0.79788456080286536))
    local d = scal(OP.MUL, scal(OP.ADD, th, 1), 0.5)
      + scal(OP.MUL, x * scal(OP.SUB, th * th, 1, true) * scal(OP.ADD, scal(OP.MUL, x2, 0.134145), 1),
             0.5 * 0.79788456080286536)
    return { g * d }
  end
  R[OP.SILU] = function(n, g)               -- s (1 + x (1 - s))
    local x = n:x(1)
    local s = unary(OP.SIGMOID, x)
    return { g * (s * scal(OP.ADD, x * scal(OP.SUB, s, 1, true), 1)) }
  end
  -- elu, selu, celu: g d, d = pos above 0, neg * ins * exp(x * ins) below
  -- (C's first-order formula, selected), whose gradient in x is PyTorch
  -- 1.13's elu_double_backward, ins d (x < 0), multiplied (not selected):
  -- 0 at x >= 0 (and at +inf, where exp overflows), NaN where d or ins is
  -- (a NaN alpha, an infinite alpha at 0 and -inf). d is the value of an
  -- autograd.Function of x whose backward is that product.
  local SELU_ALPHA, SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946
  local EluSlope
  local function elu_family(n, g)
    local x, alpha = n:x(1), n.s[0]
    local neg, pos, ins = alpha, 1, 1
    if n.op == OP.SELU then neg, pos = SELU_ALPHA * SELU_SCALE, SELU_SCALE end
    if n.op == OP.CELU then ins = 1 / alpha end
    local dt = g.ptr.dtype
    local xd = x:detach()
    local below = scal(OP.MUL, unary(OP.EXP, scal(OP.MUL, xd, ins)), neg * ins)
    local d = where(cmp(OP.GT, xd, 0), wrap(lib.nl_full(0, nil, pos, dt)), below)
    EluSlope = EluSlope or nl.autograd.Function('elu_slope', {
      forward = function(ctx, _, dv, k) ctx:save_for_backward(k) return dv:clone() end,
      backward = function(ctx, gd) return gd * ctx:saved_tensors(), nil, nil end,
    })
    return { g * EluSlope.apply(x, d, scal(OP.MUL, d, ins) * cmp(OP.LT, xd, 0)) }
  end
  R[OP.ELU], R[OP.SELU], R[OP.CELU] = elu_family, elu_family, elu_family
  -- softplus: g where beta x > threshold, else g z / (z + 1), z = exp(beta x)
  -- (C's first-order kernel, PyTorch's softplus_backward: NaN at beta x =
  -- inf), of a gradient in x that is PyTorch's softplus_double_backward,
  -- s (1 - s) beta where beta x < threshold, s = sigmoid(beta x), else 0
  -- (at beta x = threshold, and everywhere for a NaN threshold): the value
  -- d of no graph, plus (s - s) m, m = (beta x < threshold), for the slope
  R[OP.SOFTPLUS] = function(n, g)
    local x, beta, th = n:x(1), n.s[0], n.s[1]
    local dt = g.ptr.dtype
    local bx = scal(OP.MUL, x, beta)
    local z = unary(OP.EXP, bx:detach())
    local d = where(cmp(OP.GT, bx, th), wrap(lib.nl_full(0, nil, 1, dt)), z / scal(OP.ADD, z, 1))
    local s = unary(OP.SIGMOID, bx)
    return { g * (d + (s - s:detach()) * cmp(OP.LT, bx, th)) }
  end
  R[OP.LOGSIGMOID] = function(n, g) return { g * unary(OP.SIGMOID, -n:x(1)) } end
  -- softsign and tanhshrink as PyTorch 1.13 differentiates the ops it
  -- composes them of, x / (|x| + 1) and x - tanh(x) (C's first-order
  -- kernels' formulas): NaN at x = +-inf, and where g is infinite, as
  -- PyTorch's (1 / (1 + |x|)^2 and g tanh(x)^2 gave 0 and inf there)
  R[OP.SOFTSIGN] = function(n, g)
    local x = n:x(1)
    local b = scal(OP.ADD, unary(OP.ABS, x), 1)
    return { g / b + (-g * ((x / b) / b)) * (cmp(OP.GT, x, 0) - cmp(OP.LT, x, 0)) }
  end
  R[OP.TANHSHRINK] = function(n, g)
    local t = unary(OP.TANH, n:x(1))
    return { g + (-g) * scal(OP.SUB, t * t, 1, true) }
  end

  -- reductions over everything (a[0] = -1) or a dim (a[1]: keepdim)
  local function sum_mean(n, g)
    local xp, d = n.ins[1], tonumber(n.a[0])
    local gx
    if d < 0 then
      for i = 0, xp.ndim - 1 do sizes_buf[i] = 1 end
      gx = expand_as(wrap(lib.nl_reshape(g.ptr, xp.ndim, sizes_buf)), xp)
    else
      local gk = (n.a[1] ~= 0 or xp.ndim == 0) and g or unsqueeze(g, d)
      gx = expand_as(gk, xp)
    end
    if n.op == OP.MEAN then
      local count = d < 0 and tonumber(xp.numel) or xp.ndim == 0 and 1 or tonumber(xp.sizes[d])
      gx = scal(OP.DIV, gx, count)
    end
    return { gx }
  end
  R[OP.SUM], R[OP.MEAN] = sum_mean, sum_mean
  R[OP.SOFTMAX] = function(n, g)            -- y (g - sum(g y))
    local y, d = n:out(), tonumber(n.a[0])
    return { y * (g - rsum(g * y, d, true)) }
  end
  R[OP.LOG_SOFTMAX] = function(n, g)        -- g - exp(y) sum(g)
    local y, d = n:out(), tonumber(n.a[0])
    return { g - unary(OP.EXP, y) * rsum(g, d, true) }
  end

  -- a (.., m, k) @ b (.., k, n): g @ b^T and a^T @ g, summed over broadcast batch dims
  R[OP.MATMUL] = function(n, g)
    local a, b = n:x(1), n:x(2)
    local ap, bp = a.ptr, b.ptr
    local a2, b2, g2 = a, b, g
    if ap.ndim == 1 then
      a2 = unsqueeze(a, 0)
      g2 = unsqueeze(g2, g2.ptr.ndim - (bp.ndim == 1 and 0 or 1))
    end
    if bp.ndim == 1 then
      b2 = unsqueeze(b, 1)
      g2 = unsqueeze(g2, g2.ptr.ndim)
    end
    local ga, gb
    if n.want[1] then ga = reshape_as(sum_to(matmul(g2, transpose(b2, -1, -2)), a2.ptr), ap) end
    if n.want[2] then gb = reshape_as(sum_to(matmul(transpose(a2, -1, -2), g2), b2.ptr), bp) end
    return { ga, gb }
  end
  -- x @ weight^T + bias, then ReLU where a[0]
  R[OP.LINEAR] = function(n, g)
    local g2 = g
    if n.a[0] ~= 0 then g2 = tie(keep(g, cmp(OP.GT, n:out(), 0)), n:out()) end
    return { n.want[1] and matmul(g2, n:x(2)) or nil,
             n.want[2] and matmul(transpose(g2, 0, 1), n:x(1)) or nil,
             n.want[3] and sum_to(g2, n.ins[3]) or nil }
  end
  R[OP.MSE_LOSS] = function(n, g)           -- 2 (input - target) g [/ numel]
    local a, b = n:x(1), n:x(2)
    local scale = n.a[0] == lib.NL_REDUCE_MEAN and 2 / tonumber(a.ptr.numel) or 2
    local ga = (a - b) * scal(OP.MUL, g, scale)
    return { ga, n.want[2] and -ga or nil }
  end
  -- cross-entropy: gi (softmax(x) - (1 - eps) onehot - eps / C); nll: -gi onehot
  local function class_loss(n, g)
    local x, target = n:x(1), n:x(2)
    local N, C = tonumber(x.ptr.sizes[0]), tonumber(x.ptr.sizes[1])
    local red = tonumber(n.a[0])
    local gi = red == lib.NL_REDUCE_NONE and unsqueeze(g, 1)
      or red == lib.NL_REDUCE_MEAN and scal(OP.DIV, g, N) or g
    local oh = onehot(target, C, n.a[1], x.ptr.dtype)
    if n.op == OP.NLL_LOSS then return { -(gi * oh) } end
    local eps = n.s[0]
    local p = wrap(lib.nl_softmax(x.ptr, 1))
    local coef = p - scal(OP.ADD, scal(OP.MUL, oh, 1 - eps), eps / C)
    return { coef * gi }
  end
  R[OP.CROSS_ENTROPY], R[OP.NLL_LOSS] = class_loss, class_loss
  -- binary cross-entropy on p (input, target, [weight]): C's formulas, PyTorch's:
  -- w (p - y) / max(p (1 - p), 1e-12), w (log(1 - p) - log p) and -(y lp + (1 - y) lq)
  R[OP.BCE_LOSS] = function(n, g)
    local p, y = n:x(1), n:x(2)
    local w = n.n_in > 2 and n:x(3) or nil
    local red = tonumber(n.a[0])
    local gi = red == lib.NL_REDUCE_MEAN and scal(OP.DIV, g, tonumber(p.ptr.numel)) or g
    if w then gi = gi * w end
    local q = scal(OP.SUB, p, 1, true)
    local gp, gy, gw
    if n.want[1] then
      local den = p * q
      den = where(cmp(OP.GT, den, 1e-12), den, wrap(lib.nl_full(0, nil, 1e-12, den.ptr.dtype)))
      gp = gi * (p - y) / den
    end
    if n.want[2] then gy = gi * (unary(OP.LOG, q) - unary(OP.LOG, p)) end
    if n.want[3] then
      local g0 = red == lib.NL_REDUCE_MEAN and scal(OP.DIV, g, tonumber(p.ptr.numel)) or g
      local lp, lq = scal(OP.MAXIMUM, unary(OP.LOG, p), -100), scal(OP.MAXIMUM, unary(OP.LOG, q), -100)
      gw = -(g0 * (y * lp + scal(OP.SUB, y, 1, true) * lq))
    end
    return { gp, gy, gw }
  end

  -- shape and data movement
  R[OP.VIEW] = function(n, g) return { reshape_as(g, n.ins[1]) } end
  R[OP.CONTIGUOUS] = function(_, g) return { g } end
  R[OP.TO_DTYPE] = function(n, g) return { wrap(lib.nl_to_dtype(g.ptr, n.ins[1].dtype)) } end
  R[OP.TRANSPOSE] = function(n, g) return { transpose(g, tonumber(n.a[0]), tonumber(n.a[1])) } end
  R[OP.PERMUTE] = function(n, g)
    local nd = n.ins[1].ndim
    local inv = ffi.new('int[8]')
    for i = 0, nd - 1 do inv[n.a[i]] = i end
    return { wrap(lib.nl_permute(g.ptr, nd, inv)) }
  end
  R[OP.EXPAND] = function(n, g) return { sum_to(g, n.ins[1]) } end
  R[OP.FLIP] = function(n, g) return { wrap(lib.nl_flip(g.ptr, n.a[0])) } end   -- flipped back
  R[OP.NARROW] = function(n, g) return { pad_along(g, n.ins[1], tonumber(n.a[0]), tonumber(n.a[1])) } end
  R[OP.SELECT] = function(n, g)
    local d = tonumber(n.a[0])
    return { pad_along(unsqueeze(g, d), n.ins[1], d, tonumber(n.a[1])) }
  end
  R[OP.CAT] = function(n, g)
    local d, at, gin = tonumber(n.a[0]), 0, {}
    for i = 1, n.n_in do
      local len = tonumber(n.ins[i].sizes[d])
      if n.want[i] then gin[i] = wrap(lib.nl_narrow(g.ptr, d, at, len)) end
      at = at + len
    end
    return gin
  end
  R[OP.INDEX_SELECT] = function(n, g)       -- g's rows added back at the index
    local xp = n.ins[1]
    local z = wrap(lib.nl_full(xp.ndim, xp.sizes, 0, g.ptr.dtype))
    return { wrap(lib.nl_index_add(z.ptr, n.a[0], n:saved_t().ptr, g.ptr, 1, n.a[1])) }
  end
  R[OP.INDEX_ADD] = function(n, g)          -- g, and alpha times g's slices at the index
    local gs
    if n.want[2] then
      gs = wrap(lib.nl_index_select(g.ptr, n.a[0], n:saved_t().ptr, n.a[1]))
      if n.s[0] ~= 1 then gs = scal(OP.MUL, gs, n.s[0]) end
    end
    return { g, gs }
  end
  R[OP.GATHER] = function(n, g)             -- g added back at the index
    local xp = n.ins[1]
    local z = wrap(lib.nl_full(xp.ndim, xp.sizes, 0, g.ptr.dtype))
    return { wrap(lib.nl_scatter(z.ptr, n.a[0], n:saved_t().ptr, g.ptr, 1, n.a[1])) }
  end
  -- scatter(_add): t's gradient is g (scatter: zero where it wrote), the
  -- source's g gathered at the index (a source larger than its index is
  -- refused: zeros past the index, not written here)
  local function scatter_rule(n, g)
    local idx = n:saved_t()
    local d, base = n.a[0], n.a[1]
    local gt, gs
    if n.want[1] then
      gt = g
      if n.op == OP.SCATTER then
        local ones = wrap(lib.nl_full(idx.ptr.ndim, idx.ptr.sizes, 1, g.ptr.dtype))
        local z = wrap(lib.nl_full(g.ptr.ndim, g.ptr.sizes, 0, g.ptr.dtype))
        gt = g * (1 - wrap(lib.nl_scatter(z.ptr, d, idx.ptr, ones.ptr, 0, base)))
      end
    end
    if n.want[2] then
      if not same_shape(idx.ptr, n.ins[2]) then
        raise(("%s with create_graph: op '%s' with a source of shape %s larger than its index %s has no "
               .. "differentiable backward yet"):format(n.who, op_name(n.op), nl._shape_str(n:x(2)), nl._shape_str(idx)))
      end
      gs = wrap(lib.nl_gather(g.ptr, d, idx.ptr, base))
    end
    return { gt, gs }
  end
  R[OP.SCATTER], R[OP.SCATTER_ADD] = scatter_rule, scatter_rule
  -- max/min over a dim: g to the saved indices (a scatter, so differentiable
  -- in g); over everything: shared evenly among the elements equal to the
  -- extreme (a constant mask), as C's
  local function extreme_rule(n, g)
    local x, d = n:x(1), tonumber(n.a[0])
    local xp = x.ptr
    if d < 0 then
      local m = n:out()
      local hit = m:item() ~= m:item() and wrap(lib.nl_binary(OP.NE, xp, xp)) or wrap(lib.nl_binary(OP.EQ, xp, m.ptr))
      hit = wrap(lib.nl_to_dtype(hit.ptr, g.ptr.dtype))
      return { hit * (g / hit:sum()) }
    end
    local idx = n:saved_t()
    local gk, ik = g, idx
    if n.a[1] == 0 and xp.ndim > 0 then gk, ik = unsqueeze(g, d), unsqueeze(idx, d) end
    if xp.ndim == 0 then return { g } end
    local z = wrap(lib.nl_full(xp.ndim, xp.sizes, 0, g.ptr.dtype))
    return { wrap(lib.nl_scatter(z.ptr, d, ik.ptr, gk.ptr, 0, n.a[2])) }
  end
  R[OP.MAX], R[OP.MIN] = extreme_rule, extreme_rule

  -- cumsum along d: the running sum from the end, sum(g) - cumsum(g) + g
  R[OP.CUMSUM] = function(n, g)
    local d = tonumber(n.a[0])
    if g.ptr.ndim == 0 then return { g } end
    return { rsum(g, d, true) - wrap(lib.nl_cumsum(g.ptr, d)) + g }
  end

  -- special functions (nl_math): g * f'(x)
  local function math1(op, x) return wrap(lib.nl_math(op, x.ptr, 0)) end
  local function sq(t) return t * t end
  local LN2, LN10, TWO_OVER_SQRT_PI = math.log(2), math.log(10), 2 / math.sqrt(math.pi)
  R[OP.TAN] = function(n, g) return { g * scal(OP.ADD, sq(n:out()), 1) } end
  R[OP.SINH] = function(n, g) return { g * math1(OP.COSH, n:x(1)) } end
  R[OP.COSH] = function(n, g) return { g * math1(OP.SINH, n:x(1)) } end
  R[OP.ASIN] = function(n, g) return { g / unary(OP.SQRT, scal(OP.SUB, sq(n:x(1)), 1, true)) } end
  R[OP.ACOS] = function(n, g) return { -(g / unary(OP.SQRT, scal(OP.SUB, sq(n:x(1)), 1, true))) } end
  R[OP.ATAN] = function(n, g) return { g / scal(OP.ADD, sq(n:x(1)), 1) } end
  R[OP.ASINH] = function(n, g) return { g / unary(OP.SQRT, scal(OP.ADD, sq(n:x(1)), 1)) } end
  R[OP.ACOSH] = function(n, g) return { g / unary(OP.SQRT, scal(OP.SUB, sq(n:x(1)), 1)) } end
  R[OP.ATANH] = function(n, g) return { g / scal(OP.SUB, sq(n:x(1)), 1, true) } end
  R[OP.LOG1P] = function(n, g) return { g / scal(OP.ADD, n:x(1), 1) } end
  R[OP.EXPM1] = function(n, g) return { g * scal(OP.ADD, n:out(), 1) } end
  R[OP.LOG2] = function(n, g) return { g / scal(OP.MUL, n:x(1), LN2) } end
  R[OP.LOG10] = function(n, g) return { g / scal(OP.MUL, n:x(1), LN10) } end
  R[OP.EXP2] = function(n, g) return { g * scal(OP.MUL, n:out(), LN2) } end
  R[OP.ERF] = function(n, g) return { g * scal(OP.MUL, unary(OP.EXP, -sq(n:x(1))), TWO_OVER_SQRT_PI) } end
  R[OP.ERFC] = function(n, g) return { g * scal(OP.MUL, unary(OP.EXP, -sq(n:x(1))), -TWO_OVER_SQRT_PI) } end

  R[OP.WHERE] = function(n, g)              -- cond, a, b: g where cond, g where not
    local c, z = n:x(1), zero_like_scalar(g)
    return { nil, n.want[2] and sum_to(where(c, g, z), n.ins[2]) or nil,
             n.want[3] and sum_to(where(c, z, g), n.ins[3]) or nil }
  end

  -- functions written in Lua (autograd_function.lua, loaded when one exists)
  R[OP.CUSTOM] = function(n, g) return nl._custom_graph_rule(n, g) end
  -- more rules (activations, special functions, scans, ...), in a file of their own
  -- (H.run, the walk, is set below: a rule may run it on a graph of its own)
  local H = { OP = OP, scal = scal, cmp = cmp, where = where, unary = unary,
    rsum = rsum, sum_to = sum_to, two = two, same_shape = same_shape, unsqueeze = unsqueeze,
    transpose = transpose, reshape_as = reshape_as, matmul = matmul, tie = tie, keep = keep }
  require('nnlua.autograd_higher_ops')(nl, R, H)

  -- ---- the walk ----------------------------------------------------------
  local Node = {}
  Node.__index = Node
  function Node:x(i)
    local h = self.handles[i]
    if not h then
      h = handle(self.ins[i])
      self.handles[i] = h
    end
    return h
  end
  function Node:out()
    if not self.out_h then self.out_h = handle(self.out_p) end
    return self.out_h
  end
  function Node:saved_t()
    if self.saved == nil then raise(('%s with create_graph: op %s saved nothing'):format(self.who, op_name(self.op))) end
    return handle(self.saved)
  end

  local function check(who, p)
    if lib.nl_node_read(p, who, info) < 0 then raise(ffi.string(lib.nl_error())) end
  end
  -- the record of the node that made p (read now: info is shared)
  local function read(who, p)
    check(who, p)
    local n = setmetatable({ who = who, op = tonumber(info.op), n_in = tonumber(info.n_in), out_p = p,
                             ins = {}, want = {}, handles = {}, s = { [0] = info.s[0], info.s[1] }, a = {} }, Node)
    for i = 0, 7 do n.a[i] = info.a[i] end
    n.saved = info.saved ~= nil and info.saved or nil
    for i = 1, n.n_in do
      n.ins[i] = info['in'][i - 1]
      n.want[i] = lib.nl_node_input_wanted(p, i - 1) ~= 0
    end
    return n
  end

  local function hooked(p) return band(p.flags, HOOKED) ~= 0 end

  -- the nodes reachable from the roots (tensors) in reverse topological
  -- order (an explicit stack: a deep graph needs no deep recursion)
  local function topo(who, roots)
    local seen, post = {}, {}
    for _, rp in ipairs(roots) do
      if rp.node ~= nil and not seen[addr(rp.node)] then
        local r = read(who, rp)
        seen[addr(rp.node)] = r
        local stack, idx = { r }, { 1 }
        while #stack > 0 do
          local top, i = stack[#stack], idx[#idx]
          if i <= top.n_in then
            idx[#idx] = i + 1
            local xp = top.ins[i]
            if top.want[i] then
              if xp.node ~= nil then
                local k = addr(xp.node)
                if not seen[k] then
                  local c = read(who, xp)
                  seen[k] = c
                  stack[#stack + 1] = c
                  idx[#idx + 1] = 1
                end
              elseif band(xp.flags, GRAPH_FREED) ~= 0 then
                top.freed_in = top.freed_in or {}
                top.freed_in[i] = true
              end
            end
          else
            post[#post + 1] = top
            stack[#stack] = nil
            idx[#idx] = nil
          end
        end
      end
    end
    local order = {}
    for k = #post, 1, -1 do order[#order + 1] = post[k] end
    return order
  end

  -- a Lua handle's gradient g of a tensor xp, in xp's dtype and shape
  local function fit(who, n, i, g, xp)
    if g.ptr.dtype ~= xp.dtype then g = wrap(lib.nl_to_dtype(g.ptr, xp.dtype)) end
    if not same_shape(g.ptr, xp) then
      raise(('%s with create_graph: op %s gave a gradient of shape %s for its input %d of shape %s'):format(
        who, op_name(n.op), nl._shape_str(g), i, nl._shape_str(handle(xp))))
    end
    return g
  end

  -- The walk. roots: Lua tensors; grads: their gradients (nil: ones, for
  -- a one-element root). inputs: nil for backward (leaves' .grad), or the
  -- list of tensors whose gradients are returned (nl.autograd.grad).
  -- free: the nodes that ran free what they saved after a walk that
  -- succeeded (retain_graph = false), as C's backward frees them.
  -- into (with inputs: backward's inputs): the listed leaves' .grad take
  -- their gradients and no other leaf's, and the node that made a listed
  -- tensor runs (its hooks: retain_grad's fills its .grad), as C's
  -- nl_backward_inputs.
  local function run(who, roots, grads, inputs, free, into)
    into = into and inputs ~= nil
    local rps = {}
    for i, r in ipairs(roots) do
      rps[i] = r.ptr
      if r.ptr.node == nil then
        -- a root whose graph an earlier backward freed (an input itself: its gradient, as C's grad gives it)
        local is_input = false
        for _, x in ipairs(not into and inputs or {}) do if x.ptr == r.ptr then is_input = true end end
        if not is_input then check(who, r.ptr) end
      end
    end
    local want_in                                   -- address -> index (first)
    if inputs then
      want_in = {}
      for j = #inputs, 1, -1 do want_in[addr(inputs[j].ptr)] = j end
    end
    local order = topo(who, rps)
    -- nl.autograd.grad runs only the nodes on a path to an input
    if want_in then
      local by_key = {}
      for _, n in ipairs(order) do by_key[addr(n.out_p.node)] = n end
      for k = #order, 1, -1 do                    -- (the inputs' side first)
        local n = order[k]
        if into and want_in[addr(n.out_p)] then n.needed = true end
        for i = 1, not n.needed and n.n_in or 0 do
          local xp = n.ins[i]
          local c = xp.node ~= nil and by_key[addr(xp.node)]
          if n.want[i] and (want_in[addr(xp)] or (c and c.needed) or (n.freed_in and n.freed_in[i])) then
            n.needed = true
            break
          end
        end
      end
    end
    -- refused before any gradient is computed: ops without a rule, freed
    -- parts of the graph
    for _, n in ipairs(order) do
      if not want_in or n.needed then
        if not R[n.op] then
          raise(("%s with create_graph: op '%s' has no differentiable backward yet"):format(who, op_name(n.op)))
        end
        if n.freed_in then
          for i in pairs(n.freed_in) do
            if not (want_in and not into and want_in[addr(n.ins[i])]) then check(who, n.ins[i]) end
          end
        end
      end
    end
    local prev = lib.nl_set_grad_enabled(1)
    local ran = {}                                  -- the outputs of the nodes that ran
    local ok, res = pcall(function()
      local gsum = {}                               -- node key -> its output's gradient
      local leaf_g, leaf_order = {}, {}             -- leaf address -> gradient; the leaves in order met
      local got = {}
      local function add_leaf(p, g)
        local k = addr(p)
        if leaf_g[k] then leaf_g[k] = leaf_g[k] + g
        else
          leaf_g[k] = g
          leaf_order[#leaf_order + 1] = p
        end
      end
      local function add_got(j, g)
        got[j] = got[j] and got[j] + g or g
      end
      -- g to the tensor xp: to the node that made it, else to its place
      -- among the wanted inputs (if any), else to the leaf
      local function send(xp, g)
        if xp.node ~= nil then
          local k = addr(xp.node)
          gsum[k] = gsum[k] and gsum[k] + g or g
        elseif want_in then
          local j = want_in[addr(xp)]
          if j and into then add_leaf(xp, g) elseif j then add_got(j, g) end
        else
          add_leaf(xp, g)
        end
      end
      for r, rt in ipairs(roots) do
        local rp = rt.ptr
        local g = grads and grads[r]
        if g then g = g.ptr.dtype ~= rp.dtype and wrap(lib.nl_to_dtype(g.ptr, rp.dtype)) or g
        else g = wrap(lib.nl_full(rp.ndim, rp.sizes, 1, rp.dtype)) end
        send(rp, g)
      end
      for _, n in ipairs(order) do
        local key = addr(n.out_p.node)
        local g = gsum[key]
        gsum[key] = nil
        if g then
          local j = want_in and not into and want_in[addr(n.out_p)]
          if j then add_got(j, g) end     -- (an input's gradient is taken before its hooks run, as PyTorch's)
          if not want_in or n.needed then
            if hooked(n.out_p) then g = run_hooks(n.out_p, g) or g end
            local in_anomaly = nl._anomaly_rule      -- (PyTorch's anomaly mode: autograd.lua)
            local gin = in_anomaly and in_anomaly(who, n, R[n.op], g) or R[n.op](n, g)
            if free then ran[#ran + 1] = n:out() end   -- (held: a hook may let the graph go meanwhile)
            for i = 1, n.n_in do
              local gi, xp = gin[i], n.ins[i]
              if gi and n.want[i] then send(xp, fit(who, n, i, gi, xp)) end
            end
          end
        end
      end
      if want_in and not into then return got end
      -- .grad += the gradient, out of place (a copy the first time: a
      -- gradient that flows elsewhere too is never some leaf's .grad)
      for _, p in ipairs(leaf_order) do
        local g = leaf_g[addr(p)]
        if hooked(p) then g = run_hooks(p, g) or g end   -- on the sum this backward sends the leaf
        local sum
        if p.grad ~= nil then sum = handle(p.grad) + g else sum = g:clone() end
        if lib.nl_set_grad(p, sum.ptr) ~= 0 then raise(ffi.string(lib.nl_error())) end
      end
    end)
    lib.nl_set_grad_enabled(prev)
    if not ok then error(res, 0) end
    if free and #ran > 0 then
      local arr = ffi.new('nl_tensor *[?]', #ran)
      for i, t in ipairs(ran) do arr[i - 1] = t.ptr end
      lib.nl_free_nodes(#ran, arr)
    end
    return res
  end

  H.run = run
  return { run = run }
end
