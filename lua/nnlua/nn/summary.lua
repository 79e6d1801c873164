-- summary.lua: model:summary([input], [opts]), Keras's table of a model's
-- layers: name and class, output shape (from one forward of the input,
-- when one is given) and parameter count, then the totals of trainable
-- and non-trainable parameters. tostring(model) stays PyTorch's tree.
return function(nl, nn)
  local ffi = require 'ffi'
  local Module = nn.Module
  local group = nn._group_digits
  local KNOWN = { expand_nested = 'flag', print_fn = 1, dtype = 1 }
  local BYTES = { float32 = 4, float64 = 8, int64 = 8 }

  -- the state dict's tensors of m, each once (a tied weight is one
  -- tensor): parameters and persistent buffers, as Keras counts its
  -- non-trainable variables (BatchNorm's moving statistics) in
  local function tensors_of(m)
    local out, seen, sd = {}, {}, m:state_dict { keep_vars = true }
    for _, name in ipairs(m:state_names()) do
      local t = sd[name]
      local key = tostring(ffi.cast('uintptr_t', t.ptr))
      if not seen[key] then
        seen[key] = true
        out[#out + 1] = t
      end
    end
    return out
  end
  local function count(ts)
    local n, bytes = 0, 0
    for _, t in ipairs(ts) do
      n = n + t:numel()
      bytes = bytes + t:numel() * BYTES[t:dtype()]
    end
    return n, bytes
  end

  -- Keras's readable_memory_size: 1024 to a unit, two decimals
  local function readable(bytes)
    for _, unit in ipairs({ 'B', 'KB', 'MB', 'GB', 'TB' }) do
      if bytes / 1024 < 1 then return ('%.2f %s'):format(bytes, unit) end
      bytes = bytes / 1024
    end
    return ('%.2f PB'):format(bytes)
  end

  -- an output as its shape: a tensor's sizes, several results or a
  -- table of tensors (an LSTM's {h, c}) each in turn
  local function shape_of(v)
    if nl.is_tensor(v) then return '[' .. table.concat(v:shape(), ', ') .. ']' end
    if type(v) == 'table' and getmetatable(v) == nil then
      local parts = {}
      for i = 1, v.n or #v do parts[#parts + 1] = shape_of(v[i]) end
      return '{' .. table.concat(parts, ', ') .. '}'
    end
    return type(v)
  end

  -- the input given: a tensor, a list of sizes (a tensor of ones of that
  -- shape: ones are a valid class index for an Embedding as well), or a
  -- list of those (several inputs)
  local function inputs_of(input, dtype)
    local function one(x, what)
      if nl.is_tensor(x) then
        nl._T(x, 'summary')
        return x
      end
      local n = nl._list_len(x)
      if n and n > 0 then
        local sizes = {}
        for i = 1, n do
          local d = x[i]
          if type(d) ~= 'number' or d % 1 ~= 0 or d < 0 or d > 2^31 then
            nl._raise(('summary: %s must be a tensor or a list of sizes, got a size %s'):format(what,
              nl._describe_arg(d)))
          end
          sizes[i] = d
        end
        return nl.ones(sizes, dtype)
      end
      nl._raise(('summary: %s must be a tensor or a list of sizes, such as {32, 784}, got %s'):format(what,
        nl._describe_arg(x)))
    end
    local n = nl._list_len(input)
    if n and n > 0 and (nl.is_tensor(input[1]) or type(input[1]) == 'table') then
      local out = { n = n }
      for i = 1, n do out[i] = one(input[i], 'input ' .. i) end
      return out
    end
    return { n = 1, one(input, 'the input') }
  end

  -- the first floating parameter's dtype: the input the model takes
  local function model_dtype(self)
    for _, p in ipairs(self:parameters()) do
      if p:dtype() ~= 'int64' then return p:dtype() end
    end
    return 'float32'
  end

  -- model:summary([input], [{expand_nested, print_fn, dtype}]) -> the table
  -- as a string, also given to print_fn line by line (print by default).
  -- input: a tensor, a list of sizes with the batch dim ({32, 784}: ones
  -- of the model's dtype, or dtype), or a list of those (several inputs),
  -- run once in eval mode without the tape, with a forward hook on each
  -- row's module; every module's mode is put back after.
  -- Rows: the direct children (the model itself when it has none), or
  -- every submodule under its dotted name with expand_nested. A row's
  -- Param # counts its tensors in the state dict (a BatchNorm's running
  -- statistics too, as Keras's); the totals count each tensor once.
  function Module:summary(input, opts)
    if opts == nil and type(input) == 'table' and getmetatable(input) == nil and not nl._list_len(input) then
      input, opts = nil, input       -- summary{expand_nested = true}
    end
    opts = nl._opts('summary', opts)
    nl._check_opts('summary', opts, KNOWN)
    local print_fn = opts.print_fn == nil and print or opts.print_fn
    if type(print_fn) ~= 'function' then nl._argerror('summary', 'print_fn as a function of a line', print_fn) end
    local dtype = opts.dtype
    if dtype ~= nil and not BYTES[dtype] then
      nl._raise(("summary: unknown dtype %s (use 'float32', 'float64' or 'int64')"):format(nl._describe_arg(dtype)))
    end

    local rows = {}
    if opts.expand_nested then
      for i, pm in ipairs(self:named_modules()) do
        if i > 1 then
          local depth = select(2, pm[1]:gsub('%.', ''))
          rows[#rows + 1] = { name = pm[1], module = pm[2], depth = depth }
        end
      end
    else
      for _, kv in ipairs(self:named_children()) do rows[#rows + 1] = { name = kv[1], module = kv[2], depth = 0 } end
    end
    if #rows == 0 then rows[1] = { name = '', module = self, depth = 0 } end

    if input ~= nil then
      local args = inputs_of(input, dtype or model_dtype(self))
      local by_module, handles = {}, {}
      for _, r in ipairs(rows) do
        local list = by_module[r.module]
        if not list then
          list = {}
          by_module[r.module] = list
          handles[#handles + 1] = r.module:register_forward_hook(function(_, _, out)
            if not list.shape then list.shape = shape_of(out) end
          end)
        end
        r.out = list
      end
      local modes = {}
      for _, m in ipairs(self:modules()) do modes[m] = m.training end
      self:eval()
      local ok, err = pcall(nl.no_grad, function() return self(unpack(args, 1, args.n)) end)
      for _, h in ipairs(handles) do h:remove() end
      for m, mode in pairs(modes) do rawset(m, 'training', mode) end
      if not ok then
        local shapes = {}
        for i = 1, args.n do shapes[i] = shape_of(args[i]) end
        nl._raise(('summary: the forward of an input of shape %s failed: %s'):format(table.concat(shapes, ', '),
          tostring(err)))
      end
    end

    -- the columns, each as wide as its widest entry
    local head = input ~= nil and { 'Layer (type)', 'Output Shape', 'Param #' } or { 'Layer (type)', 'Param #' }
    local cells = {}
    for i, r in ipairs(rows) do
      local label = r.name == '' and r.module.__name or ('%s (%s)'):format(r.name, r.module.__name)
      label = string.rep('  ', r.depth) .. label
      local params = group((count(tensors_of(r.module))))
      if input ~= nil then
        cells[i] = { label, r.out.shape or '-', params }
      else
        cells[i] = { label, params }
      end
    end
    local widths = {}
    for c = 1, #head do
      local w = #head[c]
      for _, row in ipairs(cells) do w = math.max(w, #row[c]) end
      widths[c] = w
    end
    local function line(row)
      local parts = {}
      for c = 1, #head do
        local last = c == #head
        -- Param # right-aligned, as Keras's
        parts[c] = last and (' '):rep(widths[c] - #row[c]) .. row[c] or row[c] .. (' '):rep(widths[c] - #row[c])
      end
      return ' ' .. table.concat(parts, '   ') .. ' '
    end
    local width = #line(head)
    local total_ts = tensors_of(self)
    local total, total_bytes = count(total_ts)
    local trainable, trainable_bytes = 0, 0
    local seen = {}
    for _, p in ipairs(self:parameters()) do seen[tostring(ffi.cast('uintptr_t', p.ptr))] = p end
    for _, t in ipairs(total_ts) do
      local p = seen[tostring(ffi.cast('uintptr_t', t.ptr))]
      if p and p.is_requires_grad then
        trainable = trainable + t:numel()
        trainable_bytes = trainable_bytes + t:numel() * BYTES[t:dtype()]
      end
    end
    local out = { ('Model: "%s"'):format(self.__name), ('_'):rep(width), line(head), ('='):rep(width) }
    for _, row in ipairs(cells) do out[#out + 1] = line(row) end
    out[#out + 1] = ('='):rep(width)
    out[#out + 1] = ('Total params: %s (%s)'):format(group(total), readable(total_bytes))
    out[#out + 1] = ('Trainable params: %s (%s)'):format(group(trainable), readable(trainable_bytes))
    out[#out + 1] = ('Non-trainable params: %s (%s)'):format(group(total - trainable),
                                                           readable(total_bytes - trainable_bytes))
    out[#out + 1] = ('_'):rep(width)
    for _, l in ipairs(out) do print_fn(l) end
    return table.concat(out, '\n')
  end
end
