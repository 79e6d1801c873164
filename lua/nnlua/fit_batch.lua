-- fit_batch.lua: Keras's batch-by-batch model methods, train_on_batch,
-- test_on_batch and predict_on_batch, on fit's own step and tally (fit.lua
-- passes them in: there is one training step), and get_weights /
-- set_weights. Loaded with fit.lua; no training loop of its own.
return function(nl, fit)
  local Module = nl.nn.Module
  local ffi = require 'ffi'

  -- the running tally of each model's train_on_batch and test_on_batch
  -- calls with reset_metrics = false (one, as Keras's metrics are one set
  -- for both), and the compile it was tallied under
  local running = setmetatable({}, { __mode = 'k' })

  local TRAIN_KNOWN = { sample_weight = 1, class_weight = 1, reset_metrics = 1, return_dict = 1 }
  local TEST_KNOWN = { sample_weight = 1, reset_metrics = 1, return_dict = 1 }

  local function flag(op, opts, k, default)
    local v = opts[k]
    if v == nil then return default end
    if type(v) ~= 'boolean' then nl._argerror(op, k .. ' as a boolean', v) end
    return v
  end

  -- train_on_batch's and test_on_batch's common arguments: the compile,
  -- x and y checked, the options (known: their keys), reset_metrics and
  -- return_dict
  local function batch_args(op, self, x, y, opts, known)
    local c = fit.compiled(self, op)
    fit.check_xy(op, x, y)
    opts = nl._opts(op, opts)
    nl._check_opts(op, opts, known)
    return c, opts, flag(op, opts, 'reset_metrics', true), flag(op, opts, 'return_dict', false)
  end

  -- sample_weight as fit takes it: one weight a row of X
  local function sample_weight_of(op, c, W, X)
    if W == nil then return nil end
    if not nl.is_tensor(W) then nl._argerror(op, 'sample_weight as a tensor of one weight per sample', W) end
    nl._T(W, op)
    if W:dim() ~= 1 or W:size(1) ~= X:size(1) then
      nl._raise(('%s: sample_weight must hold one weight per sample, shape [%d], got %s'):format(op, X:size(1),
        nl._shape_str(W)))
    end
    fit.check_weighable(c, 'sample_weight', op)
    return W:detach()
  end

  -- the tally this call adds to: the running one (reset_metrics = false,
  -- under the same compile) or a new one
  local function tally_of(self, c, reset)
    local r = running[self]
    if not reset and r and r.c == c then return r.t end
    return fit.tally_new()
  end

  -- Keras's result: the loss alone without metrics, else the list {loss,
  -- metric, ...} in compile's order; return_dict: {loss =, metric = ...}.
  -- reset (reset_metrics): the next call starts afresh; else it adds to t
  local function results(self, c, t, reset, as_dict)
    running[self] = not reset and { c = c, t = t } or nil
    local loss = fit.tally_loss(c, t)
    if as_dict then
      local out = { loss = loss }
      for _, m in ipairs(c.metrics) do out[m] = fit.tally_metric(c, t, m) end
      return out
    end
    if #c.metrics == 0 then return loss end
    local out = { loss }
    for i, m in ipairs(c.metrics) do out[i + 1] = fit.tally_metric(c, t, m) end
    return out
  end

  -- one optimizer step on the batch (x, y) with the compiled loss,
  -- optimizer and metrics: fit's step, in training mode as fit puts the
  -- model. Returns the loss, or {loss, metrics...}, or a table by name
  -- (return_dict); the metrics of this batch, or with reset_metrics =
  -- false of every call since the last reset (Keras 2's)
  function Module:train_on_batch(x, y, opts, ...)
    local op = 'train_on_batch'
    nl._no_extra_args(op, '(x, y, [{sample_weight, class_weight, reset_metrics, return_dict}])', nil, ...)
    local c, reset, as_dict
    c, opts, reset, as_dict = batch_args(op, self, x, y, opts, TRAIN_KNOWN)
    local cw, W = opts.class_weight, opts.sample_weight
    if cw ~= nil and W ~= nil then nl._raise(op .. ': give class_weight or sample_weight, not both (as Keras)') end
    W = sample_weight_of(op, c, W, x)
    if cw ~= nil then
      fit.check_class_weight(c, cw, op)
      W = fit.class_weights_of(c, cw, y, op)
    end
    fit.own_optimizer(self, c, op)
    fit.check_closure_ranks(op, self, c)
    local t = tally_of(self, c, reset)
    self:train()
    fit.train_step(op, self, c, t, x, y, W)
    return results(self, c, t, reset, as_dict)
  end

  -- the loss and metrics of the batch (x, y) in eval mode without the
  -- tape, as evaluate's of that batch; nothing is updated
  function Module:test_on_batch(x, y, opts, ...)
    local op = 'test_on_batch'
    nl._no_extra_args(op, '(x, y, [{sample_weight, reset_metrics, return_dict}])', nil, ...)
    local c, reset, as_dict
    c, opts, reset, as_dict = batch_args(op, self, x, y, opts, TEST_KNOWN)
    local W = sample_weight_of(op, c, opts.sample_weight, x)
    local weighted = W and function(p, yb, wb) return fit.weighted_loss(c, p, yb, wb, op) end
    local t = tally_of(self, c, reset)
    fit.in_eval(self, function() fit.eval_step(op, self, c, t, x, y, W, weighted) end)
    return results(self, c, t, reset, as_dict)
  end

  -- the model's output for x in eval mode without the tape, as predict's
  -- of one batch
  function Module:predict_on_batch(x, ...)
    local op = 'predict_on_batch'
    nl._no_extra_args(op, '(x)', nil, ...)
    nl._T(x, op)
    if x:dim() == 0 then nl._raise(op .. ': x must have a batch dim, got a 0-dim tensor') end
    local out
    fit.in_eval(self, function() out = self(x) end)
    return out
  end

  -- Keras's reset_metrics: the next train_on_batch or test_on_batch
  -- tallies afresh
  function Module:reset_metrics(...)
    nl._no_extra_args('reset_metrics', '()', nil, ...)
    running[self] = nil
    return self
  end

  -- {name, tensor} of the state dict in its order (m:state_names()), a
  -- tensor held under two names (tied weights) once, at the first
  local function weight_entries(self)
    local sd, out, seen = self:state_dict({ keep_vars = true }), {}, {}
    for _, name in ipairs(self:state_names()) do
      local t = sd[name]
      local key = tostring(ffi.cast('void *', t.ptr))
      if not seen[key] then
        seen[key] = true
        out[#out + 1] = { name, t }
      end
    end
    return out
  end

  -- copies of the parameters and persistent buffers (BatchNorm's running
  -- statistics, as Keras's non-trainable weights), in the state dict's
  -- order; then their names
  function Module:get_weights(...)
    nl._no_extra_args('get_weights', '()', nil, ...)
    local list, names = {}, {}
    nl.no_grad(function()
      for i, e in ipairs(weight_entries(self)) do list[i], names[i] = e[2]:clone(), e[1] end
    end)
    return list, names
  end

  -- get_weights' list copied into the model's own tensors (an optimizer
  -- holds them still): the count, each dtype and shape checked before
  -- anything is copied. Returns the model.
  function Module:set_weights(list, ...)
    local op = 'set_weights'
    nl._no_extra_args(op, '(weights)', nil, ...)
    local own = weight_entries(self)
    local n = type(list) == 'table' and getmetatable(list) == nil and nl._list_len(list)
    if not n then nl._argerror(op, 'a list of tensors, as get_weights gives', list) end
    if n ~= #own then
      nl._raise(('%s: the model has %d weights (its parameters and buffers in state dict order), got a list of %d')
                :format(op, #own, n))
    end
    for i, e in ipairs(own) do
      local name, t, src = e[1], e[2], list[i]
      if not nl.is_tensor(src) or src.ptr == nil then
        nl._raise(('%s: weight %d (%s) must be a tensor, got %s'):format(op, i, name, nl._describe_arg(src)))
      end
      if src:dtype() ~= t:dtype() then
        nl._raise(('%s: weight %d (%s) is %s %s in the model, got %s %s'):format(op, i, name, t:dtype(),
          nl._shape_str(t), src:dtype(), nl._shape_str(src)))
      end
      local a, b = nl._shape_str(t), nl._shape_str(src)
      if a ~= b then
        nl._raise(('%s: weight %d (%s) has shape %s in the model, got shape %s'):format(op, i, name, a, b))
      end
    end
    -- a source over the memory of one of the model's own tensors (the
    -- model's weights themselves, or views of them) is read before any is
    -- written: copied in order, set_weights({w2, w1}) of two of them gave
    -- w2 twice
    local mine = {}
    for _, e in ipairs(own) do mine[tostring(ffi.cast('void *', e[2].ptr.storage))] = true end
    nl.no_grad(function()
      local src = {}
      for i = 1, #own do
        src[i] = mine[tostring(ffi.cast('void *', list[i].ptr.storage))] and list[i]:clone() or list[i]
      end
      for i, e in ipairs(own) do e[2]:copy_(src[i]) end
    end)
    return self
  end
end
