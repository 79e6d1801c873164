-- pooling.lua: nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d and
-- nn.AdaptiveMaxPool2d with PyTorch's options and defaults, and their
-- nn.functional forms; each one C kernel (ops_conv.c). Inputs are (N, C,
-- H, W) or (C, H, W). The 1-D pools (MaxPool1d, AvgPool1d,
-- AdaptiveAvgPool1d, AdaptiveMaxPool1d) are the 2-D kernels on (N, C, 1,
-- L): a window one row high, which gives the 1-D values, divisors and
-- indices exactly.
return function(nl, nn)
  local ffi = require 'ffi'
  local lib = nl._lib
  local Module = nn.Module
  local F = nn.functional
  local pair, options, single = nn._pair, nn._options, nn._single
  local indices_out = ffi.new('nl_tensor *[1]')   -- out-parameter, allocated once

  local function tuple(h, w) return h == w and tostring(h) or ('(%d, %d)'):format(h, w) end
  -- an adaptive pool's output size, an entry false as PyTorch's None
  local function size_str(v) return v == false and 'None' or tostring(v) end
  local function out_tuple(t)
    return (t[1] == t[2] and t[1]) and tostring(t[1]) or ('(%s, %s)'):format(size_str(t[1]), size_str(t[2]))
  end

  -- an adaptive pool's output size n or {h, w} -> h, w, where an entry
  -- false (PyTorch's None) keeps the input's size (the caller reads it)
  local function out_pair(v, op)
    if type(v) == 'table' and not nl.is_tensor(v) and #v == 2 and (v[1] == false or v[2] == false) then
      if (v[1] == false or nn._whole(v[1], 0)) and (v[2] == false or nn._whole(v[2], 0)) then return v[1], v[2] end
      nl._raise(("%s: output_size must be an integer >= 0 or a pair {h, w} of them, an entry false for the "
        .. "input's size, got %s"):format(op, nn._describe(v)))
    end
    return pair(v, 'output_size', op, 0)
  end
  local function bool(b) return b and 'true' or 'false' end

  -- the options each pool reads (module and functional form alike); any
  -- other key is an error, not ignored
  local KNOWN_MAX = { stride = 1, padding = 1, dilation = 1, ceil_mode = 'flag', return_indices = 'flag' }
  local KNOWN_AVG = { stride = 1, padding = 1, ceil_mode = 'flag', count_include_pad = 'flag', divisor_override = 1 }

  -- runs f on a 4-D view of x ((C, H, W) gets a batch of one); y back in
  -- x's rank (the F pools and the modules alike, as PyTorch 1.13's take both)
  local function batched(op, x, f)
    local d = nl._T(x, op).ndim
    if d ~= 3 and d ~= 4 then
      nl._raise(('%s: input must be (N, C, H, W) or (C, H, W), got shape %s'):format(op, nl._shape_str(x)))
    end
    if d == 4 then return f(x) end
    local x4 = x:unsqueeze(1)
    local ok, y, i = pcall(f, x4)
    if not ok then
      -- named with the caller's shape, not the batch of one (C showed [1,C,H,W])
      local msg = tostring(y):gsub('^[^:\n]*:%d+: ', '')
      local s, e = msg:find(nl._shape_str(x4), 1, true)
      if s then msg = msg:sub(1, s - 1) .. nl._shape_str(x) .. msg:sub(e + 1) end
      nl._raise(msg)
    end
    return y:squeeze(1), i and i:squeeze(1)
  end

  -- ---- functional ------------------------------------------------------------

  -- The options of an F pool: a table, or PyTorch's positional form (conv.lua's)
  local function pool_options(op, names, known, opts, ...)
    return nn._positional_options(op, '(input, kernel_size', names, known, opts, ...)
  end
  local MAX_ARGS = { 'stride', 'padding', 'dilation', 'ceil_mode', 'return_indices' }
  local AVG_ARGS = { 'stride', 'padding', 'ceil_mode', 'count_include_pad', 'divisor_override' }
  local AVG1_ARGS = { 'stride', 'padding', 'ceil_mode', 'count_include_pad' }

  -- x (N, C, H, W) or (C, H, W); opts: stride (default: kernel_size), padding, dilation,
  -- ceil_mode, return_indices (then also the int64 1-based positions h*W + w + 1);
  -- or PyTorch's positional (x, kernel_size, stride, padding, dilation,
  -- ceil_mode, return_indices)
  function F.max_pool2d(x, kernel_size, opts, ...)
    local op = 'max_pool2d'
    opts = pool_options(op, MAX_ARGS, KNOWN_MAX, opts, ...)
    local kh, kw = pair(kernel_size, 'kernel_size', op, 1)
    local sh, sw = pair(opts.stride or kernel_size, 'stride', op, 1)
    local ph, pw = pair(opts.padding or 0, 'padding', op, 0)
    local dh, dw = pair(opts.dilation or 1, 'dilation', op, 1)
    local want = opts.return_indices
    local y, idx = batched(op, x, function(x4)
      indices_out[0] = nil
      local p = lib.nl_max_pool2d(nl._T(x4, op), kh, kw, sh, sw, ph, pw, dh, dw, opts.ceil_mode and 1 or 0,
                                  want and indices_out or nil, 1)
      -- the indices wrapped first: wrapping y may raise (detect_anomaly), and
      -- the indices' reference leaked
      local i = p ~= nil and want and nl._wrap(indices_out[0]) or nil
      return nl._wrap(p, op), i
    end)
    if want then return y, idx end
    return y
  end

  -- x (N, C, H, W) or (C, H, W); opts: stride (default: kernel_size), padding, ceil_mode,
  -- count_include_pad (default true), divisor_override; or PyTorch's
  -- positional (x, kernel_size, stride, padding, ceil_mode,
  -- count_include_pad, divisor_override)
  function F.avg_pool2d(x, kernel_size, opts, ...)
    local op = 'avg_pool2d'
    opts = pool_options(op, AVG_ARGS, KNOWN_AVG, opts, ...)
    local kh, kw = pair(kernel_size, 'kernel_size', op, 1)
    local sh, sw = pair(opts.stride or kernel_size, 'stride', op, 1)
    local ph, pw = pair(opts.padding or 0, 'padding', op, 0)
    local d = opts.divisor_override or 0      -- 0: none, in C
    if type(d) ~= 'number' or d ~= math.floor(d) or d < (opts.divisor_override and 1 or 0) or d > 2 ^ 53 then
      nl._raise(op .. ': divisor_override must be a positive integer, got ' .. nn._describe(d))
    end
    return (batched(op, x, function(x4)
      return nl._wrap(lib.nl_avg_pool2d(nl._T(x4, op), kh, kw, sh, sw, ph, pw, opts.ceil_mode and 1 or 0,
                                        opts.count_include_pad == false and 0 or 1, d))
    end))
  end

  -- x (N, C, H, W) or (C, H, W) -> (N, C, oh, ow); output_size n or {oh, ow},
  -- an entry false (PyTorch's None) for the input's size
  function F.adaptive_avg_pool2d(x, output_size, ...)
    nl._no_extra_args('adaptive_avg_pool2d', '(input, output_size)', nil, ...)
    local oh, ow = out_pair(output_size, 'adaptive_avg_pool2d')
    return (batched('adaptive_avg_pool2d', x, function(x4)
      local p = nl._T(x4, 'adaptive_avg_pool2d')
      return nl._wrap(lib.nl_adaptive_avg_pool2d(p, oh or p.sizes[2], ow or p.sizes[3]))
    end))
  end

  -- ---- modules -----------------------------------------------------------------

  -- opts: a table of options, or a number (the stride, as PyTorch's second
  -- positional argument)
  local function module_options(opts, op)
    if type(opts) == 'number' then return { stride = opts } end
    return options(opts, op)
  end

  -- divisor_override: nil, or a whole number >= 1
  local function divisor(d, op)
    if d ~= nil and (type(d) ~= 'number' or d < 1 or d ~= math.floor(d) or d > 2 ^ 53) then
      nl._raise(op .. ': divisor_override must be a positive integer, got ' .. nn._describe(d))
    end
    return d
  end
  nn._pool_divisor = divisor

  -- The fields of the max and average pool modules of every rank (1-D,
  -- 2-D and conv3d.lua's 3-D), each size read by size(v, what, op, lo):
  -- nn._single, pair_list or nn._triple.
  local function pair_list(v, what, op, lo) return { pair(v, what, op, lo) } end

  -- MaxPool<n>d(kernel_size, {stride, padding, dilation, ceil_mode, return_indices})
  local function max_pool_init(self, op, size, kernel_size, opts)
    opts = module_options(opts, op)
    nl._check_opts(op, opts, KNOWN_MAX)
    self.kernel_size = size(kernel_size, 'kernel_size', op, 1)
    self.stride = size(opts.stride or kernel_size, 'stride', op, 1)
    self.padding = size(opts.padding or 0, 'padding', op, 0)
    self.dilation = size(opts.dilation or 1, 'dilation', op, 1)
    self.ceil_mode = opts.ceil_mode == true
    self.return_indices = opts.return_indices == true
  end
  nn._max_pool_init = max_pool_init

  -- AvgPool<n>d(kernel_size, {stride, padding, ceil_mode, count_include_pad,
  -- divisor_override}); known: the options it takes (AvgPool1d has no
  -- divisor_override)
  local function avg_pool_init(self, op, size, known, kernel_size, opts)
    opts = module_options(opts, op)
    nl._check_opts(op, opts, known)
    self.kernel_size = size(kernel_size, 'kernel_size', op, 1)
    self.stride = size(opts.stride or kernel_size, 'stride', op, 1)
    self.padding = size(opts.padding or 0, 'padding', op, 0)
    self.ceil_mode = opts.ceil_mode == true
    self.count_include_pad = opts.count_include_pad ~= false
    self.divisor_override = divisor(opts.divisor_override, op)
  end
  nn._avg_pool_init = avg_pool_init

  -- their extra_repr, each size written by size_str
  local function max_pool_repr(self, size_str)
    return ('kernel_size=%s, stride=%s, padding=%s, dilation=%s, ceil_mode=%s'):format(size_str(self.kernel_size),
      size_str(self.stride), size_str(self.padding), size_str(self.dilation), bool(self.ceil_mode))
  end
  nn._max_pool_repr = max_pool_repr
  local function avg_pool_repr(self, size_str)
    local s = ('kernel_size=%s, stride=%s, padding=%s'):format(size_str(self.kernel_size), size_str(self.stride),
      size_str(self.padding))
    if self.ceil_mode then s = s .. ', ceil_mode=true' end
    if not self.count_include_pad then s = s .. ', count_include_pad=false' end
    if self.divisor_override then s = s .. ', divisor_override=' .. self.divisor_override end
    return s
  end
  nn._avg_pool_repr = avg_pool_repr
  local function pair_str(t) return tuple(t[1], t[2]) end

  local MaxPool2d = Module:extend('MaxPool2d')
  nn.MaxPool2d = MaxPool2d

  -- MaxPool2d(kernel_size, {stride, padding, dilation, ceil_mode, return_indices})
  function MaxPool2d:init(kernel_size, opts) max_pool_init(self, 'MaxPool2d', pair_list, kernel_size, opts) end

  function MaxPool2d:forward(x)
    return batched('MaxPool2d', x, function(x4)
      return F.max_pool2d(x4, self.kernel_size, { stride = self.stride, padding = self.padding,
        dilation = self.dilation, ceil_mode = self.ceil_mode, return_indices = self.return_indices })
    end)
  end

  function MaxPool2d:extra_repr() return max_pool_repr(self, pair_str) end

  local AvgPool2d = Module:extend('AvgPool2d')
  nn.AvgPool2d = AvgPool2d

  -- AvgPool2d(kernel_size, {stride, padding, ceil_mode, count_include_pad, divisor_override})
  function AvgPool2d:init(kernel_size, opts)
    avg_pool_init(self, 'AvgPool2d', pair_list, KNOWN_AVG, kernel_size, opts)
  end

  function AvgPool2d:forward(x)
    return batched('AvgPool2d', x, function(x4)
      return F.avg_pool2d(x4, self.kernel_size, { stride = self.stride, padding = self.padding,
        ceil_mode = self.ceil_mode, count_include_pad = self.count_include_pad,
        divisor_override = self.divisor_override })
    end)
  end

  function AvgPool2d:extra_repr() return avg_pool_repr(self, pair_str) end

  local AdaptiveAvgPool2d = Module:extend('AdaptiveAvgPool2d')
  nn.AdaptiveAvgPool2d = AdaptiveAvgPool2d

  -- AdaptiveAvgPool2d(output_size): n or {oh, ow}, an entry false for the input's size
  function AdaptiveAvgPool2d:init(output_size)
    self.output_size = { out_pair(output_size, 'AdaptiveAvgPool2d') }
  end

  function AdaptiveAvgPool2d:forward(x)
    return batched('AdaptiveAvgPool2d', x, function(x4) return F.adaptive_avg_pool2d(x4, self.output_size) end)
  end

  function AdaptiveAvgPool2d:extra_repr()
    return 'output_size=' .. out_tuple(self.output_size)
  end

  -- ---- adaptive max pooling ----------------------------------------------------------

  -- return_indices as PyTorch's second positional argument (a boolean) or
  -- in a table of options
  local function return_indices_arg(v, op)
    if v == nil or type(v) == 'boolean' then return v == true end
    local opts = options(v, op)
    nl._check_opts(op, opts, { return_indices = 'flag' })
    return opts.return_indices == true
  end
  nn._return_indices_arg = return_indices_arg

  -- x (N, C, H, W) or (C, H, W) -> (N, C, oh, ow), the maximum of each of
  -- adaptive_avg_pool2d's windows; output_size n or {oh, ow}; with
  -- return_indices also the int64 1-based positions h*W + w + 1
  function F.adaptive_max_pool2d(x, output_size, return_indices, ...)
    local op = 'adaptive_max_pool2d'
    nl._no_extra_args(op, '(input, output_size, return_indices)', nil, ...)
    local oh, ow = out_pair(output_size, op)
    local want = return_indices_arg(return_indices, op)
    local y, idx = batched(op, x, function(x4)
      indices_out[0] = nil
      local px = nl._T(x4, op)
      local p = lib.nl_adaptive_max_pool2d(px, oh or px.sizes[2], ow or px.sizes[3], want and indices_out or nil, 1)
      local i = p ~= nil and want and nl._wrap(indices_out[0]) or nil    -- first: see max_pool2d
      return nl._wrap(p, op), i
    end)
    if want then return y, idx end
    return y
  end

  local AdaptiveMaxPool2d = Module:extend('AdaptiveMaxPool2d')
  nn.AdaptiveMaxPool2d = AdaptiveMaxPool2d

  -- AdaptiveMaxPool2d(output_size, [return_indices]): n or {oh, ow}, an
  -- entry false for the input's size; the flag as PyTorch's positional
  -- argument or {return_indices = true}
  function AdaptiveMaxPool2d:init(output_size, return_indices)
    self.output_size = { out_pair(output_size, 'AdaptiveMaxPool2d') }
    self.return_indices = return_indices_arg(return_indices, 'AdaptiveMaxPool2d')
  end

  function AdaptiveMaxPool2d:forward(x)
    return batched('AdaptiveMaxPool2d', x, function(x4)
      return F.adaptive_max_pool2d(x4, self.output_size, self.return_indices)
    end)
  end

  function AdaptiveMaxPool2d:extra_repr()
    return 'output_size=' .. out_tuple(self.output_size)
  end

  -- ---- 1-D pools: the 2-D kernels on a unit height ---------------------------------------

  -- f(x4) for x (N, C, L) or (C, L) seen as x4 (N, C, 1, L); its results
  -- back in x's rank. A message of the 2-D op (op2d) is the 1-D op's: its
  -- name, the caller's shape, and each [1,k] or [0,p] pair of sizes the 1-D
  -- size k, p.
  local function as_1d(op, op2d, x, f)
    local d = nl._T(x, op).ndim
    if d ~= 2 and d ~= 3 then
      nl._raise(('%s: input must be (N, C, L) or (C, L), got shape %s'):format(op, nl._shape_str(x)))
    end
    local x4 = (d == 2 and x:unsqueeze(1) or x):unsqueeze(3)
    local ok, y, i = pcall(f, x4)
    if not ok then
      local msg = tostring(y):gsub('^[^:\n]*:%d+: ', '')
      local s4 = nl._shape_str(x4)
      local at, to = msg:find(s4, 1, true)
      local function one(t)
        return (t:gsub(op2d, op):gsub('%[(%-?[%d.e+]+),(%-?[%d.e+]+)%]', '[%2]'))
      end
      if at then msg = one(msg:sub(1, at - 1)) .. nl._shape_str(x) .. one(msg:sub(to + 1))
      else msg = one(msg) end
      nl._raise(msg)
    end
    y = y:squeeze(3)
    if i then i = i:squeeze(3) end
    if d == 2 then
      y = y:squeeze(1)
      if i then i = i:squeeze(1) end
    end
    return y, i
  end

  local KNOWN_AVG1 = { stride = 1, padding = 1, ceil_mode = 'flag', count_include_pad = 'flag' }

  -- x (N, C, L) or (C, L); opts as max_pool2d's, each one number
  local function max_pool1d(op, x, k, opts)
    k = single(k, 'kernel_size', op, 1)
    local s = single(opts.stride or k, 'stride', op, 1)
    local p = single(opts.padding or 0, 'padding', op, 0)
    local d = single(opts.dilation or 1, 'dilation', op, 1)
    local y, i = as_1d(op, 'max_pool2d', x, function(x4)
      return F.max_pool2d(x4, { 1, k }, { stride = { 1, s }, padding = { 0, p }, dilation = { 1, d },
                                          ceil_mode = opts.ceil_mode, return_indices = opts.return_indices })
    end)
    if opts.return_indices then return y, i end
    return y
  end

  local function avg_pool1d(op, x, k, opts)
    k = single(k, 'kernel_size', op, 1)
    local s = single(opts.stride or k, 'stride', op, 1)
    local p = single(opts.padding or 0, 'padding', op, 0)
    return (as_1d(op, 'avg_pool2d', x, function(x4)
      return F.avg_pool2d(x4, { 1, k }, { stride = { 1, s }, padding = { 0, p }, ceil_mode = opts.ceil_mode,
                                          count_include_pad = opts.count_include_pad })
    end))
  end

  -- x (N, C, L) or (C, L); opts: stride (default: kernel_size), padding,
  -- dilation, ceil_mode, return_indices (then also the int64 1-based
  -- positions); or positional, as max_pool2d's
  function F.max_pool1d(x, kernel_size, opts, ...)
    opts = pool_options('max_pool1d', MAX_ARGS, KNOWN_MAX, opts, ...)
    return max_pool1d('max_pool1d', x, kernel_size, opts)
  end

  -- x (N, C, L) or (C, L); opts: stride (default: kernel_size), padding,
  -- ceil_mode, count_include_pad (default true); or PyTorch's positional
  -- (x, kernel_size, stride, padding, ceil_mode, count_include_pad)
  function F.avg_pool1d(x, kernel_size, opts, ...)
    opts = pool_options('avg_pool1d', AVG1_ARGS, KNOWN_AVG1, opts, ...)
    return avg_pool1d('avg_pool1d', x, kernel_size, opts)
  end

  -- x (N, C, L) or (C, L) -> (N, C, n)
  function F.adaptive_avg_pool1d(x, output_size, ...)
    nl._no_extra_args('adaptive_avg_pool1d', '(input, output_size)', nil, ...)
    local n = single(output_size, 'output_size', 'adaptive_avg_pool1d', 0)
    return (as_1d('adaptive_avg_pool1d', 'adaptive_avg_pool2d', x, function(x4)
      return F.adaptive_avg_pool2d(x4, { 1, n })
    end))
  end

  -- x (N, C, L) or (C, L) -> (N, C, n); return_indices: 1-based positions
  function F.adaptive_max_pool1d(x, output_size, return_indices, ...)
    local op = 'adaptive_max_pool1d'
    nl._no_extra_args(op, '(input, output_size, return_indices)', nil, ...)
    local n = single(output_size, 'output_size', op, 0)
    local want = return_indices_arg(return_indices, op)
    local y, i = as_1d(op, 'adaptive_max_pool2d', x, function(x4)
      return F.adaptive_max_pool2d(x4, { 1, n }, want)
    end)
    if want then return y, i end
    return y
  end

  local MaxPool1d = Module:extend('MaxPool1d')
  nn.MaxPool1d = MaxPool1d

  -- MaxPool1d(kernel_size, {stride, padding, dilation, ceil_mode, return_indices})
  function MaxPool1d:init(kernel_size, opts) max_pool_init(self, 'MaxPool1d', single, kernel_size, opts) end

  function MaxPool1d:forward(x)
    return max_pool1d('MaxPool1d', x, self.kernel_size, { stride = self.stride, padding = self.padding,
      dilation = self.dilation, ceil_mode = self.ceil_mode, return_indices = self.return_indices })
  end

  function MaxPool1d:extra_repr() return max_pool_repr(self, tostring) end

  local AvgPool1d = Module:extend('AvgPool1d')
  nn.AvgPool1d = AvgPool1d

  -- AvgPool1d(kernel_size, {stride, padding, ceil_mode, count_include_pad})
  function AvgPool1d:init(kernel_size, opts)
    avg_pool_init(self, 'AvgPool1d', single, KNOWN_AVG1, kernel_size, opts)
  end

  function AvgPool1d:forward(x)
    return avg_pool1d('AvgPool1d', x, self.kernel_size, { stride = self.stride, padding = self.padding,
      ceil_mode = self.ceil_mode, count_include_pad = self.count_include_pad })
  end

  -- (PyTorch writes AvgPool1d's sizes as 1-tuples, MaxPool1d's as numbers)
  function AvgPool1d:extra_repr()
    return avg_pool_repr(self, function(n) return ('(%d,)'):format(n) end)
  end

  local AdaptiveAvgPool1d = Module:extend('AdaptiveAvgPool1d')
  nn.AdaptiveAvgPool1d = AdaptiveAvgPool1d

  -- AdaptiveAvgPool1d(output_size): n
  function AdaptiveAvgPool1d:init(output_size)
    self.output_size = single(output_size, 'output_size', 'AdaptiveAvgPool1d', 0)
  end

  function AdaptiveAvgPool1d:forward(x)
    return (as_1d('AdaptiveAvgPool1d', 'adaptive_avg_pool2d', x, function(x4)
      return F.adaptive_avg_pool2d(x4, { 1, self.output_size })
    end))
  end

  function AdaptiveAvgPool1d:extra_repr() return 'output_size=' .. self.output_size end

  local AdaptiveMaxPool1d = Module:extend('AdaptiveMaxPool1d')
  nn.AdaptiveMaxPool1d = AdaptiveMaxPool1d

  -- AdaptiveMaxPool1d(output_size, [return_indices]): n
  function AdaptiveMaxPool1d:init(output_size, return_indices)
    self.output_size = single(output_size, 'output_size', 'AdaptiveMaxPool1d', 0)
    self.return_indices = return_indices_arg(return_indices, 'AdaptiveMaxPool1d')
  end

  function AdaptiveMaxPool1d:forward(x)
    local y, i = as_1d('AdaptiveMaxPool1d', 'adaptive_max_pool2d', x, function(x4)
      return F.adaptive_max_pool2d(x4, { 1, self.output_size }, self.return_indices)
    end)
    if self.return_indices then return y, i end
    return y
  end

  function AdaptiveMaxPool1d:extra_repr() return 'output_size=' .. self.output_size end
end
