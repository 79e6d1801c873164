-- fractional_pool.lua: nn.FractionalMaxPool2d and
-- nn.functional.fractional_max_pool2d, PyTorch 1.13's fractional max
-- pooling (Graham): windows of kernel_size placed at pseudo-random
-- fractional strides, one sample per plane and direction in [0, 1) (drawn
-- from nnlua's generator, or given as _random_samples). Each plane's
-- window starts are computed as PyTorch's CPU kernel computes them (in
-- the input's precision, float32 arithmetic for float32); the windows are
-- gathered by index and maxed, so autograd gives the backward. Indices are
-- 1-based positions in the plane, h*W + w + 1, as the max pools'.
return function(nl, nn)
  local ffi = require 'ffi'
  local Module = nn.Module
  local F = nn.functional

  local f32 = ffi.new('float[1]')
  local function r32(v) f32[0] = v return f32[0] end
  local function same(v) return v end

  -- the window starts of one plane along one dim (0-based), PyTorch's
  -- fractional_max_pool2d_generate_intervals, rounding by r (r32 or same)
  local function intervals(r, sample, in_size, out_size, pool)
    local seq = {}
    if out_size > 1 then
      local alpha = r(r(in_size - pool) / r(out_size - 1))
      local base = math.floor(r(sample * alpha))
      for i = 0, out_size - 2 do seq[i + 1] = math.floor(r(r(i + sample) * alpha)) - base end
    end
    if out_size > 0 then seq[out_size] = in_size - pool end
    return seq
  end

  local function pair_of(v, what, op, lo, number)
    local a, b
    if type(v) == 'number' then a, b = v, v
    elseif type(v) == 'table' and not nl.is_tensor(v) and #v == 2 then a, b = v[1], v[2] end
    local ok = type(a) == 'number' and type(b) == 'number'
    if ok and not number then ok = nn._whole(a, lo) and nn._whole(b, lo) end
    if not ok then
      nl._raise(('%s: %s must be %s or a pair {h, w} of them, got %s'):format(op, what,
        number and 'a number' or ('an integer >= ' .. lo), nn._describe(v)))
    end
    return { a, b }
  end

  -- the module's and the functional form's options, checked
  local function settings(op, kernel_size, output_size, output_ratio)
    local k = pair_of(kernel_size, 'kernel_size', op, 1)
    if output_size == nil and output_ratio == nil then
      nl._raise(op .. ': requires specifying either an output size, or a pooling ratio')
    end
    if output_size ~= nil and output_ratio ~= nil then
      nl._raise(op .. ': only one of output_size and output_ratio may be specified')
    end
    local size, ratio
    if output_size ~= nil then size = pair_of(output_size, 'output_size', op, 1) end
    if output_ratio ~= nil then
      ratio = pair_of(output_ratio, 'output_ratio', op, 0, true)
      if not (ratio[1] > 0 and ratio[1] < 1 and ratio[2] > 0 and ratio[2] < 1) then
        nl._raise(('%s: output_ratio must be between 0 and 1, got %s'):format(op, nn._describe(output_ratio)))
      end
    end
    return k, size, ratio
  end

  -- y (and the indices) of x (N, C, H, W) or (C, H, W)
  local function pool(op, x, k, size, ratio, samples)
    nl._T(x, op)
    local d = x:dim()
    if d ~= 3 and d ~= 4 then
      nl._raise(('%s: expected input (N, C, H, W) or (C, H, W), got shape %s'):format(op, nl._shape_str(x)))
    end
    nl._float_only(x, op)
    local x4 = d == 4 and x or x:unsqueeze(1)
    local n, c, h, w = x4:size(1), x4:size(2), x4:size(3), x4:size(4)
    local oh, ow
    if size then oh, ow = size[1], size[2]
    else oh, ow = math.floor(h * ratio[1]), math.floor(w * ratio[2]) end
    if oh + k[1] - 1 > h or oh < 1 then
      nl._raise(('%s: pool height %d too large relative to input height %d for output height %d (input shape %s)'):format(
        op, k[1], h, oh, nl._shape_str(x)))
    end
    if ow + k[2] - 1 > w or ow < 1 then
      nl._raise(('%s: pool width %d too large relative to input width %d for output width %d (input shape %s)'):format(
        op, k[2], w, ow, nl._shape_str(x)))
    end
    if samples == nil then
      samples = nl.rand({ n, c, 2 }, x:dtype())
    else
      nl._T(samples, op)
      if samples:dtype() ~= x:dtype() or nl._shape_str(samples) ~= ('[%d,%d,2]'):format(n, c) then
        nl._raise(('%s: _random_samples must be a %s tensor of shape [%d,%d,2] for input %s, got %s %s'):format(op,
          x:dtype(), n, c, nl._shape_str(x), samples:dtype(), nl._shape_str(samples)))
      end
    end
    -- no planes: an empty batch gives an empty output, as PyTorch's; a 4-D
    -- input of no channels is refused, as PyTorch refuses it
    if n * c == 0 then
      if d == 4 and c == 0 and n > 0 then
        nl._raise(('%s: expected an input of at least one channel, got shape %s'):format(op, nl._shape_str(x)))
      end
      local shape = d == 4 and { n, c, oh, ow } or { c, oh, ow }
      return nl.zeros(shape, x:dtype()) + x:sum() * 0, nl.zeros(shape, 'int64')
    end
    local r = x:dtype() == 'float32' and r32 or same
    -- the window starts of every plane: (N*C, oH) and (N*C, oW), 0-based
    local sv = samples:reshape(n * c, 2):totable()
    local starts_h, starts_w = {}, {}
    for p = 1, n * c do
      local s = sv[p]
      if not (s[1] >= 0 and s[1] < 1 and s[2] >= 0 and s[2] < 1) then
        nl._raise(('%s: _random_samples must lie in [0, 1), got %s and %s'):format(op, tostring(s[1]),
          tostring(s[2])))
      end
      starts_w[p] = intervals(r, s[1], w, ow, k[2])
      starts_h[p] = intervals(r, s[2], h, oh, k[1])
    end
    local sh = nl.tensor(starts_h, 'int64'):view(n, c, oh, 1, 1, 1)
    local sw = nl.tensor(starts_w, 'int64'):view(n, c, 1, ow, 1, 1)
    local a = nl.arange(0, k[1], 1, 'int64'):view(1, 1, 1, 1, k[1], 1)
    local b = nl.arange(0, k[2], 1, 'int64'):view(1, 1, 1, 1, 1, k[2])
    -- (N, C, oH, oW, kH*kW): each window's 1-based plane positions, row-major
    local idx = ((sh + a) * w + sw + b + 1):reshape(n, c, oh, ow, k[1] * k[2])
    local vals = x4:reshape(n, c, h * w):gather(3, idx:reshape(n, c, -1)):reshape(n, c, oh, ow, k[1] * k[2])
    local y, arg = vals:max(5)
    local indices = idx:gather(5, arg:unsqueeze(5)):squeeze(5)
    if d == 3 then return y:squeeze(1), indices:squeeze(1) end
    return y, indices
  end

  local KNOWN = { output_size = 1, output_ratio = 1, return_indices = 'flag', _random_samples = 1 }
  local ARGS = { 'output_size', 'output_ratio', 'return_indices', '_random_samples' }

  -- F.fractional_max_pool2d(x, kernel_size, output_size, output_ratio,
  -- return_indices, _random_samples), or (x, kernel_size, {output_size,
  -- output_ratio, return_indices, _random_samples})
  function F.fractional_max_pool2d(x, kernel_size, opts, ...)
    local op = 'fractional_max_pool2d'
    opts = nn._positional_options(op, '(input, kernel_size', ARGS, KNOWN, opts, ...)
    local k, size, ratio = settings(op, kernel_size, opts.output_size, opts.output_ratio)
    local y, i = pool(op, x, k, size, ratio, opts._random_samples)
    if opts.return_indices then return y, i end
    return y
  end

  local FMP = Module:extend('FractionalMaxPool2d')
  nn.FractionalMaxPool2d = FMP

  -- FractionalMaxPool2d(kernel_size, {output_size, output_ratio,
  -- return_indices, _random_samples}) (or those positionally after
  -- kernel_size); _random_samples (N, C, 2), fixed for every call, as
  -- PyTorch's buffer of that name
  function FMP:init(kernel_size, opts, ...)
    local op = 'FractionalMaxPool2d'
    opts = nn._positional_options(op, '(kernel_size', ARGS, KNOWN, opts, ...)
    self.kernel_size, self.output_size, self.output_ratio = settings(op, kernel_size, opts.output_size,
                                                                     opts.output_ratio)
    self.return_indices = opts.return_indices == true
    if opts._random_samples ~= nil then
      nl._T(opts._random_samples, op)
      self:register_buffer('_random_samples', opts._random_samples)
    end
  end

  function FMP:forward(x)
    local y, i = pool('FractionalMaxPool2d', x, self.kernel_size, self.output_size, self.output_ratio,
                      self._random_samples)
    if self.return_indices then return y, i end
    return y
  end
end
