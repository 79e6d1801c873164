-- loss_extra.lua: the multi-label losses and the triplet loss of any
-- distance, as modules and functions, beside loss.lua's:
-- MultiLabelSoftMarginLoss (multilabel_soft_margin_loss),
-- MultiLabelMarginLoss (multilabel_margin_loss) and
-- TripletMarginWithDistanceLoss (triplet_margin_with_distance_loss).
-- Each is composed of tensor ops, so autograd gives the backward.
return function(nl, nn)
  local Module = nn.Module
  local F = nn.functional or {}
  nn.functional = F

  local KNOWN = {
    multilabel_soft_margin_loss = { reduction = 1, weight = 1, size_average = 'flag', reduce = 'flag' },
    multilabel_margin_loss = { reduction = 1, size_average = 'flag', reduce = 'flag' },
    triplet_margin_with_distance_loss = { reduction = 1, distance_function = 1, margin = 1, swap = 'flag' },
  }

  local function finite(v) return v == v and v > -math.huge and v < math.huge end

  -- the checked options and reduction of op (as loss.lua's losses check theirs)
  local function options(op, opts)
    opts = nl._opts(op, opts)
    nl._check_opts(op, opts, KNOWN[op])
    local r = nn._legacy_reduction(opts) or opts.reduction or 'mean'
    if r ~= 'mean' and r ~= 'sum' and r ~= 'none' then
      nl._raise(("%s: reduction must be 'mean', 'sum' or 'none', got %s"):format(op, nl._describe_arg(r)))
    end
    if opts.margin ~= nil and (type(opts.margin) ~= 'number' or not finite(opts.margin)) then
      nl._raise(('%s: margin must be a finite number, got %s'):format(op, nl._describe_arg(opts.margin)))
    end
    local df = opts.distance_function
    if df ~= nil and type(df) ~= 'function' and not nn.is_module(df) then
      nl._raise(('%s: distance_function must be a function or a module of two tensors, got %s'):format(op,
        nl._describe_arg(df)))
    end
    if opts.weight ~= nil and not nl.is_tensor(opts.weight) then
      nl._raise(('%s: weight must be a tensor of one weight per class, got %s'):format(op,
        nl._describe_arg(opts.weight)))
    end
    return opts, r
  end

  local function reduce(t, r)
    if r == 'mean' then return t:mean() elseif r == 'sum' then return t:sum() end
    return t
  end

  local function describe(t) return t:dtype() .. ' ' .. nl._shape_str(t) end

  -- -(y log sigmoid(x) + (1 - y) log sigmoid(-x)), times weight (C) if
  -- given, averaged over the classes (the last dim): one loss per sample,
  -- as PyTorch's. input (..., C) float; target of its shape, 0/1 (or any
  -- values in [0, 1]), float of its dtype or int64.
  function F.multilabel_soft_margin_loss(input, target, opts, ...)
    local op = 'multilabel_soft_margin_loss'
    nl._no_extra_args(op, '(input, target, opts)', nil, ...)
    nl._T(input, op)
    nl._T(target, op)
    local o, r = options(op, opts)
    local dt = input:dtype()
    if dt == 'int64' or input:dim() == 0 or nl._shape_str(target) ~= nl._shape_str(input)
       or (target:dtype() ~= dt and target:dtype() ~= 'int64') then
      nl._raise(('%s: expected a float input (..., C) and a target of its shape and dtype (or int64), got input %s '
        .. 'and target %s'):format(op, describe(input), describe(target)))
    end
    local C = input:size(-1)
    local w = o.weight
    if w ~= nil and (w:dtype() ~= dt or w:dim() ~= 1 or w:size(1) ~= C) then
      nl._raise(('%s: weight must be a %s tensor of the %d classes (C), got %s'):format(op, dt, C, describe(w)))
    end
    local y = target:dtype() == dt and target or target:to(dt)
    local l = -(y * input:logsigmoid() + (1 - y) * (-input):logsigmoid())
    if w ~= nil then l = l * w end
    return reduce(l:sum(input:dim()) / C, r)
  end

  -- Per sample, sum over its labels j and over the classes i that are not
  -- among them of max(0, 1 - (x[j] - x[i])), divided by C, as PyTorch's.
  -- input (C) or (N, C) float; target int64 of its shape: the labels
  -- (1-based) first, then 0, which ends them (PyTorch's -1 with its
  -- 0-based labels); entries after the first 0 are not read, but every
  -- entry must be in 0..C, as PyTorch checks them all. A label given twice
  -- counts twice, as in PyTorch. A term at exactly 0 counts for neither
  -- value nor gradient (PyTorch's z > 0).
  function F.multilabel_margin_loss(input, target, opts, ...)
    local op = 'multilabel_margin_loss'
    nl._no_extra_args(op, '(input, target, opts)', nil, ...)
    nl._T(input, op)
    nl._T(target, op)
    local _, r = options(op, opts)
    local d = input:dim()
    if input:dtype() == 'int64' or (d ~= 1 and d ~= 2) or input:size(d) == 0 then
      nl._raise(('%s: expected a float input (C) or (N, C) of at least one class, got %s'):format(op, describe(input)))
    end
    if target:dtype() ~= 'int64' or nl._shape_str(target) ~= nl._shape_str(input) then
      nl._raise(('%s: target must be an int64 tensor of the input\'s shape %s (labels 1..C, then 0 to end them), '
        .. 'got %s'):format(op, nl._shape_str(input), describe(target)))
    end
    local N, C = d == 2 and input:size(1) or 1, input:size(d)
    if N * C > 0 then
      local lo, hi = target:min():item(), target:max():item()
      if lo < 0 or hi > C then
        nl._raise(('%s: target label %d out of range for %d classes (labels count from 1; 0 ends a row\'s labels)'):format(
          op, lo < 0 and lo or hi, C))
      end
    end
    local x, t = input:reshape(N, C), target:reshape(N, C)
    local valid = t:ne(0):cumprod(2)                                    -- (N, C): before the first 0
    local idx = nl.where(valid, t, 1)
    local xt = x:gather(2, idx)                                         -- x at each label
    local classes = nl.arange(1, C + 1):view(1, 1, C)
    local labelled = (idx:reshape(N, C, 1):eq(classes) * valid:reshape(N, C, 1)):sum(2):eq(0)   -- (N, C): not a label
    local z = x:reshape(N, 1, C) - xt:reshape(N, C, 1) + 1                    -- (N, label j, class i)
    local keep = z:gt(0) * valid:reshape(N, C, 1):to(z:dtype()) * labelled:reshape(N, 1, C):to(z:dtype())
    local l = nl.where(keep, z, 0):sum(3):sum(2) / C
    if d == 1 then l = l:reshape({}) end
    return reduce(l, r)
  end

  -- max(0, margin + d(a, p) - d(a, n)), d the distance_function (a
  -- function or module of two tensors; default nn.functional.
  -- pairwise_distance, p = 2 over the last dim), as PyTorch's; swap takes
  -- d(p, n) for d(a, n) where it is smaller. The distances may have any
  -- shape, the same for each pair.
  function F.triplet_margin_with_distance_loss(anchor, positive, negative, opts, ...)
    local op = 'triplet_margin_with_distance_loss'
    nl._no_extra_args(op, '(anchor, positive, negative, opts)', nil, ...)
    nl._T(anchor, op)
    nl._T(positive, op)
    nl._T(negative, op)
    local o, r = options(op, opts)
    local dist = o.distance_function or F.pairwise_distance
    local margin = o.margin or 1
    local function d(a, b, which)
      local v = dist(a, b)
      if not nl.is_tensor(v) then
        nl._raise(('%s: distance_function gave %s for the %s pair, expected a tensor'):format(op,
          nl._describe_arg(v), which))
      end
      return v
    end
    local dp, dn = d(anchor, positive, 'anchor-positive'), d(anchor, negative, 'anchor-negative')
    if o.swap then dn = nl.minimum(dn, d(positive, negative, 'positive-negative')) end
    if nl._shape_str(dp) ~= nl._shape_str(dn) then
      nl._raise(('%s: distance_function gave distances of shapes %s and %s for the two pairs'):format(op,
        nl._shape_str(dp), nl._shape_str(dn)))
    end
    return reduce((dp - dn + margin):clamp(0), r)
  end

  -- the module of F[fname], with its options given to the constructor
  -- (weight a buffer named in _arg_buffers, as loss.lua's losses hold
  -- theirs, so that nn.load and clone rebuild it); takes: what forward
  -- takes, for the message on extra arguments
  local function loss_module(name, fname, takes)
    local fn = F[fname]
    local cls = Module:extend(name)
    nn[name] = cls
    cls.init = function(self, opts)
      self.opts = options(fname, opts)
      if nl.is_tensor(self.opts.weight) then
        self:register_buffer('weight', self.opts.weight)
        rawset(self, '_arg_buffers', { [self.opts.weight] = 'weight' })
      end
    end
    local hint = ('give options to the constructor, as nn.%s({reduction = ...})'):format(name)
    cls.forward = function(self, a, b, c, ...)
      local o = self.opts
      if self._buffers.weight then
        o = {}
        for k, v in pairs(self.opts) do o[k] = v end
        o.weight = rawget(self, 'weight')
      end
      if takes == 3 then
        nl._no_extra_args(name, '(anchor, positive, negative)', hint, ...)
        return fn(a, b, c, o)
      end
      if c ~= nil or select('#', ...) > 0 then nl._no_extra_args(name, '(input, target)', hint, c, ...) end
      return fn(a, b, o)
    end
  end
  loss_module('MultiLabelSoftMarginLoss', 'multilabel_soft_margin_loss', 2)
  loss_module('MultiLabelMarginLoss', 'multilabel_margin_loss', 2)
  loss_module('TripletMarginWithDistanceLoss', 'triplet_margin_with_distance_loss', 3)
end
