-- data_iterable.lua: PyTorch's stream and stacked datasets:
-- IterableDataset (a base class whose subclasses give ds:iter(), a stream
-- of samples with no row indices), ChainDataset (iterable datasets one
-- after another), StackDataset (datasets of equal length side by side:
-- row i is the list, or table of names, of their rows i) and the
-- DataLoader of an iterable dataset (batches in stream order, no sampler).
-- Loaded on first use of these names (data.lua); collation is data.lua's.
return function(nl, data)
  local raise, argerror = nl._raise, nl._argerror

  local function callable(f)
    if type(f) == 'function' then return true end
    local mt = (type(f) == 'table' or type(f) == 'userdata') and getmetatable(f)
    return type(mt) == 'table' and mt.__call ~= nil
  end

  -- ---- IterableDataset --------------------------------------------------------

  -- data.IterableDataset:extend(name) -> a class; calling it makes an
  -- instance and runs its init(...). A subclass defines ds:iter(), which
  -- returns what a generic for takes (an iterator function, or f, s, c):
  -- each step's values are a sample, one value as it is, several as the
  -- list {...} (so `return x, y` is the sample {x, y}); the stream ends at
  -- nil. ds:len() (optional) is the number of samples, which #loader
  -- needs. ds1 + ds2 is data.ChainDataset({ds1, ds2}), as PyTorch's.
  local IterableDataset = { __name = 'IterableDataset', _nl_iterable = true }
  IterableDataset.__index = IterableDataset
  local function add(a, b) return data.ChainDataset({ a, b }) end
  local function describe(ds)
    local ok, n = pcall(function() return ds:len() end)
    return ok and type(n) == 'number' and ('%s(%d samples)'):format(ds.__name, n) or ds.__name .. '()'
  end
  IterableDataset.__add, IterableDataset.__tostring = add, describe
  function IterableDataset:extend(name)
    if type(name) ~= 'string' or name == '' then argerror('IterableDataset:extend', 'a class name (a string)', name) end
    -- (metamethods are read from the metatable itself, never through __index)
    local cls = setmetatable({ __name = name, __add = add, __tostring = describe },
                             { __index = self, __call = function(c, ...) return c:new(...) end })
    cls.__index = cls
    return cls
  end
  function IterableDataset.new(cls, ...)
    local o = setmetatable({}, cls)
    if cls.init then o:init(...) end
    return o
  end
  setmetatable(IterableDataset, { __call = function(c, ...) return c:new(...) end })
  function IterableDataset:iter()
    raise(('%s: an IterableDataset must define iter(), returning an iterator of its samples'):format(self.__name))
  end
  data.IterableDataset = IterableDataset

  -- the generic-for triple of ds:iter(), checked
  local function stream(op, ds)
    local f, s, c = ds:iter()
    if not callable(f) then
      raise(('%s: %s:iter() must return an iterator function, got %s'):format(op, ds.__name, nl._describe_arg(f)))
    end
    return f, s, c
  end

  -- ---- ChainDataset -----------------------------------------------------------

  -- data.ChainDataset({ds1, ds2, ...}): the samples of ds1's stream, then
  -- ds2's, ...; each an IterableDataset (as PyTorch's); ds:len() is the
  -- sum of theirs. ds.datasets is the list.
  local ChainDataset = IterableDataset:extend('ChainDataset')
  function ChainDataset:init(datasets, ...)
    local op = 'ChainDataset'
    nl._no_extra_args(op, '({datasets})', 'pass the datasets in one list', ...)
    local k = nl._list_len(datasets)
    if not k then argerror(op, 'a list of IterableDatasets', datasets) end
    for j = 1, k do
      if not data._is_iterable(datasets[j]) then
        raise(('%s: element %d of the list is %s; ChainDataset chains IterableDatasets (ConcatDataset joins '
               .. 'datasets with rows)'):format(op, j, nl._describe_arg(datasets[j])))
      end
    end
    self.datasets = { unpack(datasets, 1, k) }
  end
  local function pack(...) return { n = select('#', ...), ... } end
  function ChainDataset:iter()
    local list, j, f, s, c = self.datasets, 0, nil, nil, nil
    return function()
      while true do
        if f == nil then
          j = j + 1
          if j > #list then return nil end
          f, s, c = stream('ChainDataset', list[j])
        end
        local v = pack(f(s, c))
        c = v[1]
        if c ~= nil then return unpack(v, 1, v.n) end
        f = nil
      end
    end
  end
  function ChainDataset:len()
    local n = 0
    for j, ds in ipairs(self.datasets) do
      local ok, m = pcall(function() return ds:len() end)
      if not ok or type(m) ~= 'number' then
        raise(('ChainDataset: len() needs the len() of every dataset, and dataset %d (%s) has none'):format(j,
          ds.__name))
      end
      n = n + m
    end
    return n
  end
  data.ChainDataset = ChainDataset

  -- ---- StackDataset -----------------------------------------------------------

  -- data.StackDataset(ds1, ds2, ...): row i is the list {ds1[i], ds2[i],
  -- ...} (a DataLoader batch gives their batches as values, PyTorch's
  -- tuple); data.StackDataset({name = ds, ...}) row i is the table {name =
  -- ds[i], ...} (PyTorch's dict). The datasets have rows (#ds, ds[i]), all
  -- as many. s:get(i) gives row i's items as values (the table of names in
  -- the named form); s.datasets is the list or the table of names.
  function data.StackDataset(...)
    local op = 'StackDataset'
    local k, first = select('#', ...), ...
    local named = k == 1 and type(first) == 'table' and getmetatable(first) == nil and next(first) ~= nil
                  and not nl._list_len(first)
    local keys, list = {}, {}
    if named then
      for key in pairs(first) do
        if type(key) ~= 'string' then
          raise(('%s: a table of datasets by name takes string keys, got the key %s'):format(op,
            nl._describe_arg(key)))
        end
        keys[#keys + 1] = key
      end
      table.sort(keys)
      for i, key in ipairs(keys) do list[i] = first[key] end
      k = #keys
    else
      if k == 0 then raise(op .. ': expected datasets, as arguments or as a table of them by name') end
      for i = 1, k do list[i] = select(i, ...) end
      -- a table of datasets by name beside other arguments, or a lone list
      -- of datasets (as ConcatDataset and ChainDataset take): each was
      -- taken for a dataset of plain rows, {a = ds} one of 0 rows, {ds1,
      -- ds2} one whose rows were the datasets, without a word
      for i = 1, k do
        local t = list[i]
        if type(t) == 'table' and getmetatable(t) == nil and next(t) ~= nil and not nl._list_len(t) then
          raise(('%s: argument %d is a table of datasets by name, which must be the only argument'):format(op, i))
        end
      end
      local n1 = k == 1 and type(first) == 'table' and getmetatable(first) == nil and nl._list_len(first)
      if n1 and n1 > 0 then
        local all = true
        for i = 1, n1 do
          local v = first[i]
          all = all and (type(v) == 'userdata' or (type(v) == 'table' and getmetatable(v) ~= nil))
        end
        if all then
          raise(('%s: expected datasets as arguments, StackDataset(ds1, ds2, ...), got one list of %d datasets '
                 .. '(unpack it)'):format(op, n1))
        end
      end
    end
    local function name(i) return named and ("'" .. keys[i] .. "'") or tostring(i) end
    local n, n_at
    for i = 1, k do
      local ok, m = pcall(data._dataset_len, op, list[i])
      if not ok then raise(('%s: dataset %s: %s'):format(op, name(i), (tostring(m):gsub('^.-' .. op .. ': ', '')))) end
      if n and m ~= n then
        raise(('%s: the datasets differ in length: dataset %s has %d rows and dataset %s %d'):format(op, name(n_at),
          n, name(i), m))
      end
      n, n_at = n or m, n_at or i
    end
    local function row(i)
      if type(i) ~= 'number' or i ~= math.floor(i) or i < 1 or i > n then
        raise(('%s: index %s out of range 1..%d'):format(op, tostring(i), n))
      end
      local out = {}
      for j = 1, k do
        local v = list[j][i]
        if v == nil then raise(('%s: dataset %s returned nil for row %d'):format(op, name(j), i)) end
        out[named and keys[j] or j] = v
      end
      return out
    end
    local fields = { datasets = named and first or list }
    function fields.get(_, i)
      local r = row(i)
      if named then return r end
      return unpack(r, 1, k)
    end
    -- s:batch(idx) when every dataset has batch (TensorDataset, Subset, ...):
    -- each dataset's batch of the rows idx, in the form the loader's
    -- row-by-row collation gives (the list of its values where its rows are
    -- lists, as a TensorDataset's, else its one value), one call each
    -- instead of a ds[i] per row and dataset
    local batches, as_list = {}, {}
    for j = 1, k do
      local okb, f = pcall(function() return list[j].batch end)
      batches[j] = okb and type(f) == 'function' and f or nil
      if not batches[j] then batches = nil break end
    end
    if batches then
      function fields.batch(_, idx)
        if not nl.is_tensor(idx) then argerror(op .. ':batch', 'an int64 tensor of row indices', idx) end
        local out = {}
        for j = 1, k do
          local ds = list[j]
          local vals = pack(batches[j](ds, idx))
          if as_list[j] == nil and idx:numel() > 0 then
            local r = ds[idx[1]]
            as_list[j] = type(r) == 'table' and getmetatable(r) == nil and #r or false
          end
          local m = as_list[j]
          if m and vals.n ~= m then
            raise(('%s:batch: dataset %s gives rows of %d items and batches of %d'):format(op, name(j), m, vals.n))
          end
          out[named and keys[j] or j] = m and { unpack(vals, 1, vals.n) } or vals[1]
        end
        if named then return out end
        return unpack(out, 1, k)
      end
    end
    local self = newproxy(true)
    local mt = getmetatable(self)
    mt.__len = function() return n end
    nl._strict_fields(op, fields)
    mt.__index = function(_, i)
      if type(i) ~= 'number' then return fields[i] end
      return row(i)
    end
    mt.__tostring = function()
      return ('StackDataset(%d rows: %s)'):format(n, named and table.concat(keys, ', ') or (k .. (k == 1 and ' dataset' or ' datasets')))
    end
    return self
  end

  -- ---- DataLoader of an IterableDataset ----------------------------------------

  -- data.DataLoader(ds, opts) for an IterableDataset ds (data.lua's calls
  -- it, its options checked): batches of batch_size samples in stream
  -- order, the last shorter unless drop_last; collate_fn as for any
  -- dataset. As PyTorch's, no shuffle, sampler or batch_sampler (the
  -- dataset orders its samples); num_workers and the workers' options as
  -- PyTorch's (each worker its own pass, below).
  -- #loader needs ds:len(); loader:iter(skip) reads and drops skip
  -- batches' samples first.
  function data._iterable_loader(op, ds, opts, bs)
    for _, key in ipairs({ 'sampler', 'batch_sampler' }) do
      if opts[key] ~= nil then
        raise(('%s: an IterableDataset (%s) takes no %s: its iter() orders the samples (as PyTorch\'s)'):format(op,
          ds.__name, key))
      end
    end
    if opts.shuffle then
      raise(('%s: an IterableDataset (%s) cannot be shuffled by the loader: its iter() orders the samples '
             .. '(shuffle inside iter(), as with PyTorch\'s)'):format(op, ds.__name))
    end
    local nw, prefetch, timeout = data._worker_opts(op, opts)
    local collate_fn, drop_last = opts.collate_fn, opts.drop_last and true or false
    if collate_fn ~= nil and not callable(collate_fn) then
      raise(op .. ': collate_fn must be a function of the list of samples, got ' .. nl._describe_arg(collate_fn))
    end
    local gen = data._seed_generator(op, opts.seed)
    local ctx = { op = op, word = 'sample', dtypes = {} }
    -- the number of batches, from ds:len(), or nil and why not
    local function batches()
      local has = type(ds.len) == 'function'
      if not has then return nil, 'define len() on ' .. ds.__name end
      local n = ds:len()
      if type(n) ~= 'number' or n ~= math.floor(n) or n < 0 then
        raise(('%s: %s:len() must return a non-negative integer, got %s'):format(op, ds.__name, nl._describe_arg(n)))
      end
      return drop_last and math.floor(n / bs) or math.ceil(n / bs)
    end
    local function collated(...)
      if (...) == nil then raise(op .. ': collate_fn returned nil; it must return the batch') end
      return ...
    end
    local fields = { dataset = ds, batch_size = bs, shuffle = false, drop_last = drop_last, generator = gen,
                     collate_fn = collate_fn, num_workers = nw, prefetch_factor = nw > 0 and (prefetch or 2) or nil,
                     persistent_workers = opts.persistent_workers or false, worker_init_fn = opts.worker_init_fn,
                     timeout = timeout }
    -- the batches of one pass over ds from the start (in a worker, over
    -- its copy, which data.get_worker_info() lets split the samples)
    local function pass(skip)
      local f, s, c = stream(op, ds)
      local count, ended = 0, false
      local function next_sample()
        if ended then return nil end
        local v = pack(f(s, c))
        c = v[1]
        if c == nil then ended = true return nil end
        count = count + 1
        if v.n == 1 then return c end
        return { unpack(v, 1, v.n) }
      end
      for _ = 1, (skip or 0) * bs do
        if next_sample() == nil then break end
      end
      return function()
        local samples, ids = {}, {}
        while #samples < bs do
          local x = next_sample()
          if x == nil then break end
          samples[#samples + 1], ids[#ids + 1] = x, count
        end
        if #samples == 0 or (drop_last and #samples < bs) then return nil end
        if collate_fn then return collated(collate_fn(samples)) end
        ctx.ids = ids
        return data._collate_samples(samples, ctx)
      end
    end
    -- With workers (num_workers > 0), PyTorch's semantics: each worker
    -- makes the batches of its own pass (a dataset that does not split by
    -- data.get_worker_info() gives each sample once per worker), drop_last
    -- and the last shorter batch per worker; the batches come round the
    -- workers in turn, those whose pass has ended left out
    local workers, wpass, weid
    if nw > 0 then
      workers = data._workers().new {
        num_workers = nw, prefetch_factor = prefetch or 2, persistent_workers = opts.persistent_workers,
        worker_init_fn = opts.worker_init_fn, timeout = timeout, dataset = ds, generator = gen,
        make = function(_, _, _, eid)      -- in the worker: its pass's next batch
          if eid ~= weid then weid, wpass = eid, pass() end
          local function ended(first, ...)
            if first == nil then return data._workers().END end
            return first, ...
          end
          return ended(wpass())
        end,
      }
    end
    -- loader:iter(skip): an epoch's batches, skip of them read and dropped first
    function fields.iter(_, skip)
      if skip ~= nil and type(skip) ~= 'number' then argerror(op .. ': iter(skip)', 'a number', skip) end
      skip = skip or 0
      if skip ~= skip or skip < 0 or skip ~= math.floor(skip) then
        raise(op .. ': iter(skip): skip must be a non-negative integer')
      end
      if not workers then return pass(skip) end
      local it = workers.iter_stream()
      for _ = 1, skip do
        if it() == nil then break end
      end
      return it
    end
    function fields.shutdown() if workers then workers.shutdown() end end
    local self = newproxy(true)
    local mt = getmetatable(self)
    -- `for xb, yb in loader do`, one epoch at a time, as data.lua's loaders
    mt.__call = data._loop_call(op, fields.iter, workers)
    mt.__len = function()
      local nb, why = batches()
      if not nb then raise(('%s: #loader of an IterableDataset needs its number of samples: %s'):format(op, why)) end
      return nb
    end
    mt.__index = nl._strict_fields(op, fields)
    mt.__tostring = function()
      local nb = batches()
      return ('DataLoader(%s, batch_size=%d, drop_last=%s: %s)'):format(tostring(ds), bs, tostring(drop_last),
        nb and (nb .. ' batches') or 'a stream')
    end
    return self
  end
end
