-- print.lua: tostring for tensors, in PyTorch's style: values in nested
-- brackets, one number format for the whole tensor, long tensors cut to
-- their first and last three entries per dim (nl.set_printoptions
-- changes these); then the shape and dtype.
local ffi = require 'ffi'

-- C's printf for the numbers: LuaJIT's own string.format rounds exact
-- ties away from zero (0.03125 as 0.0313), C's and PyTorch's to even;
-- nl_format_double writes '.' whatever LC_NUMERIC the host set (the
-- C library's own snprintf wrote tensor([1,5000]) under de_DE)
local fmtbuf = ffi.new('char[64]')

return function(nl)
  local Tensor, lib = nl.Tensor, nl._lib
  local function cformat(f, v) return ffi.string(fmtbuf, lib.nl_format_double(fmtbuf, 64, f, v)) end
  -- PyTorch's print options (nl.set_printoptions, utility.lua, sets them):
  -- digits after the point, the element count past which a tensor is cut
  -- to edgeitems per end of each dim, the line width, and scientific
  -- notation forced on (true), off (false) or chosen by the values (nil)
  local opts = { precision = 4, threshold = 1000, edgeitems = 3, linewidth = 80, sci_mode = nil }
  nl._printopts = opts

  -- indices shown along a dim of size n (nil marks the '...')
  local function shown(n, summarize)
    local idx = {}
    local edge = opts.edgeitems
    if summarize and n > 2 * edge then
      for i = 1, edge do idx[#idx + 1] = i end
      idx[#idx + 1] = false
      for i = n - edge + 1, n do idx[#idx + 1] = i end
    else
      for i = 1, n do idx[i] = i end
    end
    return idx
  end

  -- choose one format for all shown values; and the one that sets the
  -- column width: PyTorch's width is that of the format the values
  -- choose, also when sci_mode forces the other
  local function formatter(vals, is_int)
    -- int64 values stay int64 cdata: exact past 2^53
    if is_int then
      local f = function(v) return (tostring(v):gsub('LL$', '')) end
      return f, f
    end
    local int_mode, nonzero = true, {}
    for _, v in ipairs(vals) do
      if v == v and v ~= math.huge and v ~= -math.huge then
        if v ~= math.floor(v) then int_mode = false end
        if v ~= 0 then nonzero[#nonzero + 1] = math.abs(v) end
      end
    end
    local function special(v)
      if v ~= v then return 'nan' end
      if v == math.huge then return 'inf' end
      if v == -math.huge then return '-inf' end
    end
    local lo, hi = math.huge, 0
    for _, a in ipairs(nonzero) do lo = math.min(lo, a); hi = math.max(hi, a) end
    local e, f = '%.' .. opts.precision .. 'e', '%.' .. opts.precision .. 'f'
    local function chosen(sci)
      if sci then return function(v) return special(v) or cformat(e, v) end end
      if int_mode then return function(v) return special(v) or cformat('%.0f.', v) end end
      return function(v) return special(v) or cformat(f, v) end
    end
    local auto = chosen(#nonzero > 0 and (hi / lo > 1000 or hi > 1e8 or lo < 1e-4))
    if opts.sci_mode == nil then return auto, auto end
    return chosen(opts.sci_mode), auto
  end

  -- the values are read through the view's own strides: a copy made
  -- contiguous first cost the whole of a large view (an expanded
  -- 20000 x 20000 took 1.5 GB and 1.7 s to show 36 values)
  local function render(t)
    local p = t.ptr
    local ndim, is_int = p.ndim, p.dtype == 2
    local idata = ffi.cast('int64_t *', p.data)
    local f_at = p.dtype == 0 and nl._f32_at or nl._f64_at    -- NaNs as Lua's own (tensor.lua)
    local function at(off) if is_int then return idata[off] end return f_at(p.data, off) end
    local summarize = tonumber(p.numel) > opts.threshold
    local shape, strides = {}, {}
    for d = 1, ndim do shape[d] = tonumber(p.sizes[d - 1]); strides[d] = tonumber(p.strides[d - 1]) end

    -- collect the shown values (in order) to pick a format and a width
    local vals = {}
    local function collect(d, off)
      if d > ndim then vals[#vals + 1] = at(off); return end
      for _, i in ipairs(shown(shape[d], summarize)) do
        if i then collect(d + 1, off + (i - 1) * strides[d]) end
      end
    end
    collect(1, 0)
    local fmt, wfmt = formatter(vals, is_int)
    local width = 0
    -- as PyTorch: the width of the finite values, and of a float tensor's
    -- nonzero ones (a -0. widened every column by one)
    for _, v in ipairs(vals) do
      if v == v and v ~= math.huge and v ~= -math.huge and (is_int or v ~= 0) then width = math.max(width, #wfmt(v)) end
    end
    local function cell(v) local s = fmt(v); return string.rep(' ', width - #s) .. s end

    local prefix = 'tensor('
    if ndim == 0 then return prefix .. fmt(at(0)) end
    if tonumber(p.numel) == 0 then return prefix .. '[]' end    -- as PyTorch, whatever the empty shape
    local function block(d, off, indent)
      local parts = {}
      if d == ndim then
        local per_line = math.max(1, math.floor((opts.linewidth - indent) / (width + 2)))
        local line = {}
        local lines = {}
        for _, i in ipairs(shown(shape[d], summarize)) do
          -- (PyTorch's row elision is ' ...', a space wider than '...')
          line[#line + 1] = i and cell(at(off + (i - 1) * strides[d])) or ' ...'
          if #line == per_line then lines[#lines + 1] = table.concat(line, ', '); line = {} end
        end
        if #line > 0 then lines[#lines + 1] = table.concat(line, ', ') end
        return '[' .. table.concat(lines, ',\n' .. string.rep(' ', indent + 1)) .. ']'
      end
      for _, i in ipairs(shown(shape[d], summarize)) do
        parts[#parts + 1] = i and block(d + 1, off + (i - 1) * strides[d], indent + 1) or '...'
      end
      local sep = ',' .. string.rep('\n', ndim - d) .. string.rep(' ', indent + 1)
      return '[' .. table.concat(parts, sep) .. ']'
    end
    return prefix .. block(1, 0, #prefix)
  end

  -- then, as PyTorch shows them, the op that made t (grad_fn) or that t
  -- is a leaf which requires grad
  function nl._tostring(t)
    if t.ptr == nil then return 'tensor(<released>)' end
    local s = string.format('%s, shape=%s, dtype=%s', render(t), nl._shape_str(t), Tensor.dtype(t))
    local fn = Tensor.grad_fn and Tensor.grad_fn(t)
    if fn then s = s .. ', grad_fn=<' .. fn .. '>'
    elseif bit.band(t.ptr.flags, 1) ~= 0 then s = s .. ', requires_grad=true' end
    return s .. ')'
  end
end
