-- adaptive_softmax.lua: nn.AdaptiveLogSoftmaxWithLoss, PyTorch 1.13's
-- efficient softmax approximation (Grave et al.): a head over the
-- shortlist of frequent classes and one entry per cluster of rarer ones,
-- each cluster a two-layer projection whose width falls by div_value per
-- cluster. Classes are 1-based, as nnlua's targets are; the cutoffs are
-- class counts, PyTorch's numbers. Composed of Linear, log_softmax,
-- gather and scatter, so autograd gives the backward.
return function(nl, nn)
  local Module = nn.Module

  -- Python's float floor division a // b (CPython's float_floor_div), which
  -- sizes PyTorch's projections: 1 // 0.1 is 9, where floor(1 / 0.1) is 10
  local function floordiv(a, b)
    local mod = math.fmod(a, b)
    local div = (a - mod) / b
    if mod ~= 0 and ((b < 0) ~= (mod < 0)) then div = div - 1 end
    if div == 0 then return 0 end
    local f = math.floor(div)
    if div - f > 0.5 then f = f + 1 end
    return f
  end

  local ALS = Module:extend('AdaptiveLogSoftmaxWithLoss')
  nn.AdaptiveLogSoftmaxWithLoss = ALS

  -- AdaptiveLogSoftmaxWithLoss(in_features, n_classes, cutoffs, {div_value =
  -- 4, head_bias = false}): cutoffs increasing whole numbers in 1 ..
  -- n_classes - 1; the head is Linear(in_features, cutoffs[1] + #cutoffs),
  -- cluster i Linear(in_features, in_features // div_value^i) then
  -- Linear(that, its number of classes), neither with a bias
  function ALS:init(in_features, n_classes, cutoffs, opts)
    local op = 'AdaptiveLogSoftmaxWithLoss'
    opts = nl._opts(op, opts)
    nl._check_opts(op, opts, { div_value = 1, head_bias = 'flag' })
    if not nl._size_arg(in_features) or not nl._size_arg(n_classes) then
      nl._raise(('%s: expected positive whole in_features and n_classes, got %s and %s'):format(op,
        nl._describe_arg(in_features), nl._describe_arg(n_classes)))
    end
    local n = nl._list_len(cutoffs)
    local ok = n ~= nil and n > 0
    for i = 1, n or 0 do
      local c = cutoffs[i]
      ok = ok and type(c) == 'number' and c == math.floor(c) and c >= 1 and c <= n_classes - 1
           and (i == 1 or c > cutoffs[i - 1])
    end
    if not ok then
      nl._raise(('%s: cutoffs should be a list of unique, positive integers sorted in an increasing order, each '
                 .. 'between 1 and n_classes - 1 = %d, got %s'):format(op, n_classes - 1, nn._describe(cutoffs)))
    end
    local div = opts.div_value == nil and 4 or opts.div_value
    if type(div) ~= 'number' or not (div > 0) or div == math.huge then
      nl._raise(('%s: expected a positive div_value, got %s'):format(op, nl._describe_arg(div)))
    end
    self.in_features, self.n_classes = in_features, n_classes
    self.cutoffs = {}
    for i = 1, n do self.cutoffs[i] = cutoffs[i] end
    self.cutoffs[n + 1] = n_classes
    self.div_value, self.head_bias = div, opts.head_bias == true
    self.shortlist_size = self.cutoffs[1]
    self.n_clusters = n
    self.head_size = self.shortlist_size + n
    self.head = nn.Linear(in_features, self.head_size, { bias = self.head_bias })
    local tails = {}
    for i = 1, n do
      local hsz = floordiv(in_features, div ^ i)
      if hsz < 1 then
        nl._raise(('%s: cluster %d\'s projection has in_features // div_value^%d = %d // %g = 0 units (PyTorch makes '
                   .. 'an empty layer); use a smaller div_value'):format(op, i, i, in_features, div ^ i))
      end
      tails[i] = nn.Sequential(nn.Linear(in_features, hsz, { bias = false }),
                               nn.Linear(hsz, self.cutoffs[i + 1] - self.cutoffs[i], { bias = false }))
    end
    self.tail = nn.ModuleList(tails)
  end

  -- x (N, in_features) checked, named for op
  local function check_input(self, op, x, what)
    nl._T(x, op)
    if x:dim() ~= 2 or x:size(2) ~= self.in_features then
      nl._raise(('%s: expected input %s with in_features = %d, got shape %s'):format(op, what or '(N, in_features)',
        self.in_features, nl._shape_str(x)))
    end
  end

  -- the rows (an int64 list of 1-based indices, or nil for none) where mask
  -- (a 0/1 tensor of N) is set
  local function rows_of(mask)
    local r = mask:nonzero()
    if r:numel() == 0 then return nil end
    return r:view(-1)
  end

  -- m(x, target) -> output, loss: x (N, in_features) with target (N), or
  -- (in_features) with a 0-dim target; target int64 classes 1..n_classes;
  -- output the log-probability of each target, loss the mean of -output
  function ALS:forward(x, target, ...)
    local op = 'AdaptiveLogSoftmaxWithLoss'
    nl._no_extra_args(op, '(input, target)', nil, ...)
    nl._T(x, op)
    nl._T(target, op)
    if target:dtype() ~= 'int64' then
      nl._raise(('%s: target must be an int64 tensor of classes (1-based), got %s %s'):format(op, target:dtype(),
        nl._shape_str(target)))
    end
    local td = target:dim()
    if td == 1 then
      if x:dim() ~= 2 or x:size(1) ~= target:size(1) then
        nl._raise(('%s: a 1-D target expects input (N, in_features) of the same N, got input %s and target %s'):format(
          op, nl._shape_str(x), nl._shape_str(target)))
      end
    elseif td == 0 then
      if x:dim() ~= 1 then
        nl._raise(('%s: a 0-dim target expects a 1-D input, got input %s'):format(op, nl._shape_str(x)))
      end
    else
      nl._raise(('%s: expected a 0-dim or 1-D target, got shape %s'):format(op, nl._shape_str(target)))
    end
    local batched = td > 0
    local input = batched and x or x:unsqueeze(1)
    local t = batched and target or target:view(1)
    check_input(self, op, input, batched and '(N, in_features)' or '(in_features)')
    nn._check_input_dtype(op, input, self.head.weight:dtype())
    local n = t:size(1)
    if n > 0 then
      local lo, hi = t:min():item(), t:max():item()
      if lo < 1 or hi > self.n_classes then
        nl._raise(('%s: target values should be in 1..%d, but values in %d..%d were found'):format(op,
          self.n_classes, lo, hi))
      end
    end
    local head_logprob = self.head(input):log_softmax(2)
    -- each row's head entry: its class in the shortlist, else its cluster's
    local gather_inds = t
    local output = nil
    for i = 1, self.n_clusters do
      local low, high = self.cutoffs[i], self.cutoffs[i + 1]
      local mask = t:gt(low):logical_and(t:le(high))
      local rows = rows_of(mask)
      if rows then
        gather_inds = nl.where(mask:ne(0), self.shortlist_size + i, gather_inds)
        local relative = t:index_select(1, rows) - low
        local cluster_logprob = self.tail[i](input:index_select(1, rows)):log_softmax(2)
        local says = cluster_logprob:gather(2, relative:view(-1, 1)):view(-1)
        local part = nl.zeros({ n }, input:dtype()):scatter(1, rows, says)
        output = output and output + part or part
      end
    end
    local head_part = head_logprob:gather(2, gather_inds:view(-1, 1)):view(-1)
    output = output and output + head_part or head_part
    local loss = (-output):mean()
    if not batched then output = output:view({}) end
    return output, loss
  end

  -- the (N, n_classes) log-probabilities of every class, from the head's output
  local function full_log_prob(self, input, head_output)
    local head_logprob = head_output:log_softmax(2)
    local parts = { head_logprob:narrow(2, 1, self.shortlist_size) }
    for i = 1, self.n_clusters do
      local cluster_logprob = self.tail[i](input):log_softmax(2)
      parts[i + 1] = cluster_logprob + head_logprob:narrow(2, self.shortlist_size + i, 1)
    end
    return nl.cat(parts, 2)
  end

  -- m:log_prob(x): x (N, in_features) -> (N, n_classes) log-probabilities
  function ALS:log_prob(x)
    check_input(self, 'AdaptiveLogSoftmaxWithLoss.log_prob', x)
    return full_log_prob(self, x, self.head(x))
  end

  -- m:predict(x): x (N, in_features) -> (N) int64, each row's most likely
  -- class (1-based), log_prob(x):argmax(2) computed only where the head's
  -- best entry is a cluster
  function ALS:predict(x)
    check_input(self, 'AdaptiveLogSoftmaxWithLoss.predict', x)
    return nl.no_grad(function()
      local head_output = self.head(x)
      local output = head_output:argmax(2)
      local rows = rows_of(output:gt(self.shortlist_size))
      if not rows then return output end
      local best = full_log_prob(self, x:index_select(1, rows), head_output:index_select(1, rows)):argmax(2)
      return output:scatter(1, rows, best)
    end)
  end

  function ALS:extra_repr() return '' end
end
