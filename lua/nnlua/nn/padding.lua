-- padding.lua: nn.functional.pad ('constant', 'reflect', 'replicate',
-- 'circular' over the last dims, PyTorch's order: the last dim's pair
-- first) and the modules nn.ZeroPad2d, nn.ConstantPad1d/2d/3d,
-- nn.ReflectionPad1d/2d/3d, nn.ReplicationPad1d/2d/3d (nn.CircularPad1d/2d/3d:
-- padding_circular.lua, loaded lazily). Composed of narrow, cat and
-- index_select, whose backward autograd already has; no C of its own.
-- Conv1d and Conv2d pad through it for their padding_mode.
return function(nl, nn)
  local Module = nn.Module
  local F = nn.functional
  local describe = nn._describe

  local MODES = { constant = true, reflect = true, replicate = true, circular = true }
  local MAX_ELEMENTS = 2 ^ 40     -- an output past this is a mistake, not a request for memory

  -- the 1-based input position read by each of the n + l + r outputs of a
  -- dim of n padded by l before and r after (either may be negative: a
  -- crop), as an int64 tensor made by tensor ops (float64: exact at these
  -- sizes). reflect mirrors about the end elements (no repeat), replicate
  -- repeats them. Kept: a layer pads the same sizes every step.
  local index_cache, cached = {}, 0
  local function pad_index(mode, n, l, r)
    local key = mode .. ':' .. n .. ':' .. l .. ':' .. r
    local idx = index_cache[key]
    if idx then return idx end
    local j = nl.arange(0, n + l + r, 1, 'float64') - l      -- the position in the input, 0-based, unfolded
    if mode == 'reflect' then
      j = (n - 1) - ((n - 1) - j:abs()):abs()
    else
      j = j:clamp(0, n - 1)
    end
    idx = j:long() + 1
    if cached >= 256 then index_cache, cached = {}, 0 end
    index_cache[key] = idx
    cached = cached + 1
    return idx
  end

  -- x with dim d cropped by the negative ones of l, r (a view)
  local function cropped(x, d, l, r)
    local a, b = math.max(-l, 0), math.max(-r, 0)
    if a + b == 0 then return x end
    return x:narrow(d, a + 1, x:size(d) - a - b)
  end

  -- x with dim d grown by pieces of value: l before, r after (each >= 0)
  local function filled(x, d, l, r, value)
    if l + r == 0 then return x end
    local parts = {}
    local function piece(k)
      local s = x:shape()
      s[d] = k
      return nl.full(s, value, x:dtype())
    end
    if l > 0 then parts[#parts + 1] = piece(l) end
    parts[#parts + 1] = x
    if r > 0 then parts[#parts + 1] = piece(r) end
    return nl.cat(parts, d)
  end

  -- F.pad's rule, shared by the modules and the convolutions. op names the
  -- caller in messages; added: the batch dim the caller put in front of
  -- its input, left out of messages (they showed [1,C,H,W] and counted its
  -- dims for a (C, H, W) input).
  -- pads: {last dim's before, after, the dim before it's before, after, ...}
  local function pad(op, x, pads, mode, value, added)
    local p = nl._T(x, op)
    local nd = p.ndim
    if mode == nil then mode = 'constant' end
    if not MODES[mode] then
      nl._raise(("%s: mode must be 'constant', 'reflect', 'replicate' or 'circular', got %s"):format(op,
        describe(mode)))
    end
    if type(pads) ~= 'table' or nl.is_tensor(pads) or #pads == 0 or #pads % 2 ~= 0 then
      nl._raise(('%s: padding must be a list of an even number of integers {left, right, top, bottom, ...}, '
        .. 'got %s'):format(op, describe(pads)))
    end
    -- (every position up to #pads: a hole, which ipairs stops at, is not an integer)
    for i = 1, #pads do
      local v = pads[i]
      if type(v) ~= 'number' or v ~= math.floor(v) or math.abs(v) > 2 ^ 53 then
        nl._raise(('%s: padding must hold integers, got %s at position %d'):format(op, describe(v), i))
      end
    end
    local np = #pads / 2
    if value ~= nil and (type(value) ~= 'number') then
      nl._raise(('%s: value must be a number, got %s'):format(op, describe(value)))
    end
    if mode ~= 'constant' and value ~= nil and value ~= 0 then
      nl._raise(("%s: mode '%s' takes no value (got %s)"):format(op, mode, describe(value)))
    end
    local shown = added and nl._shape_str(x:squeeze(1)) or nl._shape_str(x)
    local lead = added and 1 or 0
    if mode == 'constant' then
      if np > nd then
        nl._raise(('%s: %d padding pairs for the %d dims of input %s'):format(op, np, nd, shown))
      end
    elseif np > 3 then
      nl._raise(("%s: mode '%s' pads the last 1, 2 or 3 dims, got %d padding pairs (input %s)"):format(op, mode, np,
        shown))
    elseif mode == 'circular' and nd ~= np + 2 then
      -- as PyTorch 1.13: circular takes only the batched forms
      nl._raise(("%s: mode 'circular' with %d padding pair%s needs a %d-D input (N, C, %s), got %s"):format(op, np,
        np > 1 and 's' or '', np + 2, ({ 'L', 'H, W', 'D, H, W' })[np], shown))
    elseif nd ~= np + 1 and nd ~= np + 2 then
      nl._raise(("%s: mode '%s' with %d padding pair%s needs a %d-D or %d-D input, got %s"):format(op, mode, np,
        np > 1 and 's' or '', np + 1, np + 2, shown))
    end
    -- the output's sizes first: every check before any work
    local out, numel = x:shape(), 1
    for i = 1, np do
      local d = nd - i + 1
      local n, l, r = out[d], pads[2 * i - 1], pads[2 * i]
      local m = n - math.max(-l, 0) - math.max(-r, 0)      -- what the crops leave
      local size = n + l + r
      if m < 0 or size < 0 or ((mode == 'reflect' or mode == 'replicate') and size < 1) then
        nl._raise(('%s: padding (%d, %d) leaves dim %d of input %s with %d elements'):format(op, l, r, d - lead, shown,
          m < 0 and m or size))
      end
      if mode == 'replicate' and n == 0 then
        -- (pad_index clamped to [0, -1]: 'clamp: min 0 is greater than max -1')
        nl._raise(("%s: mode 'replicate' has no element to repeat in dim %d of input %s (size 0)"):format(op,
          d - lead, shown))
      end
      if mode == 'reflect' and (l >= n or r >= n) then
        nl._raise(("%s: mode 'reflect' needs each padding less than the dim's size: padding (%d, %d) for dim %d "
          .. 'of input %s'):format(op, l, r, d - lead, shown))
      end
      if mode == 'circular' and (l > m or r > m) then
        -- PyTorch wraps the cropped dim, and past it read memory it never wrote
        nl._raise(("%s: mode 'circular' wraps a dim at most once: padding (%d, %d) for dim %d of input %s "
          .. '(%d elements after cropping)'):format(op, l, r, d - lead, shown, m))
      end
      out[d] = size
    end
    -- a fill value the input's dtype cannot hold, where anything is filled
    -- (nl.full named it: 'full: 1e+300 cannot be stored in float32 without overflow')
    if mode == 'constant' and value ~= nil then
      local grows = false
      for i = 1, 2 * np do if pads[i] > 0 then grows = true end end
      local dt = x:dtype()
      if grows and ((dt == 'int64' and not (value >= -2 ^ 63 and value < 2 ^ 63))
                    or (dt == 'float32' and value == value and math.abs(value) ~= math.huge
                        and math.abs(value) > 3.4028234663852886e38)) then
        nl._raise(('%s: value %s cannot be stored in the %s input %s'):format(op, tostring(value), dt, shown))
      end
    end
    for i = 1, nd do numel = numel * out[i] end
    if numel > MAX_ELEMENTS then
      nl._raise(('%s: output [%s] of input %s is too large'):format(op, table.concat(out, ','), shown))
    end
    for i = 1, np do
      local d = nd - i + 1
      local l, r = pads[2 * i - 1], pads[2 * i]
      if mode == 'constant' then
        x = filled(cropped(x, d, l, r), d, math.max(l, 0), math.max(r, 0), value or 0)
      elseif mode == 'circular' then
        -- crop, then wrap what is left (PyTorch 1.13's order)
        local c = cropped(x, d, l, r)
        local m, lp, rp = c:size(d), math.max(l, 0), math.max(r, 0)
        if lp + rp > 0 then
          local parts = {}
          if lp > 0 then parts[#parts + 1] = c:narrow(d, m - lp + 1, lp) end
          parts[#parts + 1] = c
          if rp > 0 then parts[#parts + 1] = c:narrow(d, 1, rp) end
          c = nl.cat(parts, d)
        end
        x = c
      elseif l ~= 0 or r ~= 0 then
        x = x:index_select(d, pad_index(mode, x:size(d), l, r))
      end
    end
    return x
  end
  nn._pad = pad

  -- x padded: pads {left, right[, top, bottom[, front, back]]} (the last dim's pair
  -- first, as PyTorch's), mode 'constant' (default; pads may be negative:
  -- a crop), 'reflect', 'replicate' or 'circular'; value: the constant
  function F.pad(x, pads, mode, value, ...)
    nl._no_extra_args('pad', '(input, pad, [mode], [value])', nil, ...)
    return pad('pad', x, pads, mode, value)
  end

  -- ---- modules -------------------------------------------------------------------

  -- a module's padding: n (every side) or a list of 2 * dims integers
  local function padding_arg(op, v, dims)
    if type(v) == 'number' and v == math.floor(v) and math.abs(v) <= 2 ^ 53 then
      local t = {}
      for i = 1, 2 * dims do t[i] = v end
      return t
    end
    if type(v) ~= 'table' or nl.is_tensor(v) or #v ~= 2 * dims then
      nl._raise(('%s: padding must be an integer or a list of %d integers {%s}, got %s'):format(op, 2 * dims,
        ({ 'left, right', 'left, right, top, bottom', 'left, right, top, bottom, front, back' })[dims], describe(v)))
    end
    local t = {}
    for i = 1, 2 * dims do
      if type(v[i]) ~= 'number' or v[i] ~= math.floor(v[i]) or math.abs(v[i]) > 2 ^ 53 then
        nl._raise(('%s: padding must hold integers, got %s at position %d'):format(op, describe(v[i]), i))
      end
      t[i] = v[i]
    end
    return t
  end

  local function tuple(t)
    return '(' .. table.concat(t, ', ') .. ')'
  end

  -- one class per (name, mode, dims); constant ones take a value after the padding
  local function pad_class(name, mode, dims, value_arg)
    local cls = Module:extend(name)
    nn[name] = cls
    function cls:init(padding, value, ...)
      if select('#', ...) > 0 or (not value_arg and value ~= nil) then
        nl._raise(('%s: expected %s, got %d arguments'):format(name, value_arg and 'padding and value' or 'padding',
          (value_arg and 2 or 1) + select('#', ...) + ((not value_arg and value ~= nil) and 1 or 0)))
      end
      self.padding = padding_arg(name, padding, dims)
      if value_arg then
        if type(value) ~= 'number' then nl._raise(name .. ': value must be a number, got ' .. describe(value)) end
        self.value = value
      elseif mode == 'constant' then
        self.value = 0
      end
    end
    function cls:forward(x)
      return pad(name, x, self.padding, mode, self.value)
    end
    function cls:extra_repr()
      if value_arg then return ('padding=%s, value=%s'):format(tuple(self.padding), tostring(self.value)) end
      return tuple(self.padding)
    end
    return cls
  end
  nn._pad_class = pad_class

  pad_class('ZeroPad2d', 'constant', 2, false)
  pad_class('ConstantPad1d', 'constant', 1, true)
  pad_class('ConstantPad2d', 'constant', 2, true)
  pad_class('ReflectionPad1d', 'reflect', 1, false)
  pad_class('ReflectionPad2d', 'reflect', 2, false)
  pad_class('ReplicationPad1d', 'replicate', 1, false)
  pad_class('ReplicationPad2d', 'replicate', 2, false)
  pad_class('ConstantPad3d', 'constant', 3, true)
  pad_class('ReflectionPad3d', 'reflect', 3, false)
  pad_class('ReplicationPad3d', 'replicate', 3, false)

end
