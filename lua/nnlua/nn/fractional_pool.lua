-- fractional_pool.lua: nn.FractionalMaxPool2d and 3d,
-- nn.functional.fractional_max_pool2d and 3d (and their _with_indices
-- forms), PyTorch 1.13's fractional max pooling (Graham): windows of
-- kernel_size placed at pseudo-random fractional strides, one sample per
-- plane and direction in [0, 1) (drawn
-- from nnlua's generator, or given as _random_samples). Each plane's
-- window starts are computed as PyTorch's CPU kernel computes them (in
-- the input's precision, float32 arithmetic for float32); the windows are
-- gathered by index and maxed, so autograd gives the backward. Indices are
-- 1-based positions in the plane, h*W + w + 1 (3-D: (t*H + h)*W + w + 1),
-- as the max pools'.
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

  -- (unpool.lua's, loaded before this file)
  local sizes = nn._sizes
  local DIM_NAMES = { [2] = { 'h', 'w' }, [3] = { 't', 'h', 'w' } }

  -- the module's and the functional form's options, checked
  local function settings(op, nd, kernel_size, output_size, output_ratio)
    local dims = DIM_NAMES[nd]
    local k = sizes(kernel_size, dims, 'kernel_size', op, 1)
    if output_size == nil and output_ratio == nil then
      nl._raise(op .. ': requires specifying either an output size, or a pooling ratio')
    end
    if output_size ~= nil and output_ratio ~= nil then
      nl._raise(op .. ': only one of output_size and output_ratio may be specified')
    end
    local size, ratio
    if output_size ~= nil then size = sizes(output_size, dims, 'output_size', op, 0) end
    if output_ratio ~= nil then
      ratio = sizes(output_ratio, dims, 'output_ratio', op, 0, true)
      for i = 1, nd do
        if not (ratio[i] > 0 and ratio[i] < 1) then
          nl._raise(('%s: output_ratio must be between 0 and 1, got %s'):format(op, nn._describe(output_ratio)))
        end
      end
    end
    return k, size, ratio
  end

  -- per spatial rank: the names of the dims, the layout in messages, and
  -- which of a plane's samples places each dim's windows (PyTorch 1.13's
  -- 2-D kernel reads (w, h), its 3-D one (t, h, w))
  local RANK = {
    [2] = { names = { 'height', 'width' }, layout = 'H, W', sample = { 2, 1 }, check = { 1, 2 }, spare = 0 },
    [3] = { names = { 'time', 'height', 'width' }, layout = 'T, H, W', sample = { 1, 2, 3 }, check = { 1, 3, 2 },
           spare = 1 },
  }

  -- y (and the indices) of x (N, C, *spatial) or (C, *spatial), nd spatial dims
  local function pool(op, nd, x, k, size, ratio, samples)
    local R = RANK[nd]
    nl._T(x, op)
    local d = x:dim()
    if d ~= nd + 1 and d ~= nd + 2 then
      nl._raise(('%s: expected input (N, C, %s) or (C, %s), got shape %s'):format(op, R.layout, R.layout,
        nl._shape_str(x)))
    end
    nl._float_only(x, op)
    local xb = d == nd + 2 and x or x:unsqueeze(1)
    local n, c = xb:size(1), xb:size(2)
    local ins, outs = {}, {}
    for i = 1, nd do
      ins[i] = xb:size(2 + i)
      outs[i] = size and size[i] or math.floor(ins[i] * ratio[i])
    end
    -- (PyTorch's 3-D kernel asks for room to spare, out + k - 1 < in, in
    -- the order t, w, h; the 2-D one takes out + k - 1 = in)
    -- (an output size of 0, given or of a ratio, gives an empty output, as
    -- PyTorch's; a ratio's was refused as 'pool height 1 too large
    -- relative to input height 3 for output height 0')
    local empty = n * c == 0
    for _, i in ipairs(R.check) do
      empty = empty or outs[i] == 0
      if outs[i] + k[i] - 1 > ins[i] - R.spare then
        nl._raise(('%s: pool %s %d too large relative to input %s %d for output %s %d (input shape %s)'):format(
          op, R.names[i], k[i], R.names[i], ins[i], R.names[i], outs[i], nl._shape_str(x)))
      end
    end
    local want = { n, c, nd }
    if samples == nil then
      samples = nl.rand(want, x:dtype())
    else
      nl._T(samples, op)
      if samples:dtype() ~= x:dtype() or nl._shape_str(samples) ~= ('[%d,%d,%d]'):format(n, c, nd) then
        nl._raise(('%s: _random_samples must be a %s tensor of shape [%d,%d,%d] for input %s, got %s %s'):format(op,
          x:dtype(), n, c, nd, nl._shape_str(x), samples:dtype(), nl._shape_str(samples)))
      end
    end
    local shape = d == nd + 2 and { n, c } or { c }
    for i = 1, nd do shape[#shape + 1] = outs[i] end
    -- no planes or no outputs: an empty batch gives an empty output, as
    -- PyTorch's; a batched input of no channels is refused, as PyTorch
    -- refuses it
    if empty then
      if d == nd + 2 and c == 0 and n > 0 then
        nl._raise(('%s: expected an input of at least one channel, got shape %s'):format(op, nl._shape_str(x)))
      end
      return nl.zeros(shape, x:dtype()) + x:sum() * 0, nl.zeros(shape, 'int64')
    end
    local r = x:dtype() == 'float32' and r32 or same
    -- the window starts of every plane along each dim: starts[i] (N*C, out_i), 0-based
    local sv = samples:reshape(n * c, nd):totable()
    local starts = {}
    for i = 1, nd do starts[i] = {} end
    for p = 1, n * c do
      local s = sv[p]
      for i = 1, nd do
        if not (s[i] >= 0 and s[i] < 1) then
          nl._raise(('%s: _random_samples must lie in [0, 1), got %s'):format(op, tostring(s[i])))
        end
      end
      for i = 1, nd do starts[i][p] = intervals(r, s[R.sample[i]], ins[i], outs[i], k[i]) end
    end
    -- (N, C, out..., k...): each window's 1-based plane positions, the
    -- window start plus the offset along each dim, times the dim's stride
    local idx, stride, nout, nk = 1, 1, 1, 1
    for i = nd, 1, -1 do
      local sview, kview = { n, c }, { 1, 1 }
      for j = 1, 2 * nd do
        sview[2 + j] = j == i and outs[i] or 1
        kview[2 + j] = j == nd + i and k[i] or 1
      end
      local at = nl.tensor(starts[i], 'int64'):view(sview) + nl.arange(0, k[i], 1, 'int64'):view(kview)
      idx = at * stride + idx
      stride = stride * ins[i]
      nout, nk = nout * outs[i], nk * k[i]
    end
    idx = idx:reshape(n, c, nout, nk)
    local vals = xb:reshape(n, c, stride):gather(3, idx:reshape(n, c, -1)):reshape(n, c, nout, nk)
    local y, arg = vals:max(4)
    local indices = idx:gather(4, arg:unsqueeze(4)):squeeze(4)
    return y:reshape(shape), indices:reshape(shape)
  end

  local KNOWN = { output_size = 1, output_ratio = 1, return_indices = 'flag', _random_samples = 1 }
  local ARGS = { 'output_size', 'output_ratio', 'return_indices', '_random_samples' }

  for nd = 2, 3 do
    local fname, cname = ('fractional_max_pool%dd'):format(nd), ('FractionalMaxPool%dd'):format(nd)

    -- F.fractional_max_pool2d / 3d(x, kernel_size, output_size,
    -- output_ratio, return_indices, _random_samples), or (x, kernel_size,
    -- {output_size, output_ratio, return_indices, _random_samples})
    F[fname] = function(x, kernel_size, opts, ...)
      opts = nn._positional_options(fname, '(input, kernel_size', ARGS, KNOWN, opts, ...)
      local k, size, ratio = settings(fname, nd, kernel_size, opts.output_size, opts.output_ratio)
      local y, i = pool(fname, nd, x, k, size, ratio, opts._random_samples)
      if opts.return_indices then return y, i end
      return y
    end

    -- F.fractional_max_pool2d_with_indices / 3d: the output and the
    -- indices, whatever return_indices says (PyTorch's names of that form)
    F[fname .. '_with_indices'] = function(x, kernel_size, opts, ...)
      local op = fname .. '_with_indices'
      opts = nn._positional_options(op, '(input, kernel_size', ARGS, KNOWN, opts, ...)
      local k, size, ratio = settings(op, nd, kernel_size, opts.output_size, opts.output_ratio)
      return pool(op, nd, x, k, size, ratio, opts._random_samples)
    end

    local FMP = Module:extend(cname)
    nn[cname] = FMP

    -- FractionalMaxPool2d / 3d(kernel_size, {output_size, output_ratio,
    -- return_indices, _random_samples}) (or those positionally after
    -- kernel_size); _random_samples (N, C, 2 or 3), fixed for every call,
    -- as PyTorch's buffer of that name
    function FMP:init(kernel_size, opts, ...)
      opts = nn._positional_options(cname, '(kernel_size', ARGS, KNOWN, opts, ...)
      self.kernel_size, self.output_size, self.output_ratio = settings(cname, nd, kernel_size, opts.output_size,
                                                                       opts.output_ratio)
      self.return_indices = opts.return_indices == true
      if opts._random_samples ~= nil then
        nl._T(opts._random_samples, cname)
        self:register_buffer('_random_samples', opts._random_samples)
      end
    end

    function FMP:forward(x)
      local y, i = pool(cname, nd, x, self.kernel_size, self.output_size, self.output_ratio, self._random_samples)
      if self.return_indices then return y, i end
      return y
    end
  end
end
