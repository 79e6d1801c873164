-- sliding.lua: ops over sliding windows composed of existing ones:
-- F.unfold / nn.Unfold (im2col: two index_selects and one permuting copy),
-- F.fold / nn.Fold (col2im: the same steps' adjoints, two index_adds, so
-- overlapping blocks sum), and the power-average pools F.lp_pool1d/2d,
-- nn.LPPool1d/2d (avg_pool of x^p, scaled, then the p-th root). Autograd
-- has the backward of every piece; no C of their own.
return function(nl, nn)
  local Module = nn.Module
  local F = nn.functional
  local pair, options = nn._pair, nn._options
  local raise = nl._raise

  local KNOWN = { dilation = 1, padding = 1, stride = 1 }
  local MAX_ELEMENTS = 2 ^ 40     -- a tensor past this is a mistake, not a request for memory

  -- refuses sizes whose product passes MAX_ELEMENTS, naming op (the pad or
  -- zeros behind it named themselves)
  local function not_too_large(op, x, what, ...)
    local n = 1
    for i = 1, select('#', ...) do n = n * select(i, ...) end
    if n > MAX_ELEMENTS then
      raise(('%s: the %s of input %s would hold %.0f elements, too many'):format(op, what, nl._shape_str(x), n))
    end
  end

  -- kernel_size and opts {dilation, padding, stride} -> a table of pairs
  local function geometry(op, kernel_size, opts)
    opts = options(opts, op)
    nl._check_opts(op, opts, KNOWN)
    local g = {}
    g.kh, g.kw = pair(kernel_size, 'kernel_size', op, 1)
    g.dh, g.dw = pair(opts.dilation or 1, 'dilation', op, 1)
    g.ph, g.pw = pair(opts.padding or 0, 'padding', op, 0)
    g.sh, g.sw = pair(opts.stride or 1, 'stride', op, 1)
    return g
  end

  -- blocks along a dim of n padded by p: PyTorch's (n + 2p - d(k-1) - 1) / s + 1
  local function blocks(n, k, d, p, s)
    local span = n + 2 * p - d * (k - 1) - 1
    if span < 0 then return 0 end
    return math.floor(span / s) + 1
  end

  local function geometry_str(g)
    return ('kernel_size (%d, %d), dilation (%d, %d), padding (%d, %d), stride (%d, %d)'):format(g.kh, g.kw, g.dh,
      g.dw, g.ph, g.pw, g.sh, g.sw)
  end

  -- the 1-based rows (or columns) of the padded input that the k kernel
  -- offsets of o blocks read, offset-major: j*d + i*s + 1; int64, kept
  local index_cache, cached = {}, 0
  local function block_index(k, o, d, s)
    local key = k .. ':' .. o .. ':' .. d .. ':' .. s
    local idx = index_cache[key]
    if idx then return idx end
    idx = ((nl.arange(0, k, 1, 'int64') * d):view(k, 1) + (nl.arange(0, o, 1, 'int64') * s):view(1, o)):reshape(k * o)
      + 1
    if cached >= 256 then index_cache, cached = {}, 0 end
    index_cache[key] = idx
    cached = cached + 1
    return idx
  end

  -- x (N, C, H, W) or (C, H, W) -> (N, C*kh*kw, L) or (C*kh*kw, L), L the
  -- blocks; row c*kh*kw + i*kw + j holds kernel offset (i, j) of channel c
  local function unfold(op, x, kernel_size, opts)
    local g = geometry(op, kernel_size, opts)
    local p = nl._T(x, op)
    local nd = p.ndim
    local s = x:shape()
    if (nd ~= 3 and nd ~= 4) or s[nd - 2] == 0 or s[nd - 1] == 0 or s[nd] == 0 then
      raise(('%s: input must be (N, C, H, W) or (C, H, W) with C, H and W nonzero, got shape %s'):format(op,
        nl._shape_str(x)))
    end
    local x4 = nd == 3 and x:unsqueeze(1) or x
    local n, c, h, w = x4:size(1), x4:size(2), x4:size(3), x4:size(4)
    local oh, ow = blocks(h, g.kh, g.dh, g.ph, g.sh), blocks(w, g.kw, g.dw, g.pw, g.sw)
    if oh < 1 or ow < 1 then
      raise(('%s: input %s with %s has %d x %d sliding blocks; each count must be at least 1'):format(op,
        nl._shape_str(x), geometry_str(g), oh, ow))
    end
    not_too_large(op, x, 'padded input', n, c, h + 2 * g.ph, w + 2 * g.pw)
    not_too_large(op, x, 'output', n, c, g.kh, g.kw, oh, ow)
    if g.ph + g.pw > 0 then x4 = F.pad(x4, { g.pw, g.pw, g.ph, g.ph }) end
    local y = x4:index_select(3, block_index(g.kh, oh, g.dh, g.sh)):index_select(4, block_index(g.kw, ow, g.dw, g.sw))
    y = y:view(n, c, g.kh, oh, g.kw, ow):permute(1, 2, 3, 5, 4, 6):reshape(n, c * g.kh * g.kw, oh * ow)
    return nd == 3 and y:squeeze(1) or y
  end

  -- x (N, C*kh*kw, L) or (C*kh*kw, L) -> (N, C, H, W) or (C, H, W), H, W =
  -- output_size: each block's values added back where unfold read them
  local function fold(op, x, output_size, kernel_size, opts)
    local h, w = pair(output_size, 'output_size', op, 1)
    local g = geometry(op, kernel_size, opts)
    local p = nl._T(x, op)
    local nd = p.ndim
    local s = x:shape()
    if (nd ~= 2 and nd ~= 3) or s[nd - 1] == 0 or s[nd] == 0 then
      raise(('%s: input must be (N, C*kh*kw, L) or (C*kh*kw, L) with C*kh*kw and L nonzero, got shape %s'):format(op,
        nl._shape_str(x)))
    end
    local x3 = nd == 2 and x:unsqueeze(1) or x
    local n, ck, l = x3:size(1), x3:size(2), x3:size(3)
    local k = g.kh * g.kw
    if ck % k ~= 0 then
      raise(('%s: dim %d of input %s (%d) is not divisible by the kernel size %d x %d'):format(op, nd - 1,
        nl._shape_str(x), ck, g.kh, g.kw))
    end
    local oh, ow = blocks(h, g.kh, g.dh, g.ph, g.sh), blocks(w, g.kw, g.dw, g.pw, g.sw)
    if oh * ow ~= l or oh < 1 or ow < 1 then
      raise(('%s: output_size (%d, %d) with %s has %d x %d sliding blocks, but input %s has %d'):format(op, h, w,
        geometry_str(g), oh, ow, nl._shape_str(x), l))
    end
    local c = ck / k
    local hp, wp = h + 2 * g.ph, w + 2 * g.pw
    not_too_large(op, x, 'padded output', n, c, hp, wp)
    not_too_large(op, x, 'block rows', n, c, g.kh * oh, wp)
    local y = x3:reshape(n, c, g.kh, g.kw, oh, ow):permute(1, 2, 3, 5, 4, 6):reshape(n, c, g.kh * oh, g.kw * ow)
    y = nl.zeros({ n, c, g.kh * oh, wp }, x:dtype()):index_add(4, block_index(g.kw, ow, g.dw, g.sw), y)
    y = nl.zeros({ n, c, hp, wp }, x:dtype()):index_add(3, block_index(g.kh, oh, g.dh, g.sh), y)
    if g.ph + g.pw > 0 then y = y:narrow(3, g.ph + 1, h):narrow(4, g.pw + 1, w) end
    return nd == 2 and y:squeeze(1) or y
  end

  -- F.unfold(x, kernel_size, {dilation = 1, padding = 0, stride = 1})
  function F.unfold(x, kernel_size, opts, ...)
    nl._no_extra_args('unfold', '(input, kernel_size, {options})', 'options go in one table, as {dilation = ..., padding = ..., stride = ...}', ...)
    return unfold('unfold', x, kernel_size, opts)
  end
  -- F.fold(x, output_size, kernel_size, {dilation = 1, padding = 0, stride = 1})
  function F.fold(x, output_size, kernel_size, opts, ...)
    nl._no_extra_args('fold', '(input, output_size, kernel_size, {options})', 'options go in one table, as {dilation = ..., padding = ..., stride = ...}', ...)
    return fold('fold', x, output_size, kernel_size, opts)
  end

  local function spec(v) return type(v) == 'table' and ('(%d, %d)'):format(v[1], v[2]) or tostring(v) end

  local Unfold = Module:extend('Unfold')
  nn.Unfold = Unfold

  -- Unfold(kernel_size, {dilation, padding, stride}); each n or {h, w}
  function Unfold:init(kernel_size, opts)
    geometry('Unfold', kernel_size, opts)     -- checked now, not at the first call
    opts = opts or {}
    self.kernel_size, self.dilation, self.padding, self.stride = kernel_size, opts.dilation or 1, opts.padding or 0,
      opts.stride or 1
  end

  function Unfold:forward(x)
    return unfold('Unfold', x, self.kernel_size, { dilation = self.dilation, padding = self.padding, stride = self.stride })
  end

  function Unfold:extra_repr()
    return ('kernel_size=%s, dilation=%s, padding=%s, stride=%s'):format(spec(self.kernel_size), spec(self.dilation),
      spec(self.padding), spec(self.stride))
  end

  local Fold = Module:extend('Fold')
  nn.Fold = Fold

  -- Fold(output_size, kernel_size, {dilation, padding, stride})
  function Fold:init(output_size, kernel_size, opts)
    pair(output_size, 'output_size', 'Fold', 1)
    geometry('Fold', kernel_size, opts)
    opts = opts or {}
    self.output_size, self.kernel_size = output_size, kernel_size
    self.dilation, self.padding, self.stride = opts.dilation or 1, opts.padding or 0, opts.stride or 1
  end

  function Fold:forward(x)
    return fold('Fold', x, self.output_size, self.kernel_size,
                { dilation = self.dilation, padding = self.padding, stride = self.stride })
  end

  function Fold:extra_repr()
    return ('output_size=%s, kernel_size=%s, dilation=%s, padding=%s, stride=%s'):format(spec(self.output_size),
      spec(self.kernel_size), spec(self.dilation), spec(self.padding), spec(self.stride))
  end

  -- ---- LP pools -----------------------------------------------------------------------------

  local KNOWN_LP = { stride = 1, ceil_mode = 'flag' }

  -- opts: a table {stride, ceil_mode}, or PyTorch's positional stride (a
  -- number, a list {sh, sw} or nil) and ceil_mode (a boolean); nothing
  -- after those
  local function lp_options(op, takes, opts, ceil_mode, ...)
    nl._no_extra_args(op, takes, nil, ...)
    local list = type(opts) == 'table' and not nl.is_tensor(opts) and nl._list_len(opts)
    if type(opts) == 'number' or (list and list > 0) or (opts == nil and ceil_mode ~= nil) then
      if ceil_mode ~= nil and type(ceil_mode) ~= 'boolean' then
        raise(('%s: ceil_mode must be a boolean (true or false), got %s'):format(op, nl._describe_arg(ceil_mode)))
      end
      return { stride = opts, ceil_mode = ceil_mode }
    end
    if ceil_mode ~= nil then
      raise(('%s: give ceil_mode in the options table, or after a stride given as a number or a list'):format(op))
    end
    opts = options(opts, op)
    nl._check_opts(op, opts, KNOWN_LP)
    return opts
  end

  local function norm_arg(op, p)
    if type(p) ~= 'number' or not (p > 0 and p < math.huge) then
      raise(('%s: norm_type must be a finite number > 0, got %s'):format(op, nl._describe_arg(p)))
    end
    return p
  end

  -- f() with avg_poolNd's messages given as op's (the pool is op's step)
  local function as_op(op, pool, f)
    local ok, y = pcall(f)
    if ok then return y end
    raise((tostring(y):gsub('^[^:\n]*:%d+: ', ''):gsub('^' .. pool, op)))
  end

  -- PyTorch's lp_pool: (sum over each window of x^p)^(1/p), as the mean
  -- times the window's size (a ceil_mode window cut by the border is
  -- scaled as a whole one, as there); where that sum is 0 the result and
  -- its gradient are 0 (PyTorch's relu and sign keep the root's infinite
  -- slope out)
  local function lp_pool(op, dims, x, p, kernel_size, opts)
    norm_arg(op, p)
    nl._float_only(x, op)
    local y, k
    if dims == 1 then
      k = nn._single(kernel_size, 'kernel_size', op, 1)
      y = as_op(op, 'avg_pool1d', function()
        return F.avg_pool1d(x:pow(p), k, { stride = opts.stride or k, ceil_mode = opts.ceil_mode })
      end)
    else
      local kh, kw = pair(kernel_size, 'kernel_size', op, 1)
      local d = x:dim()
      if d ~= 3 and d ~= 4 then
        raise(('%s: input must be (N, C, H, W) or (C, H, W), got shape %s'):format(op, nl._shape_str(x)))
      end
      local x4 = d == 3 and x:unsqueeze(1) or x
      k = kh * kw
      y = as_op(op, 'avg_pool2d', function()
        return F.avg_pool2d(x4:pow(p), { kh, kw }, { stride = opts.stride or { kh, kw }, ceil_mode = opts.ceil_mode })
      end)
      if d == 3 then y = y:squeeze(1) end
    end
    return nl._root_or_zero(y * k, p)
  end

  local F_TAKES = '(input, norm_type, kernel_size, [stride], [ceil_mode])'
  -- F.lp_pool1d(x, norm_type, kernel_size, [stride], [ceil_mode]) or
  -- (..., {stride, ceil_mode}): x (N, C, L) or (C, L)
  function F.lp_pool1d(x, norm_type, kernel_size, ...)
    return lp_pool('lp_pool1d', 1, x, norm_type, kernel_size, lp_options('lp_pool1d', F_TAKES, ...))
  end
  -- F.lp_pool2d(x, norm_type, kernel_size, [stride], [ceil_mode]) or
  -- (..., {stride, ceil_mode}): x (N, C, H, W) or (C, H, W)
  function F.lp_pool2d(x, norm_type, kernel_size, ...)
    return lp_pool('lp_pool2d', 2, x, norm_type, kernel_size, lp_options('lp_pool2d', F_TAKES, ...))
  end

  local function lp_class(name, dims)
    local cls = Module:extend(name)
    nn[name] = cls
    -- Name(norm_type, kernel_size, [stride], [ceil_mode]) or
    -- Name(norm_type, kernel_size, {stride, ceil_mode})
    function cls:init(norm_type, kernel_size, ...)
      self.norm_type = norm_arg(name, norm_type)
      local opts = lp_options(name, '(norm_type, kernel_size, [stride], [ceil_mode])', ...)
      if dims == 1 then
        nn._single(kernel_size, 'kernel_size', name, 1)
        if opts.stride ~= nil then nn._single(opts.stride, 'stride', name, 1) end
      else
        pair(kernel_size, 'kernel_size', name, 1)
        if opts.stride ~= nil then pair(opts.stride, 'stride', name, 1) end
      end
      self.kernel_size, self.stride, self.ceil_mode = kernel_size, opts.stride, opts.ceil_mode == true
    end
    function cls:forward(x)
      return lp_pool(name, dims, x, self.norm_type, self.kernel_size, { stride = self.stride, ceil_mode = self.ceil_mode })
    end
    function cls:extra_repr()
      return ('norm_type=%s, kernel_size=%s, stride=%s, ceil_mode=%s'):format(tostring(self.norm_type),
        spec(self.kernel_size), self.stride == nil and 'None' or spec(self.stride), tostring(self.ceil_mode))
    end
  end
  lp_class('LPPool1d', 1)
  lp_class('LPPool2d', 2)
end
