-- autograd_higher_ops.lua: more differentiable backward rules for the
-- create_graph walk (autograd_higher.lua, which loads this with it): the
-- activations nl_activation adds (mish, the hard forms, the shrinks),
-- nl_math's special functions and their binary kin, masked_select, the
-- running products and log-sum-exps, the recurrent cells, linalg's LU and
-- Cholesky family; convolutions and pools are autograd_higher_conv.lua's.
-- Each rule is the op's derivative made of ops that have rules themselves
-- (PyTorch 1.13's double-backward formulas), so gradients of any order
-- follow. Two ops whose derivative is a recursion (a whole recurrent
-- layer, ctc_loss) recompute their forward with such ops and run the walk
-- (H.run) on that graph.
local ffi = require 'ffi'

return function(nl, R, H)
  local lib, wrap = nl._lib, nl._wrap
  local matmul, transpose, unsqueeze = H.matmul, H.transpose, H.unsqueeze
  local OP, scal, cmp, where, unary, rsum, sum_to, two, tie =
    H.OP, H.scal, H.cmp, H.where, H.unary, H.rsum, H.sum_to, H.two, H.tie
  local keep = H.keep

  local function full(v, dtype) return wrap(lib.nl_full(0, nil, v, dtype)) end
  local function math1(op, x, k) return wrap(lib.nl_math(op, x.ptr, k or 0)) end
  -- a value computed without a graph (a piecewise constant factor)
  local function constant(fn)
    local prev = lib.nl_set_grad_enabled(0)
    local r = { pcall(fn) }
    lib.nl_set_grad_enabled(prev)
    if not r[1] then error(r[2], 0) end
    return unpack(r, 2, table.maxn(r))
  end

  local function narrow(t, d, at, len) return wrap(lib.nl_narrow(t.ptr, d, at, len)) end

  -- ---- activations (nl_activation: s[0], s[1] its two parameters) --------
  R[OP.MISH] = function(n, g)              -- t + x sigmoid(x) (1 - t^2), t = tanh(softplus(x))
    local x = n:x(1)
    local t = unary(OP.TANH, wrap(lib.nl_activation(OP.SOFTPLUS, x.ptr, 1, 20)))
    return { g * (t + x * unary(OP.SIGMOID, x) * scal(OP.SUB, t * t, 1, true)) }
  end
  local SIXTH = tonumber(ffi.new('float', 1 / 6))   -- PyTorch's 1/6 is a float's, in float64 too (as C's)
  R[OP.HARDSIGMOID] = function(n, g)
    local x = n:x(1)
    return { tie(scal(OP.MUL, keep(g, cmp(OP.GT, x, -3) * cmp(OP.LT, x, 3)), SIXTH), x) }
  end
  -- 0 below -3, 1 from 3, x / 3 + 1/2 between (-1/2 at -3, a constant
  -- there: PyTorch's double backward is x's only inside (-3, 3))
  R[OP.HARDSWISH] = function(n, g)
    local x = n:x(1)
    local dt = g.ptr.dtype
    local d = where(cmp(OP.GE, x, 3), full(1, dt), scal(OP.ADD, scal(OP.DIV, x, 3), 0.5))
    d = where(cmp(OP.EQ, x, -3), full(-0.5, dt), d)
    return { where(cmp(OP.LT, x, -3), full(0, dt), g * d) }   -- (0, not g * 0: g may be inf)
  end
  local function shrink(n, g)              -- g outside [-lambd, lambd] (a constant mask)
    local x, l = n:x(1), n.s[0]
    return { tie(keep(g, cmp(OP.GT, x, l) + cmp(OP.LT, x, -l)), x) }
  end
  R[OP.THRESHOLD] = function(n, g)         -- g where x > threshold
    local x = n:x(1)
    return { tie(keep(g, 1 - cmp(OP.LE, x, n.s[0])), x) }
  end
  -- PReLU: PyTorch's prelu_backward, whose own backward
  -- (prelu_double_backward) gives x the slope's term only: gx = g where
  -- x > 0, else w g (tied to x); gw = x g summed where not x > 0, over all
  -- but the channel dim (x's dim 1)
  R[OP.PRELU] = function(n, g)
    local x, w = n:x(1), n:x(2)
    local xp, wp = x.ptr, w.ptr
    local C = tonumber(wp.numel)
    local wb                                -- w broadcast against x
    if C == 1 then wb = wrap(lib.nl_reshape(wp, 0, nil))
    else
      local sizes = ffi.new('int64_t[?]', xp.ndim)
      for i = 0, xp.ndim - 1 do sizes[i] = i == 1 and C or 1 end
      wb = wrap(lib.nl_reshape(wp, xp.ndim, sizes))
    end
    local pos = cmp(OP.GT, x, 0)
    local gx, gw
    if n.want[1] then gx = tie(where(pos, g, g * wb), x) end
    if n.want[2] then
      local zero = full(0, xp.dtype)
      local t = where(pos, zero, g * x)   -- (g * where: an inf of g at x > 0 gave NaN)
      if C == 1 then gw = wrap(lib.nl_reshape(t:sum().ptr, wp.ndim, wp.sizes))
      else gw = wrap(lib.nl_reshape(sum_to(t, wb.ptr).ptr, wp.ndim, wp.sizes)) end
    end
    return { gx, gw }
  end
  R[OP.SOFTSHRINK], R[OP.HARDSHRINK] = shrink, shrink

  -- layer_norm (nl_layer_norm: a[0] the normalized dims k, a[1] its
  -- NL_NORM_* flags, s[0] eps): the forward recomputed with the composite
  -- ops (normalization.lua's, rms_norm.lua's with NL_NORM_RMS) on aliases
  -- of x, weight and bias, and the walk run from it at g to those
  R[OP.LAYER_NORM] = function(n, g)
    local k, flags, eps = tonumber(n.a[0]), tonumber(n.a[1]), n.s[0]
    local function has(f) return bit.band(flags, f) ~= 0 end
    local alias, at = {}, {}
    for i = 1, n.n_in do alias[i] = scal(OP.MUL, n:x(i), 1) end
    local x = alias[1]
    local iw = has(lib.NL_NORM_WEIGHT) and 2 or nil
    local ib = has(lib.NL_NORM_BIAS) and (iw and 3 or 2) or nil
    local d = x:dim()
    local y
    if has(lib.NL_NORM_RMS) then
      local ms = x * x
      for i = d - k + 1, d do ms = ms:mean(i, true) end
      y = x * (ms + eps):rsqrt()
    else
      local mean = x
      for i = d - k + 1, d do mean = mean:mean(i, true) end
      local c = x - mean
      local var = c * c
      for i = d - k + 1, d do var = var:mean(i, true) end
      y = c / (var + eps):sqrt()
    end
    if iw then y = y * alias[iw] end
    if ib then y = y + alias[ib] end
    for i = 1, n.n_in do at[i] = n.want[i] and alias[i] or nil end
    local ins = {}
    for i = 1, n.n_in do if at[i] then ins[#ins + 1] = at[i] end end
    local got = H.run(n.who, { y }, { g }, ins)
    local gin, j = {}, 0
    for i = 1, n.n_in do
      if at[i] then
        j = j + 1
        gin[i] = got[j]
      end
    end
    return gin
  end

  -- ---- special functions (nl_math; a[0]: polygamma's order) --------------
  R[OP.ERFINV] = function(n, g)            -- sqrt(pi)/2 exp(y^2)
    local y = n:out()
    return { g * scal(OP.MUL, unary(OP.EXP, y * y), 0.5 * math.sqrt(math.pi)) }
  end
  R[OP.LGAMMA] = function(n, g) return { g * math1(OP.DIGAMMA, n:x(1)) } end
  R[OP.DIGAMMA] = function(n, g) return { g * math1(OP.POLYGAMMA, n:x(1), 1) } end
  R[OP.POLYGAMMA] = function(n, g) return { g * math1(OP.POLYGAMMA, n:x(1), n.a[0] + 1) } end
  -- nl_math2's, broadcast: gradients summed back to each operand
  R[OP.ATAN2] = function(n, g)             -- (g b, -g a) / (a^2 + b^2)
    local a, b = n:x(1), n:x(2)
    local gr = g / (a * a + b * b)
    return two(n, n.want[1] and gr * b or nil, n.want[2] and -(gr * a) or nil)
  end
  R[OP.HYPOT] = function(n, g)             -- g a / y, g b / y
    local gy = g / n:out()
    return two(n, n.want[1] and gy * n:x(1) or nil, n.want[2] and gy * n:x(2) or nil)
  end
  local function modulo(n, g)              -- g, and -g (a / b rounded toward 0, or down): a step, no graph
    local gb
    if n.want[2] then
      local a, b = n:x(1), n:x(2)
      local q = constant(function()
        if n.op == OP.FMOD then return unary(OP.TRUNC, a / b) end
        return wrap(lib.nl_div_floor(a.ptr, b.ptr))
      end)
      gb = -(g * q)
    end
    return two(n, n.want[1] and g or nil, gb)
  end
  R[OP.FMOD], R[OP.REMAINDER] = modulo, modulo

  -- torch.special's (nl_math, nl_math2; nl.special)
  local SQRT_2PI = math.sqrt(2 * math.pi)
  local function sgn(x) return constant(function() return cmp(OP.GT, x, 0) - cmp(OP.LT, x, 0) end) end
  R[OP.ENTR] = function(n, g) return { -(g * scal(OP.ADD, unary(OP.LOG, n:x(1)), 1)) } end
  R[OP.ERFCX] = function(n, g)             -- 2 x y - 2 / sqrt(pi)
    return { g * scal(OP.SUB, scal(OP.MUL, n:x(1) * n:out(), 2), 2 / math.sqrt(math.pi)) }
  end
  R[OP.NDTRI] = function(n, g)             -- sqrt(2 pi) exp(y^2 / 2)
    local y = n:out()
    return { g * scal(OP.MUL, unary(OP.EXP, scal(OP.MUL, y * y, 0.5)), SQRT_2PI) }
  end
  R[OP.LOG_NDTR] = function(n, g)          -- exp(-(y + x^2 / 2)) / sqrt(2 pi)
    local x = n:x(1)
    return { g * scal(OP.DIV, unary(OP.EXP, -(n:out() + scal(OP.MUL, x * x, 0.5))), SQRT_2PI) }
  end
  R[OP.I0E] = function(n, g)               -- i1e(x) - sgn(x) y
    local x = n:x(1)
    return { g * (math1(OP.I1E, x) - sgn(x) * n:out()) }
  end
  -- i0(x) - y / x (i0 as i0e(x) e^|x|), i0e(x) - y (sgn(x) + 1 / x); 1/2
  -- where |x| <= eps, as PyTorch's i1_backward and i1e_backward
  local function bessel_i1(n, g)
    local x, y = n:x(1), n:out()
    local dt = g.ptr.dtype
    local big = cmp(OP.GT, unary(OP.ABS, x), dt == 0 and 1.1920928955078125e-07 or 2.220446049250313e-16)
    local sx = where(big, x, full(1, dt))
    local e0 = math1(OP.I0E, sx)
    local d
    if n.op == OP.I1 then d = e0 * unary(OP.EXP, unary(OP.ABS, sx)) - y / sx
    else d = e0 - y * (sgn(sx) + scal(OP.DIV, sx, 1, true)) end
    return { g * where(big, d, full(0.5, dt)) }
  end
  R[OP.I1], R[OP.I1E] = bessel_i1, bessel_i1
  -- the second operand's gradient only, as PyTorch's
  local function special2(n, g)
    if n.want[1] then
      error(('%s: the derivative with respect to its first operand is not implemented, as in PyTorch; detach() it')
            :format(ffi.string(lib.nl_op_name(n.op))), 0)
    end
    local a, b = n:x(1), n:x(2)
    local gb
    if n.op == OP.ZETA then                -- -a zeta(a + 1, b)
      gb = -(g * a * wrap(lib.nl_math2(OP.ZETA, scal(OP.ADD, a, 1).ptr, b.ptr)))
    else                                   -- +-exp((a - 1) log b - b - lgamma(a))
      gb = g * unary(OP.EXP, scal(OP.SUB, a, 1) * unary(OP.LOG, b) - b - math1(OP.LGAMMA, a))
      if n.op == OP.GAMMAINCC then gb = -gb end
    end
    return two(n, nil, gb)
  end
  R[OP.ZETA], R[OP.GAMMAINC], R[OP.GAMMAINCC] = special2, special2, special2

  -- ---- masked_select: g back at the mask's places (saved: the mask) ------
  R[OP.MASKED_SELECT] = function(n, g)
    local xp, mask = n.ins[1], n:saved_t()
    local mp = mask.ptr
    -- the broadcast shape of x and the mask
    local nd = math.max(xp.ndim, mp.ndim)
    local bs = ffi.new('int64_t[8]')
    local numel = 1
    for i = 0, nd - 1 do
      local dx, dm = i - (nd - xp.ndim), i - (nd - mp.ndim)
      local sx = dx >= 0 and xp.sizes[dx] or 1
      local sm = dm >= 0 and mp.sizes[dm] or 1
      bs[i] = sx == 1 and sm or sx
      numel = numel * tonumber(bs[i])
    end
    local flat = ffi.new('int64_t[1]', numel)
    local idx = constant(function()
      local m = wrap(lib.nl_reshape(wrap(lib.nl_expand(mp, nd, bs)).ptr, 1, flat))
      local nz = wrap(lib.nl_nonzero(m.ptr, 0))
      return wrap(lib.nl_reshape(nz.ptr, 1, nz.ptr.sizes))
    end)
    local z = wrap(lib.nl_full(1, flat, 0, g.ptr.dtype))
    local gb = wrap(lib.nl_index_add(z.ptr, 0, idx.ptr, g.ptr, 1, 0))
    return { sum_to(wrap(lib.nl_reshape(gb.ptr, nd, bs)), xp) }
  end

  -- ---- running products and log-sum-exps along d (a[0]; saved: output) ---
  local function rev_cumsum(t, d) return rsum(t, d, true) - wrap(lib.nl_cumsum(t.ptr, d)) + t end
  R[OP.CUMPROD] = function(n, g)
    local x, d = n:x(1), tonumber(n.a[0])
    if x.ptr.ndim == 0 then return { g } end
    local y = n:out()
    local has_zero = constant(function() return wrap(lib.nl_binary_scalar(OP.EQ, x.ptr, 0, 0)):sum():item() > 0 end)
    if not has_zero then return { rev_cumsum(g * y, d) / x } end
    -- with zeros: gx_k = y_{k-1} (g_k + sum_{j > k} g_j prod_{k < i <= j} x_i),
    -- one slice at a time (PyTorch's O(n^2) differentiable form)
    local len = tonumber(x.ptr.sizes[d])
    local parts = ffi.new('nl_tensor *[?]', len)
    local keep = {}
    for k = 0, len - 1 do
      local s = narrow(g, d, k, 1)
      if k + 1 < len then
        local p = wrap(lib.nl_cumprod(narrow(x, d, k + 1, len - k - 1).ptr, d))
        s = s + rsum(narrow(g, d, k + 1, len - k - 1) * p, d, true)
      end
      if k > 0 then s = s * narrow(y, d, k - 1, 1) end
      keep[#keep + 1] = s
      parts[k] = s.ptr
    end
    return { wrap(lib.nl_cat(len, parts, d)) }
  end
  -- PyTorch 1.13's: exp(rev_lcse(log|g| - y) + x) for g's positive and its
  -- negative parts, the other side's log the dtype's lowest
  local LOWEST = { [lib.NL_FLOAT32] = -3.4028234663852886e38, [lib.NL_FLOAT64] = -1.7976931348623157e308 }
  R[OP.LOGCUMSUMEXP] = function(n, g)
    local x, d = n:x(1), tonumber(n.a[0])
    if x.ptr.ndim == 0 then return { g } end
    local len = tonumber(x.ptr.sizes[d])
    local rev = constant(function()
      local r = {}
      for i = 1, len do r[i] = len - i end
      return nl.tensor(r, 'int64')
    end)
    local function flip(t) return wrap(lib.nl_index_select(t.ptr, d, rev.ptr, 0)) end
    local function rev_lcse(t) return flip(wrap(lib.nl_logcumsumexp(flip(t).ptr, d))) end
    local y = n:out()
    local low = full(LOWEST[g.ptr.dtype], g.ptr.dtype)
    local lag = unary(OP.LOG, unary(OP.ABS, g))
    local pos = where(cmp(OP.GT, g, 0), lag, low)
    local neg = where(cmp(OP.LT, g, 0), lag, low)
    return { unary(OP.EXP, rev_lcse(pos - y) + x) - unary(OP.EXP, rev_lcse(neg - y) + x) }
  end

  -- ---- recurrent cells (nl_lstm_cell, nl_gru_cell, nl_rnn_cell): C's
  -- formulas from the pre-activations, recomputed with ops that have rules.
  -- The same op ids mark whole layers (nl_rnn_layer, a[0] = 1: nn.RNN,
  -- nn.LSTM, nn.GRU): see layer below.
  local function cols(t, k, h) return narrow(t, 1, k * h, h) end
  local function one_minus(t) return scal(OP.SUB, t, 1, true) end
  local function cat2(parts, d)
    local arr = ffi.new('nl_tensor *[?]', #parts)
    for i, t in ipairs(parts) do arr[i - 1] = t.ptr end
    return wrap(lib.nl_cat(#parts, arr, d or 1))
  end
  local layer
  -- gates (N, 4H) [i f g o], c (N, H) -> [h' | c']; g = [dh | dc']
  R[OP.LSTM_CELL] = function(n, g)
    if n.a[0] ~= 0 then return layer(n, g) end
    local gates, c = n:x(1), n:x(2)
    local h = tonumber(c.ptr.sizes[1])
    local i, f = unary(OP.SIGMOID, cols(gates, 0, h)), unary(OP.SIGMOID, cols(gates, 1, h))
    local gg, o = unary(OP.TANH, cols(gates, 2, h)), unary(OP.SIGMOID, cols(gates, 3, h))
    local tc = unary(OP.TANH, f * c + i * gg)
    local dh = cols(g, 0, h)
    local dc = cols(g, 1, h) + dh * o * one_minus(tc * tc)
    local dgates
    if n.want[1] then
      dgates = cat2({ dc * gg * i * one_minus(i), dc * c * f * one_minus(f), dc * i * one_minus(gg * gg),
                      dh * tc * o * one_minus(o) })
    end
    return { dgates, n.want[2] and dc * f or nil }
  end
  -- gi, gh (N, 3H) [r z n], h (N, H) -> h' = (1 - z) n + z h
  R[OP.GRU_CELL] = function(n, g)
    if n.a[0] ~= 0 then return layer(n, g) end
    local gi, gh, hp = n:x(1), n:x(2), n:x(3)
    local h = tonumber(hp.ptr.sizes[1])
    local r = unary(OP.SIGMOID, cols(gi, 0, h) + cols(gh, 0, h))
    local z = unary(OP.SIGMOID, cols(gi, 1, h) + cols(gh, 1, h))
    local ghn = cols(gh, 2, h)
    local nn = unary(OP.TANH, cols(gi, 2, h) + r * ghn)
    local dn = g * one_minus(z) * one_minus(nn * nn)
    local dr = dn * ghn * r * one_minus(r)
    local dz = g * (hp - nn) * z * one_minus(z)
    return { n.want[1] and cat2({ dr, dz, dn }) or nil, n.want[2] and cat2({ dr, dz, dn * r }) or nil,
             n.want[3] and g * z or nil }
  end
  -- h' = act(gi + gh) (a[1]: the mode); its derivative from the output
  R[OP.RNN_CELL] = function(n, g)
    if n.a[0] ~= 0 then return layer(n, g) end
    local y = n:out()
    local d = n.a[1] == lib.NL_RNN_TANH and g * one_minus(y * y) or g * cmp(OP.GT, y, 0)
    return { d, n.n_in > 1 and d or nil }
  end

  -- A whole layer over a sequence (a[1]: flags, a[2]: mode; inputs x,
  -- w_ih, w_hh, [b_ih, b_hh], [h0], [c0], [lengths]; output flat: the
  -- outputs (T, N, H) or (N, T, H), h_n, [c_n]): the steps recomputed with
  -- the cell ops from aliases of the inputs (x * 1: nodes of their own, so
  -- that the walk below stops there), then the walk itself run from that
  -- graph to the aliases at g. Sequences past their length output zeros and
  -- keep their state, as C's.
  local F_BIAS, F_H0, F_C0, F_LEN, F_BATCH_FIRST = 1, 2, 4, 8, 16
  local function linear(x, w, b)
    local y = matmul(x, transpose(w, 0, 1))
    return b and y + b or y
  end
  layer = function(n, g)
    local flags, mode = tonumber(n.a[1]), tonumber(n.a[2])
    local function has(f) return bit.band(flags, f) ~= 0 end
    local k, ins, alias = 1, {}, {}
    local function take(name)
      ins[name] = k
      local t = n:x(k)
      if t.ptr.dtype ~= lib.NL_INT64 then
        alias[#alias + 1] = scal(OP.MUL, t, 1)
        alias[name] = alias[#alias]
      else
        alias[name] = t
      end
      k = k + 1
    end
    for _, name in ipairs({ 'x', 'w_ih', 'w_hh' }) do take(name) end
    if has(F_BIAS) then take('b_ih') take('b_hh') end
    if has(F_H0) then take('h0') end
    if has(F_C0) then take('c0') end
    if has(F_LEN) then take('len') end
    local x, bf = alias.x, has(F_BATCH_FIRST)
    local T, N = tonumber(x.ptr.sizes[bf and 1 or 0]), tonumber(x.ptr.sizes[bf and 0 or 1])
    local hs = tonumber(alias.w_hh.ptr.sizes[1])
    local dt = x.ptr.dtype
    local zeros = function() return wrap(lib.nl_full(2, ffi.new('int64_t[2]', N, hs), 0, dt)) end
    local h = alias.h0 or zeros()
    local c = mode == lib.NL_RNN_LSTM and (alias.c0 or zeros()) or nil
    local lens = alias.len and alias.len:totable() or nil
    local outs = {}
    for t = 0, T - 1 do
      local xt = wrap(lib.nl_select(x.ptr, bf and 1 or 0, t))
      local gi = linear(xt, alias.w_ih, alias.b_ih)
      local gh = linear(h, alias.w_hh, alias.b_hh)
      local hn, cn
      if mode == lib.NL_RNN_LSTM then
        local hc = wrap(lib.nl_lstm_cell((gi + gh).ptr, c.ptr))
        hn, cn = narrow(hc, 1, 0, hs), narrow(hc, 1, hs, hs)
      elseif mode == lib.NL_RNN_GRU then
        hn = wrap(lib.nl_gru_cell(gi.ptr, gh.ptr, h.ptr))
      else
        hn = wrap(lib.nl_rnn_cell(gi.ptr, gh.ptr, mode))
      end
      if lens then                             -- (N, 1): 1 while the sequence runs
        local m = {}
        for b = 1, N do m[b] = { t < lens[b] and 1 or 0 } end
        local mask = nl.tensor(m, dt == lib.NL_FLOAT32 and 'float32' or 'float64')
        outs[#outs + 1] = hn * mask
        hn = where(mask, hn, h)
        if cn then cn = where(mask, cn, c) end
      else
        outs[#outs + 1] = hn
      end
      h, c = hn, cn
    end
    local y = wrap(lib.nl_stack(#outs, ffi.new('nl_tensor *[?]', #outs, (function()
      local p = {}
      for i, o in ipairs(outs) do p[i] = o.ptr end
      return p
    end)()), bf and 1 or 0))
    local parts = { y, h, c }
    local flat = {}
    for _, p in ipairs(parts) do
      flat[#flat + 1] = wrap(lib.nl_reshape(p.ptr, 1, ffi.new('int64_t[1]', p.ptr.numel)))
    end
    local got = H.run(n.who, { cat2(flat, 0) }, { g }, alias)
    local gin = {}
    local j = 0
    for _, name in ipairs({ 'x', 'w_ih', 'w_hh', 'b_ih', 'b_hh', 'h0', 'c0' }) do
      if ins[name] then
        j = j + 1
        if n.want[ins[name]] then gin[ins[name]] = got[j] end
      end
    end
    return gin
  end

  -- ---- ctc_loss (log_probs (T, N, C), targets (N, S) padded or 1-D
  -- concatenated, input and target lengths; a[0] the blank, a[1] the labels'
  -- base): each sample's NLL recomputed by the forward (alpha) recursion
  -- over the extended labels with ops that have rules (logsumexp of the
  -- three moves as max + log(sum exp(. - max)) with the max a constant;
  -- unreachable states a large negative number, not -inf, so that no 0/0
  -- reaches a gradient), then the walk from it at g to an alias of
  -- log_probs, as a layer's. A sample no alignment fits gets a zero
  -- gradient (C's is NaN unless zero_infinity).
  local CTC_NEG = -1e30
  R[OP.CTC_LOSS] = function(n, g)
    local lp = scal(OP.MUL, n:x(1), 1)
    local T, N = tonumber(lp.ptr.sizes[0]), tonumber(lp.ptr.sizes[1])
    local dt = lp.ptr.dtype
    local dts = dt == lib.NL_FLOAT32 and 'float32' or 'float64'
    local blank, base = tonumber(n.a[0]), tonumber(n.a[1])
    local tg, il, tl = n:x(2), n:x(3):totable(), n:x(4):totable()
    local padded = tg.ptr.ndim == 2
    local flat = wrap(lib.nl_reshape(tg.ptr, 1, ffi.new('int64_t[1]', tg.ptr.numel))):totable()
    local maxl = 0
    for b = 1, N do maxl = math.max(maxl, tl[b]) end
    local W = 2 * maxl + 1
    -- extended labels (blank between and around), the skip moves allowed,
    -- the states past each sample's, the two end states
    local ext, skip, valid, ends, at = {}, {}, {}, {}, 0
    for b = 1, N do
      local off = padded and (b - 1) * tg.ptr.sizes[1] or at
      at = at + tl[b]
      local e, sk, va, en = {}, {}, {}, {}
      for s = 0, W - 1 do
        local lab = blank
        if s % 2 == 1 and (s - 1) / 2 < tl[b] then lab = flat[tonumber(off) + (s - 1) / 2 + 1] - base end
        e[s + 1] = lab
        sk[s + 1] = (s % 2 == 1 and s >= 2 and e[s - 1] ~= lab) and 1 or 0
        va[s + 1] = s < 2 * tl[b] + 1 and 1 or 0
        en[s + 1] = (s == 2 * tl[b] or (tl[b] > 0 and s == 2 * tl[b] - 1)) and 1 or 0
      end
      ext[b], skip[b], valid[b], ends[b] = e, sk, va, en
    end
    local idx = nl.tensor(ext, 'int64')
    local skip_m, valid_m, end_m = nl.tensor(skip, dts), nl.tensor(valid, dts), nl.tensor(ends, dts)
    local neg = full(CTC_NEG, dt)
    local sz2 = ffi.new('int64_t[2]', N, 1)
    local negcol = wrap(lib.nl_full(2, sz2, CTC_NEG, dt))
    local function shift(t, k)            -- t moved k states right, NEG coming in
      local parts = {}
      for i = 1, k do parts[i] = negcol end
      parts[k + 1] = narrow(t, 1, 0, W - k)
      return cat2(parts, 1)
    end
    local function lse(list, d)           -- logsumexp of tensors of one shape, or along d of one
      local m = constant(function()
        local r = list[1]
        for i = 2, #list do r = wrap(lib.nl_binary(OP.MAXIMUM, r.ptr, list[i].ptr)) end
        if d then r = wrap(lib.nl_reduce(OP.MAX, r.ptr, d, 1, 0, nil)) end
        return r
      end)
      local sum
      for _, t in ipairs(list) do
        local e = unary(OP.EXP, t - m)
        sum = sum and sum + e or e
      end
      if d then sum = rsum(sum, d, true) end
      return m + unary(OP.LOG, sum)
    end
    local alpha, fin
    local first = {}
    for b = 1, N do first[b] = {} for s = 1, W do first[b][s] = s <= 2 and 1 or 0 end end
    local first_m = nl.tensor(first, dts) * valid_m
    for t = 0, T - 1 do
      local e = wrap(lib.nl_gather(wrap(lib.nl_select(lp.ptr, 0, t)).ptr, 1, idx.ptr, 0))
      if t == 0 then
        alpha = where(first_m, e, neg)
      else
        local moved = lse({ alpha, shift(alpha, 1), where(skip_m, shift(alpha, 2), neg) })
        alpha = where(valid_m, moved + e, neg)
      end
      local sel = {}
      for b = 1, N do sel[b] = { il[b] - 1 == t and 1 or 0 } end
      local pick = alpha * nl.tensor(sel, dts)
      fin = fin and fin + pick or pick
    end
    -- an input of length 0: likelihood 1 for an empty target, else none
    local z = {}
    for b = 1, N do z[b] = { il[b] == 0 and (tl[b] == 0 and 0 or CTC_NEG) or 0 } end
    local nll
    if fin then
      local ends_v = where(end_m, fin + nl.tensor(z, dts), neg)
      nll = -rsum(lse({ ends_v }, 1), 1)
    else
      nll = -rsum(nl.tensor(z, dts), 1)
    end
    local ok = constant(function() return cmp(OP.LT, nll, 1e29) end)
    local got = H.run(n.who, { nll }, { g * ok }, { lp })
    return { got[1] }
  end

  -- ---- linear algebra (ops_linalg.c; batched over the leading dims):
  -- PyTorch 1.13's formulas, each made of the ops themselves.
  local function mT(t) return transpose(t, -1, -2) end
  local function unsq2(t) return unsqueeze(unsqueeze(t, t.ptr.ndim), t.ptr.ndim + 1) end
  -- (n, n) (or (n, ncol)) ones on and below (k = 0) or strictly below (k =
  -- -1) the diagonal, or on and above (k = 0) / strictly above (k = 1): a
  -- constant mask
  local function tri_mask(nrow, lower, k, dtype, ncol)
    local r = {}
    for i = 1, nrow do
      r[i] = {}
      for j = 1, ncol or nrow do r[i][j] = (lower and j - i <= k or not lower and j - i >= k) and 1 or 0 end
    end
    if nrow == 0 or ncol == 0 then return wrap(lib.nl_full(2, ffi.new('int64_t[2]', nrow, ncol or nrow), 0, dtype)) end
    return nl.tensor(r, dtype == lib.NL_FLOAT32 and 'float32' or 'float64')
  end
  local function inv_of(n, a, what)
    local info = ffi.new('nl_tensor *[1]')
    local y = wrap(lib.nl_linalg_inv(a.ptr, 0, info))
    local bad = wrap(info[0]):sum():item() ~= 0
    if bad then
      nl._raise(("%s with create_graph: op '%s' of a singular matrix %s has no differentiable backward yet")
        :format(n.who, what, nl._shape_str(a)))
    end
    return y
  end
  local function solve_tri(a, b, upper, unit)
    return wrap(lib.nl_linalg_solve_triangular(a.ptr, b.ptr, upper and 1 or 0, unit and 1 or 0))
  end
  R[OP.LINALG_INV] = function(n, g)          -- -Y^T g Y^T
    local yt = mT(n:out())
    return { -matmul(matmul(yt, g), yt) }
  end
  R[OP.LINALG_SOLVE] = function(n, g)        -- (a, b, lu, pivots): gB = A^-T g, gA = -gB X^T
    local gb = wrap(lib.nl_linalg_solve(mT(n:x(1)).ptr, g.ptr))
    return { n.want[1] and -matmul(gb, mT(n:out())) or nil, n.want[2] and gb or nil }
  end
  R[OP.LINALG_DET] = function(n, g)          -- (a, lu, pivots): g det A^-T
    local a = n:x(1)
    return { unsq2(g * n:out()) * mT(inv_of(n, a, 'linalg_det')) }
  end
  R[OP.LINALG_SLOGDET] = function(n, g)      -- log|det|'s: g A^-T
    local a = n:x(1)
    return { unsq2(g) * mT(inv_of(n, a, 'linalg_slogdet')) }
  end
  R[OP.LINALG_CHOLESKY] = function(n, g)     -- L^-T (P + P_strict^T) / 2 L^-1, P = tril(L^T g) (Murray 2016)
    local l = n:out()
    local sz = tonumber(l.ptr.sizes[l.ptr.ndim - 1])
    local dt = g.ptr.dtype
    local p = matmul(mT(l), g) * tri_mask(sz, true, 0, dt)
    p = scal(OP.MUL, p + mT(p * tri_mask(sz, true, -1, dt)), 0.5)
    local ga = solve_tri(mT(l), p, true, false)
    return { mT(solve_tri(mT(l), mT(ga), true, false)) }
  end
  R[OP.LINALG_SOLVE_TRIANGULAR] = function(n, g)   -- (a, b; a[0] upper, a[1] unitriangular)
    local upper, unit = n.a[0] ~= 0, n.a[1] ~= 0
    local gb = solve_tri(mT(n:x(1)), g, not upper, unit)
    local ga
    if n.want[1] then
      local sz = tonumber(n.ins[1].sizes[n.ins[1].ndim - 1])
      local mask = tri_mask(sz, not upper, upper and (unit and 1 or 0) or (unit and -1 or 0), g.ptr.dtype)
      ga = -(matmul(gb, mT(n:out())) * mask)
    end
    return { ga, n.want[2] and gb or nil }
  end

  -- lu_factor (a (m, n), pivots 1-based; its output LU = L (m, k: unit,
  -- strictly below the diagonal) and U (k, n) packed, k = min(m, n)), gL
  -- and gU g's parts; PyTorch 1.13's linalg_lu_backward:
  --   square gA = P L^-T [strict(L^T gL) + upper(gU U^T)] U^-T
  --   wide   gA = P L^-T [strict(L^T gL - gU U^T) U1^-T + gU]
  --   tall   gA = P [L1^-T upper(gU U^T - L^T gL) + gL] U^-T
  -- (the square tops L1, U1; a term short of gU's or gL's shape padded with zeros)
  R[OP.LINALG_LU_FACTOR] = function(n, g)
    local lu = n:out()
    local p_, dt = lu.ptr, g.ptr.dtype
    local dr, dc = p_.ndim - 2, p_.ndim - 1
    local rows, cols = tonumber(p_.sizes[dr]), tonumber(p_.sizes[dc])
    local k = math.min(rows, cols)
    local lo, up = tri_mask(rows, true, -1, dt, k), tri_mask(k, false, 0, dt, cols)
    local lpart = cols > k and narrow(lu, dc, 0, k) or lu
    local upart = rows > k and narrow(lu, dr, 0, k) or lu
    local l = lpart * lo + wrap(lib.nl_eye(rows, k, dt))
    local u = upart * up
    local gl = (cols > k and narrow(g, dc, 0, k) or g) * lo
    local gu = (rows > k and narrow(g, dr, 0, k) or g) * up
    local p = constant(function() return wrap(lib.nl_linalg_lu_permutation(n.ins[2], rows, dt)) end)
    -- zeros of t's shape but size len along d, then t and them joined along d
    local function pad(t, d, len)
      local sizes = ffi.new('int64_t[?]', t.ptr.ndim)
      for i = 0, t.ptr.ndim - 1 do sizes[i] = t.ptr.sizes[i] end
      sizes[d] = len
      local z = wrap(lib.nl_full(t.ptr.ndim, sizes, 0, dt))
      local arr = ffi.new('nl_tensor *[2]', t.ptr, z.ptr)
      local r = wrap(lib.nl_cat(2, arr, d))
      return r, z
    end
    local x
    if rows == cols then
      local m = matmul(mT(l), gl) * tri_mask(k, true, -1, dt) + matmul(gu, mT(u)) * tri_mask(k, false, 0, dt)
      x = solve_tri(mT(l), mT(solve_tri(u, mT(m), true, false)), true, true)
    elseif rows < cols then
      local b = (matmul(mT(l), gl) - matmul(gu, mT(u))) * tri_mask(k, true, -1, dt)
      b = mT(solve_tri(narrow(u, dc, 0, k), mT(b), true, false))
      x = solve_tri(mT(l), gu + pad(b, dc, cols - k), true, true)
    else
      local b = (matmul(gu, mT(u)) - matmul(mT(l), gl)) * tri_mask(k, false, 0, dt)
      b = solve_tri(mT(narrow(l, dr, 0, k)), b, true, true)
      x = mT(solve_tri(u, mT(gl + pad(b, dr, rows - k)), true, false))
    end
    return { matmul(p, x) }
  end
  -- lu_solve (LU, B, pivots 0-based; a[0] adjoint): B's gradient, the
  -- solve by the adjoint; LU's as PyTorch 1.13's linalg_lu_solve_LU (left):
  --   adjoint false: H = -U^-T g X^T, gLU = upper(H) + strict(L^-T H U^T)
  --   adjoint true:  R = -P^T X g^T P L^-T, gLU = strict(R) + upper(L^T R U^-T)
  R[OP.LINALG_LU_SOLVE] = function(n, g)
    local piv = constant(function() return scal(OP.ADD, n:x(3), 1) end)
    local adjoint = n.a[0] ~= 0
    local gb = n.want[2] and wrap(lib.nl_linalg_lu_solve(n.ins[1], piv.ptr, g.ptr, adjoint and 0 or 1)) or nil
    if not n.want[1] then return { nil, gb } end
    local lu, x, dt = n:x(1), n:out(), g.ptr.dtype
    local sz = tonumber(lu.ptr.sizes[lu.ptr.ndim - 1])
    local lo, up = tri_mask(sz, true, -1, dt), tri_mask(sz, false, 0, dt)
    local l, u = lu * lo + wrap(lib.nl_eye(sz, sz, dt)), lu * up
    local glu
    if not adjoint then
      local h = -solve_tri(mT(u), matmul(g, mT(x)), false, false)
      glu = h * up + solve_tri(mT(l), matmul(h, mT(u)), true, true) * lo
    else
      local p = constant(function() return wrap(lib.nl_linalg_lu_permutation(piv.ptr, sz, dt)) end)
      local m = -matmul(matmul(mT(p), matmul(x, mT(g))), p)
      local r = mT(solve_tri(l, mT(m), false, true))
      glu = r * lo + mT(solve_tri(u, mT(matmul(mT(l), r)), true, false)) * up
    end
    return { glu, gb }
  end

  -- convolutions and pools, in a file of their own
  H.constant = constant
  require('nnlua.autograd_higher_conv')(nl, R, H)
end
