-- rnn.lua: recurrent layers with PyTorch's parameters and semantics.
-- nn.RNN (tanh or relu), nn.LSTM and nn.GRU run whole sequences, stacked
-- (num_layers), seq-first or batch_first, with initial states in, final
-- states out and variable-length batches; each layer is one C op with
-- backward through time in C. nn.RNNCell, nn.LSTMCell and nn.GRUCell are
-- single steps: matmuls and one fused gate op.
--
--   local lstm = nn.LSTM(64, 256, { num_layers = 2, batch_first = true })
--   local out, hc = lstm(x)                  -- x (N, T, 64): out (N, T, 256), hc = {h_n, c_n} (2, N, 256)
--   local out, hc = lstm(x, { h0, c0 })      -- initial states, (2, N, 256) each
--   local out, h = gru(x, h0, { lengths = { 7, 5, 2 } })   -- or gru(x, { lengths = lens })
--
-- Options: num_layers (1), bias (true), batch_first (false), dropout (0:
-- applied to each layer's output but the last, in training), bidirectional
-- (false: true adds a second direction to each layer, run over the sequence
-- reversed (each sequence from its own last step, with lengths); outputs are
-- [forward, reverse] on the last dim (2H), states (2 num_layers, N, H) in
-- PyTorch's order l0, l0_reverse, l1, ...), nonlinearity
-- ('tanh' or 'relu', nn.RNN only), reference (false: plain C loops instead
-- of the optimized kernels; for tests), proj_size (0; nn.LSTM only: each
-- step's h = weight_hr (o * tanh(c)), projected from hidden_size to
-- proj_size, as PyTorch's: weight_hr_l<k> (proj_size, hidden_size),
-- weight_hh (4 hidden_size, proj_size), outputs and h0 / h_n of proj_size
-- (c0 / c_n keep hidden_size). Such a layer runs its steps in Lua, the
-- fused cell op then a matmul each, with backward through autograd).
-- Variable lengths: `lengths`, an int64 tensor or a Lua table of the N
-- sequence lengths (1..T, any order). Sequence b is the first lengths[b]
-- steps of x: its outputs after that are zero, and h_n (c_n) hold its state
-- after its own last step, as PyTorch's pack_padded_sequence -> LSTM ->
-- pad_packed_sequence (which stops its output at max(lengths) steps; here
-- the output keeps all T).
-- Unbatched input (T, input_size) is accepted, with states (num_layers, H).
-- A PackedSequence (nn.utils.rnn.pack_padded_sequence) gives one back, as
-- PyTorch's.
return function(nl, nn)
  local lib, Module, raise = nl._lib, nn.Module, nl._raise
  local F = nn.functional or {}
  nn.functional = F

  local MODE = { RNN_TANH = 0, RNN_RELU = 1, LSTM = 2, GRU = 3 }
  local GATES = { [0] = 1, [1] = 1, [2] = 4, [3] = 3 }

  -- the options the layers and cells read (an Elman RNN's also
  -- nonlinearity, and forward's lengths); any other key is an error, not ignored
  local LAYER_KNOWN = { num_layers = 1, bias = 'flag', batch_first = 'flag', dropout = 1, bidirectional = 'flag',
                        reference = 'flag', proj_size = 1 }
  local ELMAN_LAYER_KNOWN = { nonlinearity = 1 }
  for k, v in pairs(LAYER_KNOWN) do ELMAN_LAYER_KNOWN[k] = v end
  local CELL_KNOWN, ELMAN_CELL_KNOWN = { bias = 'flag' }, { bias = 'flag', nonlinearity = 1 }
  local FORWARD_KNOWN = { lengths = 1 }

  local check_dtype = nn._check_input_dtype

  local function positive_int(v) return type(v) == "number" and v >= 1 and v <= 2^31 and v == math.floor(v) end

  -- U(-1/sqrt(H), 1/sqrt(H)), PyTorch's initialization of every RNN parameter
  local function param(rows, cols, H)
    local t = cols and nl.empty(rows, cols) or nl.empty(rows)
    local k = 1 / math.sqrt(H)
    nn.init.uniform_(t, -k, k)
    return t:requires_grad()
  end

  -- a state of the input's dtype (dt, also the weights'), named with the
  -- layer or cell, not with the matmul or fused op that would find it
  local function check_state_dtype(name, what, s, dt)
    if s:dtype() ~= dt then
      raise(('%s: %s of dtype %s for %s input and weights (convert it: %s:%s())'):format(name, what, s:dtype(), dt,
        what, dt == 'float64' and 'double' or 'float'))
    end
  end

  -- the rows of a state given as (L, N, H) (or (L, H) for unbatched input)
  -- of dtype dt (size: the name of H's option, hidden_size or proj_size)
  local function check_state(name, what, s, L, N, H, unbatched, D, size, dt)
    if s == nil then return nil end
    if not nl.is_tensor(s) then raise(('%s: %s must be a tensor, got %s'):format(name, what, type(s))) end
    check_state_dtype(name, what, s, dt)
    local want = unbatched and ('[%d,%d]'):format(L, H) or ('[%d,%d,%d]'):format(L, N, H)
    if nl._shape_str(s) ~= want then
      raise(('%s: %s has shape %s, expected %s (%s, %s%s)'):format(name, what, nl._shape_str(s), want,
        D == 2 and '2 * num_layers' or 'num_layers', unbatched and '' or 'batch, ', size or 'hidden_size'))
    end
    if unbatched then s = s:unsqueeze(2) end
    return s
  end

  local function lengths_tensor(name, lengths, N)
    if lengths == nil then return nil end
    if type(lengths) == 'table' and not nl.is_tensor(lengths) then
      -- (nl.tensor would cut 1.5 to 1, and name itself for a string)
      for i, v in ipairs(lengths) do
        if type(v) ~= 'number' or v ~= math.floor(v) then
          raise(('%s: lengths[%d] must be a whole number, got %s'):format(name, i, nl._describe_arg(v)))
        end
      end
      lengths = nl.tensor(lengths, 'int64')
    end
    if not nl.is_tensor(lengths) or lengths:dtype() ~= 'int64' then
      raise(('%s: lengths must be an int64 tensor or a table of numbers, got %s'):format(name,
        nl.is_tensor(lengths) and lengths:dtype() or type(lengths)))
    end
    if lengths:dim() ~= 1 or lengths:size(1) ~= N then
      raise(('%s: lengths has shape %s, expected one length per sequence [%d]'):format(
        name, nl._shape_str(lengths), N))
    end
    return lengths
  end

  local function dropout(y, p)
    if p >= 1 then return y * 0 end
    return y * nl.rand(y:shape(), y:dtype()):ge(p) * (1 / (1 - p))
  end

  -- ---- nn.RNN, nn.LSTM, nn.GRU ----------------------------------------------------

  local RNNBase = Module:extend('RNNBase')
  -- (nn.RNNBase(mode, ...) is built by legacy.lua's _base_init, loaded then)
  function RNNBase:init(...)
    nn._load_all()
    self:_base_init(...)
  end

  function RNNBase:_setup(mode, input_size, hidden_size, opts)
    local name = self.__name
    if not positive_int(input_size) or not positive_int(hidden_size) then
      raise(('%s: expected positive integer input_size and hidden_size, got %s and %s'):format(
        name, tostring(input_size), tostring(hidden_size)))
    end
    opts = nl._opts(name, opts)
    nl._check_opts(name, opts, (mode == MODE.RNN_TANH or mode == MODE.RNN_RELU) and ELMAN_LAYER_KNOWN or LAYER_KNOWN)
    local L = opts.num_layers or 1
    if not positive_int(L) then raise(('%s: num_layers must be a positive integer, got %s'):format(name, tostring(L))) end
    local p = opts.dropout or 0
    if type(p) ~= 'number' or not (p >= 0 and p <= 1) then
      -- (a string printed as if a number, and a table as its address)
      raise(('%s: dropout must be a number in [0, 1], got %s'):format(name, nl._describe_arg(p)))
    end
    -- PyTorch's checks and messages (its RNN and GRU take no proj_size at all)
    local P = opts.proj_size or 0
    if mode ~= MODE.LSTM and opts.proj_size ~= nil then
      raise(name .. ': proj_size argument is only supported for LSTM, not RNN or GRU')
    end
    if type(P) ~= 'number' or P ~= math.floor(P) or P < 0 then
      raise(('%s: proj_size should be a positive integer or zero to disable projections, got %s'):format(name,
        nl._describe_arg(P)))
    end
    if P >= hidden_size then
      raise(('%s: proj_size has to be smaller than hidden_size, got proj_size %d and hidden_size %d'):format(name, P,
        hidden_size))
    end
    self.mode = mode
    self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, L
    self.proj_size = P
    self.bias = opts.bias ~= false
    self.batch_first = opts.batch_first == true
    self.dropout = p
    self.bidirectional = opts.bidirectional == true
    self.reference = opts.reference == true
    local G, H, D = GATES[mode], hidden_size, self.bidirectional and 2 or 1
    local R = P > 0 and P or H      -- the size of h (and of the outputs)
    -- PyTorch's names and order: a layer's forward direction, then its
    -- reverse; weight_hr after the biases
    for l = 0, L - 1 do
      local in_l = l == 0 and input_size or D * R
      for _, suffix in ipairs(D == 2 and { '', '_reverse' } or { '' }) do
        self['weight_ih_l' .. l .. suffix] = param(G * H, in_l, H)
        self['weight_hh_l' .. l .. suffix] = param(G * H, R, H)
        if self.bias then
          self['bias_ih_l' .. l .. suffix] = param(G * H, nil, H)
          self['bias_hh_l' .. l .. suffix] = param(G * H, nil, H)
        end
        if P > 0 then self['weight_hr_l' .. l .. suffix] = param(P, H, H) end
      end
    end
  end

  -- the rows of a (T, N, *) or (N, T, *) tensor viewed as (T*N, *) that
  -- reverse each sequence in time: step t of sequence b (t < its length)
  -- takes step length - 1 - t; steps past the end stay where they are. The
  -- permutation is its own inverse, so it also puts the reverse direction's
  -- outputs back in order.
  local function reversal(T, N, lengths, bf)
    local len = lengths and lengths:to('float64'):totable() or nil
    local idx = {}
    for b = 1, N do
      local n = len and len[b] or T
      for t = 0, T - 1 do
        local src = t < n and n - 1 - t or t
        if bf then idx[(b - 1) * T + t + 1] = (b - 1) * T + src + 1
        else idx[t * N + b] = src * N + b end
      end
    end
    return nl.tensor(idx, 'int64')
  end

  local function reversed(y, rows)
    local shape = y:shape()
    return y:contiguous():view(-1, shape[3]):index_select(1, rows):view(shape)
  end

  -- x W^T + b
  local function affine(x, w, b)
    local y = nl.matmul(x, w:t())
    if b then y = y + b end
    return y
  end

  -- with lengths, the (N, 1) mask of the sequences that take step t (1 or
  -- 0, a where's condition), one per step, false where every sequence does; nil without
  -- lengths. The lengths are checked as the C layer op checks them.
  local function step_masks(name, lengths, T, N, dtype)
    if lengths == nil then return nil end
    local len = lengths:to('float64'):totable()
    for b = 1, N do
      if not (len[b] >= 1 and len[b] <= T) then
        raise(("%s: length %d of sequence %d is outside 1..%d (the input's steps)"):format(name, len[b], b, T))
      end
    end
    local masks = {}
    for t = 1, T do
      local m, all = {}, true
      for b = 1, N do
        m[b] = { t <= len[b] and 1 or 0 }
        all = all and t <= len[b]
      end
      masks[t] = not all and nl.tensor(m, dtype)
    end
    return masks
  end

  -- the run of a projected LSTM's direction d of layer l over input u
  -- (reversed in time for d = 1), step by step: the fused cell, then
  -- h = h_cell weight_hr^T (N, proj_size), all through autograd; with
  -- masks, a sequence past its length keeps its states and outputs zeros.
  -- Its final states go to hn[k] and cn[k] (row k = l * D + d + 1).
  local function projected(self, masks, h0, c0, hn, cn)
    local D, P, H, bf = self.bidirectional and 2 or 1, self.proj_size, self.hidden_size, self.batch_first
    local tdim = bf and 2 or 1
    return function(l, d, u)
      local suffix = d == 1 and '_reverse' or ''
      local w_hh, w_hr = self['weight_hh_l' .. l .. suffix], self['weight_hr_l' .. l .. suffix]
      local b_hh = self['bias_hh_l' .. l .. suffix]
      local k = l * D + d + 1
      local T, N = u:size(tdim), u:size(bf and 1 or 2)
      -- every step's input part at once: (T, N, 4H) or (N, T, 4H)
      local gi = affine(u, self['weight_ih_l' .. l .. suffix], self['bias_ih_l' .. l .. suffix])
      local h = h0 and h0:select(1, k) or nl.zeros({ N, P }, u:dtype())
      local c = c0 and c0:select(1, k) or nl.zeros({ N, H }, u:dtype())
      local ys = {}
      for t = 1, T do
        local h1, c1 = F.lstm_cell(gi:select(tdim, t) + affine(h, w_hh, b_hh), c)
        local r = nl.matmul(h1, w_hr:t())
        local m = masks and masks[t]
        if m then
          ys[t] = nl.where(m, r, 0)
          h, c = nl.where(m, r, h), nl.where(m, c1, c)
        else
          ys[t], h, c = r, r, c1
        end
      end
      hn[k], cn[k] = h, c
      return nl.stack(ys, tdim)
    end
  end

  -- forward(x, [hx], [{lengths = ...}]): hx is h0 (num_layers, N, H), or
  -- {h0, c0} for LSTM; either may be nil (zeros). Returns output and h_n,
  -- or output and {h_n, c_n} for LSTM.
  function RNNBase:forward(x, hx, opts)
    local name = self.__name
    -- a PackedSequence (nn.utils.rnn, rnn_utils.lua): its padded form run
    -- with its lengths, and a PackedSequence out
    if nn.utils.rnn.is_packed(x) then return nn.utils.rnn._run_packed(self, x, hx, opts) end
    -- forward(x, opts): a table with keys but neither h0 nor c0 is the options
    if opts == nil and type(hx) == 'table' and not nl.is_tensor(hx) and hx[1] == nil and hx[2] == nil
       and next(hx) ~= nil then
      hx, opts = nil, hx
    end
    opts = nl._opts(name, opts)
    nl._check_opts(name, opts, FORWARD_KNOWN)
    local p = nl._T(x, name)
    if p.ndim ~= 2 and p.ndim ~= 3 then
      raise(('%s: input must be (%s, input_size) or unbatched (seq, input_size), got shape %s'):format(
        name, self.batch_first and 'batch, seq' or 'seq, batch', nl._shape_str(x)))
    end
    local bf, lstm, L, H = self.batch_first, self.mode == MODE.LSTM, self.num_layers, self.hidden_size
    local D = self.bidirectional and 2 or 1
    local P = self.proj_size or 0     -- (a layer saved before proj_size has none)
    local R = P > 0 and P or H        -- the size of h and of the outputs
    -- the input's dtype against the layer's, named here (C blamed w_hh)
    check_dtype(name, x, self.weight_ih_l0:dtype())
    local unbatched = p.ndim == 2
    -- (named with the caller's shape, not the batch of one made below)
    if x:size(-1) ~= self.input_size then
      raise(('%s: layer 1 (weight_ih_l0) expects input size %d, got %d (input shape %s)'):format(
        name, self.input_size, x:size(-1), nl._shape_str(x)))
    end
    local x0 = x
    if unbatched then x = x:unsqueeze(bf and 1 or 2) end
    local T, N = x:size(bf and 2 or 1), x:size(bf and 1 or 2)
    -- (the C layer refuses it too; the projected steps stacked no output)
    if T == 0 and P > 0 then raise(('%s: empty input of shape %s (no steps)'):format(name, nl._shape_str(x0))) end
    local h0, c0
    if lstm then
      if hx ~= nil then
        if type(hx) ~= 'table' or nl.is_tensor(hx) then
          raise(name .. ': the initial state must be a table {h0, c0}, got ' .. (nl.is_tensor(hx) and 'a tensor' or type(hx)))
        end
        h0, c0 = hx[1], hx[2]
      end
    else
      if hx ~= nil and not nl.is_tensor(hx) then raise(name .. ': the initial state h0 must be a tensor, got ' .. type(hx)) end
      h0 = hx
    end
    h0 = check_state(name, 'h0', h0, L * D, N, R, unbatched, D, P > 0 and 'proj_size' or nil, x:dtype())
    c0 = check_state(name, 'c0', c0, L * D, N, H, unbatched, D, nil, x:dtype())
    local lengths = lengths_tensor(name, opts.lengths, N)
    local TNH, NH = T * N * H, N * H
    local out_shape = bf and { N, T, H } or { T, N, H }
    local full_shape = bf and { N, T, D * R } or { T, N, D * R }
    if N == 0 and T > 0 then
      -- an empty batch, as PyTorch's: empty outputs and states, and zero
      -- gradients for the weights (a sum over no sequence; the C layer
      -- refused it, naming itself)
      local tie = x:sum() * 0
      for _, p in ipairs(self:parameters()) do tie = tie + p:sum() * 0 end
      if h0 then tie = tie + h0:sum() * 0 end
      if c0 then tie = tie + c0:sum() * 0 end
      local function empty(shape) return nl.zeros(shape, x:dtype()) + tie end
      if lstm then return empty(full_shape), { empty({ L * D, 0, R }), empty({ L * D, 0, H }) } end
      return empty(full_shape), empty({ L * D, 0, H })
    end
    local rows = D == 2 and reversal(T, N, lengths, bf) or nil
    local hn, cn, cur = {}, {}, x
    -- direction d (0 forward, 1 reverse) of layer l over input u; its state
    -- is row l * D + d of h0, c0, h_n and c_n
    local function run(l, d, u)
      local suffix = d == 1 and '_reverse' or ''
      local w_ih, w_hh = self['weight_ih_l' .. l .. suffix], self['weight_hh_l' .. l .. suffix]
      local b_ih, b_hh = self['bias_ih_l' .. l .. suffix], self['bias_hh_l' .. l .. suffix]
      local k = l * D + d + 1
      local h0l = h0 and h0:select(1, k)
      local c0l = c0 and c0:select(1, k)
      local flat = nl._wrap(lib.nl_rnn_layer(self.mode, u.ptr, w_ih.ptr, w_hh.ptr, b_ih and b_ih.ptr, b_hh and b_hh.ptr,
                                             h0l and h0l.ptr, c0l and c0l.ptr, lengths and lengths.ptr,
                                             bf and 1 or 0, self.reference and 1 or 0))
      hn[k] = flat:narrow(1, TNH + 1, NH):view(N, H)
      if lstm then cn[k] = flat:narrow(1, TNH + NH + 1, NH):view(N, H) end
      return flat:narrow(1, 1, TNH):view(out_shape)
    end
    if P > 0 then run = projected(self, step_masks(name, lengths, T, N, x:dtype()), h0, c0, hn, cn) end
    for l = 0, L - 1 do
      local y = run(l, 0, cur)
      if D == 2 then y = nl.cat({ y, reversed(run(l, 1, reversed(cur, rows)), rows) }, 3) end
      if self.dropout > 0 and self.training and l < L - 1 then y = dropout(y, self.dropout) end
      cur = y
    end
    local h_n = #hn == 1 and hn[1]:unsqueeze(1) or nl.stack(hn, 1)
    local c_n = lstm and (#cn == 1 and cn[1]:unsqueeze(1) or nl.stack(cn, 1)) or nil
    if unbatched then
      cur = cur:squeeze(bf and 1 or 2)
      h_n = h_n:squeeze(2)
      c_n = c_n and c_n:squeeze(2)
    end
    if lstm then return cur, { h_n, c_n } end
    return cur, h_n
  end

  -- PyTorch's flatten_parameters(): it packs the weights into one buffer
  -- for cuDNN, and does nothing on the CPU; here the same nothing, so that
  -- models that call it in forward (as many ported ones do) run
  function RNNBase:flatten_parameters(...)
    if select('#', ...) > 0 then nl._no_extra_args(self.__name .. ':flatten_parameters', '()', nil, ...) end
  end

  function RNNBase:extra_repr()
    local s = ('%d, %d'):format(self.input_size, self.hidden_size)
    if self.mode == MODE.RNN_RELU then s = s .. ", nonlinearity='relu'" end
    if self.num_layers ~= 1 then s = s .. ', num_layers=' .. self.num_layers end
    if not self.bias then s = s .. ', bias=false' end
    if self.batch_first then s = s .. ', batch_first=true' end
    if self.dropout ~= 0 then s = s .. ', dropout=' .. self.dropout end
    if self.bidirectional then s = s .. ', bidirectional=true' end
    if (self.proj_size or 0) > 0 then s = s .. ', proj_size=' .. self.proj_size end
    return s
  end

  -- the mode of an Elman RNN (layer or cell) from its nonlinearity option
  local function elman_mode(name, opts)
    local nonlin = nl._opts(name, opts).nonlinearity or 'tanh'
    if nonlin ~= 'tanh' and nonlin ~= 'relu' then
      raise(("%s: nonlinearity must be 'tanh' or 'relu', got '%s'"):format(name, tostring(nonlin)))
    end
    return nonlin == 'tanh' and MODE.RNN_TANH or MODE.RNN_RELU
  end

  local RNN = RNNBase:extend('RNN')
  nn.RNN = RNN
  function RNN:init(input_size, hidden_size, opts)
    self:_setup(elman_mode('RNN', opts), input_size, hidden_size, opts)
  end

  local LSTM = RNNBase:extend('LSTM')
  nn.LSTM = LSTM
  function LSTM:init(input_size, hidden_size, opts) self:_setup(MODE.LSTM, input_size, hidden_size, opts) end

  local GRU = RNNBase:extend('GRU')
  nn.GRU = GRU
  function GRU:init(input_size, hidden_size, opts) self:_setup(MODE.GRU, input_size, hidden_size, opts) end

  -- ---- the fused cell ops ------------------------------------------------------------

  -- gates (N, 4H) pre-activations [i f g o], c (N, H) -> h', c' (N, H)
  function F.lstm_cell(gates, c, ...)
    if select('#', ...) > 0 then nl._no_extra_args('lstm_cell', '(gates, c)', nil, ...) end
    local hc = nl._wrap(lib.nl_lstm_cell(nl._T(gates, 'lstm_cell'), nl._T(c, 'lstm_cell')))
    local H = c:size(2)
    return hc:narrow(2, 1, H), hc:narrow(2, H + 1, H)
  end
  -- gi = x W_ih^T + b_ih, gh = h W_hh^T + b_hh (N, 3H), h (N, H) -> h'
  function F.gru_cell(gi, gh, h, ...)
    if select('#', ...) > 0 then nl._no_extra_args('gru_cell', '(gi, gh, h)', nil, ...) end
    return nl._wrap(lib.nl_gru_cell(nl._T(gi, 'gru_cell'), nl._T(gh, 'gru_cell'), nl._T(h, 'gru_cell')))
  end
  -- act(gi + gh), act 'tanh' (default) or 'relu'
  function F.rnn_cell(gi, gh, nonlinearity, ...)
    if select('#', ...) > 0 then nl._no_extra_args('rnn_cell', '(gi, gh, [nonlinearity])', nil, ...) end
    nonlinearity = nonlinearity or 'tanh'
    if nonlinearity ~= 'tanh' and nonlinearity ~= 'relu' then   -- any other ran relu
      nl._raise("rnn_cell: nonlinearity must be 'tanh' or 'relu', got " .. tostring(nonlinearity))
    end
    local mode = nonlinearity == 'tanh' and MODE.RNN_TANH or MODE.RNN_RELU
    return nl._wrap(lib.nl_rnn_cell(nl._T(gi, 'rnn_cell'), gh ~= nil and nl._T(gh, 'rnn_cell') or nil, mode))
  end

  -- ---- nn.RNNCell, nn.LSTMCell, nn.GRUCell --------------------------------------------

  local CellBase = Module:extend('RNNCellBase')
  function CellBase:init(...)
    nn._load_all()
    self:_base_init(...)
  end
  -- (for legacy.lua, which exposes the bases as nn.RNNBase and nn.RNNCellBase)
  nn._rnn = { RNNBase = RNNBase, RNNCellBase = CellBase, MODE = MODE, param = param }

  function CellBase:_setup(mode, input_size, hidden_size, opts)
    local name = self.__name
    if not positive_int(input_size) or not positive_int(hidden_size) then
      raise(('%s: expected positive integer input_size and hidden_size, got %s and %s'):format(
        name, tostring(input_size), tostring(hidden_size)))
    end
    opts = nl._opts(name, opts)
    nl._check_opts(name, opts, (mode == MODE.RNN_TANH or mode == MODE.RNN_RELU) and ELMAN_CELL_KNOWN or CELL_KNOWN)
    self.mode = mode
    self.input_size, self.hidden_size = input_size, hidden_size
    self.bias = opts.bias ~= false
    local G, H = GATES[mode], hidden_size
    self.weight_ih = param(G * H, input_size, H)
    self.weight_hh = param(G * H, H, H)
    if self.bias then
      self.bias_ih = param(G * H, nil, H)
      self.bias_hh = param(G * H, nil, H)
    end
  end

  -- forward(x, [h] or [{h, c}]): x (N, input_size) or (input_size);
  -- returns h' (RNNCell, GRUCell) or h', c' (LSTMCell)
  function CellBase:forward(x, hx)
    local name = self.__name
    local p = nl._T(x, name)
    if p.ndim ~= 1 and p.ndim ~= 2 then
      raise(('%s: input must be (batch, input_size) or (input_size), got shape %s'):format(name, nl._shape_str(x)))
    end
    check_dtype(name, x, self.weight_ih:dtype())
    local unbatched = p.ndim == 1
    if x:size(-1) ~= self.input_size then
      raise(('%s: expects input size %d, got %d (input shape %s)'):format(name, self.input_size, x:size(-1),
                                                                          nl._shape_str(x)))
    end
    if unbatched then x = x:unsqueeze(1) end
    local N, H = x:size(1), self.hidden_size
    local lstm = self.mode == MODE.LSTM
    local h, c
    if lstm then
      if hx ~= nil then
        if type(hx) ~= 'table' or nl.is_tensor(hx) then raise(name .. ': the state must be a table {h, c}') end
        h, c = hx[1], hx[2]
      end
    else
      h = hx
    end
    local function state(s, what)
      if s == nil then return nl.zeros({ N, H }, x:dtype()) end
      if not nl.is_tensor(s) then raise(('%s: %s must be a tensor, got %s'):format(name, what, type(s))) end
      check_state_dtype(name, what, s, x:dtype())
      -- an unbatched input takes an unbatched state, as PyTorch's cells do
      local want = unbatched and ('[%d]'):format(H) or ('[%d,%d]'):format(N, H)
      if nl._shape_str(s) ~= want then
        raise(('%s: %s has shape %s, expected %s'):format(name, what, nl._shape_str(s), want))
      end
      return unbatched and s:unsqueeze(1) or s
    end
    h = state(h, 'h')
    local gi = affine(x, self.weight_ih, self.bias_ih)
    local gh = affine(h, self.weight_hh, self.bias_hh)
    local h1, c1
    if lstm then
      h1, c1 = F.lstm_cell(gi + gh, state(c, 'c'))
    elseif self.mode == MODE.GRU then
      h1 = F.gru_cell(gi, gh, h)
    else
      h1 = nl._wrap(lib.nl_rnn_cell(gi.ptr, gh.ptr, self.mode))
    end
    if unbatched then
      h1 = h1:squeeze(1)
      c1 = c1 and c1:squeeze(1)
    end
    if lstm then return h1, c1 end
    return h1
  end

  function CellBase:extra_repr()
    local s = ('%d, %d'):format(self.input_size, self.hidden_size)
    if self.mode == MODE.RNN_RELU then s = s .. ", nonlinearity='relu'" end
    if not self.bias then s = s .. ', bias=false' end
    return s
  end

  local RNNCell = CellBase:extend('RNNCell')
  nn.RNNCell = RNNCell
  function RNNCell:init(input_size, hidden_size, opts)
    self:_setup(elman_mode('RNNCell', opts), input_size, hidden_size, opts)
  end

  local LSTMCell = CellBase:extend('LSTMCell')
  nn.LSTMCell = LSTMCell
  function LSTMCell:init(input_size, hidden_size, opts) self:_setup(MODE.LSTM, input_size, hidden_size, opts) end

  local GRUCell = CellBase:extend('GRUCell')
  nn.GRUCell = GRUCell
  function GRUCell:init(input_size, hidden_size, opts) self:_setup(MODE.GRU, input_size, hidden_size, opts) end
end
