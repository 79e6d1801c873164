-- parallel.lua: nn.DataParallel, data-parallel training over nl.dist's
-- ranks: every rank holds a replica of the model and trains on batches of
-- its own. At construction the parameters and buffers of rank 0 are
-- broadcast; after each backward the gradients are averaged across ranks,
-- in buckets (several gradients flattened into one buffer, one allreduce
-- each). The tape has no hook for a leaf gradient being ready, so the
-- reduction runs when backward returns, not overlapped with it; and as
-- Open MPI's non-blocking allreduce measured slower than its blocking one,
-- the buckets go one after another.
-- Parameters, buffers and the state dict are the wrapped model's, under
-- its own names, so checkpoints load into the plain model.
return function(nl, nn)
  local ffi = require 'ffi'
  local Module = nn.Module
  local raise = nl._raise

  local DataParallel = Module:extend('DataParallel')
  nn.DataParallel = DataParallel
  DataParallel._data_parallel = true          -- fit shards its data for these

  local OPTIONS = { bucket_mb = true, broadcast_buffers = true }
  local elem_ptr = { float32 = ffi.typeof('float *'), float64 = ffi.typeof('double *') }

  -- Instances whose forward ran with grad mode on since the last backward,
  -- in the order they ran (the same on every rank, so the collectives match).
  local pending = {}

  -- nn.DataParallel(model, [{bucket_mb = 25, broadcast_buffers = true}]):
  -- starts nl.dist if the script has not. broadcast_buffers: in training,
  -- each forward first copies rank 0's buffers (BatchNorm's running
  -- statistics) to every rank, as PyTorch does.
  function DataParallel:init(module, opts)
    if not nn.is_module(module) then raise('DataParallel: expected an nn.Module to wrap, got ' .. type(module)) end
    opts = nl._opts('DataParallel', opts)
    for k in pairs(opts) do
      if not OPTIONS[k] then raise(("DataParallel: unknown option '%s' (bucket_mb, broadcast_buffers)"):format(tostring(k))) end
    end
    local mb = opts.bucket_mb or 25
    if type(mb) ~= 'number' or not (mb > 0) then
      raise('DataParallel: bucket_mb must be a positive number, got ' .. tostring(mb))
    end
    self.module = module
    rawset(self, '_bucket_bytes', mb * 2 ^ 20)
    rawset(self, '_broadcast_buffers', opts.broadcast_buffers ~= false)
    local dist = nl.dist
    dist.init()
    rawset(self, '_dist', dist)
    local state = module:parameters()
    for _, b in ipairs(module:named_buffers()) do state[#state + 1] = b[2] end
    self:_broadcast(state)
  end

  -- the wrapped model's names and tensors, without a prefix
  function DataParallel:named_parameters() return self.module:named_parameters() end
  function DataParallel:named_buffers() return self.module:named_buffers() end
  function DataParallel:state_dict() return self.module:state_dict() end
  function DataParallel:state_names() return self.module:state_names() end
  function DataParallel:load_state_dict(sd, strict)
    self.module:load_state_dict(sd, strict)
    return self
  end
  -- saved as the wrapped model: nn.load gives it back without MPI
  function DataParallel:structure() return self.module:structure() end
  function DataParallel:extra_repr() return ('%d ranks'):format(self._dist.size()) end

  -- Tensors grouped for one collective each: same dtype, up to `cap` bytes
  -- (a bigger tensor goes alone), in the order given. Each bucket has a
  -- flat buffer of its tensors' elements followed by one slot per tensor.
  local function make_buckets(tensors, cap)
    local out, open = {}, {}
    for _, t in ipairs(tensors) do
      local dt, n = t:dtype(), t:numel()
      local bytes = n * tonumber(nl._lib.nl_dtype_size(nl._dtype_id(dt)))
      local b = open[dt]
      if b == nil or (b.bytes > 0 and b.bytes + bytes > cap) then
        b = { dtype = dt, tensors = {}, numel = 0, bytes = 0 }
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

  -- the buckets over the parameters, last first (the order backward
  -- finishes them), kept while the parameters keep their dtypes and sizes
  local function layout(self, params)
    local key = {}
    for i, p in ipairs(params) do key[i] = p:dtype() .. p:numel() end
    key = table.concat(key, ' ')
    local lay = rawget(self, '_layout')
    if lay and lay.key == key then return lay end
    local rev = {}
    for i = #params, 1, -1 do rev[#rev + 1] = params[i] end
    local buckets = make_buckets(rev, self._bucket_bytes)
    for _, b in ipairs(buckets) do b.flat = nl.empty(b.numel + #b.tensors, b.dtype) end
    lay = { key = key, buckets = buckets }
    rawset(self, '_layout', lay)
    return lay
  end

  -- Averages the parameters' gradients across ranks; backward calls it
  -- after a forward of this model. A parameter without a gradient here
  -- counts as zeros; it gets the average when some rank had one, and
  -- stays without when none had.
  function DataParallel:sync_grads()
    local dist = self._dist
    local size = dist.size()
    if size == 1 then return end
    local params = {}
    for _, p in ipairs(self.module:parameters()) do
      if p:dtype() ~= 'int64' then params[#params + 1] = p end
    end
    if #params == 0 then return end
    local lay = layout(self, params)
    nl.no_grad(function()
      for _, b in ipairs(lay.buckets) do
        local flat, off = b.flat, 0
        local has = ffi.cast(elem_ptr[b.dtype], flat.ptr.data) + b.numel   -- the slots: 1 where a gradient was
        for i, p in ipairs(b.tensors) do
          local n = p:numel()
          local g = p.grad
          local dst = flat:narrow(1, off + 1, n)
          if g then dst:view(p:shape()):copy_(g) else dst:zero_() end
          has[i - 1] = g and 1 or 0
          off = off + n
        end
        dist.allreduce(flat)
        off = 0
        flat:narrow(1, 1, b.numel):div_(size)
        for i, p in ipairs(b.tensors) do
          local n = p:numel()
          if has[i - 1] > 0 then
            local avg = flat:narrow(1, off + 1, n):view(p:shape())
            local g = p.grad
            if g then g:copy_(avg) else p.grad = avg:clone() end
          end
          off = off + n
        end
      end
    end)
  end

  function DataParallel:forward(...)
    if nl.is_grad_enabled() then
      if self.training and self._broadcast_buffers then
        local bufs = {}
        for _, b in ipairs(self.module:named_buffers()) do bufs[#bufs + 1] = b[2] end
        self:_broadcast(bufs)
      end
      if not rawget(self, '_pending') then
        rawset(self, '_pending', true)
        pending[#pending + 1] = self
      end
    end
    return self.module(...)
  end

  -- run by Tensor.backward when it has finished
  nl._after_backward = function()
    if #pending == 0 then return end
    local list = pending
    pending = {}
    for _, dp in ipairs(list) do
      rawset(dp, '_pending', nil)
      dp:sync_grads()
    end
  end
end
