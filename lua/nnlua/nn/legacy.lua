-- legacy.lua: torch.nn classes PyTorch 1.13 keeps for old code and as
-- bases: nn.NLLLoss2d (NLLLoss), nn.CrossMapLRN2d (Torch7's
-- SpatialCrossMapLRN: LocalResponseNorm's math on 4-D input), nn.Container
-- (the deprecated base that takes its children by name), the constructors
-- of nn.RNNBase and nn.RNNCellBase (rnn.lua's bases of nn.RNN/LSTM/GRU
-- and of the cells, so the type tests of nn._is_instance see an nn.LSTM
-- as an RNNBase), and nn.SyncBatchNorm with convert_sync_batchnorm.
-- nnlua is one process: SyncBatchNorm is BatchNorm over any rank >= 2.
return function(nl, nn)
  local Module, F = nn.Module, nn.functional

  -- (functional_extra.lua's, loaded before this file)
  local as = nn._call_as

  -- ---- nn.NLLLoss2d: NLLLoss, of any input rank, as PyTorch 1.13's ----
  nn.NLLLoss2d = nn.NLLLoss:extend('NLLLoss2d')

  -- ---- nn.CrossMapLRN2d(size, alpha = 1e-4, beta = 0.75, k = 1) ----
  -- F.local_response_norm on (N, C, H, W). PyTorch 1.13's own (a port of
  -- Torch7's legacy function) gives other values: its sum over the
  -- channels keeps channels that left the window (with size 1 the second
  -- channel's sum is x1^2 + x2^2), so the documented formula, which
  -- LocalResponseNorm computes, is the truth here.
  local CrossMapLRN2d = Module:extend('CrossMapLRN2d')
  nn.CrossMapLRN2d = CrossMapLRN2d
  function CrossMapLRN2d:init(size, alpha, beta, k, ...)
    local op = 'CrossMapLRN2d'
    nl._no_extra_args(op, '(size, alpha, beta, k)', nil, ...)
    size, alpha, beta, k = nl._opts_or_args(op, 'size alpha beta k', size, alpha, beta, k)
    -- (checked as F.local_response_norm checks them, on a probe)
    as(op, 'local_response_norm', F.local_response_norm, nl.zeros(1, 1, 1), size, alpha, beta, k)
    self.size, self.alpha, self.beta, self.k = size, alpha or 1e-4, beta or 0.75, k or 1
  end
  function CrossMapLRN2d:forward(x)
    local op = 'CrossMapLRN2d'
    nl._T(x, op)
    if x:dim() ~= 4 then
      nl._raise(('%s: expected a 4-D input (N, C, H, W), got shape %s'):format(op, nl._shape_str(x)))
    end
    return as(op, 'local_response_norm', F.local_response_norm, x, self.size, self.alpha, self.beta, self.k)
  end
  function CrossMapLRN2d:extra_repr()
    return ('%d, alpha=%g, beta=%g, k=%g'):format(self.size, self.alpha, self.beta, self.k)
  end

  -- ---- nn.Container({name = module, ...}) ----
  -- PyTorch's deprecated base: its keyword arguments become children, here
  -- in the order of their names; it has no forward of its own
  local Container = Module:extend('Container')
  nn.Container = Container
  function Container:init(children, ...)
    local op = 'Container'
    nl._no_extra_args(op, '({name = module, ...})', nil, ...)
    if children == nil then return end
    if type(children) ~= 'table' or nl.is_tensor(children) or nn.is_module(children) then
      nl._argerror(op, 'a table of named modules', children)
    end
    local names = {}
    for k, v in pairs(children) do
      if type(k) ~= 'string' then nl._raise(op .. ': children are named by strings, got a key ' .. tostring(k)) end
      if not nn.is_module(v) then nl._argerror(op, 'a module as ' .. k, v) end
      names[#names + 1] = k
    end
    table.sort(names)
    for _, k in ipairs(names) do self[k] = children[k] end
  end

  -- ---- nn.RNNBase and nn.RNNCellBase: rnn.lua's bases ----
  local R = nn._rnn
  local RNNBase, CellBase = R.RNNBase, R.RNNCellBase
  nn.RNNBase, nn.RNNCellBase = RNNBase, CellBase

  local MODES = { RNN_TANH = R.MODE.RNN_TANH, RNN_RELU = R.MODE.RNN_RELU, LSTM = R.MODE.LSTM, GRU = R.MODE.GRU }
  local BASE_ARGS = { 'num_layers', 'bias', 'batch_first', 'dropout', 'bidirectional', 'proj_size' }
  local BASE_KNOWN = { num_layers = 1, bias = 'flag', batch_first = 'flag', dropout = 1, bidirectional = 'flag',
                       proj_size = 1, reference = 'flag' }

  -- RNNBase(mode, input_size, hidden_size, num_layers, bias, batch_first,
  -- dropout, bidirectional, proj_size), or (mode, input_size,
  -- hidden_size, {options}): mode 'LSTM', 'GRU', 'RNN_TANH' or
  -- 'RNN_RELU'; the layer nn.LSTM (nn.GRU, nn.RNN) builds, with the same
  -- parameters and draws, that runs as that one
  function RNNBase:_base_init(mode, input_size, hidden_size, opts, ...)
    local op = 'RNNBase'
    if MODES[mode] == nil then
      nl._raise(("%s: unrecognized RNN mode %s (expected 'LSTM', 'GRU', 'RNN_TANH' or 'RNN_RELU')"):format(op,
        nl._describe_arg(mode)))
    end
    local o = nn._positional_options(op, '(mode, input_size, hidden_size', BASE_ARGS, BASE_KNOWN, opts, ...)
    local given = {}
    for k, v in pairs(o) do given[k] = v end
    -- (proj_size 0 is no projection, for any mode, as PyTorch's)
    if given.proj_size == 0 then given.proj_size = nil end
    self:_setup(MODES[mode], input_size, hidden_size, given)
  end

  -- RNNCellBase(input_size, hidden_size, bias, num_chunks), or
  -- (input_size, hidden_size, {bias, num_chunks}): PyTorch's base of the
  -- cells, weight_ih (num_chunks * hidden_size, input_size), weight_hh
  -- (num_chunks * hidden_size, hidden_size) and the biases, U(-1/sqrt(H),
  -- 1/sqrt(H)) as the cells'; it has no forward of its own
  function CellBase:_base_init(input_size, hidden_size, bias, num_chunks, ...)
    local op = 'RNNCellBase'
    local o = nn._positional_options(op, '(input_size, hidden_size', { 'bias', 'num_chunks' },
                                     { bias = 'flag', num_chunks = 1 }, bias, num_chunks, ...)
    for _, a in ipairs({ { 'input_size', input_size }, { 'hidden_size', hidden_size }, { 'num_chunks', o.num_chunks } }) do
      if not nl._size_arg(a[2]) or a[2] > 2 ^ 31 then
        nl._raise(('%s: %s must be a positive whole number, got %s'):format(op, a[1], nl._describe_arg(a[2])))
      end
    end
    local G, H = o.num_chunks, hidden_size
    self.input_size, self.hidden_size, self.num_chunks = input_size, H, G
    self.bias = o.bias ~= false
    self.weight_ih = R.param(G * H, input_size, H)
    self.weight_hh = R.param(G * H, H, H)
    if self.bias then
      self.bias_ih = R.param(G * H, nil, H)
      self.bias_hh = R.param(G * H, nil, H)
    end
  end

  -- (the cells' forward, refused for the base, whose gates have no mode)
  local cell_forward = CellBase.forward
  function CellBase:forward(...)
    if self.mode == nil then
      nl._raise(self.__name .. ': forward is not implemented (the base of nn.RNNCell, nn.LSTMCell and nn.GRUCell)')
    end
    return cell_forward(self, ...)
  end

  -- ---- nn.SyncBatchNorm ----
  -- SyncBatchNorm(num_features, {eps, momentum, affine,
  -- track_running_stats, process_group}): BatchNorm over the channels (dim
  -- 2) of any input of 2 or more dims. PyTorch 1.13's reduces its
  -- statistics over a process group and refuses CPU input; nnlua runs one
  -- process, so this is the statistics of the one batch (process_group
  -- must be nil).
  local SyncBatchNorm = Module:extend('SyncBatchNorm')
  nn.SyncBatchNorm = SyncBatchNorm
  function SyncBatchNorm:init(num_features, opts, ...)
    local op = 'SyncBatchNorm'
    nl._no_extra_args(op, '(num_features, {options})', nil, ...)
    opts = nl._opts(op, opts)
    nl._check_opts(op, opts, { eps = 1, momentum = 1, affine = 'flag', track_running_stats = 'flag',
                               process_group = 1 })
    if opts.process_group ~= nil then
      nl._raise(op .. ': process_group must be nil (nnlua runs one process: the statistics are the batch\'s own)')
    end
    local bn = {}
    for k, v in pairs(opts) do bn[k] = v end
    bn.process_group = nil
    -- (momentum false: PyTorch's None, the average of every batch)
    local plain = bn.momentum == false
    if plain then bn.momentum = nil end
    nn._batch_norm_init(self, op, num_features, bn)
    if plain then self.momentum = false end
  end
  function SyncBatchNorm:forward(x)
    local op = 'SyncBatchNorm'
    nl._T(x, op)
    if x:dim() < 2 or x:size(2) ~= self.num_features then
      nl._raise(('%s: expected input (N, %d, *) of 2 or more dims, got shape %s'):format(op, self.num_features,
        nl._shape_str(x)))
    end
    return nn._batch_norm(self, op, x)
  end
  SyncBatchNorm.extra_repr = nn._batch_norm_repr
  SyncBatchNorm.reset_running_stats, SyncBatchNorm.reset_parameters = nn._norm_reset_running_stats, nn._norm_reset_parameters

  -- SyncBatchNorm.convert_sync_batchnorm(module, process_group): module
  -- with every BatchNorm1d, 2d and 3d in it (module itself too) replaced by
  -- a SyncBatchNorm holding the same parameters and running statistics
  -- (the same tensors) and training mode; returns the module (the new one
  -- where module is a BatchNorm), as PyTorch's
  function SyncBatchNorm.convert_sync_batchnorm(module, process_group, ...)
    local op = 'convert_sync_batchnorm'
    nl._no_extra_args(op, '(module, process_group)', nil, ...)
    if not nn.is_module(module) then nl._argerror(op, 'a module', module) end
    if process_group ~= nil then nl._raise(op .. ': process_group must be nil (nnlua runs one process)') end
    local BN = { [nn.BatchNorm1d] = true, [nn.BatchNorm2d] = true, [nn.BatchNorm3d] = true }
    local function convert(m)
      if nn._is_instance(m, BN) and rawget(m, 'num_features') then
        local s = SyncBatchNorm(m.num_features, { eps = m.eps, momentum = m.momentum, affine = m.affine,
                                                  track_running_stats = m.track_running_stats })
        for _, k in ipairs({ 'weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked' }) do
          local t = rawget(m, k)
          if t ~= nil then rawset(s, k, t) end
        end
        rawset(s, 'training', rawget(m, 'training'))
        return s
      end
      for _, k in ipairs(m._order) do
        local c = rawget(m, k)
        if nn.is_module(c) then
          local r = convert(c)
          if r ~= c then m[k] = r end
        end
      end
      return m
    end
    return convert(module)
  end
end
