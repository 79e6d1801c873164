-- data_transforms.lua: nl.data.transforms, torchvision 0.14's transforms of
-- image tensors (C x H x W, or H x W) and of batches N x C x H x W, whose
-- images the random transforms draw for one by one, from nl's generator.
-- Composed of tensor ops (narrow, index_select, flip, where, copy_ and
-- F.interpolate); no C of its own, and no PIL images. Loaded by data.lua
-- on the first use of data.transforms.
return function(nl, data)
  local raise, argerror, describe = nl._raise, nl._argerror, nl._describe_arg
  local T = {}

  local INTERP = { nearest = true, bilinear = true, bicubic = true, ['nearest-exact'] = true }
  local PAD_MODES = { constant = true, edge = true, reflect = true, symmetric = true }

  -- ---- helpers -----------------------------------------------------------------

  local function whole(v, lo) return type(v) == 'number' and v == math.floor(v) and v >= lo and v <= 2 ^ 31 end

  -- Python's round(): to the nearest integer, halves to even
  local function pyround(x)
    local r = math.floor(x + 0.5)
    if r - x == 0.5 and r % 2 == 1 then r = r - 1 end
    return r
  end

  -- true for a batch N x C x H x W, false for an image C x H x W or H x W;
  -- channels: the transform needs a channel dim (no H x W image)
  local function batched(op, x, channels)
    if not nl.is_tensor(x) then
      argerror(op, channels and 'an image tensor C x H x W or a batch N x C x H x W'
                             or 'an image tensor C x H x W (or H x W) or a batch N x C x H x W', x)
    end
    local d = x:dim()
    if d < (channels and 3 or 2) or d > 4 then
      raise(('%s: expected an image C x H x W%s or a batch N x C x H x W, got shape %s'):format(op,
        channels and '' or ' (or H x W)', nl._shape_str(x)))
    end
    return d == 4
  end

  -- a size as (h, w): a number n is n x n; a list of 1 or 2 positive integers
  local function size_pair(op, v)
    if whole(v, 1) then return { v, v } end
    local n = nl._list_len(v)
    if n == 1 or n == 2 then
      local h, w = v[1], v[n]
      if whole(h, 1) and whole(w, 1) then return { h, w } end
    end
    raise(('%s: size must be a positive integer or a list {h, w} of them, got %s'):format(op, describe(v)))
  end

  -- a (lo, hi) range of positive numbers, lo <= hi
  local function range(op, what, v, dflt, lo_ok)
    if v == nil then return dflt end
    if nl._list_len(v) ~= 2 or type(v[1]) ~= 'number' or type(v[2]) ~= 'number' then
      raise(('%s: %s must be a list {min, max} of two numbers, got %s'):format(op, what, describe(v)))
    end
    if not (v[1] <= v[2]) then
      raise(('%s: %s must be {min, max} with min <= max, got {%s, %s}'):format(op, what, v[1], v[2]))
    end
    if not lo_ok(v[1]) or not (v[2] < math.huge) then
      raise(('%s: %s {%s, %s} is out of range'):format(op, what, v[1], v[2]))
    end
    return { v[1], v[2] }
  end

  local function probability(op, p)
    if p == nil then return 0.5 end
    if type(p) ~= 'number' or not (p >= 0 and p <= 1) then
      raise(('%s: p must be a probability in [0, 1], got %s'):format(op, describe(p)))
    end
    return p
  end

  -- n rows of k uniform numbers in [0, 1) from nl's generator (float64):
  -- a batch of one draws what one image does
  local function uniforms(n, k)
    if n == 0 then return {} end
    return nl.rand(n, k, 'float64'):totable()
  end

  -- an integer in 0 .. n - 1 from a uniform number u (torch.randint's range)
  local function randint(n, u) return math.min(math.floor(u * n), n - 1) end

  -- a transform class: cls.init(self, ...) makes one, cls.forward(self, x)
  -- applies it, cls.repr(self) the text inside Name(...)
  local function class(name)
    local cls = { __name = name }
    cls.__index = cls
    cls.__call = function(self, x, ...)
      nl._no_extra_args(name, '(image)', nil, ...)
      return self:forward(x)
    end
    cls.__tostring = function(self) return name .. '(' .. self:repr() .. ')' end
    T[name] = function(...)
      local self = setmetatable({}, cls)
      self:init(...)
      return self
    end
    return cls
  end

  -- each image of batch x (N x C x H x W) through f(image, params[k]), stacked
  local function per_image(x, params, f)
    local n = x:size(1)
    if n == 0 then
      local s = f(nl.zeros(x:size(2), x:size(3), x:size(4)), nil):shape()
      return nl.zeros({ 0, s[1], s[2], s[3] }, x:dtype())
    end
    local out = {}
    for k = 1, n do out[k] = f(x:select(1, k), params[k]) end
    return nl.stack(out, 1)
  end

  local function crop(x, i, j, h, w)            -- 1-based top, left
    return x:narrow(-2, i, h):narrow(-1, j, w)
  end

  -- ---- padding -----------------------------------------------------------------

  -- left, top, right, bottom of torchvision's padding: n, {n}, {lr, tb} or {l, t, r, b}
  local function ltrb(op, p)
    if whole(p, 0) then return { p, p, p, p } end
    local n = nl._list_len(p)
    if n == 1 or n == 2 or n == 4 then
      for i = 1, n do
        if not whole(p[i], 0) then n = nil; break end
      end
      if n == 1 then return { p[1], p[1], p[1], p[1] } end
      if n == 2 then return { p[1], p[2], p[1], p[2] } end
      if n == 4 then return { p[1], p[2], p[3], p[4] } end
    end
    raise(('%s: padding must be a non-negative integer or a list of 1, 2 {left/right, top/bottom} or 4 '
           .. '{left, top, right, bottom} of them, got %s'):format(op, describe(p)))
  end

  local function pad_options(op, fill, mode)
    if fill ~= nil and (type(fill) ~= 'number' or fill ~= fill) then
      raise(('%s: fill must be a number, got %s'):format(op, describe(fill)))
    end
    if mode ~= nil and not PAD_MODES[mode] then
      raise(("%s: padding_mode must be 'constant', 'edge', 'reflect' or 'symmetric', got %s"):format(op,
        describe(mode)))
    end
    return fill or 0, mode or 'constant'
  end

  -- the 1-based source of each of the n + lo + hi positions of a dim of n
  -- padded by lo before and hi after
  local function pad_index(mode, n, lo, hi)
    local idx = {}
    for k = 1, n + lo + hi do
      local j = k - lo - 1                  -- 0-based, unfolded
      if j < 0 then
        j = mode == 'edge' and 0 or mode == 'reflect' and -j or -j - 1
      elseif j >= n then
        j = mode == 'edge' and n - 1 or mode == 'reflect' and 2 * n - 2 - j or 2 * n - 1 - j
      end
      idx[k] = j + 1
    end
    return nl.tensor(idx, 'int64')
  end

  -- x (an image or a batch) padded by p = {l, t, r, b}
  local function pad_image(op, x, p, fill, mode)
    local l, t, r, b = p[1], p[2], p[3], p[4]
    if l + t + r + b == 0 then return x end
    local H, W = x:size(-2), x:size(-1)
    if mode == 'constant' then
      local s = x:shape()
      s[#s - 1], s[#s] = H + t + b, W + l + r
      local out = nl.full(s, fill, x:dtype())
      crop(out, t + 1, l + 1, H, W):copy_(x)
      return out
    end
    local limit = mode == 'reflect' and 1 or mode == 'symmetric' and 0
    if limit and (math.max(l, r) > W - limit or math.max(t, b) > H - limit) then
      raise(("%s: padding_mode '%s' needs each padding %s the image's size: padding {%d, %d, %d, %d} "
             .. '(left, top, right, bottom) for input %s'):format(op, mode, limit == 1 and 'less than' or 'at most',
        l, t, r, b, nl._shape_str(x)))
    end
    if mode == 'edge' and (H == 0 or W == 0) then
      raise(("%s: padding_mode 'edge' needs a non-empty image, got %s"):format(op, nl._shape_str(x)))
    end
    if l + r > 0 then x = x:index_select(x:dim(), pad_index(mode, W, l, r)) end
    if t + b > 0 then x = x:index_select(x:dim() - 1, pad_index(mode, H, t, b)) end
    return x
  end

  -- ---- Compose, Lambda ---------------------------------------------------------

  local function callable(f)
    if type(f) == 'function' then return true end
    local mt = (type(f) == 'table' or type(f) == 'userdata') and getmetatable(f)
    return type(mt) == 'table' and mt.__call ~= nil
  end

  -- Compose({t1, t2, ...}): each transform in turn
  local Compose = class('Compose')
  function Compose:init(list, ...)
    nl._no_extra_args('Compose', '({transforms})', nil, ...)
    local n = nl._list_len(list)
    if not n then argerror('Compose', 'a list of transforms', list) end
    for i = 1, n do
      if not callable(list[i]) then
        raise(('Compose: transform %d is not callable (%s)'):format(i, describe(list[i])))
      end
    end
    self.transforms = { unpack(list, 1, n) }
  end
  function Compose:forward(x)
    for _, t in ipairs(self.transforms) do x = t(x) end
    return x
  end
  function Compose.__tostring(self)
    local lines = { 'Compose(' }
    for _, t in ipairs(self.transforms) do lines[#lines + 1] = '    ' .. tostring(t) end
    lines[#lines + 1] = ')'
    return table.concat(lines, '\n')
  end

  -- Lambda(fn): fn(x)
  local Lambda = class('Lambda')
  function Lambda:init(fn, ...)
    nl._no_extra_args('Lambda', '(fn)', nil, ...)
    if not callable(fn) then argerror('Lambda', 'a function', fn) end
    self.lambd = fn
  end
  function Lambda:forward(x) return self.lambd(x) end
  function Lambda:repr() return '' end

  -- ---- Normalize, ConvertImageDtype ------------------------------------------

  -- Normalize(mean, std, {inplace}): (x - mean[c]) / std[c] for each
  -- channel c of a float image or batch; mean and std lists of C numbers
  -- (or of one, for every channel) or numbers
  local Normalize = class('Normalize')
  function Normalize:init(mean, std, opts, ...)
    local op = 'Normalize'
    nl._no_extra_args(op, '(mean, std, {inplace})', nil, ...)
    opts = nl._opts(op, opts)
    nl._check_opts(op, opts, { inplace = 'flag' })
    local function list(what, v)
      if type(v) == 'number' then v = { v } end
      local n = nl._list_len(v)
      if not n or n == 0 then
        raise(('%s: %s must be a number or a list of numbers, got %s'):format(op, what, describe(v)))
      end
      for i = 1, n do
        if type(v[i]) ~= 'number' or not (math.abs(v[i]) < math.huge) then
          raise(('%s: %s must hold finite numbers, got %s at %d'):format(op, what, describe(v[i]), i))
        end
      end
      return { unpack(v, 1, n) }
    end
    self.mean, self.std = list('mean', mean), list('std', std)
    for i, s in ipairs(self.std) do
      -- (torchvision's ValueError: a division by zero)
      if s == 0 then raise(('%s: std[%d] is 0, which would divide by zero'):format(op, i)) end
    end
    self.inplace = opts.inplace or false
    self._cache = {}
  end
  function Normalize:forward(x)
    local op = 'Normalize'
    batched(op, x, true)
    local dt = x:dtype()
    if dt ~= 'float32' and dt ~= 'float64' then
      raise(('%s: expected a float image, got %s %s (ConvertImageDtype makes bytes 0..255 floats in [0, 1])')
            :format(op, dt, nl._shape_str(x)))
    end
    local C = x:size(-3)
    for _, k in ipairs({ 'mean', 'std' }) do
      local n = #self[k]
      if n ~= 1 and n ~= C then
        raise(('%s: %s has %d values for the %d channels of input %s'):format(op, k, n, C, nl._shape_str(x)))
      end
    end
    local c = self._cache[dt]
    if not c then
      c = { nl.tensor(self.mean, dt):view(-1, 1, 1), nl.tensor(self.std, dt):view(-1, 1, 1) }
      self._cache[dt] = c
    end
    if self.inplace then return x:sub_(c[1]):div_(c[2]) end
    return (x - c[1]) / c[2]
  end
  local function nums(v) return '[' .. table.concat(v, ', ') .. ']' end
  function Normalize:repr()
    return ('mean=%s, std=%s'):format(nums(self.mean), nums(self.std))
  end

  -- ConvertImageDtype(dtype): an int64 image of bytes 0..255 to float32 or
  -- float64 in [0, 1] (torchvision's uint8 -> float: / 255), a float one
  -- in [0, 1] to bytes 0..255 as int64 (its float -> uint8: * 255.999,
  -- truncated), or a float one to the other float dtype
  local ConvertImageDtype = class('ConvertImageDtype')
  function ConvertImageDtype:init(dtype, ...)
    nl._no_extra_args('ConvertImageDtype', '(dtype)', nil, ...)
    if dtype ~= 'float32' and dtype ~= 'float64' and dtype ~= 'int64' then
      raise(("ConvertImageDtype: dtype must be 'float32', 'float64' or 'int64', got %s"):format(describe(dtype)))
    end
    self.dtype = dtype
  end
  function ConvertImageDtype:forward(x)
    batched('ConvertImageDtype', x)
    local from, to = x:dtype(), self.dtype
    if from == to then return x end
    if from == 'int64' then return x:to(to):div_(255) end
    if to == 'int64' then return (x * (255 + 1 - 1e-3)):long() end
    return x:to(to)
  end
  function ConvertImageDtype:repr() return 'dtype=' .. self.dtype end

  -- ---- flips -------------------------------------------------------------------

  local reversed_cache = {}
  local function reversed(n)             -- n, n - 1, ..., 1 as int64
    local r = reversed_cache[n]
    if not r then
      r = nl.arange(n, 0, -1, 'int64')
      reversed_cache[n] = r
    end
    return r
  end

  local function flip_class(name, dim)
    local cls = class(name)
    -- name(p): the image mirrored (left-right or top-bottom) with probability p (0.5)
    function cls:init(p, ...)
      nl._no_extra_args(name, '(p)', nil, ...)
      self.p = probability(name, p)
    end
    -- (the chosen images of a batch flipped one by one into a copy: half
    -- the work of flipping all and picking, at p = 0.5)
    function cls:forward(x)
      local many = batched(name, x)
      local n = many and x:size(1) or 1
      local u = uniforms(n, 1)
      local d = x:dim() + 1 + dim
      local rev = reversed(x:size(d))
      if not many then
        if u[1][1] < self.p then return x:index_select(d, rev) end
        return x
      end
      local out = x
      for k = 1, n do
        if u[k][1] < self.p then
          if out == x then out = x:clone() end
          out:select(1, k):copy_(x:select(1, k):index_select(d - 1, rev))
        end
      end
      return out
    end
    function cls:repr() return 'p=' .. self.p end
  end
  flip_class('RandomHorizontalFlip', -1)
  flip_class('RandomVerticalFlip', -2)

  -- ---- Pad, CenterCrop, RandomCrop ---------------------------------------------

  -- Pad(padding, {fill = 0, padding_mode = 'constant'}): padding n (every
  -- side), {left/right, top/bottom} or {left, top, right, bottom};
  -- padding_mode 'constant' (fill), 'edge' (the border repeated),
  -- 'reflect' (mirrored without the border) or 'symmetric' (with it)
  local Pad = class('Pad')
  function Pad:init(padding, opts, ...)
    local op = 'Pad'
    nl._no_extra_args(op, '(padding, {fill, padding_mode})', nil, ...)
    opts = nl._opts(op, opts)
    nl._check_opts(op, opts, { fill = 1, padding_mode = 1 })
    self.padding = ltrb(op, padding)
    self.fill, self.padding_mode = pad_options(op, opts.fill, opts.padding_mode)
  end
  function Pad:forward(x)
    batched('Pad', x)
    return pad_image('Pad', x, self.padding, self.fill, self.padding_mode)
  end
  function Pad:repr()
    return ('padding=%s, fill=%s, padding_mode=%s'):format(nums(self.padding), self.fill, self.padding_mode)
  end

  -- CenterCrop(size): the central h x w window (size n: n x n), the image
  -- padded with zeros first where it is smaller; offsets rounded as
  -- torchvision rounds them (halves to even)
  local CenterCrop = class('CenterCrop')
  function CenterCrop:init(size, ...)
    nl._no_extra_args('CenterCrop', '(size)', nil, ...)
    self.size = size_pair('CenterCrop', size)
  end
  function CenterCrop:forward(x)
    batched('CenterCrop', x)
    local ch, cw = self.size[1], self.size[2]
    local H, W = x:size(-2), x:size(-1)
    if cw > W or ch > H then
      local dw, dh = math.max(cw - W, 0), math.max(ch - H, 0)
      x = pad_image('CenterCrop', x, { math.floor(dw / 2), math.floor(dh / 2), math.floor((dw + 1) / 2),
                                      math.floor((dh + 1) / 2) }, 0, 'constant')
      H, W = x:size(-2), x:size(-1)
      if ch == H and cw == W then return x end
    end
    return crop(x, pyround((H - ch) / 2) + 1, pyround((W - cw) / 2) + 1, ch, cw):contiguous()
  end
  function CenterCrop:repr() return ('size=(%d, %d)'):format(self.size[1], self.size[2]) end

  -- RandomCrop(size, {padding, pad_if_needed, fill, padding_mode}): a
  -- window of size at a uniformly drawn place, after padding the image by
  -- padding (as Pad) and, with pad_if_needed, on both sides by what it
  -- lacks of the size
  local RandomCrop = class('RandomCrop')
  function RandomCrop:init(size, opts, ...)
    local op = 'RandomCrop'
    nl._no_extra_args(op, '(size, {padding, pad_if_needed, fill, padding_mode})', nil, ...)
    opts = nl._opts(op, opts)
    nl._check_opts(op, opts, { padding = 1, pad_if_needed = 'flag', fill = 1, padding_mode = 1 })
    self.size = size_pair(op, size)
    self.padding = opts.padding ~= nil and ltrb(op, opts.padding) or nil
    self.pad_if_needed = opts.pad_if_needed or false
    self.fill, self.padding_mode = pad_options(op, opts.fill, opts.padding_mode)
  end
  -- x padded as the crop pads it
  function RandomCrop:padded(x)
    local op = 'RandomCrop'
    if self.padding then x = pad_image(op, x, self.padding, self.fill, self.padding_mode) end
    local th, tw = self.size[1], self.size[2]
    if self.pad_if_needed and x:size(-1) < tw then
      local d = tw - x:size(-1)
      x = pad_image(op, x, { d, 0, d, 0 }, self.fill, self.padding_mode)
    end
    if self.pad_if_needed and x:size(-2) < th then
      local d = th - x:size(-2)
      x = pad_image(op, x, { 0, d, 0, d }, self.fill, self.padding_mode)
    end
    return x
  end
  function RandomCrop:forward(x)
    local op = 'RandomCrop'
    local many = batched(op, x)
    local shape = x:shape()
    x = self:padded(x)
    local th, tw = self.size[1], self.size[2]
    local H, W = x:size(-2), x:size(-1)
    if H < th or W < tw then
      raise(('%s: crop size (%d, %d) is larger than the image (%d, %d) of input %s%s; give pad_if_needed = true '
             .. 'or a padding'):format(op, th, tw, H, W, nl._shape_str(x),
        self.padding and ' (padded from ' .. table.concat(shape, ',') .. ')' or ''))
    end
    if H == th and W == tw then return x end
    local u = uniforms(many and x:size(1) or 1, 2)
    if not many then
      return crop(x, randint(H - th + 1, u[1][1]) + 1, randint(W - tw + 1, u[1][2]) + 1, th, tw):contiguous()
    end
    return per_image(x, u, function(img, v)
      if not v then return crop(img, 1, 1, th, tw) end
      return crop(img, randint(H - th + 1, v[1]) + 1, randint(W - tw + 1, v[2]) + 1, th, tw)
    end)
  end
  function RandomCrop:repr()
    return ('size=(%d, %d), padding=%s'):format(self.size[1], self.size[2],
                                                 self.padding and nums(self.padding) or 'None')
  end

  -- ---- Resize, RandomResizedCrop -----------------------------------------------

  local function interp_options(op, opts)
    local mode = opts.interpolation or 'bilinear'
    if type(mode) ~= 'string' or not INTERP[mode] then
      raise(("%s: interpolation must be 'bilinear', 'nearest', 'nearest-exact' or 'bicubic', got %s"):format(op,
        describe(mode)))
    end
    if opts.antialias and mode ~= 'bilinear' and mode ~= 'bicubic' then
      raise(("%s: antialias applies only to 'bilinear' and 'bicubic' interpolation, got '%s'"):format(op, mode))
    end
    return mode, opts.antialias or false
  end

  -- x (an image or a batch) resampled to oh x ow, as torchvision's
  -- F_t.resize: int64 images (its uint8) resampled as float32 and rounded
  -- back, clamped to 0..255 after bicubic
  local function resample(op, x, oh, ow, mode, antialias)
    local s = x:shape()
    local d = #s
    local H, W = s[d - 1], s[d]
    if H == oh and W == ow then return x end
    if H == 0 or W == 0 then
      raise(('%s: cannot resize the empty image of input %s'):format(op, nl._shape_str(x)))
    end
    local int = x:dtype() == 'int64'
    local x4 = x
    if int then x4 = x4:float() end
    if d == 2 then x4 = x4:view(1, 1, H, W)
    elseif d == 3 then x4 = x4:unsqueeze(1) end
    local linear = mode == 'bilinear' or mode == 'bicubic'
    local y = nl.nn.functional.interpolate(x4, { size = { oh, ow }, mode = mode,
                                                 align_corners = linear and false or nil, antialias = antialias or nil })
    s[d - 1], s[d] = oh, ow
    y = y:view(unpack(s))
    if int then
      -- (bicubic overshoots: bytes clamped to 0..255, as torchvision's uint8)
      if mode == 'bicubic' then y = y:clamp(0, 255) end
      y = y:round():long()
    end
    return y
  end

  -- Resize(size, {interpolation = 'bilinear', antialias = false,
  -- max_size}): to h x w for a size {h, w}; for a size n (or {n}) the
  -- smaller edge to n and the other in proportion (truncated), then cut
  -- to max_size if it passes it
  local Resize = class('Resize')
  function Resize:init(size, opts, ...)
    local op = 'Resize'
    nl._no_extra_args(op, '(size, {interpolation, antialias, max_size})', nil, ...)
    opts = nl._opts(op, opts)
    nl._check_opts(op, opts, { interpolation = 1, antialias = 'flag', max_size = 1 })
    local n = whole(size, 1) and 0 or nl._list_len(size)
    if n == 1 and whole(size[1], 1) then size = size[1]; n = 0 end
    if n == 0 then
      self.edge = size
    elseif n == 2 then
      self.size = size_pair(op, size)
    else
      raise(('%s: size must be a positive integer (the smaller edge) or a list {h, w} of them, got %s'):format(op,
        describe(size)))
    end
    self.interpolation, self.antialias = interp_options(op, opts)
    local mx = opts.max_size
    if mx ~= nil then
      if not self.edge then
        raise(op .. ': max_size applies only to a size that gives the smaller edge (a number), not {h, w}')
      end
      if not whole(mx, 1) or mx <= self.edge then
        raise(('%s: max_size must be an integer greater than the smaller edge %d, got %s'):format(op, self.edge,
          describe(mx)))
      end
      self.max_size = mx
    end
  end
  -- the output size (h, w) of an image of H x W
  function Resize:output_size(H, W)
    if self.size then return self.size[1], self.size[2] end
    local short, long = math.min(H, W), math.max(H, W)
    local ns, nlong = self.edge, math.floor(self.edge * long / short)
    if self.max_size and nlong > self.max_size then
      ns, nlong = math.floor(self.max_size * ns / nlong), self.max_size
    end
    if W <= H then return nlong, ns end
    return ns, nlong
  end
  function Resize:forward(x)
    batched('Resize', x)
    local oh, ow = self:output_size(x:size(-2), x:size(-1))
    if oh < 1 or ow < 1 then
      -- (max_size cut the smaller edge to 0: torchvision's interpolate refuses it too)
      raise(('Resize: the output size (%d, %d) of input %s has an empty edge (size %d, max_size %d)'):format(oh, ow,
        nl._shape_str(x), self.edge, self.max_size))
    end
    return resample('Resize', x, oh, ow, self.interpolation, self.antialias)
  end
  function Resize:repr()
    local size = self.size and ('(%d, %d)'):format(self.size[1], self.size[2]) or tostring(self.edge)
    return ('size=%s, interpolation=%s, max_size=%s, antialias=%s'):format(size, self.interpolation,
      self.max_size or 'None', tostring(self.antialias))
  end

  -- RandomResizedCrop(size, {scale = {0.08, 1}, ratio = {3/4, 4/3},
  -- interpolation = 'bilinear', antialias = false}): a box of the image
  -- whose area is a fraction of the image's drawn uniformly from scale
  -- and whose aspect ratio (w / h) is drawn log-uniformly from ratio, at a
  -- uniformly drawn place, resized to size; 10 tries, then the central
  -- box of the image cut to the ratios (torchvision 0.14's get_params)
  local RandomResizedCrop = class('RandomResizedCrop')
  local DRAWS = 22          -- uniforms per image: 10 tries of 2, then the place
  function RandomResizedCrop:init(size, opts, ...)
    local op = 'RandomResizedCrop'
    nl._no_extra_args(op, '(size, {scale, ratio, interpolation, antialias})', nil, ...)
    opts = nl._opts(op, opts)
    nl._check_opts(op, opts, { scale = 1, ratio = 1, interpolation = 1, antialias = 'flag' })
    self.size = size_pair(op, size)
    self.scale = range(op, 'scale', opts.scale, { 0.08, 1 }, function(v) return v > 0 end)
    self.ratio = range(op, 'ratio', opts.ratio, { 3 / 4, 4 / 3 }, function(v) return v > 0 end)
    self.interpolation, self.antialias = interp_options(op, opts)
  end
  -- the box (1-based top, left, h, w) of an H x W image for the uniforms u
  function RandomResizedCrop:box(H, W, u)
    local area = H * W
    local s, r = self.scale, self.ratio
    local lr1, lr2 = math.log(r[1]), math.log(r[2])
    for t = 0, 9 do
      local target = area * (s[1] + (s[2] - s[1]) * u[2 * t + 1])
      local aspect = math.exp(lr1 + (lr2 - lr1) * u[2 * t + 2])
      local w = pyround(math.sqrt(target * aspect))
      local h = pyround(math.sqrt(target / aspect))
      if w > 0 and w <= W and h > 0 and h <= H then
        return randint(H - h + 1, u[21]) + 1, randint(W - w + 1, u[22]) + 1, h, w
      end
    end
    local w, h = W, H
    local in_ratio = W / H
    if in_ratio < r[1] then h = pyround(w / r[1])
    elseif in_ratio > r[2] then w = pyround(h * r[2]) end
    return math.floor((H - h) / 2) + 1, math.floor((W - w) / 2) + 1, h, w
  end
  -- rrc:get_params(x): the box an image of x (or an H x W given as {H, W})
  -- would be cropped to: 1-based top, left, then h, w; drawn as forward draws it
  function RandomResizedCrop:get_params(x)
    local H, W
    if nl.is_tensor(x) then
      batched('RandomResizedCrop:get_params', x)
      H, W = x:size(-2), x:size(-1)
    elseif nl._list_len(x) == 2 and whole(x[1], 1) and whole(x[2], 1) then
      H, W = x[1], x[2]
    else
      argerror('RandomResizedCrop:get_params', 'an image tensor or a size {H, W}', x)
    end
    return self:box(H, W, uniforms(1, DRAWS)[1])
  end
  function RandomResizedCrop:forward(x)
    local op = 'RandomResizedCrop'
    local many = batched(op, x)
    local H, W = x:size(-2), x:size(-1)
    if H == 0 or W == 0 then
      raise(('%s: cannot crop the empty image of input %s'):format(op, nl._shape_str(x)))
    end
    local u = uniforms(many and x:size(1) or 1, DRAWS)
    local sh, sw, mode, aa = self.size[1], self.size[2], self.interpolation, self.antialias
    local function one(img, v)
      if not v then return resample(op, img, sh, sw, mode, aa) end
      local i, j, h, w = self:box(H, W, v)
      return resample(op, crop(img, i, j, h, w), sh, sw, mode, aa):contiguous()
    end
    if not many then return one(x, u[1]) end
    return per_image(x, u, one)
  end
  function RandomResizedCrop:repr()
    local function r4(v) return ('%.4g'):format(v) end
    return ('size=(%d, %d), scale=(%s, %s), ratio=(%s, %s), interpolation=%s, antialias=%s'):format(self.size[1],
      self.size[2], r4(self.scale[1]), r4(self.scale[2]), r4(self.ratio[1]), r4(self.ratio[2]), self.interpolation,
      tostring(self.antialias))
  end

  -- ---- RandomErasing -----------------------------------------------------------

  -- RandomErasing([p], {p = 0.5, scale = {0.02, 0.33}, ratio = {0.3, 3.3},
  -- value = 0, inplace = false}): with probability p, a box of the image
  -- whose area is a fraction of the image's drawn from scale and whose
  -- aspect ratio (h / w) is drawn log-uniformly from ratio, at a uniformly
  -- drawn place, set to value: a number, a list of one per channel, or
  -- 'random' (standard normal draws); 10 tries, then nothing erased
  local RandomErasing = class('RandomErasing')
  function RandomErasing:init(p, opts, ...)
    local op = 'RandomErasing'
    nl._no_extra_args(op, '(p, {scale, ratio, value, inplace})', nil, ...)
    if type(p) == 'table' and opts == nil then p, opts = nil, p end
    opts = nl._opts(op, opts)
    nl._check_opts(op, opts, { p = 1, scale = 1, ratio = 1, value = 1, inplace = 'flag' })
    if p ~= nil and opts.p ~= nil then raise(op .. ': p given twice') end
    self.p = probability(op, p or opts.p)
    self.scale = range(op, 'scale', opts.scale, { 0.02, 0.33 }, function(v) return v >= 0 end)
    if self.scale[2] > 1 then
      raise(('%s: scale must lie in [0, 1], got {%s, %s}'):format(op, self.scale[1], self.scale[2]))
    end
    self.ratio = range(op, 'ratio', opts.ratio, { 0.3, 3.3 }, function(v) return v > 0 end)
    local v = opts.value
    if v == nil then v = 0 end
    if type(v) == 'table' then
      local n = nl._list_len(v)
      if not n or n == 0 then
        raise(("%s: value must be a number, a list of numbers or 'random', got %s"):format(op, describe(v)))
      end
      for i = 1, n do
        if type(v[i]) ~= 'number' then
          raise(('%s: value must hold numbers, got %s at %d'):format(op, describe(v[i]), i))
        end
      end
      v = { unpack(v, 1, n) }
    elseif type(v) ~= 'number' and v ~= 'random' then
      raise(("%s: value must be a number, a list of numbers or 'random', got %s"):format(op, describe(v)))
    end
    self.value = v
    self.inplace = opts.inplace or false
  end
  -- the box (1-based top, left, h, w) erased in an H x W image for the
  -- uniforms u (u[1] decides whether), or nil
  function RandomErasing:box(H, W, u)
    if not (u[1] < self.p) then return nil end
    local area = H * W
    local s, r = self.scale, self.ratio
    local lr1, lr2 = math.log(r[1]), math.log(r[2])
    for t = 0, 9 do
      local target = area * (s[1] + (s[2] - s[1]) * u[2 * t + 2])
      local aspect = math.exp(lr1 + (lr2 - lr1) * u[2 * t + 3])
      local h = pyround(math.sqrt(target * aspect))
      local w = pyround(math.sqrt(target / aspect))
      if h < H and w < W then
        return randint(H - h + 1, u[22]) + 1, randint(W - w + 1, u[23]) + 1, h, w
      end
    end
    return nil
  end
  function RandomErasing:forward(x)
    local op = 'RandomErasing'
    local many = batched(op, x, true)
    local C, H, W = x:size(-3), x:size(-2), x:size(-1)
    local v = self.value
    if v == 'random' and x:dtype() == 'int64' then
      raise(("%s: value 'random' draws normal values, which need a float image; got int64 %s"):format(op,
        nl._shape_str(x)))
    end
    if type(v) == 'table' then
      if #v ~= 1 and #v ~= C then
        raise(('%s: value has %d entries for the %d channels of input %s; give one or %d'):format(op, #v, C,
          nl._shape_str(x), C))
      end
      v = #v == 1 and v[1] or nl.tensor(v, x:dtype()):view(C, 1, 1)
    end
    local n = many and x:size(1) or 1
    local u = uniforms(n, 23)
    local out = x
    for k = 1, n do
      local i, j, h, w = self:box(H, W, u[k])
      if i and h > 0 and w > 0 then
        if out == x and not self.inplace then out = x:clone() end
        local region = crop(many and out:select(1, k) or out, i, j, h, w)
        if type(v) == 'number' then region:fill_(v)
        elseif v == 'random' then region:copy_(nl.randn({ C, h, w }, x:dtype()))
        else region:copy_(v:expand(C, h, w)) end
      end
    end
    return out
  end
  function RandomErasing:repr()
    local v = self.value
    if type(v) == 'table' then v = nums(v) end
    return ('p=%s, scale=(%s, %s), ratio=(%s, %s), value=%s, inplace=%s'):format(self.p, self.scale[1],
      self.scale[2], self.ratio[1], self.ratio[2], tostring(v), tostring(self.inplace))
  end

  return T
end
