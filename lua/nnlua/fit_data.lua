-- fit_data.lua: the data fit, evaluate and predict take besides X and y
-- tensors, as Keras's fit(dataset): a data.DataLoader, whose batches come
-- as it makes them (its batch_size, shuffle, sampler), or a dataset, which
-- they batch themselves as they batch tensors. Also the generators of
-- nnlua's own that a loader draws from, which fit's checkpoints keep.
-- The training loop itself is fit.lua's.
local ffi = require 'ffi'

return function(nl)
  local data, raise = nl.data, nl._raise
  local M = {}

  -- x[k], or nil where reading it raises (a userdata of another kind)
  local function field(x, k)
    local ok, v = pcall(function() return x[k] end)
    return ok and v or nil
  end
  M.field = field

  -- a loader: an object with loader:iter([skip]) and #loader (batches),
  -- as data.DataLoader (one of one's own: a userdata with __len, as
  -- LuaJIT takes # of a table as its list length); a sampler (order and
  -- iter) is not one
  local function is_loader(x)
    if type(x) ~= 'userdata' and not (type(x) == 'table' and getmetatable(x) ~= nil) then return false end
    -- (an IterableDataset has iter() and, a table, a # of 0: fit ran no step)
    if data._is_iterable(x) then return false end
    if type(field(x, 'iter')) ~= 'function' or type(field(x, 'order')) == 'function' then return false end
    local ok, n = pcall(function() return #x end)
    -- (a loader of an IterableDataset without len(): a stream of batches
    -- whose # raises; fit, evaluate and predict read it to its end)
    return ok and type(n) == 'number' or data._is_iterable(field(x, 'dataset'))
  end
  M.is_loader = is_loader

  -- a loader's number of batches, or nil for a stream of unknown length
  -- (an IterableDataset's without len(); a len() of its that fails says so)
  function M.len(loader)
    local ds = field(loader, 'dataset')
    if data._is_iterable(ds) and type(field(ds, 'len')) ~= 'function' then return nil end
    return #loader
  end

  -- what x is: 'tensors', 'loader' or 'dataset' (anything DataLoader
  -- takes: #ds and ds[i], a table of samples too), or an error naming op
  function M.kind(op, x)
    if nl.is_tensor(x) then return 'tensors' end
    if is_loader(x) then return 'loader' end
    if type(field(x, 'order')) == 'function' then
      raise(op .. ': got a sampler; give it to a DataLoader (data.DataLoader(ds, {sampler = s})) and that to ' .. op)
    end
    if type(x) ~= 'table' and type(x) ~= 'userdata' then
      raise(('%s: expected %s, a DataLoader or a dataset, got %s'):format(op,
        op == 'predict' and 'X as a tensor' or 'X and y tensors', nl._describe_arg(x)))
    end
    return 'dataset'
  end

  -- the options of op(loader, opts), op(loader, nil, opts) or, for
  -- predict, op(loader, opts): y beside a loader or dataset is an error
  -- (its batches hold the targets)
  function M.options(op, what, y, opts)
    if y == nil then return opts end
    if nl.is_tensor(y) or type(y) ~= 'table' or getmetatable(y) ~= nil then
      raise(('%s: y is given beside a %s, whose batches hold the targets; call %s(%s, {options})'):format(op,
        what, op, what == 'DataLoader' and 'loader' or 'dataset'))
    end
    if opts ~= nil then
      raise(('%s: a %s takes %s(%s, {options}); got a table beside the options'):format(op, what, op,
        what == 'DataLoader' and 'loader' or 'dataset'))
    end
    return y
  end

  -- the rows of a dataset, at least one, or an error naming op
  function M.rows(op, ds)
    local n = data._dataset_len(op, ds)
    if n == 0 then raise(op .. ': the dataset has no rows') end
    return n
  end

  -- a batch's targets: a tensor with a batch dim, or an error naming the
  -- batch (a loader of one value a batch, or one of tables, gave none)
  function M.check_batch(op, b, xb, yb)
    if xb == nil or not nl.is_tensor(yb) or yb.ptr == nil or yb:dim() == 0 then
      raise(('%s: batch %d of the data is not (x, y) with y a tensor of targets with a batch dim (got %s and %s); '
             .. 'a loader\'s batches must be x, y or x, y, sample_weight'):format(op, b, nl._describe_arg(xb),
             nl._describe_arg(yb)))
    end
  end

  -- the generators of nnlua's own, besides nl's, that the loaders draw
  -- from: a loader's seeded shuffle and its sampler's, batch sampler's
  -- and their samplers' seeded draws (generator fields), each once
  function M.generators(loaders)
    local out, seen = {}, { [tostring(ffi.cast('void *', nl._generator))] = true }
    local function walk(obj, depth)
      if depth > 4 or (type(obj) ~= 'table' and type(obj) ~= 'userdata') then return end
      local g = field(obj, 'generator')
      if type(g) == 'cdata' and ffi.istype('nl_generator', g) then
        local key = tostring(ffi.cast('void *', g))
        if not seen[key] then
          seen[key] = true
          out[#out + 1] = g
        end
      end
      walk(field(obj, 'sampler'), depth + 1)
      walk(field(obj, 'batch_sampler'), depth + 1)
    end
    for _, l in ipairs(loaders) do walk(l, 0) end
    return out
  end

  -- the loader's samplers that take set_epoch (a DistributedSampler):
  -- fit sets each epoch's number on them, as PyTorch Lightning does, so
  -- that such a sampler draws a new order each epoch and a resumed run
  -- the same one
  function M.epoch_samplers(loader)
    local out = {}
    local function walk(obj, depth)
      if depth > 4 or (type(obj) ~= 'table' and type(obj) ~= 'userdata') or nl.is_tensor(obj) then return end
      if depth > 0 and type(field(obj, 'set_epoch')) == 'function' then out[#out + 1] = obj end
      walk(field(obj, 'sampler'), depth + 1)
      walk(field(obj, 'batch_sampler'), depth + 1)
    end
    walk(loader, 0)
    return out
  end

  return M
end
