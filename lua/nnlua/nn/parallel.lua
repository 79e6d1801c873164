-- parallel.lua: nn.DataParallel, data-parallel training over nl.dist's
-- ranks: every rank holds a replica of the model and trains on batches of
-- its own. At construction the parameters and buffers of rank 0 are
-- broadcast; in each backward the gradients are averaged across ranks, in
-- buckets (several gradients flattened into one buffer, one non-blocking
-- allreduce each). A bucket starts as soon as backward has finished its
-- gradients, so its sums travel while backward computes the rest (the C
-- reducer in src/dist.c, on the tape's gradient-ready hook); when backward
-- returns, the rest start and all are awaited.
-- Parameters, buffers and the state dict are the wrapped model's, under
-- its own names, so checkpoints load into the plain model.
return function(nl, nn)
  local ffi = require 'ffi'
  local Module = nn.Module
  local raise, lib = nl._raise, nl._lib

  local DataParallel = Module:extend('DataParallel')
  nn.DataParallel = DataParallel
  DataParallel._data_parallel = true          -- fit shards its data for these

  local OPTIONS = { bucket_mb = true, broadcast_buffers = 'flag', overlap = 'flag' }

  -- Instances whose forward ran with grad mode on and that no backward
  -- has reached since, in the order they ran (the same on every rank, so
  -- the collectives match), and the one of them that starts buckets
  -- inside backward.
  local pending, overlapping = {}, nil

  -- nn.DataParallel(model, [{bucket_mb = 25, broadcast_buffers = true,
  -- overlap = true}]): starts nl.dist if the script has not.
  -- broadcast_buffers: in training, each forward first copies rank 0's
  -- buffers (BatchNorm's running statistics) to every rank, as PyTorch
  -- does. overlap = false starts every bucket after backward instead.
  -- its own methods refuse arguments past their parameters, as the Module
  -- methods do (dp:sync_grads(1) dropped the 1): wrapped when the first
  -- instance is made, not at start (this file loads with nn)
  local guarded = false
  function DataParallel:init(module, opts)
    if not guarded then
      guarded = true
      nl._guard_methods(DataParallel, nn.is_module, 'a module', 'm', { init = true, forward = true, structure = true,
                                                                       extra_repr = true })
    end
    if not nn.is_module(module) then raise('DataParallel: expected an nn.Module to wrap, got ' .. type(module)) end
    opts = nl._opts('DataParallel', opts)
    nl._check_opts('DataParallel', opts, OPTIONS, 'bucket_mb, broadcast_buffers, overlap')
    local mb = opts.bucket_mb or 25
    if type(mb) ~= 'number' or not (mb > 0) then
      raise('DataParallel: bucket_mb must be a positive number, got ' .. tostring(mb))
    end
    self.module = module
    rawset(self, '_bucket_bytes', mb * 2 ^ 20)
    rawset(self, '_broadcast_buffers', opts.broadcast_buffers ~= false)
    rawset(self, '_overlap', opts.overlap ~= false)
    local dist = nl.dist
    dist.init()
    rawset(self, '_dist', dist)
    local state = module:parameters()
    for _, b in ipairs(module:named_buffers()) do state[#state + 1] = b[2] end
    self:_check_replicas(state)
    self:_broadcast(state)
  end

  -- Every rank must hold the same model: the same tensors, shapes and
  -- dtypes in the same order (PyTorch's DDP checks this too). Unchecked, a
  -- rank with other shapes got a broadcast of the wrong size and later
  -- died inside MPI's allreduce, or, with equal totals, trained on
  -- gradients averaged across different parameters. A digest of the list
  -- (its count, its total size and a hash of its shapes and dtypes) is
  -- compared through an allreduce of its min and max.
  function DataParallel:_check_replicas(state)
    local dist = self._dist
    local desc, total = {}, 0
    for _, t in ipairs(state) do
      desc[#desc + 1] = t:dtype() .. nl._shape_str(t)
      total = total + t:numel()
    end
    local text = table.concat(desc, ' ')
    local h = 0
    for i = 1, #text do h = (h * 31 + text:byte(i)) % 4294967291 end   -- a prime below 2^32: exact in doubles
    local mine = { #state, total, h }
    local lo = nl.tensor(mine, 'float64')
    local hi = lo:clone()
    dist.allreduce(lo, 'min')
    dist.allreduce(hi, 'max')
    local a, b = lo:totable(), hi:totable()
    for i = 1, 3 do
      if a[i] ~= b[i] then
        raise(('DataParallel: the ranks hold different models; rank %d has %d parameter and buffer tensors of %d '
               .. 'elements (%s), and another rank other tensors: each rank must build the same model')
              :format(dist.rank(), #state, total, #text > 200 and text:sub(1, 200) .. ' ...' or text))
      end
    end
  end

  -- the wrapped model's names and tensors, without a prefix
  function DataParallel:named_parameters() return self.module:named_parameters() end
  function DataParallel:named_buffers() return self.module:named_buffers() end
  function DataParallel:state_dict(...) return self.module:state_dict(...) end
  function DataParallel:state_names() return self.module:state_names() end
  function DataParallel:load_state_dict(sd, strict)
    return self, select(2, self.module:load_state_dict(sd, strict))
  end
  function DataParallel:_load_plan(sd, strict) return self.module:_load_plan(sd, strict) end
  function DataParallel:get_parameter(target) return self.module:get_parameter(target) end
  function DataParallel:get_buffer(target) return self.module:get_buffer(target) end
  -- saved as the wrapped model: nn.load gives it back without MPI
  function DataParallel:structure(seen) return self.module:structure(seen) end
  function DataParallel:extra_repr() return ('%d ranks'):format(self._dist.size()) end

  -- Tensors grouped for one collective each: same dtype, up to `cap` bytes
  -- (a bigger tensor goes alone; the first bucket of a dtype up to
  -- first_cap, when given), in the order given.
  local function make_buckets(tensors, cap, first_cap)
    local out, open = {}, {}
    for _, t in ipairs(tensors) do
      local dt, n = t:dtype(), t:numel()
      local bytes = n * tonumber(nl._lib.nl_dtype_size(nl._dtype_id(dt)))
      local b = open[dt]
      local limit = (b and b.first and first_cap) or cap
      if b == nil or (b.bytes > 0 and b.bytes + bytes > limit) then
        b = { dtype = dt, tensors = {}, numel = 0, bytes = 0, first = b == nil }
        open[dt] = b
        out[#out + 1] = b
      end
      b.tensors[#b.tensors + 1] = t
      b.numel, b.bytes = b.numel + n, b.bytes + bytes
    end
    return out
  end

  -- rank 0's values of the tensors, into every rank's, one broadcast per dtype
  function DataParallel:_broadcast(tensors)
    local dist = self._dist
    if #tensors == 0 or dist.size() == 1 then return end
    local root = dist.rank() == 0
    for _, b in ipairs(make_buckets(tensors, math.huge)) do
      local flat = nl.empty(b.numel, b.dtype)
      nl.no_grad(function()
        local off = 0
        if root then
          for _, t in ipairs(b.tensors) do
            flat:narrow(1, off + 1, t:numel()):view(t:shape()):copy_(t)
            off = off + t:numel()
          end
        end
        dist.broadcast(flat, 0)
        off = 0
        if not root then
          for _, t in ipairs(b.tensors) do
            t:copy_(flat:narrow(1, off + 1, t:numel()):view(t:shape()))
            off = off + t:numel()
          end
        end
      end)
    end
  end

  -- The C reducer over the parameters that require grad, in buckets of
  -- up to bucket_mb, last parameters first (the order backward finishes
  -- them); kept while the parameters stay the same tensors of the same
  -- sizes. None for a model with nothing to train.
  local function reducer(self)
    local params = {}
    for _, p in ipairs(self.module:parameters()) do
      if p:dtype() ~= 'int64' and p.is_requires_grad then params[#params + 1] = p end
    end
    if #params == 0 then return nil end
    local key = {}
    for i, p in ipairs(params) do key[i] = tostring(p.ptr) .. p:dtype() .. p:numel() end
    key = table.concat(key, ' ')
    local red = rawget(self, '_reducer')
    if red and red.key == key then return red end
    local rev = {}
    for i = #params, 1, -1 do rev[#rev + 1] = params[i] end
    local ptrs = ffi.new('nl_tensor *[?]', #rev)
    local bucket = ffi.new('int[?]', #rev)
    local k = 0
    -- as PyTorch's DDP: a first bucket of at most 1 MB, which fills (and
    -- starts) early in backward
    for b, group in ipairs(make_buckets(rev, self._bucket_bytes, math.min(2 ^ 20, self._bucket_bytes))) do
      for _, p in ipairs(group.tensors) do
        ptrs[k], bucket[k] = p.ptr, b - 1
        k = k + 1
      end
    end
    local r = lib.nl_dist_reducer_new(self._dist._reducer_mpi(), k, ptrs, bucket)
    if r == nil then raise(ffi.string(lib.nl_error())) end
    red = { key = key, r = ffi.gc(r, lib.nl_dist_reducer_free) }
    rawset(self, '_reducer', red)
    return red
  end

  -- Averages the parameters' gradients across ranks; backward calls it
  -- after a forward of this model. Buckets whose gradients backward
  -- finished started their allreduce during backward (see forward); this
  -- starts the rest with the gradients as they are now, waits for all and
  -- writes the averages. A parameter without a gradient here counts as
  -- zeros; it gets the average when some rank had one, and stays without
  -- when none had.
  function DataParallel:sync_grads()
    if self._dist.size() == 1 then return end
    local red = reducer(self)
    if red then nl._check(lib.nl_dist_reducer_finish(red.r)) end
  end

  -- buckets that started their allreduce while the last backward ran
  function DataParallel:overlapped_buckets()
    local red = rawget(self, '_reducer')
    return red and lib.nl_dist_reducer_early(red.r) or 0
  end

  function DataParallel:forward(...)
    if nl.is_grad_enabled() then
      if self.training and self._broadcast_buffers then
        local bufs = {}
        for _, b in ipairs(self.module:named_buffers()) do bufs[#bufs + 1] = b[2] end
        self:_broadcast(bufs)
      end
      local red = not rawget(self, '_pending') and self._dist.size() > 1 and reducer(self)
      if red then
        rawset(self, '_pending', true)
        pending[#pending + 1] = self
        -- the backward that reaches this model hands each gradient over as
        -- it finishes it. One model pending at a time starts buckets inside
        -- backward, and finishes first; the others' start after its, so
        -- that every rank issues the allreduces in one order (two
        -- overlapping models started theirs in the order gradients came,
        -- which differs between ranks whose graphs differ: one model's
        -- bucket was summed with the other's, or MPI aborted)
        local overlap = self._overlap and overlapping == nil
        if overlap then overlapping = self end
        nl._check(lib.nl_dist_reducer_arm(red.r, overlap and 1 or 0))
      end
    end
    return self.module(...)
  end

  -- whether the last backward reached the model's parameters
  local function touched(dp)
    local red = rawget(dp, '_reducer')
    return red == nil or lib.nl_dist_reducer_touched(red.r) ~= 0
  end

  -- run by Tensor.backward when it has finished, failed true when it
  -- raised: the models it reached average their gradients; the others wait
  -- for a backward that does (one through other tensors, a GAN's
  -- discriminator step, spent the generator's averaging: the ranks drifted
  -- apart). After a failed backward every pending model finishes, so that
  -- each rank takes part in the same allreduces and none is left half done
  -- (the next step used stale gradients).
  nl._after_backward = function(failed)
    if #pending == 0 then return end
    local now, later = {}, {}
    -- an overlapping model this backward did not reach (its output only
    -- ever detached: a target network) gives the place to the next one
    if overlapping and not failed and not touched(overlapping) then
      nl._check(lib.nl_dist_reducer_arm(rawget(overlapping, '_reducer').r, 0))
      overlapping = nil
    end
    for _, dp in ipairs(pending) do
      if failed or touched(dp) then
        if dp == overlapping then
          table.insert(now, 1, dp)
          overlapping = nil
        else
          now[#now + 1] = dp
        end
        rawset(dp, '_pending', nil)
      else
        later[#later + 1] = dp
      end
    end
    pending = later
    for _, dp in ipairs(now) do dp:sync_grads() end
  end
end
