-- metrics.lua: Keras's stateful metrics (nl.metrics): Precision, Recall and
-- AUC, which count true and false positives and negatives over 0/1 targets,
-- and MeanMetricWrapper, the mean of a function of (y_true, y_pred). Loaded
-- on first use of nl.metrics. Not the metrics by name ('accuracy', 'mae'):
-- fit.lua computes those; fit keeps these metrics' counts in its own
-- tallies through _state, _add and _value.
return function(nl)
  local M = {}
  local EPS = 1e-7       -- Keras's backend epsilon: AUC's end thresholds

  local function same_shape(a, b)
    if a:dim() ~= b:dim() then return false end
    for i = 1, a:dim() do if a:size(i) ~= b:size(i) then return false end end
    return true
  end
  local function describe(x)
    return nl.is_tensor(x) and (x:dtype() .. ' ' .. nl._shape_str(x)) or nl._describe_arg(x)
  end

  -- ---- the classes ----
  -- a class is a table whose call makes an instance; the instance keeps
  -- its counts in _st, a flat list of numbers (what a fit checkpoint
  -- writes as JSON, and what nl.dist sums over the ranks)
  local Metric = {}
  Metric.__index = Metric
  local CLASSES = {}
  local function class(name, init)
    local C = setmetatable({ class_name = name }, { __index = Metric, __call = function(C, ...)
      nl._check_init_args('nl.metrics.' .. name, init, ...)
      local o = setmetatable({}, C)
      init(o, ...)
      o._st = o:_state()
      return o
    end })
    C.__index = C
    C.__tostring = Metric.__tostring
    CLASSES[C] = true
    M[name] = C
    return C
  end
  function M._is_metric(v) return type(v) == 'table' and CLASSES[getmetatable(v)] == true end

  -- Keras's three methods on the metric's own counts; result is a number
  function Metric:reset_state(...)
    if select('#', ...) > 0 then nl._no_extra_args(self.class_name .. ':reset_state', '()', nil, ...) end
    self._st = self:_state()
  end
  function Metric:update_state(y_true, y_pred, sample_weight, ...)
    nl._no_extra_args(self.class_name .. ':update_state', '(y_true, y_pred, [sample_weight])', nil, ...)
    self._st = self:_add(self._st, y_true, y_pred, sample_weight, self.class_name .. ':update_state')
  end
  function Metric:result(...)
    if select('#', ...) > 0 then nl._no_extra_args(self.class_name .. ':result', '()', nil, ...) end
    return self:_value(self._st)
  end
  function Metric:__tostring()
    local rec, parts = self:_record() or { name = self.name }, {}
    for _, k in ipairs(self._keys) do
      local v = rec[k]
      parts[#parts + 1] = ('%s = %s'):format(k, type(v) == 'string' and ("'" .. v .. "'") or tostring(v))
    end
    return ('nl.metrics.%s{%s}'):format(self.class_name, table.concat(parts, ', '))
  end

  -- a name for the history: not one fit records of its own (loss, lr,
  -- epoch) nor one validation's would shadow (val_...)
  local function name_of(op, name, default)
    if name == nil then return default end
    if type(name) ~= 'string' or name == '' or name == 'loss' or name == 'lr' or name == 'epoch'
       or name:match('^val_') then
      nl._raise(("%s: name must be a string other than 'loss', 'lr', 'epoch' and 'val_...' (the history's own "
                 .. 'names), got %s'):format(op, nl._describe_arg(name)))
    end
    return name
  end

  -- the outputs (as float64 probabilities, through a sigmoid where the
  -- metric takes logits), the positives (targets not 0, as Keras casts
  -- them to bool) as 1/0, and the weights (nil; a number; or a tensor of
  -- one weight a sample, or one an entry, shaped to broadcast)
  local function entries(self, op, y, p, w)
    if not nl.is_tensor(p) or not nl.is_tensor(y) or not same_shape(p, y) or p:dim() == 0 then
      nl._raise(("%s: metric '%s' counts 0/1 targets of the output's shape, (N, ...) both, got outputs %s and "
                 .. 'targets %s'):format(op, self.name, describe(p), describe(y)))
    end
    p = p:detach():double()
    if self.from_logits then p = p:sigmoid() end
    if p:numel() > 0 then
      local lo, hi = p:min():item(), p:max():item()
      -- (a NaN output is above no threshold: Precision counted it a
      -- negative, and AUC's bins failed in bincount)
      if lo ~= lo or hi ~= hi then
        nl._raise(("%s: metric '%s' reads probabilities in [0, 1], got NaN among the outputs %s"):format(op,
          self.name, nl._shape_str(p)))
      end
      if lo < 0 or hi > 1 then
        nl._raise(("%s: metric '%s' reads probabilities in [0, 1], got outputs %s from %.6g to %.6g%s"):format(op,
          self.name, nl._shape_str(p), lo, hi, self.class_name == 'AUC' and ' (logits: AUC{from_logits = true})'
          or ''))
      end
    end
    local pos = y:detach():ne(0):double()
    if w == nil or type(w) == 'number' then
      if w ~= nil and not (w >= 0 and w < math.huge) then
        nl._raise(('%s: sample_weight must be a finite number >= 0, got %s'):format(op, tostring(w)))
      end
      return p, pos, w
    end
    if not nl.is_tensor(w) then nl._argerror(op, 'sample_weight as a number or a tensor', w) end
    local fits = w:dim() == p:dim() and same_shape(w, p) or (w:dim() == 1 and w:size(1) == p:size(1))
    if not fits then
      nl._raise(("%s: metric '%s': sample_weight %s fits neither the outputs %s nor their %d samples"):format(op,
        self.name, nl._shape_str(w), nl._shape_str(p), p:size(1)))
    end
    w = w:detach():double()
    -- (as a number weight: a NaN one made the counts NaN, and Precision 0)
    if w:numel() > 0 then
      local lo, hi = w:min():item(), w:max():item()
      if not (lo >= 0 and hi < math.huge) then
        nl._raise(("%s: metric '%s': sample_weight must hold finite weights >= 0, got %s from %s to %s"):format(op,
          self.name, nl._shape_str(w), tostring(lo), tostring(hi)))
      end
    end
    if w:dim() < p:dim() then
      local shape = { p:size(1) }
      for i = 2, p:dim() do shape[i] = 1 end
      w = w:reshape(shape)
    end
    return p, pos, w
  end
  local function weighed(t, w) return w and t * w or t end
  -- a counts list of this metric's length: a checkpoint of another
  -- metric (AUC of other thresholds) is refused, not misread
  local function check_state(self, op, st)
    if type(st) ~= 'table' or #st ~= self._len then
      nl._raise(("%s: metric '%s' holds %d counts, got %s (a fit checkpoint of another metric?)"):format(op,
        self.name, self._len, type(st) == 'table' and (#st .. ' counts') or nl._describe_arg(st)))
    end
  end

  -- ---- Precision and Recall: true and false positives, false negatives
  -- at one threshold (an output above it predicts a positive), weighed
  -- by the sample weights; tp / (tp + fp) and tp / (tp + fn), 0 where
  -- nothing was predicted (or is) positive, as Keras's divide_no_nan
  local PR_KNOWN = { thresholds = 1, name = 1 }
  local PR_KEYS = { 'thresholds', 'name' }
  local function pr_init(default)
    return function(self, opts)
      local op = 'nl.metrics.' .. self.class_name
      opts = nl._opts(op, opts, PR_KNOWN)
      local t = opts.thresholds == nil and 0.5 or opts.thresholds
      if type(t) ~= 'number' or not (t >= 0 and t <= 1) then
        nl._raise(('%s: thresholds must be one number in [0, 1], got %s'):format(op, nl._describe_arg(t)))
      end
      self.thresholds, self.name, self._keys, self._len = t, name_of(op, opts.name, default), PR_KEYS, 3
    end
  end
  local function pr_state() return { 0, 0, 0 } end       -- tp, fp, fn
  local function pr_add(self, st, y, p, w, op)
    check_state(self, op, st)
    local pos
    p, pos, w = entries(self, op, y, p, w)
    local pp = p:gt(self.thresholds):double()
    local tp = weighed(pos * pp, w):sum():item()
    local fp = weighed(pp - pos * pp, w):sum():item()
    local fn = weighed(pos - pos * pp, w):sum():item()
    return { st[1] + tp, st[2] + fp, st[3] + fn }
  end
  local function ratio(a, b) return b > 0 and a / b or 0 end
  local function pr_record(self) return { class = self.class_name, thresholds = self.thresholds, name = self.name } end

  local Precision = class('Precision', pr_init('precision'))
  Precision._state, Precision._add, Precision._record, Precision.direction = pr_state, pr_add, pr_record, 'up'
  function Precision:_value(st)
    check_state(self, 'result', st)
    return ratio(st[1], st[1] + st[2])
  end
  local Recall = class('Recall', pr_init('recall'))
  Recall._state, Recall._add, Recall._record, Recall.direction = pr_state, pr_add, pr_record, 'up'
  function Recall:_value(st)
    check_state(self, 'result', st)
    return ratio(st[1], st[1] + st[3])
  end

  -- ---- AUC: the counts at num_thresholds thresholds, -1e-7, 1/(n-1),
  -- 2/(n-1), ..., (n-2)/(n-1), 1 + 1e-7 (Keras's: evenly spaced over
  -- [0, 1], the ends moved out so that 0 and 1 fall inside). An output p
  -- is above threshold i/(n-1) where p (n-1) > i, so above those of i up
  -- to ceil(p (n-1)) - 1 (0 for p = 0, above -1e-7 alone): one bin an
  -- entry, and the counts above each threshold are the bins' sums from
  -- it up. The state: tp (n), fp (n), then the positives' and
  -- negatives' totals (which give fn and tn).
  local AUC_KNOWN = { num_thresholds = 1, curve = 1, summation_method = 1, name = 1, from_logits = 'flag' }
  local AUC_KEYS = { 'num_thresholds', 'curve', 'summation_method', 'from_logits', 'name' }
  local SUMMATION = { interpolation = true, minoring = true, majoring = true }
  local AUC = class('AUC', function(self, opts)
    local op = 'nl.metrics.AUC'
    opts = nl._opts(op, opts, AUC_KNOWN)
    local n = opts.num_thresholds == nil and 200 or opts.num_thresholds
    if not (type(n) == 'number' and n > 1 and n == math.floor(n) and n <= 2^24) then
      nl._raise(('%s: num_thresholds must be a whole number > 1, got %s'):format(op, nl._describe_arg(n)))
    end
    local curve = opts.curve == nil and 'ROC' or opts.curve
    if curve ~= 'ROC' and curve ~= 'PR' then
      nl._raise(("%s: curve must be 'ROC' or 'PR', got %s"):format(op, nl._describe_arg(curve)))
    end
    local sm = opts.summation_method == nil and 'interpolation' or opts.summation_method
    if not SUMMATION[sm] then
      nl._raise(("%s: summation_method must be 'interpolation', 'minoring' or 'majoring', got %s"):format(op,
        nl._describe_arg(sm)))
    end
    self.num_thresholds, self.curve, self.summation_method = n, curve, sm
    self.from_logits = opts.from_logits == true
    self.name, self._keys, self._len = name_of(op, opts.name, 'auc'), AUC_KEYS, 2 * n + 2
  end)
  AUC.direction = 'up'
  function AUC:_state()
    local st = {}
    for i = 1, self._len do st[i] = 0 end
    return st
  end
  function AUC:_record()
    return { class = 'AUC', num_thresholds = self.num_thresholds, curve = self.curve,
             summation_method = self.summation_method, from_logits = self.from_logits, name = self.name }
  end
  function AUC:_add(st, y, p, w, op)
    check_state(self, op, st)
    local pos
    p, pos, w = entries(self, op, y, p, w)
    local n = self.num_thresholds
    if p:numel() == 0 then return st end
    -- (bins 1..n-1 as bincount counts from 1: bin b + 1 for the
    -- thresholds 0..b, counted from 0)
    local bin = (p * (n - 1)):ceil():clamp(1, n - 1):to('int64'):reshape(-1)
    if w then w = pos * 0 + w end     -- (one weight an entry)
    local wp = weighed(pos, w):reshape(-1)
    local wn = (w and w:reshape(-1) or 1) - wp
    local above_p = bin:bincount(wp, n):flip(1):cumsum(1):flip(1):totable()
    local above_n = bin:bincount(wn, n):flip(1):cumsum(1):flip(1):totable()
    local out = {}
    for i = 1, n do
      out[i], out[n + i] = st[i] + above_p[i], st[n + i] + above_n[i]
    end
    out[2 * n + 1], out[2 * n + 2] = st[2 * n + 1] + wp:sum():item(), st[2 * n + 2] + wn:sum():item()
    return out
  end
  -- a / b, 0 where b is not above 0 (Keras's divide_no_nan)
  local function div0(a, b) return nl.where(b:gt(0), a / nl.where(b:gt(0), b, 1), 0) end
  function AUC:_value(st)
    check_state(self, 'result', st)
    local n = self.num_thresholds
    local S = nl.tensor(st, 'float64')
    local tp, fp = S:narrow(1, 1, n), S:narrow(1, n + 1, n)
    local P, N = st[2 * n + 1], st[2 * n + 2]
    local recall = tp / math.max(P, 1e-300) * (P > 0 and 1 or 0)
    local function lo(t) return t:narrow(1, 1, n - 1) end
    local function hi(t) return t:narrow(1, 2, n - 1) end
    if self.curve == 'PR' and self.summation_method == 'interpolation' then
      -- Davis and Goadrich: between two thresholds tp grows linearly with
      -- the predicted positives q = tp + fp, tp(q) = a + s q, s = dtp / dq;
      -- precision tp(q) / q integrated over recall tp(q) / P from q1 to
      -- q0 is s (dtp + a log(q0 / q1)) / P (the log's term 0 where either
      -- q is 0, and s 0 where dq is not above 0)
      if P <= 0 then return 0 end
      local q = tp + fp
      local dtp, dq = lo(tp) - hi(tp), lo(q) - hi(q)
      local s = div0(dtp, dq)
      local a = hi(tp) - s * hi(q)
      local both = lo(q):gt(0) * hi(q):gt(0)
      local r = nl.where(both, lo(q) / nl.where(both, hi(q), 1), 1)
      return (s * (dtp + a * r:log())):sum():item() / P
    end
    local x, y
    if self.curve == 'ROC' then
      x, y = fp / math.max(N, 1e-300) * (N > 0 and 1 or 0), recall
    else
      x, y = recall, div0(tp, tp + fp)
    end
    local h
    if self.summation_method == 'interpolation' then h = (lo(y) + hi(y)) / 2
    elseif self.summation_method == 'minoring' then h = nl.where(lo(y):lt(hi(y)), lo(y), hi(y))
    else h = nl.where(lo(y):gt(hi(y)), lo(y), hi(y)) end
    return ((lo(x) - hi(x)) * h):sum():item()
  end

  -- ---- MeanMetricWrapper: fn(y_true, y_pred) (Keras's order) gives a
  -- number, a tensor of one value (the batch's mean), or one value a
  -- sample (N, ...), a sample's entries averaged; the mean over every
  -- sample seen (a batch's mean counts for its N samples), weighed by
  -- sample weights where given. State: the sum and the count.
  local WRAP_KNOWN = { name = 1 }
  local MeanMetricWrapper = class('MeanMetricWrapper', function(self, fn, opts)
    local op = 'nl.metrics.MeanMetricWrapper'
    if type(fn) ~= 'function' then nl._argerror(op, 'a function (y_true, y_pred)', fn) end
    if type(opts) == 'string' then opts = { name = opts } end
    opts = nl._opts(op, opts, WRAP_KNOWN)
    self.fn, self.name, self._keys, self._len = fn, name_of(op, opts.name, 'mean_metric_wrapper'), { 'name' }, 2
  end)
  -- (no direction: a Lua function's is unknown, as Keras's wrapper of a
  -- function that is not a loss has none; fit's auto mode goes by its name)
  function MeanMetricWrapper:_state() return { 0, 0 } end
  function MeanMetricWrapper:_record() return nil, ("its metric '%s' is a Lua function, which a checkpoint cannot "
                                                    .. 'record'):format(self.name) end
  function MeanMetricWrapper:_add(st, y, p, w, op)
    check_state(self, op, st)
    local N = nl.is_tensor(p) and p:dim() > 0 and p:size(1) or nil
    if not N then
      nl._raise(("%s: metric '%s' reads outputs with a batch dim, got %s"):format(op, self.name, describe(p)))
    end
    if N == 0 then return st end     -- (an empty batch: nothing to average)
    local v = self.fn(y, p)
    if nl.is_tensor(v) then
      v = v:detach()
      if v:numel() == 1 then v = v:reshape(-1):double():sum():item()
      elseif v:dim() >= 1 and v:size(1) == N then v = v:double():reshape(N, -1):mean(2)
      else
        nl._raise(("%s: metric '%s': its function must give a number, a tensor of one value or one value a sample "
                   .. '(%d, ...), got %s for outputs %s and targets %s'):format(op, self.name, N, describe(v),
                   describe(p), describe(y)))
      end
    elseif type(v) ~= 'number' then
      nl._raise(("%s: metric '%s': its function must give a number or a tensor, got %s"):format(op, self.name,
        nl._describe_arg(v)))
    end
    local ws
    if w == nil then ws = nil
    elseif type(w) == 'number' then ws = nl.full({ N }, w, 'float64')
    elseif nl.is_tensor(w) and w:dim() == 1 and w:size(1) == N then ws = w:detach():double()
    else
      nl._raise(("%s: metric '%s': sample_weight must be a number or one weight a sample (%d), got %s"):format(op,
        self.name, N, describe(w)))
    end
    if type(v) == 'number' then
      if ws then
        local wsum = ws:sum():item()
        return { st[1] + v * wsum, st[2] + wsum }
      end
      return { st[1] + v * N, st[2] + N }
    end
    if ws then return { st[1] + (v * ws):sum():item(), st[2] + ws:sum():item() } end
    return { st[1] + v:sum():item(), st[2] + N }
  end
  function MeanMetricWrapper:_value(st)
    check_state(self, 'result', st)
    return st[2] ~= 0 and st[1] / st[2] or 0
  end

  -- ---- compile's side ----
  -- the metric of a compile entry: an object as it is; 'precision',
  -- 'recall' and 'auc', Keras's default objects; a Lua function, a
  -- MeanMetricWrapper named fn_k (the k-th function of the list); nil for
  -- any other entry (a name fit.lua knows, or not)
  local BY_NAME = { precision = Precision, recall = Recall, auc = AUC }
  function M._of(entry, k)
    if M._is_metric(entry) then return entry end
    if type(entry) == 'string' and BY_NAME[entry] then return BY_NAME[entry]() end
    if type(entry) == 'function' then return MeanMetricWrapper(entry, { name = 'fn_' .. k }) end
    return nil
  end

  -- compile's refusal of a loss whose outputs or targets the metric
  -- cannot read: kind as fit.lua's (classes, onehot, binary, logits,
  -- signs, distance, labels; false a regression loss, nil a custom one)
  function M._check_loss(m, kind, lname)
    if m.class_name == 'MeanMetricWrapper' then return end
    local function refuse(why)
      nl._raise(("compile: metric '%s' (nl.metrics.%s) counts 0/1 targets of the output's shape; %s %s"):format(
        m.name, m.class_name, lname, why))
    end
    if kind == 'classes' then refuse("takes class indices (use 'accuracy', or one-hot targets with "
                                     .. "'categorical_crossentropy')") end
    if kind == 'signs' or kind == 'distance' then refuse('takes +-1 targets') end
    if kind == 'labels' then refuse('takes lists of labels ended by 0') end
    if kind == 'logits' and not m.from_logits then
      refuse(m.class_name == 'AUC' and 'takes logits: give nl.metrics.AUC{from_logits = true}'
             or "takes logits, and it thresholds probabilities: end the model in a sigmoid with 'binary_crossentropy'")
    end
    if (kind == 'binary' or kind == 'onehot') and m.from_logits then
      refuse('takes probabilities, and from_logits = true would put them through a sigmoid')
    end
  end

  -- the object of a checkpoint's record ({ class =, options }), as
  -- _record wrote it
  function M._rebuild(rec)
    local C = type(rec) == 'table' and BY_NAME[tostring(rec.class):lower()]
    if not C or C.class_name ~= rec.class then error('metric ' .. nl._describe_arg(rec), 0) end
    local opts = {}
    for k, v in pairs(rec) do if k ~= 'class' then opts[k] = v end end
    return C(opts)
  end

  return M
end
