-- conv.lua: nn.Conv2d and nn.Conv1d (PyTorch's layout, options and default
-- initialization) and nn.functional.conv2d / conv1d. Both run the one C
-- kernel nl_conv2d; a 1-D convolution is a 2-D one over (N, C, 1, L). A
-- padding_mode other than 'zeros' pads the input first (padding.lua).
-- nn.ConvTranspose1d/2d and nn.functional.conv_transpose1d/2d run
-- nl_conv_transpose2d, the convolution's input gradient as an op (the 3-D
-- one is conv3d.lua's).
return function(nl, nn)
  local lib = nl._lib
  local Module = nn.Module
  local F = nn.functional or {}
  nn.functional = F

  -- v for a message: numbers and strings as they are, tables one level deep
  local function describe(v)
    if type(v) == 'string' then return ("'%s'"):format(v) end
    if nl.is_tensor(v) then return 'a tensor of shape ' .. nl._shape_str(v) end
    if type(v) ~= 'table' then return tostring(v) end
    local parts = {}
    for i = 1, math.min(#v, 4) do
      local x = v[i]
      parts[i] = nl.is_tensor(x) and 'tensor' or type(x) == 'table' and 'table' or tostring(x)
    end
    return '{' .. table.concat(parts, ', ') .. (#v > 4 and ', ...}' or '}')
  end
  nn._describe = describe

  -- integers from lo up to 2^53 (past it, sizes are no longer exact)
  local function whole(x, lo)
    return type(x) == 'number' and x == math.floor(x) and x >= lo and x <= 2 ^ 53
  end

  -- a size given as n or {h, w} -> h, w (whole numbers >= lo); strs: the
  -- strings the option also takes, for the message ("'valid', 'same'")
  local function pair(v, what, op, lo, strs)
    local h, w
    if type(v) == 'number' then h, w = v, v
    elseif type(v) == 'table' and #v == 2 then h, w = v[1], v[2]
    end
    if not whole(h, lo) or not whole(w, lo) then
      nl._raise(('%s: %s must be %san integer >= %d or a pair {h, w} of them, got %s'):format(op, what,
        strs and strs .. ', ' or '', lo, describe(v)))
    end
    return h, w
  end
  nn._pair = pair
  nn._whole = whole

  -- opts: nil or a table of options
  local function options(opts, op)
    if opts == nil then return {} end
    if type(opts) ~= 'table' or nl.is_tensor(opts) then
      nl._raise(('%s: options must be a table, got %s'):format(op, describe(opts)))
    end
    return opts
  end
  nn._options = options

  -- The options of an F conv or pool: a table of them (nothing after it),
  -- or PyTorch's positional form after the arguments head names ('(input,
  -- weight, bias' or '(input, kernel_size'), names[1] (the stride: a
  -- number, a list or nil) first, then names[2], ... in PyTorch's order
  -- (F.conv2d(x, w, b, 1, 0, 1, 1) was refused: options must be a table;
  -- an argument past them, or after a table, was dropped without a word:
  -- F.max_pool2d(x, 2, nil, 0, 1, true) pooled without ceil_mode)
  function nn._positional_options(op, head, names, known, opts, ...)
    local list = type(opts) == 'table' and not nl.is_tensor(opts) and nl._list_len(opts)
    if type(opts) == 'table' and not nl.is_tensor(opts) and not (list and list > 0) then
      nl._no_extra_args(op, head .. ', {options})', "options go in one table, or all in PyTorch's positional order",
        ...)
      nl._check_opts(op, opts, known)
      return opts
    end
    if select('#', ...) >= #names then
      nl._no_extra_args(op, head .. ', ' .. table.concat(names, ', ') .. ')', nil, select(#names, ...))
    end
    local t = { [names[1]] = opts }
    for i = 2, #names do t[names[i]] = (select(i - 1, ...)) end
    nl._check_opts(op, t, known)
    return t
  end
  local function conv_options(op, names, known, opts, ...)
    return nn._positional_options(op, '(input, weight, bias', names, known, opts, ...)
  end
  local CONV_ARGS = { 'stride', 'padding', 'dilation', 'groups' }
  local TCONV_ARGS = { 'stride', 'padding', 'output_padding', 'groups', 'dilation' }

  -- the options each form reads; any other key is an error, not ignored
  local KNOWN_F = { stride = 1, padding = 1, dilation = 1, groups = 1 }
  local KNOWN = { stride = 1, padding = 1, dilation = 1, groups = 1, bias = 'flag', padding_mode = 1 }

  -- one size for a 1-D op: n or {n} (strs as pair's)
  local function single(v, what, op, lo, strs)
    local x = v
    if type(x) == 'table' and #x == 1 then x = x[1] end
    if not whole(x, lo) then
      nl._raise(('%s: %s must be %san integer >= %d, got %s'):format(op, what, strs and strs .. ' or ' or '', lo,
        describe(v)))
    end
    return x
  end
  nn._single = single

  -- (h, w) of 'valid', 'same' (stride 1) or numbers, then the zeros to
  -- add at the end of each dim (0 or 1). 'same' pads dilation*(k-1) in
  -- all; where that is odd PyTorch puts the extra zero at the end: here
  -- both sides get the smaller half and the input one more zero at its
  -- end (extended). (Both sides the larger half and the first output
  -- dropped gave the outputs, but a weight gradient of 0 * inf = NaN where
  -- the input held an infinity.)
  -- the convolutions' padding strings, which their messages name (a bad
  -- padding was 'must be an integer >= 0 or a pair {h, w}', as if these
  -- were not taken; the transposed ones take none, as PyTorch's)
  local PAD_STRS = "'valid', 'same'"
  nn._pad_strs = PAD_STRS
  local function padding_of(p, kh, kw, dh, dw, sh, sw, op)
    if p == 'valid' then return 0, 0, 0, 0 end
    if p == 'same' then
      if sh ~= 1 or sw ~= 1 then nl._raise(op .. ": padding='same' needs stride 1") end
      local th, tw = dh * (kh - 1), dw * (kw - 1)
      return math.floor(th / 2), math.floor(tw / 2), th % 2, tw % 2
    end
    local ph, pw = pair(p, 'padding', op, 0, PAD_STRS)
    return ph, pw, 0, 0
  end

  -- x (N, C, H, W) with eh zero rows and ew zero columns after its own
  local function extended(x, eh, ew)
    for dim, e in pairs({ [3] = eh, [4] = ew }) do
      if e > 0 then
        local s = x:shape()
        s[dim] = e
        x = nl.cat({ x, nl.zeros(s, x:dtype()) }, dim)
      end
    end
    return x
  end

  local function tuple(h, w) return ('(%d, %d)'):format(h, w) end

  -- PyTorch's padding modes: 'zeros' is the convolution's own padding; the
  -- others pad the input (nn.functional.pad's modes) before a convolution
  -- without padding
  local PADDING_MODES = { zeros = true, reflect = true, replicate = true, circular = true }
  local function padding_mode(m, op)
    if m == nil then return 'zeros' end
    if not PADDING_MODES[m] then
      nl._raise(("%s: padding_mode must be 'zeros', 'reflect', 'replicate' or 'circular', got %s"):format(op,
        describe(m)))
    end
    return m
  end
  nn._padding_mode = padding_mode

  -- ---- functional ----------------------------------------------------------

  -- f(x1, w, b, opts) for an unbatched x seen with a batch of one, x1; its
  -- result back without it, and its error naming the input by x's own
  -- shape. PyTorch 1.13's F.conv1d/2d and F.conv_transpose1d/2d take
  -- unbatched input (F.conv2d of a (C, H, W) x said 'input must be a 4-D
  -- float tensor').
  local function unbatched(f, x, w, b, opts)
    local x1 = x:unsqueeze(1)
    local ok, y = pcall(f, x1, w, b, opts)
    if not ok then
      local msg = tostring(y):gsub('^[^:\n]*:%d+: ', '')
      for _, lead in ipairs({ 'input ', 'input ' .. x:dtype() .. ' ' }) do
        local from, to, at = lead .. nl._shape_str(x1), lead .. nl._shape_str(x), 1
        while true do
          local i, j = msg:find(from, at, true)
          if not i then break end
          msg, at = msg:sub(1, i - 1) .. to .. msg:sub(j + 1), i + #to
        end
      end
      nl._raise(msg)
    end
    return y:squeeze(1)
  end

  -- x (N, C, H, W) or (C, H, W), weight (O, C/groups, kh, kw), bias (O) or nil;
  -- opts: stride, padding (n, {h, w}, 'valid', 'same'), dilation, groups
  function F.conv2d(x, weight, bias, opts, ...)
    local op = 'conv2d'
    opts = conv_options(op, CONV_ARGS, KNOWN_F, opts, ...)
    local xd = nl._T(x, op).ndim
    if xd == 3 then return unbatched(F.conv2d, x, weight, bias, opts) end
    if xd ~= 4 then
      nl._raise(('%s: input must be (N, C, H, W) or (C, H, W), got shape %s'):format(op, nl._shape_str(x)))
    end
    local px, pw = nl._T(x, op), nl._T(weight, op)
    local sh, sw = pair(opts.stride or 1, 'stride', op, 1)
    local dh, dw = pair(opts.dilation or 1, 'dilation', op, 1)
    local kh, kw = pw.ndim == 4 and tonumber(pw.sizes[2]) or 1, pw.ndim == 4 and tonumber(pw.sizes[3]) or 1
    local ph, pww, eh, ew = padding_of(opts.padding or 0, kh, kw, dh, dw, sh, sw, op)
    local groups = single(opts.groups or 1, 'groups', op, 1)
    local pb = bias ~= nil and nl._T(bias, op) or nil
    if eh + ew > 0 and px.ndim == 4 then
      x = extended(x, eh, ew)             -- (kept in a local: its handle outlives the call)
      px = nl._T(x, op)
    end
    return nl._wrap(lib.nl_conv2d(px, pw, pb, sh, sw, ph, pww, dh, dw, groups))
  end

  -- conv1d runs conv2d on (N, C, 1, L): its checks of the channels and
  -- the output's length are made here first, so that the message names
  -- the 1-D op and the caller's shapes (they named conv2d and [N,C,1,L]).
  -- pad: the padding on each side ('same': none needed)
  -- (shown: the input's shape as the caller gave it, before a batch of one)
  local function check1d(op, x, w, b, groups, pad, d, s, shown)
    local C, O, cg, k, L = x:size(2), w:size(1), w:size(2), w:size(3), x:size(3)
    local xs = shown or nl._shape_str(x)
    local dt = x:dtype()
    if dt == 'int64' or w:dtype() ~= dt or (b ~= nil and (b:dtype() ~= dt or b:dim() ~= 1 or b:size(1) ~= O)) then
      nl._raise(('%s: expected a float input, a weight of its dtype%s, got input %s %s, weight %s %s%s'):format(op,
        b ~= nil and (' and a bias of the ' .. O .. ' output channels') or '', dt, xs, w:dtype(),
        nl._shape_str(w), b ~= nil and (', bias ' .. b:dtype() .. ' ' .. nl._shape_str(b)) or ''))
    end
    if C % groups ~= 0 or O % groups ~= 0 then
      nl._raise(('%s: groups %d must divide the input\'s %d channels and the weight\'s %d output channels '
        .. '(input %s, weight %s)'):format(op, groups, C, O, xs, nl._shape_str(w)))
    end
    if cg * groups ~= C then
      nl._raise(('%s: input has %d channels, weight expects %d (input %s, weight %s)'):format(op, C, cg * groups,
        xs, nl._shape_str(w)))
    end
    if pad ~= 'same' and L + 2 * pad - d * (k - 1) - 1 < 0 then
      nl._raise(('%s: output length %d is too small: input %s, padding %d, kernel %d with dilation %d, stride %d'):format(
        op, math.floor((L + 2 * pad - d * (k - 1) - 1) / s) + 1, xs, pad, k, d, s))
    end
  end

  -- x (N, C, L) or (C, L), weight (O, C/groups, k), bias (O) or nil; opts
  -- as conv2d's, each a single number
  function F.conv1d(x, weight, bias, opts, ...)
    local op = 'conv1d'
    opts = conv_options(op, CONV_ARGS, KNOWN_F, opts, ...)
    local xd = nl._T(x, op).ndim
    if xd == 2 then return unbatched(F.conv1d, x, weight, bias, opts) end
    if xd ~= 3 then
      nl._raise(('%s: input must be (N, C, L) or (C, L), got shape %s'):format(op, nl._shape_str(x)))
    end
    if nl._T(weight, op).ndim ~= 3 then
      nl._raise(('%s: weight must be 3-D (out_channels, in_channels/groups, k), got shape %s'):format(op,
        nl._shape_str(weight)))
    end
    local s = single(opts.stride or 1, 'stride', op, 1)
    local d = single(opts.dilation or 1, 'dilation', op, 1)
    local p = opts.padding or 0
    if p == 'same' then padding_of(p, 1, tonumber(nl._T(weight, op).sizes[2]), 1, d, 1, s, op) end   -- stride's error names conv1d
    if p ~= 'same' and p ~= 'valid' then p = { 0, single(p, 'padding', op, 0, PAD_STRS) } end
    if bias ~= nil then nl._T(bias, op) end
    check1d(op, x, weight, bias, single(opts.groups or 1, 'groups', op, 1), p == 'same' and p or p == 'valid' and 0 or p[2],
            d, s)
    local y = F.conv2d(x:unsqueeze(3), weight:unsqueeze(3), bias,
                       { stride = { 1, s }, dilation = { 1, d }, padding = p, groups = opts.groups })
    return y:squeeze(3)
  end

  -- ---- modules ---------------------------------------------------------------

  -- PyTorch's default: kaiming_uniform(a = sqrt 5) weights, U(+-1/sqrt(fan_in)) bias
  local function reset(self)
    nn.init.kaiming_uniform_(self.weight, { a = math.sqrt(5) })
    if self.bias then
      local fan_in = nn.init._fans(self.weight)
      local bound = 1 / math.sqrt(fan_in)
      nn.init.uniform_(self.bias, -bound, bound)
    end
  end
  nn._conv_reset = reset

  local function check_channels(op, in_channels, out_channels, groups)
    if not whole(in_channels, 1) or not whole(out_channels, 1) then
      nl._raise(('%s: expected positive channel counts, got %s and %s'):format(op, describe(in_channels),
        describe(out_channels)))
    end
    if in_channels % groups ~= 0 or out_channels % groups ~= 0 then
      nl._raise(('%s: groups %d must divide in_channels %d and out_channels %d'):format(op, groups, in_channels,
        out_channels))
    end
  end
  nn._check_channels = check_channels

  local Conv2d = Module:extend('Conv2d')
  nn.Conv2d = Conv2d

  -- Conv2d(in_channels, out_channels, kernel_size, {stride, padding,
  -- dilation, groups, bias}); sizes are n or {h, w}
  function Conv2d:init(in_channels, out_channels, kernel_size, opts)
    local op = 'Conv2d'
    opts = options(opts, op)
    nl._check_opts(op, opts, KNOWN)
    self.padding_mode = padding_mode(opts.padding_mode, op)
    self.kernel_size = { pair(kernel_size, 'kernel_size', op, 1) }
    self.stride = { pair(opts.stride or 1, 'stride', op, 1) }
    self.dilation = { pair(opts.dilation or 1, 'dilation', op, 1) }
    self.groups = single(opts.groups or 1, 'groups', op, 1)
    check_channels(op, in_channels, out_channels, self.groups)
    self.in_channels, self.out_channels = in_channels, out_channels
    local kh, kw = self.kernel_size[1], self.kernel_size[2]
    local ph, pw, eh, ew = padding_of(opts.padding or 0, kh, kw, self.dilation[1], self.dilation[2],
                                      self.stride[1], self.stride[2], op)
    self.padding = { ph, pw }
    if eh + ew > 0 then self._extend = { eh, ew } end   -- 'same' with an even effective kernel
    self.padding_str = type(opts.padding) == 'string' and opts.padding or nil
    self.weight = nl.empty(out_channels, in_channels / self.groups, kh, kw):requires_grad()
    if opts.bias ~= false then self.bias = nl.empty(out_channels):requires_grad() end
    reset(self)
  end

  local function list_str(t) return '[' .. table.concat(t, ',') .. ']' end

  -- the caller's input against a Conv2d or Conv3d layer, named op with its
  -- shape (the C op named conv2d, blamed the weight for the input's dtype,
  -- and showed an unbatched input with its batch dim); layout: the input's
  -- two forms, for the message. Returns its number of dims.
  local function check_input(op, self, x, layout)
    local n = #self.kernel_size
    local d = nl._T(x, op).ndim
    if d ~= n + 1 and d ~= n + 2 then
      nl._raise(('%s: input must be %s, got shape %s'):format(op, layout, nl._shape_str(x)))
    end
    nn._check_input_dtype(op, x, self.weight:dtype())
    if x:size(d - n) ~= self.in_channels then
      nl._raise(('%s: input has %d channels, weight expects %d (input %s, weight %s)'):format(op, x:size(d - n),
        self.in_channels, nl._shape_str(x), nl._shape_str(self.weight)))
    end
    local out, too_small = {}, false
    for i = 1, n do
      local k = self.dilation[i] * (self.kernel_size[i] - 1) + 1
      local padded = x:size(d - n + i) + 2 * self.padding[i] + (self._extend and self._extend[i] or 0)
      out[i] = math.floor((padded - k) / self.stride[i]) + 1
      too_small = too_small or out[i] < 1
    end
    if too_small then
      nl._raise(('%s: output size %s is too small: input %s, padding %s, kernel %s with dilation %s, stride %s')
        :format(op, list_str(out), nl._shape_str(x), list_str(self.padding), list_str(self.kernel_size),
          list_str(self.dilation), list_str(self.stride)))
    end
    return d
  end
  nn._check_conv_input = check_input
  local function check2d(self, x) return check_input('Conv2d', self, x, '(N, C, H, W) or (C, H, W)') end

  function Conv2d:forward(x)
    local unbatched = check2d(self, x) == 3
    if unbatched then x = x:unsqueeze(1) end
    local ph, pw = self.padding[1], self.padding[2]
    if self.padding_mode ~= 'zeros' then
      -- PyTorch pads with the mode, then convolves without padding; 'same'
      -- puts its odd element at the end
      local eh, ew = self._extend and self._extend[1] or 0, self._extend and self._extend[2] or 0
      x = nn._pad('Conv2d', x, { pw, pw + ew, ph, ph + eh }, self.padding_mode, nil, unbatched)
      ph, pw = 0, 0
    elseif self._extend then
      x = extended(x, self._extend[1], self._extend[2])
    end
    local y = nl._wrap(lib.nl_conv2d(x.ptr, self.weight.ptr, self.bias and self.bias.ptr or nil,
                                     self.stride[1], self.stride[2], ph, pw,
                                     self.dilation[1], self.dilation[2], self.groups))
    if unbatched then y = y:squeeze(1) end
    return y
  end

  -- forward on a 4-D x, then MaxPool2d(2) and, when relu, ReLU: one op
  -- (nn.Sequential runs such a stack through it)
  function Conv2d:_forward_pool(x, relu)
    check2d(self, x)
    return nl._wrap(lib.nl_conv2d_pool(nl._T(x, 'Conv2d'), self.weight.ptr, self.bias and self.bias.ptr or nil,
                                       self.stride[1], self.stride[2], self.padding[1], self.padding[2],
                                       self.dilation[1], self.dilation[2], self.groups, relu and 1 or 0))
  end

  function Conv2d:extra_repr()
    local s = ('%d, %d, kernel_size=%s, stride=%s'):format(self.in_channels, self.out_channels,
      tuple(self.kernel_size[1], self.kernel_size[2]), tuple(self.stride[1], self.stride[2]))
    if self.padding_str then s = s .. (", padding='%s'"):format(self.padding_str)
    elseif self.padding[1] ~= 0 or self.padding[2] ~= 0 then
      s = s .. ', padding=' .. tuple(self.padding[1], self.padding[2])
    end
    if self.dilation[1] ~= 1 or self.dilation[2] ~= 1 then
      s = s .. ', dilation=' .. tuple(self.dilation[1], self.dilation[2])
    end
    if self.groups ~= 1 then s = s .. ', groups=' .. self.groups end
    if not self.bias then s = s .. ', bias=false' end
    if self.padding_mode ~= 'zeros' then s = s .. ', padding_mode=' .. self.padding_mode end
    return s
  end

  local Conv1d = Module:extend('Conv1d')
  nn.Conv1d = Conv1d

  -- Conv1d(in_channels, out_channels, kernel_size, {stride, padding,
  -- dilation, groups, bias}); input (N, C, L) or (C, L)
  function Conv1d:init(in_channels, out_channels, kernel_size, opts)
    local op = 'Conv1d'
    opts = options(opts, op)
    nl._check_opts(op, opts, KNOWN)
    self.padding_mode = padding_mode(opts.padding_mode, op)
    self.kernel_size = single(kernel_size, 'kernel_size', op, 1)
    self.stride = single(opts.stride or 1, 'stride', op, 1)
    self.dilation = single(opts.dilation or 1, 'dilation', op, 1)
    self.groups = single(opts.groups or 1, 'groups', op, 1)
    check_channels(op, in_channels, out_channels, self.groups)
    self.in_channels, self.out_channels = in_channels, out_channels
    local p = opts.padding or 0
    if p == 'same' or p == 'valid' then
      local _, extra
      _, p, _, extra = padding_of(p, 1, self.kernel_size, 1, self.dilation, 1, self.stride, op)
      if extra > 0 then self._extend = extra end
    else
      p = single(p, 'padding', op, 0, PAD_STRS)
    end
    self.padding = p
    self.padding_str = type(opts.padding) == 'string' and opts.padding or nil
    self.weight = nl.empty(out_channels, in_channels / self.groups, self.kernel_size):requires_grad()
    if opts.bias ~= false then self.bias = nl.empty(out_channels):requires_grad() end
    reset(self)
  end

  function Conv1d:forward(x)
    local d = nl._T(x, 'Conv1d').ndim
    if d ~= 2 and d ~= 3 then
      nl._raise(('Conv1d: input must be (N, C, L) or (C, L), got shape %s'):format(nl._shape_str(x)))
    end
    local shown = nl._shape_str(x)
    nn._check_input_dtype('Conv1d', x, self.weight:dtype())
    if d == 2 then x = x:unsqueeze(1) end
    check1d('Conv1d', x, self.weight, self.bias, self.groups, self.padding_str == 'same' and 'same' or self.padding,
            self.dilation, self.stride, shown)
    -- the views stay in locals: their handles must outlive the call
    local p, x4 = self.padding, nil
    if self.padding_mode ~= 'zeros' then
      x4 = nn._pad('Conv1d', x, { p, p + (self._extend or 0) }, self.padding_mode, nil, d == 2):unsqueeze(3)
      p = 0
    else
      x4 = extended(x:unsqueeze(3), 0, self._extend or 0)
    end
    local w4 = self.weight:unsqueeze(3)
    local y = nl._wrap(lib.nl_conv2d(x4.ptr, w4.ptr, self.bias and self.bias.ptr or nil, 1, self.stride,
                                     0, p, 1, self.dilation, self.groups))
    y = y:squeeze(3)
    if d == 2 then y = y:squeeze(1) end
    return y
  end

  function Conv1d:extra_repr()
    local s = ('%d, %d, kernel_size=(%d,), stride=(%d,)'):format(self.in_channels, self.out_channels,
                                                               self.kernel_size, self.stride)
    if self.padding_str then s = s .. (", padding='%s'"):format(self.padding_str)
    elseif self.padding ~= 0 then s = s .. (', padding=(%d,)'):format(self.padding) end
    if self.dilation ~= 1 then s = s .. (', dilation=(%d,)'):format(self.dilation) end
    if self.groups ~= 1 then s = s .. ', groups=' .. self.groups end
    if not self.bias then s = s .. ', bias=false' end
    if self.padding_mode ~= 'zeros' then s = s .. ', padding_mode=' .. self.padding_mode end
    return s
  end

  -- ---- transposed convolutions ------------------------------------------------

  local KNOWN_TF = { stride = 1, padding = 1, output_padding = 1, groups = 1, dilation = 1 }
  local KNOWN_T = { stride = 1, padding = 1, output_padding = 1, groups = 1, bias = 'flag', dilation = 1,
                    padding_mode = 1 }

  -- output_padding must be smaller than the stride or the dilation (PyTorch's rule)
  local function check_output_padding(op, opad, s, d)
    for i = 1, #opad do
      if opad[i] >= math.max(s[i], d[i]) then
        nl._raise(('%s: output_padding %s must be smaller than the stride %s or the dilation %s'):format(op,
          list_str(opad), list_str(s), list_str(d)))
      end
    end
  end

  -- x (N, Ci, H, W), w (Ci, Co/groups, kh, kw), b (Co) or nil; s, p, opad,
  -- d: {h, w}. The checks name op and the caller's shapes (shown: the
  -- input's; k1: a 1-D op, whose sizes are the second of each pair).
  local function transposed(op, x, w, b, s, p, opad, d, groups, shown, k1)
    local C, ci, cog = x:size(2), w:size(1), w:size(2)
    local xs, ws = shown or nl._shape_str(x), nl._shape_str(k1 and w:squeeze(3) or w)
    local dt = x:dtype()
    if dt == 'int64' or w:dtype() ~= dt or (b ~= nil and (b:dtype() ~= dt or b:dim() ~= 1 or b:size(1) ~= cog * groups)) then
      nl._raise(('%s: expected a float input, a weight of its dtype%s, got input %s %s, weight %s %s%s'):format(op,
        b ~= nil and (' and a bias of the ' .. cog * groups .. ' output channels') or '', dt, xs, w:dtype(), ws,
        b ~= nil and (', bias ' .. b:dtype() .. ' ' .. nl._shape_str(b)) or ''))
    end
    if ci % groups ~= 0 then
      nl._raise(("%s: groups %d must divide the weight's %d input channels (weight %s)"):format(op, groups, ci, ws))
    end
    if C ~= ci then
      nl._raise(('%s: input has %d channels, weight expects %d (input %s, weight %s)'):format(op, C, ci, xs, ws))
    end
    local out, sizes = {}, { x:size(3), x:size(4) }
    local k = { w:size(3), w:size(4) }
    for i = 1, 2 do
      out[i] = (sizes[i] - 1) * s[i] - 2 * p[i] + d[i] * (k[i] - 1) + 1 + opad[i]
    end
    local first = k1 and 2 or 1
    local function pick(t) return list_str({ unpack(t, first, 2) }) end
    if out[1] < 1 or out[2] < 1 or sizes[1] < 1 or sizes[2] < 1 then
      nl._raise(('%s: output size %s is too small: input %s, padding %s, kernel %s with dilation %s, stride %s, '
        .. 'output_padding %s'):format(op, pick(out), xs, pick(p), pick(k), pick(d), pick(s), pick(opad)))
    end
    if out[1] * out[2] * x:size(1) * cog * groups > 2 ^ 40 then
      nl._raise(('%s: output size %s of input %s is too large'):format(op, pick(out), xs))
    end
    -- output_padding at or past the stride (a larger dilation allows it):
    -- the convolution over the output has floor(op/s) more rows than x,
    -- rows of zeros
    local eh, ew = math.floor(opad[1] / s[1]), math.floor(opad[2] / s[2])
    if eh + ew > 0 then x = extended(x, eh, ew) end
    return nl._wrap(lib.nl_conv_transpose2d(x.ptr, w.ptr, b and b.ptr or nil, s[1], s[2], p[1], p[2], d[1], d[2],
                                            groups, out[1], out[2]))
  end

  -- the geometry of opts for a 2-D (pair) or 1-D (single, as {1, n}) op
  local function t_geometry(op, opts, one)
    local function get(v, what, lo)
      if one then return { lo == 0 and 0 or 1, single(v, what, op, lo) } end
      return { pair(v, what, op, lo) }
    end
    local g = {
      s = get(opts.stride or 1, 'stride', 1), p = get(opts.padding or 0, 'padding', 0),
      opad = get(opts.output_padding or 0, 'output_padding', 0), d = get(opts.dilation or 1, 'dilation', 1),
      groups = single(opts.groups or 1, 'groups', op, 1),
    }
    check_output_padding(op, one and { g.opad[2] } or g.opad, one and { g.s[2] } or g.s, one and { g.d[2] } or g.d)
    return g
  end

  -- x (N, Ci, H, W) or (Ci, H, W), weight (Ci, Co/groups, kh, kw), bias
  -- (Co) or nil; opts: stride, padding, output_padding, groups, dilation
  function F.conv_transpose2d(x, weight, bias, opts, ...)
    local op = 'conv_transpose2d'
    opts = conv_options(op, TCONV_ARGS, KNOWN_TF, opts, ...)
    local g = t_geometry(op, opts, false)
    if nl._T(x, op).ndim == 3 then
      return unbatched(F.conv_transpose2d, x, weight, bias, opts)
    end
    -- (both checked first: a wrong input's message read the shape of a non-tensor weight: 'shape: expected a tensor')
    local xp, wp = nl._T(x, op), nl._T(weight, op)
    if xp.ndim ~= 4 or wp.ndim ~= 4 then
      nl._raise(('%s: expected input (N, C, H, W) or (C, H, W) and weight (in_channels, out_channels/groups, kh, '
        .. 'kw), got %s and %s'):format(op, nl._shape_str(x), nl._shape_str(weight)))
    end
    if bias ~= nil then nl._T(bias, op) end
    return transposed(op, x, weight, bias, g.s, g.p, g.opad, g.d, g.groups)
  end

  -- x (N, Ci, L) or (Ci, L), weight (Ci, Co/groups, k), bias (Co) or nil; opts as
  -- conv_transpose2d's, each a single number
  function F.conv_transpose1d(x, weight, bias, opts, ...)
    local op = 'conv_transpose1d'
    opts = conv_options(op, TCONV_ARGS, KNOWN_TF, opts, ...)
    local g = t_geometry(op, opts, true)
    if nl._T(x, op).ndim == 2 then
      return unbatched(F.conv_transpose1d, x, weight, bias, opts)
    end
    local xp, wp = nl._T(x, op), nl._T(weight, op)
    if xp.ndim ~= 3 or wp.ndim ~= 3 then
      nl._raise(('%s: expected input (N, C, L) or (C, L) and weight (in_channels, out_channels/groups, k), got %s '
        .. 'and %s'):format(op, nl._shape_str(x), nl._shape_str(weight)))
    end
    if bias ~= nil then nl._T(bias, op) end
    local x4, w4 = x:unsqueeze(3), weight:unsqueeze(3)
    return transposed(op, x4, w4, bias, g.s, g.p, g.opad, g.d, g.groups, nl._shape_str(x), true):squeeze(3)
  end

  -- the output_padding that gives output_size (n numbers, or n + 2 with N
  -- and C first, as PyTorch takes them) for input sizes (a list)
  -- (unbatched: x has no N, so a full output_size is {C, ...}, as PyTorch's
  -- _output_padding takes it; {N, C, ...} is refused there)
  local function padding_for(op, output_size, sizes, s, p, d, k, unbatched)
    local n = #sizes
    local full = n + (unbatched and 1 or 2)
    if type(output_size) ~= 'table' or nl.is_tensor(output_size) or (#output_size ~= n and #output_size ~= full) then
      nl._raise(('%s: output_size must be a list of %d sizes (or %d, with %s first%s), got %s'):format(op, n,
        full, unbatched and 'C' or 'N and C', unbatched and ', for unbatched input' or '', describe(output_size)))
    end
    local want, lo, hi, opad = {}, {}, {}, {}
    for i = 1, n do
      want[i] = output_size[#output_size - n + i]
      if not whole(want[i], 0) then
        nl._raise(('%s: output_size must hold whole numbers, got %s'):format(op, describe(output_size)))
      end
      lo[i] = (sizes[i] - 1) * s[i] - 2 * p[i] + d[i] * (k[i] - 1) + 1
      hi[i] = lo[i] + s[i] - 1
    end
    for i = 1, n do
      if want[i] < lo[i] or want[i] > hi[i] then
        nl._raise(('%s: requested an output size of %s, but valid sizes range from %s to %s (for an input of %s)'):format(
          op, list_str(want), list_str(lo), list_str(hi), list_str(sizes)))
      end
      opad[i] = want[i] - lo[i]
    end
    return opad
  end
  nn._padding_for, nn._check_output_padding = padding_for, check_output_padding

  -- a ConvTranspose layer's input x checked (layout: its two forms, for
  -- the message): its number of dims, and the output_padding that gives
  -- output_size (the layer's when nil; ConvTranspose1d's sizes are numbers)
  local function t_input(op, self, x, output_size, layout)
    local one = type(self.kernel_size) == 'number'
    local n = one and 1 or #self.kernel_size
    local d = nl._T(x, op).ndim
    if d ~= n + 1 and d ~= n + 2 then
      nl._raise(('%s: input must be %s, got shape %s'):format(op, layout, nl._shape_str(x)))
    end
    if output_size == nil then return d, self.output_padding end
    local sizes = {}
    for i = 1, n do sizes[i] = x:size(d - n + i) end
    local unbatched = d == n + 1
    if one then
      return d, padding_for(op, output_size, sizes, { self.stride }, { self.padding }, { self.dilation },
                            { self.kernel_size }, unbatched)[1]
    end
    return d, padding_for(op, output_size, sizes, self.stride, self.padding, self.dilation, self.kernel_size,
                          unbatched)
  end
  nn._transposed_input = t_input

  -- a ConvTranspose layer's options table, its keys checked and its
  -- padding_mode 'zeros' (ConvTranspose1d, 2d and, in conv3d.lua, 3d)
  local function t_options(op, opts)
    opts = options(opts, op)
    nl._check_opts(op, opts, KNOWN_T)
    if opts.padding_mode ~= nil and opts.padding_mode ~= 'zeros' then
      nl._raise(("%s: only padding_mode 'zeros' is supported (as in PyTorch), got %s"):format(op,
        describe(opts.padding_mode)))
    end
    return opts
  end
  nn._transposed_options = t_options

  local function t_init(self, op, in_channels, out_channels, kernel_size, opts, one)
    opts = t_options(op, opts)
    local g = t_geometry(op, opts, one)
    self.groups = g.groups
    check_channels(op, in_channels, out_channels, self.groups)
    self.in_channels, self.out_channels = in_channels, out_channels
    if one then
      self.kernel_size = single(kernel_size, 'kernel_size', op, 1)
      self.stride, self.padding, self.output_padding, self.dilation = g.s[2], g.p[2], g.opad[2], g.d[2]
      self.weight = nl.empty(in_channels, out_channels / self.groups, self.kernel_size):requires_grad()
    else
      self.kernel_size = { pair(kernel_size, 'kernel_size', op, 1) }
      self.stride, self.padding, self.output_padding, self.dilation = g.s, g.p, g.opad, g.d
      self.weight = nl.empty(in_channels, out_channels / self.groups, self.kernel_size[1], self.kernel_size[2])
        :requires_grad()
    end
    if opts.bias ~= false then self.bias = nl.empty(out_channels):requires_grad() end
    reset(self)
  end

  local ConvTranspose2d = Module:extend('ConvTranspose2d')
  nn.ConvTranspose2d = ConvTranspose2d

  -- ConvTranspose2d(in_channels, out_channels, kernel_size, {stride, padding,
  -- output_padding, groups, bias, dilation}); sizes are n or {h, w}; the
  -- weight is (in_channels, out_channels/groups, kh, kw), as PyTorch's
  function ConvTranspose2d:init(in_channels, out_channels, kernel_size, opts)
    t_init(self, 'ConvTranspose2d', in_channels, out_channels, kernel_size, opts, false)
  end

  -- input (N, C, H, W) or (C, H, W); output_size (optional): {H, W} (or
  -- {N, C, H, W}; unbatched {C, H, W}) within the stride's reach, in place
  -- of output_padding
  function ConvTranspose2d:forward(x, output_size)
    local op = 'ConvTranspose2d'
    local d, opad = t_input(op, self, x, output_size, '(N, C, H, W) or (C, H, W)')
    local shown = nl._shape_str(x)
    if d == 3 then x = x:unsqueeze(1) end
    local y = transposed(op, x, self.weight, self.bias, self.stride, self.padding, opad, self.dilation, self.groups,
                         shown)
    if d == 3 then y = y:squeeze(1) end
    return y
  end

  function ConvTranspose2d:extra_repr()
    local s = ('%d, %d, kernel_size=%s, stride=%s'):format(self.in_channels, self.out_channels,
      tuple(self.kernel_size[1], self.kernel_size[2]), tuple(self.stride[1], self.stride[2]))
    if self.padding[1] ~= 0 or self.padding[2] ~= 0 then s = s .. ', padding=' .. tuple(self.padding[1], self.padding[2]) end
    if self.dilation[1] ~= 1 or self.dilation[2] ~= 1 then
      s = s .. ', dilation=' .. tuple(self.dilation[1], self.dilation[2])
    end
    if self.output_padding[1] ~= 0 or self.output_padding[2] ~= 0 then
      s = s .. ', output_padding=' .. tuple(self.output_padding[1], self.output_padding[2])
    end
    if self.groups ~= 1 then s = s .. ', groups=' .. self.groups end
    if not self.bias then s = s .. ', bias=false' end
    return s
  end

  local ConvTranspose1d = Module:extend('ConvTranspose1d')
  nn.ConvTranspose1d = ConvTranspose1d

  -- ConvTranspose1d(in_channels, out_channels, kernel_size, {stride, padding,
  -- output_padding, groups, bias, dilation}); weight (in_channels,
  -- out_channels/groups, k)
  function ConvTranspose1d:init(in_channels, out_channels, kernel_size, opts)
    t_init(self, 'ConvTranspose1d', in_channels, out_channels, kernel_size, opts, true)
  end

  -- input (N, C, L) or (C, L); output_size (optional): {L} (or {N, C, L}; unbatched {C, L})
  function ConvTranspose1d:forward(x, output_size)
    local op = 'ConvTranspose1d'
    local d, opad = t_input(op, self, x, output_size, '(N, C, L) or (C, L)')
    local shown = nl._shape_str(x)
    if d == 2 then x = x:unsqueeze(1) end
    local x4, w4 = x:unsqueeze(3), self.weight:unsqueeze(3)
    local y = transposed(op, x4, w4, self.bias, { 1, self.stride }, { 0, self.padding }, { 0, opad },
                         { 1, self.dilation }, self.groups, shown, true):squeeze(3)
    if d == 2 then y = y:squeeze(1) end
    return y
  end

  function ConvTranspose1d:extra_repr()
    local s = ('%d, %d, kernel_size=(%d,), stride=(%d,)'):format(self.in_channels, self.out_channels,
                                                               self.kernel_size, self.stride)
    if self.padding ~= 0 then s = s .. (', padding=(%d,)'):format(self.padding) end
    if self.dilation ~= 1 then s = s .. (', dilation=(%d,)'):format(self.dilation) end
    if self.output_padding ~= 0 then s = s .. (', output_padding=(%d,)'):format(self.output_padding) end
    if self.groups ~= 1 then s = s .. ', groups=' .. self.groups end
    if not self.bias then s = s .. ', bias=false' end
    return s
  end
end
