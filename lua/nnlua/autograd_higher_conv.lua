-- autograd_higher_conv.lua: differentiable backward rules of convolutions
-- and pools for the create_graph walk (autograd_higher.lua; loaded with
-- autograd_higher_ops.lua). conv2d (and conv1d, which is conv2d on
-- (N, C, 1, L)) and conv_transpose2d give each other's gradients: the
-- input gradient of one is the other, and the weight gradient is a
-- convolution of the input by the output gradient, batch and channels
-- swapped, stride and dilation swapped (a group at a time). Max pools send
-- g to their saved indices (a scatter_add); average pools and interpolate
-- are separable linear maps, a constant matrix per spatial dim (out =
-- A_h x A_w^T in 2-D), so their gradient is the transposed map (A_h^T g
-- A_w), run tap by tap (index_select, mul, index_add along each dim), not
-- as a dense matmul, whose 0 * inf spread a NaN or inf of g over the whole
-- plane. grid_sample recomputes its forward with gathers and runs the
-- walk on it. Each is made of ops with rules, so every order follows.
local ffi = require 'ffi'

return function(nl, R, H)
  local lib, wrap = nl._lib, nl._wrap
  local OP, rsum, transpose, matmul, scal, cmp, constant = H.OP, H.rsum, H.transpose, H.matmul, H.scal, H.cmp, H.constant

  local function narrow(t, d, at, len) return wrap(lib.nl_narrow(t.ptr, d, at, len)) end
  local function cat(parts, d)
    if #parts == 1 then return parts[1] end
    local arr = ffi.new('nl_tensor *[?]', #parts)
    for i, t in ipairs(parts) do arr[i - 1] = t.ptr end
    return wrap(lib.nl_cat(#parts, arr, d))
  end
  local function zeros_of(p, dtype) return wrap(lib.nl_full(p.ndim, p.sizes, 0, dtype)) end
  local sz = ffi.new('int64_t[8]')
  local function reshape(t, ...)
    local s = { ... }
    for i, v in ipairs(s) do sz[i - 1] = v end
    return wrap(lib.nl_reshape(t.ptr, #s, sz))
  end

  -- a: { stride h, w, padding h, w, dilation h, w, groups } (the node's)
  -- the weight gradient (O, C/groups, kh, kw), of shape wp's, of the
  -- convolution of inp (N, C, H, W) at output gradient go (N, O, Ho, Wo):
  -- per group, conv2d(inp^T, go^T) with stride and dilation swapped, cut
  -- to the kernel
  local function weight_grad(inp, go, wp, a)
    local groups = tonumber(a[6])
    local cg, og = tonumber(inp.ptr.sizes[1]) / groups, tonumber(go.ptr.sizes[1]) / groups
    local kh, kw = tonumber(wp.sizes[2]), tonumber(wp.sizes[3])
    if inp.ptr.sizes[0] == 0 then return zeros_of(wp, go.ptr.dtype) end   -- an empty batch
    local parts = {}
    for gi = 0, groups - 1 do
      local xg = groups == 1 and inp or narrow(inp, 1, gi * cg, cg)
      local gg = groups == 1 and go or narrow(go, 1, gi * og, og)
      local r = wrap(lib.nl_conv2d(transpose(xg, 0, 1).ptr, transpose(gg, 0, 1).ptr, nil,
                                   a[4], a[5], a[2], a[3], a[0], a[1], 1))
      if r.ptr.sizes[2] ~= kh then r = narrow(r, 2, 0, kh) end
      if r.ptr.sizes[3] ~= kw then r = narrow(r, 3, 0, kw) end
      parts[#parts + 1] = transpose(r, 0, 1)
    end
    return cat(parts, 0)
  end
  local function bias_grad(g) return rsum(rsum(rsum(g, 3), 2), 0) end

  -- conv2d (x, weight (O, C/groups, kh, kw), [bias])
  R[OP.CONV2D] = function(n, g)
    local a, gx, gw, gb = n.a, nil, nil, nil
    if n.want[1] then
      local xp = n.ins[1]
      gx = wrap(lib.nl_conv_transpose2d(g.ptr, n:x(2).ptr, nil, a[0], a[1], a[2], a[3], a[4], a[5], a[6],
                                        xp.sizes[2], xp.sizes[3]))
    end
    if n.want[2] then gw = weight_grad(n:x(1), g, n.ins[2], a) end
    if n.want[3] then gb = bias_grad(g) end
    return { gx, gw, gb }
  end
  -- conv2d_pool (nn.Sequential's Conv2d, MaxPool2d(2) and ReLU as one op;
  -- a[7]: ReLU): the maxima's places from the convolution recomputed
  -- without a graph (the fused op's values bit for bit), g through the
  -- ReLU's mask to them, then conv2d's rule
  R[OP.CONV2D_POOL] = function(n, g)
    local a = n.a
    local xp, wp = n.ins[1], n.ins[2]
    local idx, ho, wo = constant(function()
      local y = wrap(lib.nl_conv2d(xp, wp, n.n_in > 2 and n.ins[3] or nil, a[0], a[1], a[2], a[3], a[4], a[5], a[6]))
      local out = ffi.new('nl_tensor *[1]')
      local p = lib.nl_max_pool2d(y.ptr, 2, 2, 2, 2, 0, 0, 1, 1, 0, out, 0)
      if p == nil then nl._raise(ffi.string(lib.nl_error())) end
      wrap(p)
      return wrap(out[0]), tonumber(y.ptr.sizes[2]), tonumber(y.ptr.sizes[3])
    end)
    local g2 = a[7] ~= 0 and H.tie(H.keep(g, cmp(OP.GT, n:out(), 0)), n:out()) or g   -- (relu's rule)
    local N, O = tonumber(g.ptr.sizes[0]), tonumber(g.ptr.sizes[1])
    local cnt = tonumber(g.ptr.sizes[2] * g.ptr.sizes[3])
    local z = wrap(lib.nl_full(3, ffi.new('int64_t[3]', N, O, ho * wo), 0, g.ptr.dtype))
    local gy = wrap(lib.nl_scatter(z.ptr, 2, reshape(idx, N, O, cnt).ptr, reshape(g2, N, O, cnt).ptr, 1, 0))
    return R[OP.CONV2D](n, reshape(gy, N, O, ho, wo))
  end

  -- conv_transpose2d (x (N, Ci, H, W), weight (Ci, Co/groups, kh, kw), [bias]):
  -- the input gradient of conv2d by weight, so x's gradient is that conv2d
  -- of g, and weight's the weight gradient of conv2d over g at x
  R[OP.CONV_TRANSPOSE2D] = function(n, g)
    local a, gx, gw, gb = n.a, nil, nil, nil
    if n.want[1] then gx = wrap(lib.nl_conv2d(g.ptr, n:x(2).ptr, nil, a[0], a[1], a[2], a[3], a[4], a[5], a[6])) end
    if n.want[2] then gw = weight_grad(g, n:x(1), n.ins[2], a) end
    if n.want[3] then gb = bias_grad(g) end
    return { gx, gw, gb }
  end

  -- conv3d: args (saved, int64) { stride d h w, padding d h w, dilation d h w,
  -- groups }; conv3d and conv_transpose3d give each other's gradients, as
  -- in 2-D, and the weight gradient is 2-D's for volumes
  local function conv3d(x, w, a)               -- a: the 10 args, 1-based
    return wrap(lib.nl_conv3d(x.ptr, w.ptr, nil, a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10]))
  end
  -- the weight gradient (O, C/groups, kd, kh, kw), of shape wp's, of the
  -- convolution of inp (N, C, D, H, W) at output gradient go (N, O, Do,
  -- Ho, Wo), a: the 10 args: weight_grad's for volumes
  local function weight_grad3(inp, go, wp, a)
    if inp.ptr.sizes[0] == 0 then return zeros_of(wp, go.ptr.dtype) end   -- an empty batch
    local groups = a[10]
    local cg, og = tonumber(inp.ptr.sizes[1]) / groups, tonumber(go.ptr.sizes[1]) / groups
    local parts = {}
    for gi = 0, groups - 1 do
      local xg = groups == 1 and inp or narrow(inp, 1, gi * cg, cg)
      local gg = groups == 1 and go or narrow(go, 1, gi * og, og)
      local r = conv3d(transpose(xg, 0, 1), transpose(gg, 0, 1),
                       { a[7], a[8], a[9], a[4], a[5], a[6], a[1], a[2], a[3], 1 })
      for d = 2, 4 do
        if r.ptr.sizes[d] ~= wp.sizes[d] then r = narrow(r, d, 0, tonumber(wp.sizes[d])) end
      end
      parts[#parts + 1] = transpose(r, 0, 1)
    end
    return cat(parts, 0)
  end
  R[OP.CONV3D] = function(n, g)
    local a = n:saved_t():totable()
    local xp, wp = n.ins[1], n.ins[2]
    local gx, gw, gb
    if n.want[1] then
      gx = wrap(lib.nl_conv_transpose3d(g.ptr, n:x(2).ptr, nil, a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8],
                                        a[9], a[10], xp.sizes[2], xp.sizes[3], xp.sizes[4]))
    end
    if n.want[2] then gw = weight_grad3(n:x(1), g, wp, a) end
    if n.want[3] then gb = bias_grad(rsum(g, 4)) end
    return { gx, gw, gb }
  end

  -- conv_transpose3d (x (N, Ci, D, H, W), weight (Ci, Co/groups, kd, kh,
  -- kw), [bias]; args saved as conv3d's): the input gradient of conv3d by
  -- weight, so x's gradient is that conv3d of g, and weight's the weight
  -- gradient of conv3d over g at x
  R[OP.CONV_TRANSPOSE3D] = function(n, g)
    local a = n:saved_t():totable()
    local gx, gw, gb
    if n.want[1] then gx = conv3d(g, n:x(2), a) end
    if n.want[2] then gw = weight_grad3(g, n:x(1), n.ins[2], a) end
    if n.want[3] then gb = bias_grad(rsum(g, 4)) end
    return { gx, gw, gb }
  end

  -- max pools (2-D and 3-D, fixed and adaptive): g to the saved places of
  -- the maxima in each plane (0-based), added (windows may share a maximum)
  local function max_pool(n, g)
    local xp, idx = n.ins[1], n:saved_t()
    local N, C = tonumber(xp.sizes[0]), tonumber(xp.sizes[1])
    local plane = tonumber(xp.numel) / math.max(N * C, 1)
    local out = tonumber(g.ptr.numel) / math.max(N * C, 1)
    local z = wrap(lib.nl_full(3, ffi.new('int64_t[3]', N, C, plane), 0, g.ptr.dtype))
    local gs = wrap(lib.nl_scatter(z.ptr, 2, reshape(idx, N, C, out).ptr, reshape(g, N, C, out).ptr, 1, 0))
    return { wrap(lib.nl_reshape(gs.ptr, xp.ndim, xp.sizes)) }
  end
  R[OP.MAX_POOL2D], R[OP.ADAPTIVE_MAX_POOL2D] = max_pool, max_pool
  R[OP.MAX_POOL3D], R[OP.ADAPTIVE_MAX_POOL3D] = max_pool, max_pool

  -- (out, size) averaging matrix rows: row i weights [lo_i, hi_i) by w_i
  local function avg_matrix(rows, size, dtype)
    local t = {}
    for i, r in ipairs(rows) do
      local row = {}
      for j = 1, size do row[j] = (j - 1 >= r[1] and j - 1 < r[2]) and r[3] or 0 end
      t[i] = row
    end
    return nl.tensor(t, dtype == lib.NL_FLOAT32 and 'float32' or 'float64')
  end
  -- gx from g (N, C, out sizes) by constant matrices mats[k] (out_k, in_k),
  -- one for each of the last #mats dims: the transposed map of a separable
  -- linear op (x's shape: xp's), along each dim g's slices picked by the
  -- nonzero entries' outputs, weighted, and added at their inputs, so that
  -- a NaN or inf of g reaches only the inputs its outputs read, as in the
  -- plain backward
  local function through_axes(g, mats, xp)
    local r, nsp = g, #mats
    for k = 1, nsp do
      local d = xp.ndim - nsp + k - 1                            -- (C's dims)
      local m = mats[k]
      local outs, ins = tonumber(m.ptr.sizes[0]), tonumber(m.ptr.sizes[1])
      local flat = m:contiguous():reshape(outs * ins)
      local o, i, w = {}, {}, {}
      for a = 0, outs - 1 do
        for b = 0, ins - 1 do
          local v = flat[a * ins + b + 1]
          if v ~= 0 then o[#o + 1], i[#i + 1], w[#w + 1] = a, b, v end
        end
      end
      local O, I = nl.tensor(o, 'int64'), nl.tensor(i, 'int64')
      local wshape = {}
      for j = 0, r.ptr.ndim - 1 do wshape[j + 1] = j == d and #w or 1 end
      local W = reshape(nl.tensor(w, r.ptr.dtype == lib.NL_FLOAT32 and 'float32' or 'float64'), unpack(wshape))
      local picked = wrap(lib.nl_index_select(r.ptr, d, O.ptr, 0)) * W
      local zs = {}
      for j = 0, r.ptr.ndim - 1 do zs[j + 1] = j == d and ins or tonumber(r.ptr.sizes[j]) end
      r = wrap(lib.nl_index_add(nl.zeros(zs, r:dtype()).ptr, d, I.ptr, picked.ptr, 1, 0))
    end
    return r
  end
  local DT = function(g) return g.ptr.dtype end

  -- avg_pool2d: a = { kh, kw, sh, sw, ph, pw, count_include_pad, divisor_override }
  -- (avg_window's in ops_conv.c: the window cut at size + pad, then at the
  -- input, the divisor from the one or the other, or the override)
  R[OP.AVG_POOL2D] = function(n, g)
    local xp, a = n.ins[1], n.a
    local include_pad, override = a[6] ~= 0, tonumber(a[7])
    local function rows(out, size, k, s, p)
      local r = {}
      for o = 0, out - 1 do
        local lo = o * s - p
        local hi = math.min(lo + k, size + p)
        local pool = hi - lo
        lo, hi = math.max(lo, 0), math.min(hi, size)
        local div = override > 0 and 1 or include_pad and pool or (hi - lo)
        r[o + 1] = { lo, hi, 1 / div }
      end
      return r
    end
    local ih, iw = tonumber(xp.sizes[2]), tonumber(xp.sizes[3])
    local ah = avg_matrix(rows(tonumber(g.ptr.sizes[2]), ih, tonumber(a[0]), tonumber(a[2]), tonumber(a[4])), ih, DT(g))
    local aw = avg_matrix(rows(tonumber(g.ptr.sizes[3]), iw, tonumber(a[1]), tonumber(a[3]), tonumber(a[5])), iw, DT(g))
    local gx = through_axes(g, { ah, aw }, xp)
    if override > 0 then gx = scal(OP.DIV, gx, override) end
    return { gx }
  end
  -- adaptive average pools: output i of n over size s averages [floor(i s / n), ceil((i + 1) s / n))
  local function adaptive_rows(out, size)
    local r = {}
    for i = 0, out - 1 do
      local lo, hi = math.floor(i * size / out), math.ceil((i + 1) * size / out)
      r[i + 1] = { lo, hi, 1 / (hi - lo) }
    end
    return r
  end
  R[OP.ADAPTIVE_AVG_POOL2D] = function(n, g)
    local xp = n.ins[1]
    local ih, iw = tonumber(xp.sizes[2]), tonumber(xp.sizes[3])
    local ah = avg_matrix(adaptive_rows(tonumber(g.ptr.sizes[2]), ih), ih, DT(g))
    local aw = avg_matrix(adaptive_rows(tonumber(g.ptr.sizes[3]), iw), iw, DT(g))
    return { through_axes(g, { ah, aw }, xp) }
  end

  -- 3-D average pools: args (saved, int64) { k d h w, s d h w, p d h w, 1 1 1,
  -- count_include_pad, divisor_override }; windows as avg_pool2d's
  R[OP.AVG_POOL3D] = function(n, g)
    local xp, a = n.ins[1], n:saved_t():totable()
    local include_pad, override = a[13] ~= 0, a[14]
    local mats = {}
    for k = 1, 3 do
      local size, out = tonumber(xp.sizes[1 + k]), tonumber(g.ptr.sizes[1 + k])
      local r = {}
      for o = 0, out - 1 do
        local lo = o * a[3 + k] - a[6 + k]
        local hi = math.min(lo + a[k], size + a[6 + k])
        local pool = hi - lo
        lo, hi = math.max(lo, 0), math.min(hi, size)
        r[o + 1] = { lo, hi, override > 0 and 1 or 1 / (include_pad and pool or hi - lo) }
      end
      mats[k] = avg_matrix(r, size, DT(g))
    end
    local gx = through_axes(g, mats, xp)
    if override > 0 then gx = scal(OP.DIV, gx, override) end
    return { gx }
  end
  R[OP.ADAPTIVE_AVG_POOL3D] = function(n, g)
    local xp, mats = n.ins[1], {}
    for k = 1, 3 do
      local size = tonumber(xp.sizes[1 + k])
      mats[k] = avg_matrix(adaptive_rows(tonumber(g.ptr.sizes[1 + k]), size), size, DT(g))
    end
    return { through_axes(g, mats, xp) }
  end

  -- interpolate (a[0] mode, a[1] align_corners, a[2..4] the scales' bits
  -- (d, h, w)): separable, so each spatial dim's matrix (out, in) is the op
  -- itself run on the rows of an identity along that dim (size 1, scale 0
  -- along the others: the same taps and weights, the same dtype and rank)
  local bits = ffi.new('union { int64_t i; double d; }')
  R[OP.INTERPOLATE] = function(n, g)
    local xp = n.ins[1]
    local nsp = xp.ndim - 2
    local mats = constant(function()
      local m = {}
      for k = 1, nsp do
        local size, out = tonumber(xp.sizes[1 + k]), tonumber(g.ptr.sizes[1 + k])
        local outs, scales, shape = { 1, 1, 1 }, { 0, 0, 0 }, { size, 1 }
        local at = 3 - nsp + k
        outs[at] = out
        bits.i = n.a[1 + at]
        scales[at] = bits.d
        for j = 1, nsp do shape[2 + j] = j == k and size or 1 end
        local e = reshape(wrap(lib.nl_eye(size, size, xp.dtype)), unpack(shape))
        local y = wrap(lib.nl_interpolate(e.ptr, n.a[0], outs[1], outs[2], outs[3], scales[1], scales[2], scales[3],
                                          n.a[1]))
        m[k] = transpose(reshape(y, size, out), 0, 1)
      end
      return m
    end)
    if xp.dtype ~= g.ptr.dtype then
      for k = 1, nsp do mats[k] = wrap(lib.nl_to_dtype(mats[k].ptr, g.ptr.dtype)) end
    end
    return { through_axes(g, mats, xp) }
  end

  -- grid_sample (a[0] mode, a[1] padding_mode, a[2] align_corners, as
  -- nl_grid_sample's): the forward recomputed with ops that have rules
  -- (gathers of the input at each tap, times weights made of the grid's
  -- unnormalized, clipped or reflected positions; the taps' places and
  -- the reflections' flips constants), then the walk at g to aliases of
  -- the input and the grid, as ctc_loss's
  local GS_BILINEAR, GS_NEAREST = lib.NL_GRID_BILINEAR, lib.NL_GRID_NEAREST
  local GS_BORDER, GS_REFLECTION = lib.NL_GRID_BORDER, lib.NL_GRID_REFLECTION
  R[OP.GRID_SAMPLE] = function(n, g)
    local x, grid = scal(OP.MUL, n:x(1), 1), scal(OP.MUL, n:x(2), 1)
    local mode, pad, ac = tonumber(n.a[0]), tonumber(n.a[1]), n.a[2] ~= 0
    local xs, gs = x:shape(), grid:shape()
    local N, C, nsp = xs[1], xs[2], #xs - 2
    local isz, P = 1, 1
    for i = 3, #xs do isz = isz * xs[i] end
    for i = 2, #gs - 1 do P = P * gs[i] end
    local xf, gf = x:reshape(N, C, isz), grid:reshape(N, P, nsp)
    local size, step = {}, {}                       -- along x, y, z
    local st = 1
    for a = 1, nsp do
      size[a], step[a] = xs[#xs + 1 - a], st
      st = st * size[a]
    end
    -- a position's padding, differentiable where c is
    local function padded(c, sz)
      if pad == GS_REFLECTION then
        local lo, hi = ac and 0 or -1, ac and 2 * (sz - 1) or 2 * sz - 1
        if lo == hi then c = c * 0
        else
          local min, span = lo / 2, (hi - lo) / 2
          local d = (c - min):abs()
          local flips = constant(function() return (d / span):floor() end)
          local extra = d - flips * span
          local even = constant(function() return cmp(OP.EQ, flips - (flips / 2):floor() * 2, 0) end)
          c = nl.where(even, extra + min, (extra - span) * -1 + min)
        end
      end
      if pad == GS_BORDER or pad == GS_REFLECTION then c = c:clamp(0, sz - 1) end
      return c
    end
    local src, inb = {}, {}
    for a = 1, nsp do
      local c = gf:select(3, a)                     -- (N, P)
      if ac then c = (c + 1) * ((size[a] - 1) / 2) else c = ((c + 1) * size[a] - 1) / 2 end
      src[a] = mode == lib.NL_GRID_BICUBIC and c or padded(c, size[a])
    end
    local dt = x:dtype()
    -- taps: { places (N, P) of a, weight (N, P), on the input (N, P) }, off the input weight 0
    local taps = {}
    local function tap(pos, w)                      -- pos[a]: constant positions
      local ok, off = nil, nil
      constant(function()
        for a = 1, nsp do
          local m = cmp(OP.GE, pos[a], 0) * cmp(OP.LT, pos[a], size[a])
          ok = ok and ok * m or m
          local o = pos[a] * ok * step[a]
          off = off and off + o or o
        end
        off = (off * ok):long()
      end)
      taps[#taps + 1] = { off, w * ok:to(dt), ok }
    end
    if mode == GS_NEAREST then
      local pos = constant(function()
        local r = {}
        for a = 1, nsp do
          local s, t = src[a], src[a]:trunc()
          -- halves to even in 2-D, away from 0 in 3-D, as the C kernel (PyTorch's CPU kernels)
          r[a] = nsp == 2 and s:round() or t + cmp(OP.GE, (s - t):abs(), 0.5) * s:sign()
        end
        return r
      end)
      local one = constant(function() return nl.ones({ N, P }, dt) end)
      tap(pos, one)
    elseif mode == GS_BILINEAR then
      local f, w = {}, {}
      for a = 1, nsp do
        f[a] = constant(function() return src[a]:floor() end)
        local w1 = src[a] - f[a]
        w[a] = { (w1 - 1) * -1, w1 }
      end
      for j = 0, 2 ^ nsp - 1 do
        local pos, wt = {}, nil
        for a = 1, nsp do
          local b = math.floor(j / 2 ^ (a - 1)) % 2
          pos[a] = constant(function() return f[a] + b end)
          wt = wt and wt * w[a][b + 1] or w[a][b + 1]
        end
        tap(pos, wt)
      end
    else                                            -- bicubic, 2-D
      local A = -0.75
      local f, cf, pos = {}, {}, {}
      for a = 1, 2 do
        f[a] = constant(function() return src[a]:floor() end)
        local t = src[a] - f[a]
        local x1, x2 = t + 1, (t - 1) * -1
        local x3 = x2 + 1
        local function c1(v) return ((v * (A + 2) - (A + 3)) * v) * v + 1 end
        local function c2(v) return ((v * A - 5 * A) * v + 8 * A) * v - 4 * A end
        cf[a] = { c2(x1), c1(t), c1(x2), c2(x3) }
        pos[a] = {}
        for i = 1, 4 do
          pos[a][i] = constant(function()
            local p = padded(f[a] + (i - 2), size[a])
            return p:long():to(dt)                -- (the cast to int64 truncates)
          end)
        end
      end
      for i = 1, 4 do
        for j = 1, 4 do tap({ pos[1][j], pos[2][i] }, cf[1][j] * cf[2][i]) end
      end
    end
    local y
    for _, tp in ipairs(taps) do
      local idx = tp[1]:view(N, 1, P):expand(N, C, P):contiguous()
      -- (a tap off the input reads 0, not the pixel at offset 0, which may be inf or NaN, as the C kernel)
      local v = nl.where(tp[3]:view(N, 1, P), wrap(lib.nl_gather(xf.ptr, 2, idx.ptr, 0)), 0) * tp[2]:view(N, 1, P)
      y = y and y + v or v
    end
    local oshape = { N, C }
    for i = 2, #gs - 1 do oshape[i + 1] = gs[i] end
    local got = H.run(n.who, { y:reshape(oshape) }, { g }, { x, grid })
    -- (nearest's weights are constants: the grid's gradient is zero, as C's)
    return { got[1], got[2] or (n.want[2] and zeros_of(n.ins[2], g.ptr.dtype)) or nil }
  end
end
