-- data_sampling.lua: the parts of PyTorch's torch.utils.data that choose
-- rows: Subset, ConcatDataset and random_split, datasets made of other
-- datasets' rows, and the samplers DataLoader takes (SequentialSampler,
-- RandomSampler, SubsetRandomSampler, WeightedRandomSampler and
-- BatchSampler). Batching and collation are data.lua's. Indices are
-- 1-based; random draws come from nl's generator, or with a seed option
-- from one of the object's own, as DataLoader's seed.
local ffi = require 'ffi'

return function(nl, data)
  local lib, wrap, raise, argerror = nl._lib, nl._wrap, nl._raise, nl._argerror
  local F64 = nl._dtype_id('float64', 'data')
  local sizes_buf = ffi.new('int64_t[2]')

  local KNOWN = {
    RandomSampler = { replacement = 'flag', num_samples = 1, seed = 1 },
    SubsetRandomSampler = { seed = 1 },
    WeightedRandomSampler = { replacement = 'flag', seed = 1 },
    random_split = { seed = 1 },
  }

  local function whole(x) return type(x) == 'number' and x == math.floor(x) and x >= 0 and x < 2 ^ 53 end

  local function get_field(ds, key)
    local ok, v = pcall(function() return ds[key] end)
    return ok and type(v) == 'function' and v or nil
  end

  -- the number of rows of ds, a dataset or (for the samplers) a number
  local function rows_of(op, ds)
    if type(ds) ~= 'number' then return data._dataset_len(op, ds) end
    if not whole(ds) then raise(op .. ': the number of rows must be a non-negative integer, got ' .. tostring(ds)) end
    return ds
  end

  local function check_opts(op, opts)
    if opts ~= nil and type(opts) ~= 'table' then argerror(op, 'an options table', opts) end
    opts = opts or {}
    nl._check_opts(op, opts, KNOWN[op])
    return opts
  end

  -- an error unless i is a row index of a dataset of n rows
  local function check_row(op, i, n)
    if type(i) ~= 'number' or i ~= math.floor(i) or i < 1 or i > n then
      raise(string.format('%s: index %s out of range 1..%d', op, tostring(i), n))
    end
  end

  -- a dataset of n rows as a userdata proxy (#ds works under LuaJIT):
  -- ds[i] is sample(i), other keys are fields[key]
  local function dataset_proxy(op, n, sample, fields, describe)
    nl._strict_fields(op, fields)
    local self = newproxy(true)
    local mt = getmetatable(self)
    mt.__len = function() return n end
    mt.__index = function(_, i)
      if type(i) ~= 'number' then return fields[i] end
      check_row(op, i, n)
      return sample(i)
    end
    mt.__tostring = describe
    return self
  end

  -- ---- Subset ------------------------------------------------------------------

  -- data.Subset(ds, indices): the rows indices (a list or an int64 tensor,
  -- 1-based) of ds, in that order: #s = #indices, s[i] is ds[indices[i]],
  -- s:get(i) ds:get(indices[i]) (ds[indices[i]] for a dataset without
  -- get), and s:batch(idx) ds:batch of the rows idx stand for, when ds has
  -- batch (DataLoader's one call a batch). s.dataset is ds and s.indices
  -- the indices as an int64 tensor. Unlike PyTorch's, the indices are
  -- checked against ds when the subset is made.
  function data.Subset(ds, indices, ...)
    local op = 'Subset'
    nl._no_extra_args(op, '(dataset, indices)', nil, ...)
    local n = data._dataset_len(op, ds)
    local idx = data._index_tensor(op, 'indices', indices):clone()
    local m = idx:numel()
    if m > 0 and idx:max():item() > n then
      raise(('%s: indices hold %d, outside the dataset\'s rows 1..%d'):format(op, idx:max():item(), n))
    end
    local list = idx:totable()
    local fields = { dataset = ds, indices = idx }
    local get, batch = get_field(ds, 'get'), get_field(ds, 'batch')
    function fields.get(_, i)
      check_row(op, i, m)
      if get then return get(ds, list[i]) end
      return ds[list[i]]
    end
    if batch then
      function fields.batch(_, rows)
        if not nl.is_tensor(rows) then argerror(op .. ':batch', 'an int64 tensor of row indices', rows) end
        return batch(ds, idx:index_select(1, rows))
      end
    end
    return dataset_proxy(op, m, function(i) return ds[list[i]] end, fields, function()
      return string.format('Subset(%d of %d rows of %s)', m, n, tostring(ds))
    end)
  end

  -- ---- ConcatDataset -----------------------------------------------------------

  -- data.ConcatDataset({ds1, ds2, ...}): the rows of ds1, then ds2's, ...
  -- c[i] and c:get(i) are those of the dataset row i falls in;
  -- c.cumulative_sizes[k] is the rows of the first k datasets, as
  -- PyTorch's; c:batch(idx) when every dataset has batch (the rows of each
  -- gathered by its own, put back in idx's order).
  function data.ConcatDataset(datasets, ...)
    local op = 'ConcatDataset'
    nl._no_extra_args(op, '({datasets})', 'pass the datasets in one list', ...)
    local k = nl._list_len(datasets)
    if not k or k == 0 then argerror(op, 'a non-empty list of datasets', datasets) end
    local cum, gets, batches = {}, {}, {}
    local total = 0
    for j = 1, k do
      local ok, n = pcall(data._dataset_len, op, datasets[j])
      if not ok then
        raise(('%s: element %d of the list: %s'):format(op, j, (tostring(n):gsub('^.-' .. op .. ': ', ''))))
      end
      total = total + n
      cum[j] = total
      gets[j] = get_field(datasets[j], 'get')
      batches[j] = get_field(datasets[j], 'batch')
    end
    -- the dataset row i falls in and its row there (the first dataset whose
    -- cumulative size reaches i: bisect_right of i - 1, as PyTorch's)
    local function locate(i)
      local lo, hi = 1, k
      while lo < hi do
        local mid = math.floor((lo + hi) / 2)
        if cum[mid] >= i then hi = mid else lo = mid + 1 end
      end
      return lo, i - (lo > 1 and cum[lo - 1] or 0)
    end
    local fields = { datasets = { unpack(datasets, 1, k) }, cumulative_sizes = { unpack(cum) } }
    function fields.get(_, i)
      check_row(op, i, total)
      local j, r = locate(i)
      if gets[j] then return gets[j](datasets[j], r) end
      return datasets[j][r]
    end
    local all_batch = true
    for j = 1, k do all_batch = all_batch and batches[j] ~= nil end
    if all_batch then
      function fields.batch(_, idx)
        if not nl.is_tensor(idx) then argerror(op .. ':batch', 'an int64 tensor of row indices', idx) end
        local rows = idx:totable()
        local parts, order = {}, {}          -- rows of each dataset; where each row went
        for r, i in ipairs(rows) do
          check_row(op .. ':batch', i, total)
          local j, local_row = locate(i)
          parts[j] = parts[j] or {}
          local p = parts[j]
          p[#p + 1] = local_row
          order[r] = { j, #p }
        end
        local used = {}
        for j = 1, k do if parts[j] then used[#used + 1] = j end end
        if #used == 1 then return batches[used[1]](datasets[used[1]], nl.tensor(parts[used[1]], 'int64')) end
        -- each dataset's rows in one call, joined, then put in idx's order
        local outs, offset, nf = {}, {}, nil
        local at = 0
        for _, j in ipairs(used) do
          local out = { batches[j](datasets[j], nl.tensor(parts[j], 'int64')) }
          if nf and #out ~= nf then
            raise(('%s:batch: dataset %d gives %d fields, dataset %d %d'):format(op, used[1], nf, j, #out))
          end
          nf = #out
          outs[#outs + 1] = out
          offset[j] = at
          at = at + #parts[j]
        end
        local perm = {}
        for r, o in ipairs(order) do perm[r] = offset[o[1]] + o[2] end
        local pidx = nl.tensor(perm, 'int64')
        local res = {}
        for f = 1, nf do
          local col = {}
          for p = 1, #outs do col[p] = outs[p][f] end
          res[f] = nl.cat(col, 1):index_select(1, pidx)
        end
        return unpack(res, 1, nf)
      end
    end
    return dataset_proxy(op, total, function(i)
      local j, r = locate(i)
      return datasets[j][r]
    end, fields, function()
      return string.format('ConcatDataset(%d datasets, %d rows)', k, total)
    end)
  end

  -- ---- random_split ------------------------------------------------------------

  -- the lengths of a split of n rows: whole numbers summing to n, or
  -- fractions summing to 1 within 1e-9 (math.isclose, as PyTorch 1.13),
  -- each floor(n * fraction), the rows left over dealt one each to the
  -- first lengths, in turn. 1.13 also asks that the float sum be at most 1,
  -- which refuses 0.2, 0.4, 0.3, 0.1 (1.0000000000000002 added in that
  -- order): here such fractions are taken, and refused only when their
  -- floors would take more rows than there are
  local function split_lengths(op, n, lengths)
    local k = nl._list_len(lengths)
    if not k or k == 0 then argerror(op, 'a non-empty list of lengths or fractions', lengths) end
    local sum = 0
    for i = 1, k do
      local v = lengths[i]
      if type(v) ~= 'number' or v ~= v then
        raise(('%s: length %d is %s; expected a number'):format(op, i, nl._describe_arg(v)))
      end
      sum = sum + v
    end
    local out = {}
    if math.abs(sum - 1) <= 1e-9 * math.max(math.abs(sum), 1) then
      local used = 0
      for i = 1, k do
        local f = lengths[i]
        if f < 0 or f > 1 then raise(('%s: fraction %d (%s) is not between 0 and 1'):format(op, i, tostring(f))) end
        out[i] = math.floor(n * f)
        used = used + out[i]
      end
      if used > n then
        raise(('%s: the fractions sum to %.17g, which takes %d rows of the dataset\'s %d'):format(op, sum, used, n))
      end
      for i = 0, n - used - 1 do
        local j = i % k + 1
        out[j] = out[j] + 1
      end
      return out
    end
    for i = 1, k do
      if not whole(lengths[i]) then
        raise(('%s: length %d is %s; lengths are whole numbers from 0, or fractions summing to 1')
              :format(op, i, tostring(lengths[i])))
      end
      out[i] = lengths[i]
    end
    if sum ~= n then
      raise(('%s: the lengths sum to %s, but the dataset has %d rows'):format(op, tostring(sum), n))
    end
    return out
  end

  -- data.random_split(ds, lengths, [opts]): Subsets of ds of those lengths
  -- (whole numbers summing to #ds, or fractions summing to 1, as PyTorch
  -- 1.13's), together one permutation of its rows, returned as values
  -- (local train, val = data.random_split(ds, {0.8, 0.2})). opts.seed
  -- (or a seed as the third argument) draws the permutation from a
  -- generator of its own; else from nl's.
  function data.random_split(ds, lengths, opts, ...)
    local op = 'random_split'
    nl._no_extra_args(op, '(dataset, lengths, [opts])', nil, ...)
    if type(opts) == 'number' then opts = { seed = opts } end
    opts = check_opts(op, opts)
    local n = data._dataset_len(op, ds)
    local lens = split_lengths(op, n, lengths)
    local gen = data._seed_generator(op, opts.seed)
    local perm = wrap(lib.nl_randperm(gen, n, 1))
    local out, at = {}, 0
    for i, len in ipairs(lens) do
      out[i] = data.Subset(ds, perm:narrow(1, at + 1, len))
      at = at + len
    end
    return unpack(out, 1, #lens)
  end

  -- ---- samplers ----------------------------------------------------------------

  -- a sampler as DataLoader reads one: #s rows, s:order() an int64 tensor
  -- of 1-based row indices (a new draw each call for the random ones), and
  -- s:iter() the same one by one, as iterating a PyTorch sampler gives them
  local function sampler_proxy(op, len, fields, describe)
    -- a draw too large for memory fails in C, naming its op: named here
    local draw = fields.order
    function fields.order(self_)
      local ok, order = pcall(draw, self_)
      if not ok then raise(op .. ': ' .. tostring(order):gsub('^[^:]*:%d+: ', '')) end
      return order
    end
    function fields.iter(self_)
      local vals, i = fields.order(self_):totable(), 0
      return function()
        i = i + 1
        return vals[i]
      end
    end
    local self = newproxy(true)
    local mt = getmetatable(self)
    mt.__len = function() return len end
    mt.__index = nl._strict_fields(op, fields)
    mt.__tostring = describe
    return self
  end

  -- k permutations of 1..n, one after the other (k*n indices)
  local function permutations(gen, n, k)
    if k == 1 then return wrap(lib.nl_randperm(gen, n, 1)) end
    sizes_buf[0], sizes_buf[1] = k, n
    return wrap(lib.nl_rand(gen, 2, sizes_buf, F64)):argsort(2):view(-1)
  end

  -- data.SequentialSampler(ds): the rows 1..#ds in order (ds a dataset or
  -- a number of rows).
  function data.SequentialSampler(ds, ...)
    local op = 'SequentialSampler'
    nl._no_extra_args(op, '(dataset)', nil, ...)
    local n = rows_of(op, ds)
    return sampler_proxy(op, n, { data_source = ds, order = function() return nl.arange(1, n + 1, 1, 'int64') end },
                         function() return ('SequentialSampler(%d rows)'):format(n) end)
  end

  -- data.RandomSampler(ds, [opts]): #ds rows in a random order each epoch.
  -- opts: replacement (false), num_samples (#ds), seed. Without
  -- replacement, num_samples past #ds gives whole permutations one after
  -- the other and then part of one, as PyTorch 1.13's; with replacement
  -- each row is drawn uniformly.
  function data.RandomSampler(ds, opts, ...)
    local op = 'RandomSampler'
    nl._no_extra_args(op, '(dataset, {options})', 'give replacement and num_samples in the options table', ...)
    local n = rows_of(op, ds)
    opts = check_opts(op, opts)
    local replacement = opts.replacement and true or false
    local m = opts.num_samples
    if m == nil then m = n end
    if not whole(m) or m < 1 or m > 2 ^ 40 then
      raise(('%s: num_samples must be a positive integer, got %s%s'):format(op, tostring(m),
            opts.num_samples == nil and ' (the dataset has no rows)' or ''))
    end
    if n == 0 then raise(op .. ': the dataset has no rows to draw from') end
    local gen = data._seed_generator(op, opts.seed)
    local fields = { data_source = ds, replacement = replacement, num_samples = m, generator = gen }
    function fields.order()
      if replacement then
        sizes_buf[0] = m
        local u = wrap(lib.nl_rand(gen, 1, sizes_buf, F64))
        -- (u * n rounds up to n for u near 1 once n passes 2^40 or so)
        return (u * n):floor():clamp(0, n - 1):long() + 1
      end
      local k, rest = math.floor(m / n), m % n
      local parts = {}
      if k > 0 then parts[1] = permutations(gen, n, k) end
      if rest > 0 then parts[#parts + 1] = permutations(gen, n, 1):narrow(1, 1, rest) end
      return #parts == 1 and parts[1] or nl.cat(parts, 1)
    end
    return sampler_proxy(op, m, fields, function()
      return ('RandomSampler(%d rows, num_samples=%d, replacement=%s)'):format(n, m, tostring(replacement))
    end)
  end

  -- data.SubsetRandomSampler(indices, [opts]): the row indices (a list or
  -- an int64 tensor, 1-based) in a random order each epoch, without
  -- replacement. opts: seed.
  function data.SubsetRandomSampler(indices, opts, ...)
    local op = 'SubsetRandomSampler'
    nl._no_extra_args(op, '(indices, {options})', nil, ...)
    local idx = data._index_tensor(op, 'indices', indices):clone()
    opts = check_opts(op, opts)
    local gen = data._seed_generator(op, opts.seed)
    local m = idx:numel()
    local fields = { indices = idx, generator = gen }
    function fields.order()
      return idx:index_select(1, wrap(lib.nl_randperm(gen, m, 1)))
    end
    return sampler_proxy(op, m, fields, function() return ('SubsetRandomSampler(%d rows)'):format(m) end)
  end

  -- data.WeightedRandomSampler(weights, num_samples, [replacement | opts]):
  -- num_samples rows drawn each epoch, row i with probability weights[i] /
  -- sum (weights a list or a 1-D tensor, >= 0, finite, not all 0), as
  -- torch.multinomial draws them. opts: replacement (true: without it, no
  -- row twice, and num_samples may not pass the rows of positive weight),
  -- seed. PyTorch finds the weights wrong when it draws; here when the
  -- sampler is made.
  function data.WeightedRandomSampler(weights, num_samples, opts, ...)
    local op = 'WeightedRandomSampler'
    nl._no_extra_args(op, '(weights, num_samples, [replacement or {options}])', nil, ...)
    if type(opts) == 'boolean' then opts = { replacement = opts } end
    opts = check_opts(op, opts)
    local w
    if nl.is_tensor(weights) then
      w = weights:detach():to('float64'):clone()
    else
      local k = nl._list_len(weights)
      if not k or k == 0 then argerror(op, 'weights as a list of numbers or a 1-D tensor', weights) end
      for i = 1, k do
        if type(weights[i]) ~= 'number' then
          raise(('%s: weight %d is %s; expected a number'):format(op, i, nl._describe_arg(weights[i])))
        end
      end
      w = nl.tensor(weights, 'float64')
    end
    if w:dim() ~= 1 or w:numel() == 0 then
      raise(('%s: weights must be a non-empty 1-D sequence, got shape %s'):format(op, nl._shape_str(w)))
    end
    if not whole(num_samples) or num_samples < 1 or num_samples > 2 ^ 40 then
      raise(('%s: num_samples must be a positive integer, got %s'):format(op, nl._describe_arg(num_samples)))
    end
    local replacement = opts.replacement ~= false
    if nl.ne(w, w):sum():item() > 0 or w:abs():max():item() == math.huge then
      raise(op .. ': weights must be finite (a NaN or an infinity cannot be drawn in proportion)')
    end
    if w:min():item() < 0 then raise(op .. ': weights must be non-negative, got ' .. w:min():item()) end
    local positive = nl.gt(w, 0):sum():item()
    if positive == 0 then raise(op .. ': weights must not all be 0') end
    if not replacement and num_samples > positive then
      raise(('%s: without replacement, num_samples (%d) may not pass the %d rows of positive weight')
            :format(op, num_samples, positive))
    end
    local gen = data._seed_generator(op, opts.seed)
    local fields = { weights = w, num_samples = num_samples, replacement = replacement, generator = gen }
    function fields.order()
      return wrap(lib.nl_multinomial(gen, nl._T(w, op), num_samples, replacement and 1 or 0, 1))
    end
    return sampler_proxy(op, num_samples, fields, function()
      return ('WeightedRandomSampler(%d rows, num_samples=%d, replacement=%s)'):format(w:numel(), num_samples,
                                                                                       tostring(replacement))
    end)
  end

  -- data.BatchSampler(sampler, batch_size, drop_last): the rows of sampler
  -- (a sampler or a list of row indices) in batches of batch_size, the last
  -- one shorter unless drop_last, for DataLoader's batch_sampler.
  -- #bs is the number of batches; bs:iter() yields each batch's rows as an
  -- int64 tensor (PyTorch's yields lists), from one sampler:order() an
  -- epoch.
  function data.BatchSampler(sampler, batch_size, drop_last, ...)
    local op = 'BatchSampler'
    nl._no_extra_args(op, '(sampler, batch_size, drop_last)', nil, ...)
    local order_of
    if type(sampler) == 'table' and getmetatable(sampler) == nil and not get_field(sampler, 'order')
       or nl.is_tensor(sampler) then
      local order = data._index_tensor(op, 'sampler', sampler)
      order_of = function() return order end
    else
      local okf, f = pcall(function() return sampler.order end)
      local okl, len = pcall(function() return #sampler end)
      if not okf or type(f) ~= 'function' or not okl or type(len) ~= 'number' then
        argerror(op, 'a sampler (sampler:order() and #sampler) or a list of row indices', sampler)
      end
      -- (#sampler of a table ignores its __len: 0 batches, and iter
      -- yielded them all)
      data._check_table_len(op, 'sampler', sampler)
      order_of = function()
        local o = sampler:order()
        if not nl.is_tensor(o) or o:dtype() ~= 'int64' or o:dim() ~= 1 then
          raise(op .. ': sampler:order() must return a 1-D int64 tensor of row indices')
        end
        return o
      end
    end
    if not whole(batch_size) or batch_size < 1 or batch_size > 2 ^ 40 then
      raise(('%s: batch_size must be a positive integer, got %s'):format(op, nl._describe_arg(batch_size)))
    end
    if drop_last ~= nil and type(drop_last) ~= 'boolean' then
      raise(('%s: drop_last must be a boolean (true or false), got %s'):format(op, nl._describe_arg(drop_last)))
    end
    drop_last = drop_last or false
    local m = #sampler
    local nb = drop_last and math.floor(m / batch_size) or math.ceil(m / batch_size)
    local fields = { sampler = sampler, batch_size = batch_size, drop_last = drop_last }
    function fields.iter()
      local order = order_of()
      local rows = order:numel()
      local last = drop_last and math.floor(rows / batch_size) or math.ceil(rows / batch_size)
      local b = 0
      return function()
        if b >= last then return nil end
        b = b + 1
        local start = (b - 1) * batch_size + 1
        return order:narrow(1, start, math.min(batch_size, rows - start + 1))
      end
    end
    local self = newproxy(true)
    local mt = getmetatable(self)
    mt.__len = function() return nb end
    mt.__index = nl._strict_fields(op, fields)
    mt.__tostring = function()
      return ('BatchSampler(%d rows, batch_size=%d, drop_last=%s: %d batches)'):format(m, batch_size,
                                                                                        tostring(drop_last), nb)
    end
    return self
  end
end
