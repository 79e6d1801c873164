-- conv3d.lua: nn.Conv3d, nn.ConvTranspose3d, nn.MaxPool3d, nn.AvgPool3d,
-- nn.AdaptiveAvgPool3d and nn.AdaptiveMaxPool3d with PyTorch's options and
-- defaults, and their nn.functional forms; each one C kernel
-- (ops_conv3d.c) over (N, C, D, H, W). Here: the options, the unbatched
-- (C, D, H, W) form, 'same' and the padding modes other than 'zeros'
-- (composed of nn.functional.pad's). Sizes are n or {d, h, w}.
return function(nl, nn)
  local ffi = require 'ffi'
  local lib = nl._lib
  local Module = nn.Module
  local F = nn.functional
  local whole, options, single, describe = nn._whole, nn._options, nn._single, nn._describe
  local indices_out = ffi.new('nl_tensor *[1]')   -- out-parameter, allocated once

  -- a size given as n or {d, h, w} -> a list {d, h, w} of whole numbers >= lo
  -- (strs as conv.lua's pair's)
  local function triple(v, what, op, lo, strs)
    local t
    if type(v) == 'number' then t = { v, v, v }
    elseif type(v) == 'table' and not nl.is_tensor(v) and #v == 3 then t = { v[1], v[2], v[3] }
    end
    if not t or not whole(t[1], lo) or not whole(t[2], lo) or not whole(t[3], lo) then
      nl._raise(('%s: %s must be %san integer >= %d or a list {d, h, w} of them, got %s'):format(op, what,
        strs and strs .. ', ' or '', lo, describe(v)))
    end
    return t
  end
  nn._triple = triple

  local function list_str(t) return '[' .. table.concat(t, ',') .. ']' end
  -- PyTorch's tuple (3, 3, 3); one number where pools print one (all equal)
  local function tuple3(t) return ('(%d, %d, %d)'):format(t[1], t[2], t[3]) end
  local function short3(t) return (t[1] == t[2] and t[2] == t[3]) and tostring(t[1]) or tuple3(t) end
  local function bool(b) return b and 'true' or 'false' end

  -- msg with x5's shape, where the C op names its input by it, as x's:
  -- only after 'input ' and in the input's dtype message (the first
  -- [1,C,D,H,W] anywhere was taken, and a weight or bias of that shape
  -- was shown as x)
  local function input_shape(msg, x5, x)
    local s5, s = nl._shape_str(x5), nl._shape_str(x)
    for _, lead in ipairs({ 'input ', '(N, C, D, H, W), got ' .. x:dtype() .. ' ' }) do
      local parts, at, from = {}, 1, lead .. s5
      while true do
        local i, j = msg:find(from, at, true)
        if not i then break end
        parts[#parts + 1] = msg:sub(at, i - 1) .. lead .. s
        at = j + 1
      end
      parts[#parts + 1] = msg:sub(at)
      msg = table.concat(parts)
    end
    return msg
  end

  -- runs f on a 5-D view of x ((C, D, H, W) gets a batch of one); its
  -- results back in x's rank, and an error of f named with x's own shape
  -- (C showed [1,C,D,H,W])
  local function batched(op, x, f)
    local d = nl._T(x, op).ndim
    if d ~= 4 and d ~= 5 then
      nl._raise(('%s: input must be (N, C, D, H, W) or (C, D, H, W), got shape %s'):format(op, nl._shape_str(x)))
    end
    if d == 5 then return f(x, false) end
    local x5 = x:unsqueeze(1)
    local ok, y, i = pcall(f, x5, true)
    if not ok then
      nl._raise(input_shape(tostring(y):gsub('^[^:\n]*:%d+: ', ''), x5, x))
    end
    return y:squeeze(1), i and i:squeeze(1)
  end

  -- ---- convolution -------------------------------------------------------------

  local KNOWN_F = { stride = 1, padding = 1, dilation = 1, groups = 1 }
  local CONV_ARGS = { 'stride', 'padding', 'dilation', 'groups' }   -- PyTorch's order after the bias
  local KNOWN = { stride = 1, padding = 1, dilation = 1, groups = 1, bias = 'flag', padding_mode = 1 }

  -- the padding {d, h, w} of 'valid', 'same' (stride 1) or numbers, and the
  -- zeros to add at the end of each dim (0 or 1): 'same' pads
  -- dilation*(k-1) in all, the odd one at the end as PyTorch (conv.lua's
  -- padding_of, whose reasons hold here)
  local function padding_of(p, k, dl, s, op)
    if p == 'valid' then return { 0, 0, 0 }, { 0, 0, 0 } end
    if p == 'same' then
      if s[1] ~= 1 or s[2] ~= 1 or s[3] ~= 1 then nl._raise(op .. ": padding='same' needs stride 1") end
      local pad, extra = {}, {}
      for i = 1, 3 do
        local t = dl[i] * (k[i] - 1)
        pad[i], extra[i] = math.floor(t / 2), t % 2
      end
      return pad, extra
    end
    return triple(p, 'padding', op, 0, nn._pad_strs), { 0, 0, 0 }
  end

  -- the layer's padding as PyTorch's F.pad pads it: {w before, w after, h
  -- before, h after, d before, d after}
  local function pads_of(p, extra)
    return { p[3], p[3] + extra[3], p[2], p[2] + extra[2], p[1], p[1] + extra[1] }
  end

  -- x (N, C, D, H, W) padded by pads (pads_of's order) in mode: 'constant'
  -- zeros, or 'reflect', 'replicate', 'circular' as PyTorch's 3-D pads
  -- (nn.functional.pad's modes take two dims at a time: H and W over
  -- (N*C, D, H, W), then D over (N*C, H*W, D)). shown: the shape for
  -- messages, lead: 1 where the caller's input had no batch dim.
  local function padded(op, x, pads, mode, shown, lead)
    local s = x:shape()
    if mode == 'zeros' then mode = 'constant' end
    for i = 1, 3 do
      local n, l, r = s[6 - i], pads[2 * i - 1], pads[2 * i]
      if (mode == 'reflect' and (l >= n or r >= n)) or (mode == 'circular' and (l > n or r > n)) then
        nl._raise(("%s: padding_mode '%s' needs each padding %s the dim's size: padding (%d, %d) for dim %d of "
          .. 'input %s'):format(op, mode, mode == 'reflect' and 'less than' or 'at most', l, r, 6 - i - lead,
          shown))
      end
      if mode == 'replicate' and n < 1 and l + r > 0 then
        nl._raise(("%s: padding_mode 'replicate' pads an empty dim %d of input %s"):format(op, 6 - i - lead, shown))
      end
    end
    if mode == 'constant' then return nn._pad(op, x, pads) end
    local y = nn._pad(op, x:reshape(s[1] * s[2], s[3], s[4], s[5]), { pads[1], pads[2], pads[3], pads[4] }, mode)
    local h, w = y:size(3), y:size(4)
    y = y:reshape(s[1] * s[2], s[3], h * w):transpose(2, 3)
    y = nn._pad(op, y, { pads[5], pads[6] }, mode):transpose(2, 3)
    return y:reshape(s[1], s[2], y:size(2), h, w)
  end

  -- x (N, C, D, H, W), weight (O, C/groups, kd, kh, kw), bias (O) or nil;
  -- opts: stride, padding (n, {d, h, w}, 'valid', 'same'), dilation,
  -- groups. An unbatched x (C, D, H, W) gives (O, Do, Ho, Wo).
  -- or PyTorch's positional (x, weight, bias, stride, padding, dilation, groups)
  function F.conv3d(x, weight, bias, opts, ...)
    local op = 'conv3d'
    opts = nn._positional_options(op, '(input, weight, bias', CONV_ARGS, KNOWN_F, opts, ...)
    local pw = nl._T(weight, op)
    local s = triple(opts.stride or 1, 'stride', op, 1)
    local dl = triple(opts.dilation or 1, 'dilation', op, 1)
    local k = { 1, 1, 1 }
    if pw.ndim == 5 then k = { weight:size(3), weight:size(4), weight:size(5) } end
    local p, extra = padding_of(opts.padding or 0, k, dl, s, op)
    local groups = single(opts.groups or 1, 'groups', op, 1)
    local pb = bias ~= nil and nl._T(bias, op) or nil
    return (batched(op, x, function(x5, one)
      if extra[1] + extra[2] + extra[3] > 0 then
        x5 = padded(op, x5, pads_of({ 0, 0, 0 }, extra), 'zeros', nl._shape_str(x), one and 1 or 0)
      end
      return nl._wrap(lib.nl_conv3d(x5.ptr, pw, pb, s[1], s[2], s[3], p[1], p[2], p[3], dl[1], dl[2], dl[3],
                                    groups))
    end))
  end

  local Conv3d = Module:extend('Conv3d')
  nn.Conv3d = Conv3d

  -- Conv3d(in_channels, out_channels, kernel_size, {stride, padding,
  -- dilation, groups, bias, padding_mode}); sizes are n or {d, h, w}
  function Conv3d:init(in_channels, out_channels, kernel_size, opts)
    local op = 'Conv3d'
    opts = options(opts, op)
    nl._check_opts(op, opts, KNOWN)
    self.padding_mode = nn._padding_mode(opts.padding_mode, op)
    self.kernel_size = triple(kernel_size, 'kernel_size', op, 1)
    self.stride = triple(opts.stride or 1, 'stride', op, 1)
    self.dilation = triple(opts.dilation or 1, 'dilation', op, 1)
    self.groups = single(opts.groups or 1, 'groups', op, 1)
    nn._check_channels(op, in_channels, out_channels, self.groups)
    self.in_channels, self.out_channels = in_channels, out_channels
    local p, extra = padding_of(opts.padding or 0, self.kernel_size, self.dilation, self.stride, op)
    self.padding = p
    if extra[1] + extra[2] + extra[3] > 0 then self._extend = extra end   -- 'same' with an even effective kernel
    self.padding_str = type(opts.padding) == 'string' and opts.padding or nil
    local k = self.kernel_size
    self.weight = nl.empty(out_channels, in_channels / self.groups, k[1], k[2], k[3]):requires_grad()
    if opts.bias ~= false then self.bias = nl.empty(out_channels):requires_grad() end
    nn._conv_reset(self)
  end

  -- the caller's input against the layer, named Conv3d with its shape
  -- (conv.lua's check, as Conv2d's)
  local function check3d(self, x) nn._check_conv_input('Conv3d', self, x, '(N, C, D, H, W) or (C, D, H, W)') end

  function Conv3d:forward(x)
    check3d(self, x)
    local shown = nl._shape_str(x)
    return (batched('Conv3d', x, function(x5, one)
      local p = self.padding
      local extra = self._extend or { 0, 0, 0 }
      if self.padding_mode ~= 'zeros' then
        -- PyTorch pads with the mode, then convolves without padding;
        -- 'same' puts its odd element at the end
        x5 = padded('Conv3d', x5, pads_of(p, extra), self.padding_mode, shown, one and 1 or 0)
        p = { 0, 0, 0 }
      elseif self._extend then
        x5 = padded('Conv3d', x5, pads_of({ 0, 0, 0 }, extra), 'zeros', shown, one and 1 or 0)
      end
      return nl._wrap(lib.nl_conv3d(x5.ptr, self.weight.ptr, self.bias and self.bias.ptr or nil,
                                    self.stride[1], self.stride[2], self.stride[3], p[1], p[2], p[3],
                                    self.dilation[1], self.dilation[2], self.dilation[3], self.groups))
    end))
  end

  function Conv3d:extra_repr()
    local s = ('%d, %d, kernel_size=%s, stride=%s'):format(self.in_channels, self.out_channels,
      tuple3(self.kernel_size), tuple3(self.stride))
    local p, dl = self.padding, self.dilation
    if self.padding_str then s = s .. (", padding='%s'"):format(self.padding_str)
    elseif p[1] ~= 0 or p[2] ~= 0 or p[3] ~= 0 then s = s .. ', padding=' .. tuple3(p) end
    if dl[1] ~= 1 or dl[2] ~= 1 or dl[3] ~= 1 then s = s .. ', dilation=' .. tuple3(dl) end
    if self.groups ~= 1 then s = s .. ', groups=' .. self.groups end
    if not self.bias then s = s .. ', bias=false' end
    if self.padding_mode ~= 'zeros' then s = s .. ', padding_mode=' .. self.padding_mode end
    return s
  end

  -- ---- transposed convolution -----------------------------------------------------

  local TCONV_ARGS = { 'stride', 'padding', 'output_padding', 'groups', 'dilation' }   -- PyTorch's order
  local KNOWN_TF = { stride = 1, padding = 1, output_padding = 1, groups = 1, dilation = 1 }

  -- stride, padding, output_padding, dilation ({d, h, w} each) and groups of opts
  local function t_geometry(op, opts)
    local g = {
      s = triple(opts.stride or 1, 'stride', op, 1), p = triple(opts.padding or 0, 'padding', op, 0),
      opad = triple(opts.output_padding or 0, 'output_padding', op, 0),
      d = triple(opts.dilation or 1, 'dilation', op, 1), groups = single(opts.groups or 1, 'groups', op, 1),
    }
    nn._check_output_padding(op, g.opad, g.s, g.d)
    return g
  end

  -- x (N, Ci, D, H, W), w (Ci, Co/groups, kd, kh, kw), b (Co) or nil; s, p,
  -- opad, d: {d, h, w}. The checks name op and the caller's shapes (shown:
  -- the input's), as conv.lua's transposed does for 2-D.
  local function transposed3(op, x, w, b, s, p, opad, d, groups, shown)
    local C, ci, cog = x:size(2), w:size(1), w:size(2)
    local ws = nl._shape_str(w)
    local dt = x:dtype()
    if dt == 'int64' or w:dtype() ~= dt or (b ~= nil and (b:dtype() ~= dt or b:dim() ~= 1
        or b:size(1) ~= cog * groups)) then
      nl._raise(('%s: expected a float input, a weight of its dtype%s, got input %s %s, weight %s %s%s'):format(op,
        b ~= nil and (' and a bias of the ' .. cog * groups .. ' output channels') or '', dt, shown, w:dtype(), ws,
        b ~= nil and (', bias ' .. b:dtype() .. ' ' .. nl._shape_str(b)) or ''))
    end
    if ci % groups ~= 0 then
      nl._raise(("%s: groups %d must divide the weight's %d input channels (weight %s)"):format(op, groups, ci, ws))
    end
    if C ~= ci then
      nl._raise(('%s: input has %d channels, weight expects %d (input %s, weight %s)'):format(op, C, ci, shown, ws))
    end
    local out, sizes, k, small = {}, { x:size(3), x:size(4), x:size(5) }, { w:size(3), w:size(4), w:size(5) }, false
    for i = 1, 3 do
      out[i] = (sizes[i] - 1) * s[i] - 2 * p[i] + d[i] * (k[i] - 1) + 1 + opad[i]
      small = small or out[i] < 1 or sizes[i] < 1
    end
    if small then
      nl._raise(('%s: output size %s is too small: input %s, padding %s, kernel %s with dilation %s, stride %s, '
        .. 'output_padding %s'):format(op, list_str(out), shown, list_str(p), list_str(k), list_str(d), list_str(s),
        list_str(opad)))
    end
    if out[1] * out[2] * out[3] * x:size(1) * cog * groups > 2 ^ 40 then
      nl._raise(('%s: output size %s of input %s is too large'):format(op, list_str(out), shown))
    end
    -- output_padding at or past the stride (a larger dilation allows it):
    -- the convolution over the output has floor(opad/s) more planes than
    -- x, planes of zeros (conv.lua's extended)
    for i = 1, 3 do
      local e = math.floor(opad[i] / s[i])
      if e > 0 then
        local sh = x:shape()
        sh[2 + i] = e
        x = nl.cat({ x, nl.zeros(sh, dt) }, 2 + i)
      end
    end
    return nl._wrap(lib.nl_conv_transpose3d(x.ptr, w.ptr, b and b.ptr or nil, s[1], s[2], s[3], p[1], p[2], p[3],
                                            d[1], d[2], d[3], groups, out[1], out[2], out[3]))
  end

  -- x (N, Ci, D, H, W) or (Ci, D, H, W), weight (Ci, Co/groups, kd, kh,
  -- kw), bias (Co) or nil; opts: stride, padding, output_padding, groups,
  -- dilation; or PyTorch's positional (x, weight, bias, stride, padding,
  -- output_padding, groups, dilation)
  function F.conv_transpose3d(x, weight, bias, opts, ...)
    local op = 'conv_transpose3d'
    opts = nn._positional_options(op, '(input, weight, bias', TCONV_ARGS, KNOWN_TF, opts, ...)
    local g = t_geometry(op, opts)
    nl._T(x, op)
    if nl._T(weight, op).ndim ~= 5 then
      nl._raise(('%s: weight must be 5-D (in_channels, out_channels/groups, kd, kh, kw), got shape %s'):format(op,
        nl._shape_str(weight)))
    end
    if bias ~= nil then nl._T(bias, op) end
    local shown = nl._shape_str(x)
    return (batched(op, x, function(x5)
      return transposed3(op, x5, weight, bias, g.s, g.p, g.opad, g.d, g.groups, shown)
    end))
  end

  local ConvTranspose3d = Module:extend('ConvTranspose3d')
  nn.ConvTranspose3d = ConvTranspose3d

  -- ConvTranspose3d(in_channels, out_channels, kernel_size, {stride,
  -- padding, output_padding, groups, bias, dilation}); sizes are n or {d,
  -- h, w}; the weight is (in_channels, out_channels/groups, kd, kh, kw), as
  -- PyTorch's, and so is its initialization
  function ConvTranspose3d:init(in_channels, out_channels, kernel_size, opts)
    local op = 'ConvTranspose3d'
    opts = nn._transposed_options(op, opts)
    local g = t_geometry(op, opts)
    self.groups = g.groups
    nn._check_channels(op, in_channels, out_channels, self.groups)
    self.in_channels, self.out_channels = in_channels, out_channels
    self.kernel_size = triple(kernel_size, 'kernel_size', op, 1)
    self.stride, self.padding, self.output_padding, self.dilation = g.s, g.p, g.opad, g.d
    local k = self.kernel_size
    self.weight = nl.empty(in_channels, out_channels / self.groups, k[1], k[2], k[3]):requires_grad()
    if opts.bias ~= false then self.bias = nl.empty(out_channels):requires_grad() end
    nn._conv_reset(self)
  end

  -- input (N, C, D, H, W) or (C, D, H, W); output_size (optional): {D, H,
  -- W} (or {N, C, D, H, W}; unbatched {C, D, H, W}) within the stride's
  -- reach, in place of output_padding
  function ConvTranspose3d:forward(x, output_size)
    local op = 'ConvTranspose3d'
    local _, opad = nn._transposed_input(op, self, x, output_size, '(N, C, D, H, W) or (C, D, H, W)')
    local shown = nl._shape_str(x)
    return (batched(op, x, function(x5)
      return transposed3(op, x5, self.weight, self.bias, self.stride, self.padding, opad, self.dilation,
                         self.groups, shown)
    end))
  end

  function ConvTranspose3d:extra_repr()
    local s = ('%d, %d, kernel_size=%s, stride=%s'):format(self.in_channels, self.out_channels,
      tuple3(self.kernel_size), tuple3(self.stride))
    local p, dl, o = self.padding, self.dilation, self.output_padding
    if p[1] ~= 0 or p[2] ~= 0 or p[3] ~= 0 then s = s .. ', padding=' .. tuple3(p) end
    if dl[1] ~= 1 or dl[2] ~= 1 or dl[3] ~= 1 then s = s .. ', dilation=' .. tuple3(dl) end
    if o[1] ~= 0 or o[2] ~= 0 or o[3] ~= 0 then s = s .. ', output_padding=' .. tuple3(o) end
    if self.groups ~= 1 then s = s .. ', groups=' .. self.groups end
    if not self.bias then s = s .. ', bias=false' end
    return s
  end

  -- ---- pooling -------------------------------------------------------------------

  local KNOWN_MAX = { stride = 1, padding = 1, dilation = 1, ceil_mode = 'flag', return_indices = 'flag' }
  local KNOWN_AVG = { stride = 1, padding = 1, ceil_mode = 'flag', count_include_pad = 'flag', divisor_override = 1 }
  local MAX_ARGS = { 'stride', 'padding', 'dilation', 'ceil_mode', 'return_indices' }   -- PyTorch's order
  local AVG_ARGS = { 'stride', 'padding', 'ceil_mode', 'count_include_pad', 'divisor_override' }

  -- x (N, C, D, H, W) or (C, D, H, W); opts: stride (default:
  -- kernel_size), padding, dilation, ceil_mode, return_indices (then also
  -- the int64 1-based positions (d*H + h)*W + w + 1)
  -- (op: the caller's name, for the messages of this layer)
  local function max_pool3d(op, x, kernel_size, opts)
    opts = options(opts, op)
    nl._check_opts(op, opts, KNOWN_MAX)
    local k = triple(kernel_size, 'kernel_size', op, 1)
    local s = triple(opts.stride or kernel_size, 'stride', op, 1)
    local p = triple(opts.padding or 0, 'padding', op, 0)
    local dl = triple(opts.dilation or 1, 'dilation', op, 1)
    local want = opts.return_indices
    local y, i = batched(op, x, function(x5)
      indices_out[0] = nil
      local r = lib.nl_max_pool3d(x5.ptr, k[1], k[2], k[3], s[1], s[2], s[3], p[1], p[2], p[3], dl[1], dl[2], dl[3],
                                  opts.ceil_mode and 1 or 0, want and indices_out or nil, 1)
      -- the indices wrapped first: wrapping y may raise (detect_anomaly), and
      -- the indices' reference leaked (pooling.lua)
      local idx = r ~= nil and want and nl._wrap(indices_out[0]) or nil
      return nl._wrap(r, 'max_pool3d'), idx
    end)
    if want then return y, i end
    return y
  end
  -- or PyTorch's positional (x, kernel_size, stride, padding, dilation, ceil_mode, return_indices)
  function F.max_pool3d(x, kernel_size, opts, ...)
    opts = nn._positional_options('max_pool3d', '(input, kernel_size', MAX_ARGS, KNOWN_MAX, opts, ...)
    return max_pool3d('max_pool3d', x, kernel_size, opts)
  end

  -- divisor_override: nil, or a whole number >= 1 (0 for none, in C)
  local divisor = nn._pool_divisor

  -- x (N, C, D, H, W) or (C, D, H, W); opts: stride (default:
  -- kernel_size), padding, ceil_mode, count_include_pad (default true),
  -- divisor_override
  local function avg_pool3d(op, x, kernel_size, opts)
    opts = options(opts, op)
    nl._check_opts(op, opts, KNOWN_AVG)
    local k = triple(kernel_size, 'kernel_size', op, 1)
    local s = triple(opts.stride or kernel_size, 'stride', op, 1)
    local p = triple(opts.padding or 0, 'padding', op, 0)
    local d = divisor(opts.divisor_override, op) or 0
    return (batched(op, x, function(x5)
      return nl._wrap(lib.nl_avg_pool3d(x5.ptr, k[1], k[2], k[3], s[1], s[2], s[3], p[1], p[2], p[3],
                                        opts.ceil_mode and 1 or 0, opts.count_include_pad == false and 0 or 1, d))
    end))
  end
  -- or PyTorch's positional (x, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)
  function F.avg_pool3d(x, kernel_size, opts, ...)
    opts = nn._positional_options('avg_pool3d', '(input, kernel_size', AVG_ARGS, KNOWN_AVG, opts, ...)
    return avg_pool3d('avg_pool3d', x, kernel_size, opts)
  end

  -- an adaptive pool's output size n or {d, h, w} -> {d, h, w}, where an
  -- entry false (PyTorch's None) keeps the input's size (sizes_of reads it)
  local function out_triple(v, op)
    if type(v) == 'table' and not nl.is_tensor(v) and #v == 3 then
      local none, ok = false, true
      for i = 1, 3 do
        none = none or v[i] == false
        ok = ok and (v[i] == false or whole(v[i], 0))
      end
      if none and ok then return { v[1], v[2], v[3] } end
      if none then
        nl._raise(("%s: output_size must be an integer >= 0 or a list {d, h, w} of them, an entry false for the "
          .. "input's size, got %s"):format(op, describe(v)))
      end
    end
    return triple(v, 'output_size', op, 0)
  end
  local function sizes_of(o, x5)
    return o[1] or x5:size(3), o[2] or x5:size(4), o[3] or x5:size(5)
  end
  local function out_short3(t)
    if t[1] ~= false and t[1] == t[2] and t[2] == t[3] then return tostring(t[1]) end
    local s = {}
    for i = 1, 3 do s[i] = t[i] == false and 'None' or tostring(t[i]) end
    return '(' .. table.concat(s, ', ') .. ')'
  end

  -- x (N, C, D, H, W) or (C, D, H, W) -> (N, C, od, oh, ow); output_size n
  -- or {od, oh, ow}, an entry false for the input's size
  local function adaptive_avg_pool3d(op, x, output_size)
    local o = out_triple(output_size, op)
    return (batched(op, x, function(x5) return nl._wrap(lib.nl_adaptive_avg_pool3d(x5.ptr, sizes_of(o, x5))) end))
  end
  function F.adaptive_avg_pool3d(x, output_size, ...)
    nl._no_extra_args('adaptive_avg_pool3d', '(input, output_size)', nil, ...)
    return adaptive_avg_pool3d('adaptive_avg_pool3d', x, output_size)
  end

  -- return_indices as PyTorch's positional argument (a boolean) or in a
  -- table of options
  local return_indices_arg = nn._return_indices_arg

  -- the maximum of each of adaptive_avg_pool3d's windows; with
  -- return_indices also the int64 1-based positions (d*H + h)*W + w + 1
  local function adaptive_max_pool3d(op, x, output_size, want)
    local o = out_triple(output_size, op)
    local y, i = batched(op, x, function(x5)
      indices_out[0] = nil
      local od, oh, ow = sizes_of(o, x5)
      local r = lib.nl_adaptive_max_pool3d(x5.ptr, od, oh, ow, want and indices_out or nil, 1)
      local idx = r ~= nil and want and nl._wrap(indices_out[0]) or nil    -- first: see max_pool3d
      return nl._wrap(r, 'adaptive_max_pool3d'), idx
    end)
    if want then return y, i end
    return y
  end
  function F.adaptive_max_pool3d(x, output_size, return_indices, ...)
    local op = 'adaptive_max_pool3d'
    nl._no_extra_args(op, '(input, output_size, return_indices)', nil, ...)
    return adaptive_max_pool3d(op, x, output_size, return_indices_arg(return_indices, op))
  end

  local MaxPool3d = Module:extend('MaxPool3d')
  nn.MaxPool3d = MaxPool3d

  -- MaxPool3d(kernel_size, {stride, padding, dilation, ceil_mode, return_indices})
  function MaxPool3d:init(kernel_size, opts) nn._max_pool_init(self, 'MaxPool3d', triple, kernel_size, opts) end

  function MaxPool3d:forward(x)
    return max_pool3d('MaxPool3d', x, self.kernel_size, { stride = self.stride, padding = self.padding,
      dilation = self.dilation, ceil_mode = self.ceil_mode, return_indices = self.return_indices })
  end

  function MaxPool3d:extra_repr() return nn._max_pool_repr(self, short3) end

  local AvgPool3d = Module:extend('AvgPool3d')
  nn.AvgPool3d = AvgPool3d

  -- AvgPool3d(kernel_size, {stride, padding, ceil_mode, count_include_pad, divisor_override})
  function AvgPool3d:init(kernel_size, opts)
    nn._avg_pool_init(self, 'AvgPool3d', triple, KNOWN_AVG, kernel_size, opts)
  end

  function AvgPool3d:forward(x)
    return avg_pool3d('AvgPool3d', x, self.kernel_size, { stride = self.stride, padding = self.padding,
      ceil_mode = self.ceil_mode, count_include_pad = self.count_include_pad,
      divisor_override = self.divisor_override })
  end

  function AvgPool3d:extra_repr() return nn._avg_pool_repr(self, short3) end

  local AdaptiveAvgPool3d = Module:extend('AdaptiveAvgPool3d')
  nn.AdaptiveAvgPool3d = AdaptiveAvgPool3d

  -- AdaptiveAvgPool3d(output_size): n or {od, oh, ow}, an entry false for the input's size
  function AdaptiveAvgPool3d:init(output_size)
    self.output_size = out_triple(output_size, 'AdaptiveAvgPool3d')
  end

  function AdaptiveAvgPool3d:forward(x) return adaptive_avg_pool3d('AdaptiveAvgPool3d', x, self.output_size) end

  function AdaptiveAvgPool3d:extra_repr() return 'output_size=' .. out_short3(self.output_size) end

  local AdaptiveMaxPool3d = Module:extend('AdaptiveMaxPool3d')
  nn.AdaptiveMaxPool3d = AdaptiveMaxPool3d

  -- AdaptiveMaxPool3d(output_size, [return_indices]): n or {od, oh, ow}
  -- (false as AdaptiveAvgPool3d's);
  -- the flag as PyTorch's positional argument or {return_indices = true}
  function AdaptiveMaxPool3d:init(output_size, return_indices)
    self.output_size = out_triple(output_size, 'AdaptiveMaxPool3d')
    self.return_indices = return_indices_arg(return_indices, 'AdaptiveMaxPool3d')
  end

  function AdaptiveMaxPool3d:forward(x)
    return adaptive_max_pool3d('AdaptiveMaxPool3d', x, self.output_size, self.return_indices)
  end

  function AdaptiveMaxPool3d:extra_repr() return 'output_size=' .. out_short3(self.output_size) end
end
