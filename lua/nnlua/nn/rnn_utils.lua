-- rnn_utils.lua: nn.utils.rnn, PyTorch 1.13's helpers for batches of
-- sequences of different lengths: pad_sequence, pack_padded_sequence,
-- pad_packed_sequence, pack_sequence, their inverses unpad_sequence and
-- unpack_sequence, and the PackedSequence they make,
-- which nn.RNN, nn.LSTM and nn.GRU take as PyTorch's do (rnn.lua runs
-- their padded form with its lengths and packs the output alike). Each is
-- an index_select or a cat of the tensors given, so gradients flow through.
--
--   local packed = nn.utils.rnn.pack_padded_sequence(x, { 5, 3, 2 })   -- x (T, N, *)
--   local out, h = lstm(packed)                                       -- out: a PackedSequence
--   local y, lengths = nn.utils.rnn.pad_packed_sequence(out)           -- y (5, N, H)
--
-- Indices are 1-based, as everywhere in nnlua: sorted_indices and
-- unsorted_indices hold batch positions from 1.
return function(nl, nn)
  local utils = nn.utils or {}
  nn.utils = utils
  local R = utils.rnn or {}
  utils.rnn = R
  local raise = nl._raise

  -- data (sum of lengths, *): the steps of the sequences interleaved,
  -- time-major; batch_sizes (T) int64: how many sequences have a step t;
  -- sorted_indices: the batch position of each sequence by decreasing
  -- length, unsorted_indices its inverse (both nil when the batch came
  -- sorted).
  local PackedSequence = {}
  PackedSequence.__index = PackedSequence
  PackedSequence.__name = 'PackedSequence'
  R.PackedSequence = PackedSequence

  local function is_packed(x) return type(x) == 'table' and getmetatable(x) == PackedSequence end
  R.is_packed = is_packed

  function PackedSequence.__tostring(p)
    return ('PackedSequence(data=%s %s, batch_sizes=%s, sorted_indices=%s)'):format(p.data:dtype(),
      nl._shape_str(p.data), table.concat(p.batch_sizes:totable(), ','),
      p.sorted_indices and table.concat(p.sorted_indices:totable(), ',') or 'nil')
  end
  -- the same packing of other data (an op applied to each step's rows)
  function PackedSequence:_with(data)
    return setmetatable({ data = data, batch_sizes = self.batch_sizes, sorted_indices = self.sorted_indices,
                          unsorted_indices = self.unsorted_indices, _lengths = self._lengths }, PackedSequence)
  end
  function PackedSequence:to(...) return self:_with(self.data:to(...)) end
  function PackedSequence:double() return self:_with(self.data:double()) end
  function PackedSequence:float() return self:_with(self.data:float()) end

  -- trailing arguments given one by one, as PyTorch's, or as one table of
  -- options: the values of names in order
  local function args_of(op, names, known, ...)
    local out = nn._opts_values(op, names, known, ...)
    if out then return out end
    if select('#', ...) > #names then
      raise(('%s: takes %d arguments after the sequences, got %d'):format(op, #names, select('#', ...)))
    end
    out = { ... }
    for i, k in ipairs(names) do
      if known[k] == 'flag' and out[i] ~= nil and type(out[i]) ~= 'boolean' then
        raise(('%s: %s must be a boolean (true or false), got %s'):format(op, k, nl._describe_arg(out[i])))
      end
    end
    return out
  end

  local function number_opt(op, what, v, default)
    if v == nil then return default end
    if type(v) ~= 'number' then raise(('%s: %s must be a number, got %s'):format(op, what, nl._describe_arg(v))) end
    return v
  end

  -- the list of tensors given, each (L_i, *) of one trailing shape
  local function sequences_of(op, seqs)
    if nl.is_tensor(seqs) then
      local out = {}
      for i = 1, seqs:size(1) do out[i] = seqs:select(1, i) end
      seqs = out
    end
    local n = nl._list_len(seqs)
    if not n or n == 0 then raise(op .. ': expected a non-empty list of tensors (L_i, *)') end
    local trail
    for i = 1, n do
      local s = seqs[i]
      if not nl.is_tensor(s) or s:dim() == 0 then
        raise(('%s: sequence %d must be a tensor (L, *) of at least one dim, got %s'):format(op, i,
          nl.is_tensor(s) and 'a 0-dim tensor' or type(s)))
      end
      local shape = s:shape()
      table.remove(shape, 1)
      local str = '[' .. table.concat(shape, ',') .. ']'
      if trail == nil then trail = str end
      if str ~= trail then
        raise(('%s: sequence %d has steps of shape %s, sequence 1 of %s'):format(op, i, str, trail))
      end
    end
    return seqs, n
  end

  -- sequences (a list of (L_i, *) tensors, or a tensor whose first dim
  -- lists them) -> (T, N, *), or (N, T, *) with batch_first, T the longest
  -- length, the rest padding_value (0); in the first sequence's dtype
  function R.pad_sequence(sequences, ...)
    local op = 'pad_sequence'
    local a = args_of(op, { 'batch_first', 'padding_value' }, { batch_first = 'flag', padding_value = 1 }, ...)
    local seqs, n = sequences_of(op, sequences)
    local bf, pad = a[1] == true, number_opt(op, 'padding_value', a[2], 0)
    local dt, T = seqs[1]:dtype(), 0
    for i = 1, n do T = math.max(T, seqs[i]:size(1)) end
    local cols = {}
    for i = 1, n do
      local s = seqs[i]:dtype() == dt and seqs[i] or seqs[i]:to(dt)
      local L = s:size(1)
      if L < T then
        local shape = s:shape()
        shape[1] = T - L
        s = L == 0 and nl.full(shape, pad, dt) or nl.cat({ s, nl.full(shape, pad, dt) }, 1)
      end
      cols[i] = s
    end
    return nl.stack(cols, bf and 1 or 2)
  end

  -- lengths as a Lua list of whole numbers in 1..T (0..T with allow_zero)
  local function lengths_list(op, lengths, N, T, allow_zero)
    local list
    if nl.is_tensor(lengths) then
      if lengths:dtype() ~= 'int64' or lengths:dim() ~= 1 then
        raise(('%s: lengths must be a 1-D int64 tensor or a list of numbers, got %s %s'):format(op, lengths:dtype(),
          nl._shape_str(lengths)))
      end
      list = lengths:to('float64'):totable()
    else
      if nl._list_len(lengths) == nil then nl._argerror(op, 'lengths as a list of numbers or an int64 tensor', lengths) end
      list = lengths
    end
    if #list ~= N then raise(('%s: %d lengths for a batch of %d sequences'):format(op, #list, N)) end
    for i, v in ipairs(list) do
      if type(v) ~= 'number' or v ~= math.floor(v) then
        raise(('%s: lengths[%d] must be a whole number, got %s'):format(op, i, nl._describe_arg(v)))
      end
      -- (PyTorch read past the input for a length above T)
      if allow_zero and (v < 0 or v > T) then
        raise(("%s: lengths[%d] is %d, outside 0..%d (the input's steps)"):format(op, i, v, T))
      end
      if not allow_zero and (v < 1 or v > T) then
        raise(('%s: lengths[%d] is %d, outside 1..%d (every sequence needs a step, and at most the input\'s %d)'):format(
          op, i, v, T, T))
      end
    end
    return list
  end

  -- the packing of lengths (batch order): its batch_sizes, the order of
  -- the sequences by decreasing length (stable: equal lengths keep their
  -- order; PyTorch's sort leaves that unspecified), and the offset of
  -- each step's rows in data
  local function layout(lengths, order)
    local N, T = #lengths, 0
    for _, l in ipairs(lengths) do T = math.max(T, l) end
    local bs, off, total = {}, {}, 0
    for t = 1, T do
      local c = 0
      for _, l in ipairs(lengths) do if l >= t then c = c + 1 end end
      bs[t], off[t] = c, total
      total = total + c
    end
    if not order then
      order = {}
      for i = 1, N do order[i] = i end
      table.sort(order, function(a, b)
        if lengths[a] ~= lengths[b] then return lengths[a] > lengths[b] end
        return a < b
      end)
    end
    return { T = T, N = N, bs = bs, off = off, order = order, total = total }
  end

  -- rows of data, step by step, from a padded (T, N, *) / (N, T, *) x
  local function pack_rows(x, lay, lengths, bf)
    local T, N = x:size(bf and 2 or 1), x:size(bf and 1 or 2)
    local idx = {}
    for t = 1, lay.T do
      for i = 1, lay.bs[t] do
        local b = lay.order[i]
        idx[#idx + 1] = bf and (b - 1) * T + t or (t - 1) * N + b
      end
    end
    local shape = x:shape()
    table.remove(shape, 1)
    shape[1] = T * N
    return x:reshape(shape):index_select(1, nl.tensor(idx, 'int64'))
  end

  local function packed(data, lay, lengths, sorted)
    local p = { data = data, batch_sizes = nl.tensor(lay.bs, 'int64'), _lengths = lengths }
    if not sorted then
      local inv = {}
      for i, b in ipairs(lay.order) do inv[b] = i end
      p.sorted_indices, p.unsorted_indices = nl.tensor(lay.order, 'int64'), nl.tensor(inv, 'int64')
    end
    return setmetatable(p, PackedSequence)
  end

  -- input (T, N, *) or, batch_first, (N, T, *), and the N lengths (a list
  -- or an int64 tensor) -> a PackedSequence. enforce_sorted (true): the
  -- lengths must decrease, as PyTorch asks; false sorts them.
  -- (op: the name errors give, pack_sequence's when it packs)
  local function pack_padded(op, input, lengths, bf, enforce)
    nl._T(input, op)
    if input:dim() < 2 then
      raise(('%s: input must be (T, N, *) or, batch_first, (N, T, *), got %s'):format(op, nl._shape_str(input)))
    end
    local T, N = input:size(bf and 2 or 1), input:size(bf and 1 or 2)
    local list = lengths_list(op, lengths, N, T)
    if enforce then
      for i = 2, N do
        if list[i] > list[i - 1] then
          raise(op .. ': lengths must be sorted in decreasing order with enforce_sorted (the default); pass '
                .. 'enforce_sorted = false to have them sorted')
        end
      end
    end
    local lay = layout(list, nil)
    return packed(pack_rows(input, lay, list, bf), lay, list, enforce)
  end

  function R.pack_padded_sequence(input, lengths, ...)
    local op = 'pack_padded_sequence'
    local a = args_of(op, { 'batch_first', 'enforce_sorted' }, { batch_first = 'flag', enforce_sorted = 'flag' }, ...)
    return pack_padded(op, input, lengths, a[1] == true, a[2] ~= false)
  end

  -- a list of sequences (L_i, *) -> a PackedSequence (pad_sequence, then
  -- pack_padded_sequence with their lengths)
  function R.pack_sequence(sequences, ...)
    local op = 'pack_sequence'
    local a = args_of(op, { 'enforce_sorted' }, { enforce_sorted = 'flag' }, ...)
    local seqs, n = sequences_of(op, sequences)
    local lengths = {}
    for i = 1, n do
      lengths[i] = seqs[i]:size(1)
      if lengths[i] == 0 then
        raise(('%s: sequence %d has no steps (shape %s; PyTorch asks every length to be above 0)'):format(op, i,
          nl._shape_str(seqs[i])))
      end
    end
    return pack_padded(op, R.pad_sequence(seqs), lengths, false, a[1] ~= false)
  end

  -- a PackedSequence -> padded (T, N, *) (or (N, T, *) with batch_first)
  -- in the original batch order, and the lengths (int64); T is the longest
  -- length, or total_length (at least that) if given; padding_value (0)
  -- elsewhere
  function R.pad_packed_sequence(sequence, ...)
    local op = 'pad_packed_sequence'
    local a = args_of(op, { 'batch_first', 'padding_value', 'total_length' },
                      { batch_first = 'flag', padding_value = 1, total_length = 1 }, ...)
    if not is_packed(sequence) then nl._argerror(op, 'a PackedSequence', sequence) end
    local bf, pad = a[1] == true, number_opt(op, 'padding_value', a[2], 0)
    local data, bs = sequence.data, sequence.batch_sizes:to('float64'):totable()
    local T, N = #bs, bs[1] or 0
    local total = a[3]
    if total ~= nil and (type(total) ~= 'number' or total ~= math.floor(total) or total < T) then
      raise(('%s: total_length must be a whole number at least the longest length %d, got %s'):format(op, T,
        nl._describe_arg(total)))
    end
    local Tp = total or T
    local order = sequence.sorted_indices and sequence.sorted_indices:to('float64'):totable()
    local rank = {}                                 -- batch position -> place among the sorted
    for i = 1, N do rank[order and order[i] or i] = i end
    local off, lengths, acc = {}, {}, 0
    for t = 1, T do off[t], acc = acc, acc + bs[t] end
    local padrow = acc + 1                          -- the row of padding_value appended to data
    local idx = {}
    for b = 1, N do
      local r, L = rank[b], 0
      for t = 1, T do if bs[t] >= r then L = t end end
      lengths[b] = L
    end
    for i = 1, Tp * N do
      local t, b
      if bf then b, t = math.floor((i - 1) / Tp) + 1, (i - 1) % Tp + 1
      else t, b = math.floor((i - 1) / N) + 1, (i - 1) % N + 1 end
      idx[i] = t <= lengths[b] and off[t] + rank[b] or padrow
    end
    local shape = data:shape()
    shape[1] = 1
    local rows = nl.cat({ data, nl.full(shape, pad, data:dtype()) }, 1):index_select(1, nl.tensor(idx, 'int64'))
    local out = data:shape()
    table.remove(out, 1)
    table.insert(out, 1, bf and Tp or N)
    table.insert(out, 1, bf and N or Tp)
    return rows:reshape(out), nl.tensor(lengths, 'int64')
  end

  -- padded (T, N, *) (or (N, T, *) with batch_first) and the N lengths (a
  -- list or an int64 tensor, each in 0..T) -> a list of the N sequences
  -- (lengths[b], *), copies (PyTorch 1.13's also transposed a seq-first
  -- input in place; this one leaves it as it was)
  function R.unpad_sequence(padded_sequences, lengths, ...)
    local op = 'unpad_sequence'
    local a = args_of(op, { 'batch_first' }, { batch_first = 'flag' }, ...)
    nl._T(padded_sequences, op)
    local x, bf = padded_sequences, a[1] == true
    if x:dim() < 2 then
      raise(('%s: padded_sequences must be (T, N, *) or, batch_first, (N, T, *), got %s'):format(op,
        nl._shape_str(x)))
    end
    local T, N = x:size(bf and 2 or 1), x:size(bf and 1 or 2)
    local out = {}
    for b, v in ipairs(lengths_list(op, lengths, N, T, true)) do
      out[b] = x:select(bf and 1 or 2, b):narrow(1, 1, v):clone()
    end
    return out
  end

  -- a PackedSequence -> the list of its sequences (L_i, *) in batch order
  function R.unpack_sequence(packed_sequences, ...)
    local op = 'unpack_sequence'
    if select('#', ...) > 0 then nl._no_extra_args(op, '(packed_sequences)', nil, ...) end
    if not is_packed(packed_sequences) then nl._argerror(op, 'a PackedSequence', packed_sequences) end
    local padded, lengths = R.pad_packed_sequence(packed_sequences, true)
    return R.unpad_sequence(padded, lengths, true)
  end

  -- rnn.lua's forward on a PackedSequence: the padded form with its
  -- lengths, the output packed as the input was, the states in batch
  -- order (as PyTorch's)
  function R._run_packed(rnn, x, hx, opts)
    local name = rnn.__name
    if opts == nil and type(hx) == 'table' and not nl.is_tensor(hx) and hx[1] == nil and hx[2] == nil
       and next(hx) ~= nil then
      hx, opts = nil, hx
    end
    if opts ~= nil and next(nl._opts(name, opts)) ~= nil then
      nl._check_opts(name, opts, {}, 'a PackedSequence carries its lengths')
    end
    local padded, lengths = R.pad_packed_sequence(x, rnn.batch_first)
    local out, h = rnn:forward(padded, hx, { lengths = lengths })
    local list = lengths:to('float64'):totable()
    local lay = layout(list, x.sorted_indices and x.sorted_indices:to('float64'):totable())
    return x:_with(pack_rows(out, lay, list, rnn.batch_first)), h
  end
end
