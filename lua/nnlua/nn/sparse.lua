-- sparse.lua: nn.Embedding, a lookup table of vectors indexed by 1-based
-- int64 ids, and nn.EmbeddingBag, which reduces bags of such rows (sum,
-- mean or max); the gradient accumulates into the rows that were used.
-- Both are index_select and tensor ops, so autograd gives the backward;
-- nn.functional.embedding and embedding_bag run their code on a weight given.
return function(nl, nn)
  local F = nn.functional
  local Embedding = nn.Module:extend('Embedding')
  nn.Embedding = Embedding

  local KNOWN = { padding_idx = 1, max_norm = 1, norm_type = 1, _freeze = 'flag', scale_grad_by_freq = 'flag',
                  sparse = 'flag' }
  local F_OPTS = 'padding_idx max_norm norm_type scale_grad_by_freq:flag sparse:flag'

  -- PyTorch's sparse, and scale_grad_by_freq where with_sgbf is not
  -- set (EmbeddingBag's), taken only as false (their default, which a port
  -- often passes): true is refused by name (false was refused as an
  -- unknown option, where from_pretrained took it). Returns
  -- scale_grad_by_freq as a boolean.
  local function only_false(op, sgbf, sparse, with_sgbf)
    if with_sgbf then
      if sgbf ~= nil and type(sgbf) ~= 'boolean' then nl._argerror(op, 'a boolean scale_grad_by_freq', sgbf) end
      sgbf = nil
    end
    for _, kv in ipairs({ { 'scale_grad_by_freq', sgbf }, { 'sparse', sparse } }) do
      if kv[2] ~= nil and kv[2] ~= false then nl._raise(op .. ': ' .. kv[1] .. ' is not supported (only false)') end
    end
  end

  -- max_norm (nil, or a positive number) and norm_type (default 2, a
  -- positive number), as Embedding and F.embedding take them
  local function norm_opts(op, max_norm, norm_type)
    if max_norm ~= nil and (type(max_norm) ~= 'number' or not (max_norm > 0)) then
      nl._raise(op .. ': max_norm must be a positive number, got ' .. nl._describe_arg(max_norm))
    end
    if norm_type == nil then norm_type = 2 end
    if type(norm_type) ~= 'number' or not (norm_type > 0) then
      nl._raise(op .. ': norm_type must be a positive number, got ' .. nl._describe_arg(norm_type))
    end
    return max_norm, norm_type
  end

  -- padding_idx (nil, or an id of 1..n or -n..-1) as an id of 1..n
  local function padding_id(op, pad, num_embeddings)
    if pad ~= nil then
      if type(pad) ~= 'number' or pad ~= math.floor(pad) or pad == 0 or pad > num_embeddings or pad < -num_embeddings then
        nl._raise(('%s: padding_idx must be an id in 1..%d or -%d..-1, got %s'):format(op, num_embeddings,
          num_embeddings, tostring(pad)))
      end
      if pad < 0 then pad = pad + num_embeddings + 1 end
    end
    return pad
  end

  -- the sizes, padding row and weight Embedding and EmbeddingBag share;
  -- opts already checked; weight, if given, is the weight as it is (no
  -- draw, the padding row not zeroed)
  local function lookup_init(self, op, num_embeddings, embedding_dim, opts, weight)
    if not nl._size_arg(num_embeddings) or not nl._size_arg(embedding_dim) then
      nl._raise(('%s: expected positive whole sizes num_embeddings and embedding_dim, got %s and %s'):format(
        op, nl._describe_arg(num_embeddings), nl._describe_arg(embedding_dim)))
    end
    local pad = padding_id(op, opts.padding_idx, num_embeddings)
    self.num_embeddings, self.embedding_dim, self.padding_idx = num_embeddings, embedding_dim, pad
    if weight then
      self.weight = weight
      return
    end
    self.weight = nl.empty(num_embeddings, embedding_dim):requires_grad()
    nn.init.normal_(self.weight, 0, 1)
    if pad then nl.no_grad(function() self.weight:select(1, pad):zero_() end) end
  end

  -- Embedding(num_embeddings, embedding_dim, {padding_idx}): padding_idx, a
  -- 1-based id (negative counts from the end, -1 the last), names a row that
  -- starts as zeros and gets no gradient, as PyTorch's
  -- max_norm: each row an input names is first scaled in place to
  -- max_norm / (norm + 1e-7) where its norm_type-norm passes max_norm, as
  -- PyTorch's. scale_grad_by_freq: each row's gradient is divided by the
  -- number of times the ids of the call name it, as PyTorch's. _freeze
  -- (PyTorch 2's keyword; from_pretrained's freeze) makes the weight a
  -- parameter that does not require grad.
  local given_weight        -- from_pretrained's weight, for the init it calls
  function Embedding:init(num_embeddings, embedding_dim, opts)
    local weight = given_weight
    given_weight = nil
    opts = nl._opts('Embedding', opts)
    nl._check_opts('Embedding', opts, KNOWN)
    only_false('Embedding', opts.scale_grad_by_freq, opts.sparse, true)
    self.scale_grad_by_freq = opts.scale_grad_by_freq == true
    self.max_norm, self.norm_type = norm_opts('Embedding', opts.max_norm, opts.norm_type)
    lookup_init(self, 'Embedding', num_embeddings, embedding_dim, opts, weight)
    if opts._freeze then self.weight:requires_grad(false) end
  end

  -- Embedding.from_pretrained(embeddings, [freeze = true], [padding_idx],
  -- [max_norm], [norm_type = 2], [scale_grad_by_freq = false], [sparse =
  -- false]), or (embeddings, {freeze, padding_idx, ...}), as PyTorch 1.13's:
  -- the weight is a parameter over embeddings' memory (the padding row
  -- kept as it is, not zeroed), requiring grad unless freeze.
  -- sparse is taken only as false.
  function Embedding.from_pretrained(embeddings, ...)
    local op = 'Embedding.from_pretrained'
    if embeddings == Embedding then
      nl._raise(op .. ': call it with a dot, nn.Embedding.from_pretrained(embeddings, opts)')
    end
    if type((...)) ~= 'table' then
      nl._no_extra_args(op, '(embeddings, freeze, padding_idx, max_norm, norm_type, scale_grad_by_freq, sparse)', nil,
                        select(7, ...))
    end
    local freeze, padding_idx, max_norm, norm_type, scale_grad_by_freq, sparse = nl._opts_or_args(op,
      'freeze:flag padding_idx max_norm norm_type scale_grad_by_freq:flag sparse:flag', ...)
    if freeze ~= nil and type(freeze) ~= 'boolean' then nl._argerror(op, 'a boolean freeze flag', freeze) end
    only_false(op, scale_grad_by_freq, sparse, true)
    nl._T(embeddings, op)
    if embeddings:dim() ~= 2 or embeddings:dtype() == 'int64' then
      nl._raise(('%s: embeddings must be a 2-D float tensor (num_embeddings, embedding_dim), got %s %s'):format(op,
        embeddings:dtype(), nl._shape_str(embeddings)))
    end
    freeze = freeze ~= false
    -- (a leaf that requires grad, so that the module registers it as its
    -- parameter; the init freezes it, as nn.load's rebuild does)
    given_weight = embeddings:detach():requires_grad()
    local ok, m = pcall(Embedding, embeddings:size(1), embeddings:size(2), { padding_idx = padding_idx,
                        max_norm = max_norm, norm_type = norm_type, _freeze = freeze or nil,
                        scale_grad_by_freq = scale_grad_by_freq })
    given_weight = nil
    if not ok then nl._raise((tostring(m):gsub('^[^\n]-:%d+: ', ''):gsub('^Embedding:', op .. ':'))) end
    return m
  end

  -- PyTorch's embedding_renorm_ of the rows of weight that ids (1-D, in
  -- range) name: each row once, scaled where its norm passes max_norm;
  -- written back by scatter_, which touches those rows alone (the weight
  -- is changed in place, not recorded)
  local function renorm_rows(weight, ids, max_norm, norm_type)
    nl.no_grad(function()
      local u = ids:unique()
      local k, d = u:numel(), weight:size(2)
      local rows = weight:index_select(1, u):renorm(norm_type, 1, max_norm)
      weight:scatter_(1, u:view(k, 1):expand(k, d):contiguous(), rows)
    end)
  end

  -- the rows of weight (n, d) at ids (int64, 1-based): (ids..., d); the
  -- row padding_idx (or nil) gets no gradient. With max_norm, the rows
  -- named are renormed in place first. sgbf: each row's gradient divided
  -- by the count of its id in ids (a hook on the rows taken)
  local function lookup(op, weight, ids, padding_idx, max_norm, norm_type, sgbf)
    if not nl.is_tensor(ids) or ids:dtype() ~= 'int64' then
      nl._raise(op .. ': expected an int64 tensor of ids (1-based), got ' ..
                (nl.is_tensor(ids) and ids:dtype() or type(ids)))
    end
    local shape = ids:shape()
    local flat = ids:reshape(-1)
    if max_norm and flat:numel() > 0 then
      local lo, hi = flat:min():item(), flat:max():item()
      if lo < 1 or hi > weight:size(1) then
        nl._raise(('%s: id %d out of range 1..%d (ids are 1-based; ids shape %s)'):format(op,
          lo < 1 and lo or hi, weight:size(1), nl._shape_str(ids)))
      end
      renorm_rows(weight, flat, max_norm, norm_type)
    end
    local ok, rows = pcall(weight.index_select, weight, 1, flat)
    if not ok then        -- named here, with the likeliest cause (it named index_select)
      local lo, hi = flat:min():item(), flat:max():item()
      if lo >= 1 and hi <= weight:size(1) then error(rows, 0) end
      nl._raise(('%s: id %d out of range 1..%d (ids are 1-based; ids shape %s)'):format(op,
        lo < 1 and lo or hi, weight:size(1), nl._shape_str(ids)))
    end
    if sgbf and rows.is_requires_grad then
      local scale = (1 / flat:bincount(nil, weight:size(1)):index_select(1, flat):to(weight:dtype())):view(-1, 1)
      rows:register_hook(function(g) return g * scale end)
    end
    if padding_idx then
      -- the padding row's values as they are, but detached: no gradient reaches it
      rows = nl.where(flat:eq(padding_idx):view(-1, 1), rows:detach(), rows)
    end
    shape[#shape + 1] = weight:size(2)
    return rows:view(shape)
  end

  function Embedding:forward(ids)
    return lookup('Embedding', self.weight, ids, self.padding_idx, self.max_norm, self.norm_type,
                  self.scale_grad_by_freq)
  end

  -- a functional form's weight: (n, d), float
  local function weight_arg(op, weight)
    nl._T(weight, op)
    if weight:dim() ~= 2 or weight:dtype() == 'int64' then
      nl._raise(('%s: weight must be a float (num_embeddings, embedding_dim) tensor, got %s %s'):format(op,
        weight:dtype(), nl._shape_str(weight)))
    end
  end

  -- F.embedding(ids, weight, padding_idx, max_norm, norm_type,
  -- scale_grad_by_freq, sparse) (or {padding_idx, max_norm, norm_type,
  -- scale_grad_by_freq, sparse}; sparse only false), as Embedding's forward:
  -- padding_idx's row gets no gradient (it is not zeroed: the functional
  -- form only reads the weight, as PyTorch's); max_norm renorms weight's
  -- rows in place, as PyTorch's
  function F.embedding(ids, weight, padding_idx, max_norm, norm_type, scale_grad_by_freq, sparse, ...)
    local op = 'embedding'
    nl._no_extra_args(op, '(input, weight, padding_idx, max_norm, norm_type, scale_grad_by_freq, sparse)', nil, ...)
    weight_arg(op, weight)
    padding_idx, max_norm, norm_type, scale_grad_by_freq, sparse = nl._opts_or_args(op, F_OPTS, padding_idx,
      max_norm, norm_type, scale_grad_by_freq, sparse)
    only_false(op, scale_grad_by_freq, sparse, true)
    max_norm, norm_type = norm_opts(op, max_norm, norm_type)
    return lookup(op, weight, ids, padding_id(op, padding_idx, weight:size(1)), max_norm, norm_type,
                  scale_grad_by_freq == true)
  end

  function Embedding:extra_repr()
    local s = ('%d, %d'):format(self.num_embeddings, self.embedding_dim)
    if self.padding_idx then s = s .. ', padding_idx=' .. self.padding_idx end
    if self.max_norm then s = s .. ', max_norm=' .. tostring(self.max_norm) end
    if self.norm_type ~= 2 then s = s .. ', norm_type=' .. tostring(self.norm_type) end
    if self.scale_grad_by_freq then s = s .. ', scale_grad_by_freq=true' end
    return s
  end

  -- ---- EmbeddingBag ------------------------------------------------------------------
  local EmbeddingBag = nn.Module:extend('EmbeddingBag')
  nn.EmbeddingBag = EmbeddingBag

  local BAG_KNOWN = { mode = 1, padding_idx = 1, include_last_offset = 'flag', scale_grad_by_freq = 'flag',
                      sparse = 'flag', max_norm = 1, norm_type = 1 }
  local BAG_MODES = { sum = true, mean = true, max = true }

  -- EmbeddingBag(num_embeddings, embedding_dim, {mode, padding_idx,
  -- include_last_offset, max_norm, norm_type}): each bag of ids gives the
  -- sum, mean (the default) or elementwise max of its rows, as PyTorch's;
  -- padding_idx (as Embedding's) names an id left out of every bag (a bag
  -- of nothing but padding, or of nothing, gives zeros);
  -- include_last_offset: offsets hold one more entry, the end of the last
  -- bag; max_norm: the rows the input names are renormed in place first,
  -- as Embedding's
  function EmbeddingBag:init(num_embeddings, embedding_dim, opts)
    opts = nl._opts('EmbeddingBag', opts)
    nl._check_opts('EmbeddingBag', opts, BAG_KNOWN)
    self.max_norm, self.norm_type = norm_opts('EmbeddingBag', opts.max_norm, opts.norm_type)
    only_false('EmbeddingBag', opts.scale_grad_by_freq, opts.sparse)
    local mode = opts.mode == nil and 'mean' or opts.mode
    if not BAG_MODES[mode] then
      nl._raise("EmbeddingBag: mode must be 'sum', 'mean' or 'max', got " .. nl._describe_arg(mode))
    end
    lookup_init(self, 'EmbeddingBag', num_embeddings, embedding_dim, opts)
    self.mode, self.include_last_offset = mode, opts.include_last_offset == true
  end

  local function int64_arg(op, x, what)
    if not nl.is_tensor(x) or x:dtype() ~= 'int64' then
      nl._raise(('%s: expected %s as an int64 tensor (1-based), got %s'):format(op, what,
        nl.is_tensor(x) and (x:dtype() .. ' ' .. nl._shape_str(x)) or type(x)))
    end
    nl._T(x, op)
  end

  -- the bags of 1-D ids (L) cut at offsets, padded to (B, M): the ids
  -- (1 where a bag has ended), whether each place is in its bag (0/1), and
  -- the per-sample weights likewise (0 past a bag's end)
  local function cut_bags(self, op, ids, offsets, psw)
    int64_arg(op, offsets, 'offsets')
    local L, no = ids:size(1), offsets:numel()
    if offsets:dim() ~= 1 then
      nl._raise(op .. ': offsets must be 1-D, got shape ' .. nl._shape_str(offsets))
    end
    local given, ends = offsets, nil
    if self.include_last_offset then
      if no < 1 then nl._raise(op .. ': include_last_offset needs at least one offset, got none') end
      ends = offsets:narrow(1, 2, no - 1)
      offsets = offsets:narrow(1, 1, no - 1)
    else
      if no < 1 then nl._raise(op .. ': offsets must hold at least one offset, got none') end
      ends = nl.cat({ offsets:narrow(1, 2, no - 1), nl.tensor({ L + 1 }, 'int64') }, 1)
    end
    local B = offsets:numel()
    if no > 0 then
      local first = given:narrow(1, 1, 1):item()
      if first ~= 1 then
        nl._raise(('%s: offsets[1] must be 1 (offsets are 1-based: the first bag starts at input[1]), got %d'):format(
          op, first))
      end
      if no > 1 and (given:narrow(1, 2, no - 1) - given:narrow(1, 1, no - 1)):min():item() < 0 then
        nl._raise(op .. ': offsets must not decrease, got ' ..
                  (no <= 12 and '{' .. table.concat(given:totable(), ', ') .. '}' or nl._shape_str(given) .. ' offsets that do'))
      end
      local last = given:max():item()
      if last > L + 1 then
        nl._raise(('%s: offsets run past the input: an offset of %d for %d ids (at most %d)'):format(op, last, L, L + 1))
      end
    end
    local lens = ends - offsets
    local M = B > 0 and lens:max():item() or 0
    local j = nl.arange(0, M):view(1, M)
    local inbag = j:lt(lens:view(B, 1))                              -- (B, M)
    if L == 0 then return nl.ones({ B, M }, 'int64'), inbag, psw and nl.zeros({ B, M }, psw:dtype()) end
    local pos = nl.where(inbag, offsets:view(B, 1) + j, 1):view(-1)
    local w = psw and psw:index_select(1, pos):view(B, M)
    return ids:index_select(1, pos):view(B, M), inbag, w
  end

  -- EmbeddingBag:forward(input, [offsets], [per_sample_weights]): input
  -- (B, N), each row a bag, or 1-D with offsets (B), the 1-based place in
  -- input where each bag starts (offsets[1] is 1); per_sample_weights,
  -- input's shape and the weight's dtype, scale each row (mode 'sum' only,
  -- as PyTorch's). Returns (B, embedding_dim).
  -- bag_forward runs it for op on self, the module or a table of its
  -- fields (weight, mode, padding_idx, include_last_offset)
  local function bag_forward(self, op, input, offsets, per_sample_weights)
    int64_arg(op, input, 'input ids')
    local psw = per_sample_weights
    if psw ~= nil then
      if self.mode ~= 'sum' then
        nl._raise(("%s: per_sample_weights are only supported for mode 'sum', got mode '%s'"):format(op, self.mode))
      end
      if not nl.is_tensor(psw) or nl._shape_str(psw) ~= nl._shape_str(input) or psw:dtype() ~= self.weight:dtype() then
        nl._raise(('%s: per_sample_weights must be a %s tensor of the input\'s shape %s, got %s'):format(
          op, self.weight:dtype(), nl._shape_str(input), nl._describe_arg(psw)))
      end
    end
    local n = self.weight:size(1)
    if input:numel() > 0 then
      local lo, hi = input:min():item(), input:max():item()
      if lo < 1 or hi > n then
        nl._raise(('%s: id %d out of range 1..%d (ids are 1-based; input shape %s)'):format(
          op, lo < 1 and lo or hi, n, nl._shape_str(input)))
      end
    end
    local ids, valid
    if self.max_norm and input:numel() > 0 then
      renorm_rows(self.weight, input:reshape(-1), self.max_norm, self.norm_type)
    end
    if input:dim() == 2 then
      if offsets ~= nil then
        nl._raise(op .. ': offsets must be nil for 2-D input (each row is a bag), got ' .. nl._describe_arg(offsets))
      end
      ids, valid = input, nl.ones(input:shape(), 'int64')
    elseif input:dim() == 1 then
      if offsets == nil then
        nl._raise(op .. ': 1-D input needs offsets, the 1-based start of each bag (or pass (B, N) input)')
      end
      ids, valid, psw = cut_bags(self, op, input, offsets, psw)
    else
      nl._raise(op .. ': expected input (B, N), or 1-D input with offsets, got shape ' .. nl._shape_str(input))
    end
    local B, M, D = ids:size(1), ids:size(2), self.weight:size(2)
    if M == 0 then
      -- bags of nothing: one place, outside every bag (the sum over a dim
      -- of size 0 and the max of nothing have no gradient to give)
      M, ids, valid = 1, nl.ones({ B, 1 }, 'int64'), nl.zeros({ B, 1 }, 'int64')
      if psw then psw = nl.zeros({ B, 1 }, psw:dtype()) end
    end
    if self.padding_idx then valid = valid * ids:ne(self.padding_idx) end
    local rows = self.weight:index_select(1, ids:reshape(-1)):view(B, M, D)
    local keep = valid:view(B, M, 1)
    if self.mode == 'max' then
      -- -inf outside the bags, which the max never takes from a bag that
      -- holds a row; an empty bag's -inf becomes 0 after it
      local most = nl._without_anomaly(function() return nl.where(keep, rows, -math.huge):max(2) end)
      return nl.where(valid:sum(2, true):gt(0), most, 0)
    end
    if psw then rows = rows * psw:view(B, M, 1) end
    local out = nl.where(keep, rows, 0):sum(2)
    if self.mode == 'mean' then out = out / valid:sum(2, true):clamp(1, nil):to(out:dtype()) end
    return out
  end

  function EmbeddingBag:forward(input, offsets, per_sample_weights)
    return bag_forward(self, 'EmbeddingBag', input, offsets, per_sample_weights)
  end

  -- F.embedding_bag(input, weight, offsets, {mode = 'mean',
  -- per_sample_weights, include_last_offset, padding_idx, max_norm,
  -- norm_type}), as
  -- EmbeddingBag's forward on the weight given
  function F.embedding_bag(input, weight, offsets, opts, ...)
    local op = 'embedding_bag'
    nl._no_extra_args(op, '(input, weight, offsets, opts)', nil, ...)
    weight_arg(op, weight)
    opts = nl._opts(op, opts)
    nl._check_opts(op, opts, { mode = 1, per_sample_weights = 1, include_last_offset = 'flag', padding_idx = 1,
                               scale_grad_by_freq = 'flag', sparse = 'flag', max_norm = 1, norm_type = 1 })
    local max_norm, norm_type = norm_opts(op, opts.max_norm, opts.norm_type)
    only_false(op, opts.scale_grad_by_freq, opts.sparse)
    local mode = opts.mode == nil and 'mean' or opts.mode
    if not BAG_MODES[mode] then
      nl._raise(op .. ": mode must be 'sum', 'mean' or 'max', got " .. nl._describe_arg(mode))
    end
    return bag_forward({ weight = weight, mode = mode, padding_idx = padding_id(op, opts.padding_idx, weight:size(1)),
                         include_last_offset = opts.include_last_offset == true, max_norm = max_norm,
                         norm_type = norm_type }, op, input, offsets,
                       opts.per_sample_weights)
  end

  function EmbeddingBag:extra_repr()
    local s = ('%d, %d'):format(self.num_embeddings, self.embedding_dim)
    if self.max_norm then s = s .. ', max_norm=' .. tostring(self.max_norm) end
    if self.norm_type ~= 2 then s = s .. ', norm_type=' .. tostring(self.norm_type) end
    s = s .. (", mode='%s'"):format(self.mode)
    if self.padding_idx then s = s .. ', padding_idx=' .. self.padding_idx end
    if self.include_last_offset then s = s .. ', include_last_offset=true' end
    return s
  end
end
