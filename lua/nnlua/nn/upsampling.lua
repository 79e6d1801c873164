-- upsampling.lua: nn.functional.interpolate (nearest, nearest-exact,
-- linear, bilinear, bicubic, trilinear: the C kernel nl_interpolate in
-- ops_interp.c; area: adaptive average pooling) and the modules on it,
-- nn.Upsample, nn.UpsamplingNearest2d and nn.UpsamplingBilinear2d; and the
-- channel rearrangements F.pixel_shuffle / pixel_unshuffle,
-- F.channel_shuffle with nn.PixelShuffle, nn.PixelUnshuffle and
-- nn.ChannelShuffle, which are views and one permuting copy (reshape,
-- permute), whose backward autograd already has.
return function(nl, nn)
  local lib = nl._lib
  local Module = nn.Module
  local F = nn.functional
  local describe, options, whole = nn._describe, nn._options, nn._whole
  local raise = nl._raise

  local MAX_ELEMENTS = 2 ^ 40     -- an output past this is a mistake, not a request for memory

  -- mode -> the C mode (area: none) and the input rank it needs (nil: 3 to 5)
  local MODES = {
    nearest = { c = lib.NL_INTERP_NEAREST }, ['nearest-exact'] = { c = lib.NL_INTERP_NEAREST_EXACT },
    area = {},
    linear = { c = lib.NL_INTERP_LINEAR, rank = 3, shape = '(N, C, L)', interpolating = true },
    bilinear = { c = lib.NL_INTERP_LINEAR, rank = 4, shape = '(N, C, H, W)', interpolating = true,
                 aa = lib.NL_INTERP_LINEAR_AA },
    bicubic = { c = lib.NL_INTERP_CUBIC, rank = 4, shape = '(N, C, H, W)', interpolating = true,
                aa = lib.NL_INTERP_CUBIC_AA },
    trilinear = { c = lib.NL_INTERP_LINEAR, rank = 5, shape = '(N, C, D, H, W)', interpolating = true },
  }
  local MODE_LIST = "'nearest', 'linear', 'bilinear', 'bicubic', 'trilinear', 'area' or 'nearest-exact'"

  -- a size's or scale factor's entries: ok(v) for each of n, or of the list
  -- (area mode, the adaptive average pools, takes a size of 0, as PyTorch)
  local function size_ok(v) return whole(v, 1) end
  local function area_size_ok(v) return whole(v, 0) end
  local function scale_ok(v) return type(v) == 'number' and v > 0 and v < math.huge end

  -- checks a size or scale_factor as given (a number or a list of 1 to 3),
  -- before the input's rank is known
  local function check_spec(op, v, what, mode)
    local ok, one, holds = size_ok, 'an integer >= 1', 'integers >= 1'
    if mode == 'area' then ok, one, holds = area_size_ok, 'an integer >= 0', 'integers >= 0' end
    if what == 'scale_factor' then ok, one, holds = scale_ok, 'a finite number > 0', 'finite numbers > 0' end
    if type(v) == 'number' then
      if not ok(v) then raise(('%s: %s must be %s or a list of them, got %s'):format(op, what, one, nl._describe_arg(v))) end
      return
    end
    local n = type(v) == 'table' and not nl.is_tensor(v) and nl._list_len(v)
    if not n or n < 1 or n > 3 then
      raise(('%s: %s must be a number or a list of 1 to 3 of them, got %s'):format(op, what, describe(v)))
    end
    for i = 1, n do
      if not ok(v[i]) then
        raise(('%s: %s must hold %s, got %s at position %d'):format(op, what, holds, nl._describe_arg(v[i]), i))
      end
    end
  end

  -- v (checked) for nsp spatial dims: a list of nsp numbers
  local function per_dim(op, v, what, x, nsp)
    local t = {}
    if type(v) == 'number' then
      for i = 1, nsp do t[i] = v end
      return t
    end
    if #v ~= nsp then
      raise(('%s: %s has %d entries for the %d spatial dims of input %s'):format(op, what, #v, nsp,
        nl._shape_str(x)))
    end
    for i = 1, nsp do t[i] = v[i] end
    return t
  end

  -- checks the options that need no input; o: the option table
  local function check_options(op, o)
    local mode = o.mode
    if mode == nil then mode = 'nearest' end
    local m = type(mode) == 'string' and MODES[mode]
    if not m then raise(('%s: mode must be %s, got %s'):format(op, MODE_LIST, describe(mode))) end
    if o.align_corners ~= nil and type(o.align_corners) ~= 'boolean' then
      raise(('%s: align_corners must be a boolean (true or false), got %s'):format(op, nl._describe_arg(o.align_corners)))
    end
    if not m.interpolating and o.align_corners ~= nil then
      -- as PyTorch's ValueError: nearest samples have no corners to align
      raise(("%s: align_corners applies only to the modes 'linear', 'bilinear', 'bicubic' and 'trilinear' "
        .. "(mode '%s')"):format(op, mode))
    end
    for _, k in ipairs({ 'recompute_scale_factor', 'antialias' }) do
      if o[k] ~= nil and type(o[k]) ~= 'boolean' then
        raise(('%s: %s must be a boolean (true or false), got %s'):format(op, k, nl._describe_arg(o[k])))
      end
    end
    if o.antialias and not m.aa then
      -- PyTorch's ValueError
      raise(("%s: Anti-alias option is only supported for bilinear and bicubic modes (mode '%s')"):format(op, mode))
    end
    if (o.size == nil) == (o.scale_factor == nil) then raise(op .. ': give exactly one of size and scale_factor') end
    if o.size ~= nil then check_spec(op, o.size, 'size', mode) else check_spec(op, o.scale_factor, 'scale_factor') end
    if o.recompute_scale_factor and o.size ~= nil then
      raise(op .. ': recompute_scale_factor is meaningful only with a scale_factor, not with a size')
    end
    return mode, m
  end

  -- F.interpolate's rule; op names the caller in messages; o checked by
  -- check_options
  local function interpolate(op, x, o, mode, m)
    local p = nl._T(x, op)
    local nd = p.ndim
    -- int64 only for the modes that copy (nn.Upsample took it before it had
    -- other modes; PyTorch 1.13 refuses it)
    if p.dtype == 2 and (m.interpolating or mode == 'area') then
      raise(("%s: mode '%s' takes a float input, got int64 %s"):format(op, mode, nl._shape_str(x)))
    end
    if nd < 3 or nd > 5 then
      raise(('%s: input must be (N, C, L), (N, C, H, W) or (N, C, D, H, W), got shape %s'):format(op,
        nl._shape_str(x)))
    end
    if m.rank and nd ~= m.rank then
      raise(("%s: mode '%s' needs a %d-D input %s, got shape %s"):format(op, mode, m.rank, m.shape, nl._shape_str(x)))
    end
    local nsp = nd - 2
    local shape = x:shape()
    local sizes, scales = {}, { 0, 0, 0 }
    if o.size ~= nil then
      sizes = per_dim(op, o.size, 'size', x, nsp)
    else
      local s = per_dim(op, o.scale_factor, 'scale_factor', x, nsp)
      -- PyTorch's output size: the product cut toward 0; the scale
      -- factor also places the samples unless recomputed from that size
      -- (area mode always recomputes)
      local keep = not o.recompute_scale_factor and mode ~= 'area'
      for i = 1, nsp do
        sizes[i] = math.floor(shape[2 + i] * s[i])
        if keep then scales[3 - nsp + i] = s[i] end
      end
    end
    local numel = shape[1] * shape[2]
    for i = 1, nsp do
      if sizes[i] < (mode == 'area' and 0 or 1) or shape[2 + i] < 1 then
        raise(('%s: input and output sizes must be positive, got input %s and output size [%s]'):format(op,
          nl._shape_str(x), table.concat(sizes, ',')))
      end
      numel = numel * sizes[i]
    end
    if numel > MAX_ELEMENTS then
      raise(('%s: output size [%s] of input %s is too large'):format(op, table.concat(sizes, ','), nl._shape_str(x)))
    end
    if mode == 'area' then
      if nsp == 1 then return F.adaptive_avg_pool1d(x, sizes[1]) end
      if nsp == 2 then return F.adaptive_avg_pool2d(x, sizes) end
      return F.adaptive_avg_pool3d(x, sizes)
    end
    local od, oh, ow = 1, 1, sizes[nsp]
    if nsp >= 2 then oh = sizes[nsp - 1] end
    if nsp == 3 then od = sizes[1] end
    return nl._wrap(lib.nl_interpolate(p, o.antialias and m.aa or m.c, od, oh, ow, scales[1], scales[2], scales[3],
                                       o.align_corners and 1 or 0), op)
  end

  local KNOWN = { size = 1, scale_factor = 1, mode = 1, align_corners = 1, recompute_scale_factor = 1, antialias = 1 }
  local POSITIONAL = { 'size', 'scale_factor', 'mode', 'align_corners', 'recompute_scale_factor', 'antialias' }

  -- a table with a string key (or none at all) holds options; a list is a size
  local function is_options(v)
    if type(v) ~= 'table' or nl.is_tensor(v) then return false end
    for k in pairs(v) do if type(k) == 'string' then return true end end
    return next(v) == nil
  end
  nn._is_options = is_options   -- (functional_extra.lua's upsample forms)

  -- x (N, C, L), (N, C, H, W) or (N, C, D, H, W) resampled to size or by
  -- scale_factor: F.interpolate(x, {size, scale_factor, mode = 'nearest',
  -- align_corners, recompute_scale_factor}) or PyTorch's positional order
  -- F.interpolate(x, size, scale_factor, mode, align_corners, recompute_scale_factor)
  function F.interpolate(x, a, ...)
    local op = 'interpolate'
    local o
    if is_options(a) then
      if select('#', ...) > 0 then raise(op .. ': options come in one table, with nothing after it') end
      nl._check_opts(op, a, KNOWN)
      o = a
    else
      o = { size = a }
      local n = select('#', ...)
      if n > #POSITIONAL - 1 then
        nl._no_extra_args(op, '(input, size, scale_factor, mode, align_corners, recompute_scale_factor, antialias)',
          nil, select(#POSITIONAL, ...))
      end
      for i = 1, n do o[POSITIONAL[i + 1]] = (select(i, ...)) end
    end
    local mode, m = check_options(op, o)
    return interpolate(op, x, o, mode, m)
  end

  -- ---- Upsample and its fixed-mode forms --------------------------------------

  -- a Python float as PyTorch prints it: 2.0, 1.5
  local function pyfloat(v)
    if v == math.floor(v) and math.abs(v) < 1e16 then return ('%.1f'):format(v) end
    return tostring(v)
  end
  local function spec_repr(v, fmt)
    if type(v) == 'number' then return fmt(v) end
    local parts = {}
    for i = 1, #v do parts[i] = fmt(v[i]) end
    return '(' .. table.concat(parts, ', ') .. (#v == 1 and ',)' or ')')
  end

  local Upsample = Module:extend('Upsample')
  local UPSAMPLE_KNOWN = { size = 1, scale_factor = 1, mode = 1, align_corners = 1, recompute_scale_factor = 1 }
  nn.Upsample = Upsample

  -- Upsample({size = n or {...}, scale_factor = s or {...}, mode = 'nearest',
  -- align_corners, recompute_scale_factor}), or Upsample(s): the scale
  -- factor (PyTorch's first positional argument is the size)
  function Upsample:init(opts, ...)
    local op = self.__name
    if select('#', ...) > 0 then
      raise(('%s: takes one table of options (or a scale factor), got %d arguments'):format(op, 1 + select('#', ...)))
    end
    if type(opts) == 'number' then opts = { scale_factor = opts } end
    opts = options(opts, op)
    -- no antialias: PyTorch's Upsample has none
    local known, fixed = UPSAMPLE_KNOWN, self._fixed
    if fixed then known = { size = 1, scale_factor = 1 } end
    nl._check_opts(op, opts, known)
    local o = {}
    for k, v in pairs(opts) do o[k] = v end
    if fixed then for k, v in pairs(fixed) do o[k] = v end end
    check_options(op, o)
    self.size, self.scale_factor = o.size, o.scale_factor
    self.mode = o.mode or 'nearest'
    self.align_corners = o.align_corners
    self.recompute_scale_factor = o.recompute_scale_factor
  end

  function Upsample:forward(x)
    local o = { size = self.size, scale_factor = self.scale_factor, mode = self.mode,
                align_corners = self.align_corners, recompute_scale_factor = self.recompute_scale_factor }
    local mode, m = check_options(self.__name, o)
    return interpolate(self.__name, x, o, mode, m)
  end

  function Upsample:extra_repr()
    local s = self.scale_factor ~= nil and 'scale_factor=' .. spec_repr(self.scale_factor, pyfloat)
              or 'size=' .. spec_repr(self.size, tostring)
    return s .. ', mode=' .. self.mode
  end

  -- UpsamplingNearest2d({size or scale_factor}) or (s): Upsample with mode
  -- 'nearest'; UpsamplingBilinear2d: mode 'bilinear' with align_corners
  -- (PyTorch's deprecated forms, still in 1.13)
  local UpsamplingNearest2d = Upsample:extend('UpsamplingNearest2d')
  nn.UpsamplingNearest2d = UpsamplingNearest2d
  UpsamplingNearest2d._fixed = { mode = 'nearest' }

  local UpsamplingBilinear2d = Upsample:extend('UpsamplingBilinear2d')
  nn.UpsamplingBilinear2d = UpsamplingBilinear2d
  UpsamplingBilinear2d._fixed = { mode = 'bilinear', align_corners = true }

  -- ---- pixel shuffle and channel shuffle ----------------------------------------

  local function factor_arg(op, what, r)
    if not whole(r, 1) then raise(('%s: %s must be an integer >= 1, got %s'):format(op, what, nl._describe_arg(r))) end
    return r
  end

  -- the product of dims 1..k of shape (1 for none)
  local function lead(shape, k)
    local b = 1
    for i = 1, k do b = b * shape[i] end
    return b
  end

  -- (*, C*r^2, H, W) -> (*, C, H*r, W*r): channel c*r^2 + i*r + j lands at
  -- row offset i, column offset j of each pixel's r x r block
  local function pixel_shuffle(op, x, r)
    nl._T(x, op)
    r = factor_arg(op, 'upscale_factor', r)
    local s = x:shape()
    local nd = #s
    if nd < 3 then raise(('%s: input must be (*, C*r^2, H, W), got shape %s'):format(op, nl._shape_str(x))) end
    local c, h, w = s[nd - 2], s[nd - 1], s[nd]
    if c % (r * r) ~= 0 then
      -- (%d of a square past 2^63 printed -9223372036854775808)
      raise(('%s: the %d channels of input %s are not divisible by upscale_factor^2 = %s'):format(op, c,
        nl._shape_str(x), nl._describe_arg(r * r)))
    end
    local out = {}
    for i = 1, nd - 3 do out[i] = s[i] end
    out[nd - 2], out[nd - 1], out[nd] = c / (r * r), h * r, w * r
    return x:reshape(lead(s, nd - 3), c / (r * r), r, r, h, w):permute(1, 2, 5, 3, 6, 4):reshape(out)
  end

  -- (*, C, H*r, W*r) -> (*, C*r^2, H, W), pixel_shuffle's inverse
  local function pixel_unshuffle(op, x, r)
    nl._T(x, op)
    r = factor_arg(op, 'downscale_factor', r)
    local s = x:shape()
    local nd = #s
    if nd < 3 then raise(('%s: input must be (*, C, H*r, W*r), got shape %s'):format(op, nl._shape_str(x))) end
    local c, h, w = s[nd - 2], s[nd - 1], s[nd]
    if h % r ~= 0 or w % r ~= 0 then
      raise(('%s: the height %d and width %d of input %s must be divisible by downscale_factor %d'):format(op, h, w,
        nl._shape_str(x), r))
    end
    local out = {}
    for i = 1, nd - 3 do out[i] = s[i] end
    out[nd - 2], out[nd - 1], out[nd] = c * r * r, h / r, w / r
    return x:reshape(lead(s, nd - 3), c, h / r, r, w / r, r):permute(1, 2, 4, 6, 3, 5):reshape(out)
  end

  -- (N, C, *): the channels, read as (groups, C/groups), transposed
  local function channel_shuffle(op, x, groups)
    nl._T(x, op)
    groups = factor_arg(op, 'groups', groups)
    local s = x:shape()
    if #s < 3 then raise(('%s: input must be (N, C, *) with at least 3 dims, got shape %s'):format(op, nl._shape_str(x))) end
    if s[2] % groups ~= 0 then
      raise(('%s: the %d channels of input %s are not divisible by groups %d'):format(op, s[2], nl._shape_str(x),
        groups))
    end
    local rest = 1
    for i = 3, #s do rest = rest * s[i] end
    return x:reshape(s[1], groups, s[2] / groups, rest):transpose(2, 3):reshape(s)
  end

  function F.pixel_shuffle(x, upscale_factor, ...)
    nl._no_extra_args('pixel_shuffle', '(input, upscale_factor)', nil, ...)
    return pixel_shuffle('pixel_shuffle', x, upscale_factor)
  end
  function F.pixel_unshuffle(x, downscale_factor, ...)
    nl._no_extra_args('pixel_unshuffle', '(input, downscale_factor)', nil, ...)
    return pixel_unshuffle('pixel_unshuffle', x, downscale_factor)
  end
  function F.channel_shuffle(x, groups, ...)
    nl._no_extra_args('channel_shuffle', '(input, groups)', nil, ...)
    return channel_shuffle('channel_shuffle', x, groups)
  end

  -- one module per rearrangement: Name(factor), factor stored under field
  local function factor_class(name, field, f)
    local cls = Module:extend(name)
    nn[name] = cls
    function cls:init(v, ...)
      if select('#', ...) > 0 then raise(('%s: expected %s, got %d arguments'):format(name, field, 1 + select('#', ...))) end
      self[field] = factor_arg(name, field, v)
    end
    function cls:forward(x) return f(name, x, self[field]) end
    function cls:extra_repr() return field .. '=' .. self[field] end
  end
  factor_class('PixelShuffle', 'upscale_factor', pixel_shuffle)
  factor_class('PixelUnshuffle', 'downscale_factor', pixel_unshuffle)
  factor_class('ChannelShuffle', 'groups', channel_shuffle)
end
