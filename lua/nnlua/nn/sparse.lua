-- sparse.lua: nn.Embedding, a lookup table of vectors indexed by 1-based
-- int64 ids; the gradient accumulates into the rows that were used.
return function(nl, nn)
  local Embedding = nn.Module:extend('Embedding')
  nn.Embedding = Embedding

  local KNOWN = { padding_idx = 1 }

  -- Embedding(num_embeddings, embedding_dim, {padding_idx}): padding_idx, a
  -- 1-based id (negative counts from the end, -1 the last), names a row that
  -- starts as zeros and gets no gradient, as PyTorch's
  function Embedding:init(num_embeddings, embedding_dim, opts)
    if not nl._size_arg(num_embeddings) or not nl._size_arg(embedding_dim) then
      nl._raise(('Embedding: expected positive whole sizes num_embeddings and embedding_dim, got %s and %s'):format(
        nl._describe_arg(num_embeddings), nl._describe_arg(embedding_dim)))
    end
    opts = nl._opts('Embedding', opts)
    nl._check_opts('Embedding', opts, KNOWN)
    local pad = opts.padding_idx
    if pad ~= nil then
      if type(pad) ~= 'number' or pad ~= math.floor(pad) or pad == 0 or pad > num_embeddings or pad < -num_embeddings then
        nl._raise(('Embedding: padding_idx must be an id in 1..%d or -%d..-1, got %s'):format(num_embeddings,
          num_embeddings, tostring(pad)))
      end
      if pad < 0 then pad = pad + num_embeddings + 1 end
    end
    self.num_embeddings, self.embedding_dim, self.padding_idx = num_embeddings, embedding_dim, pad
    self.weight = nl.empty(num_embeddings, embedding_dim):requires_grad()
    nn.init.normal_(self.weight, 0, 1)
    if pad then nl.no_grad(function() self.weight:select(1, pad):zero_() end) end
  end

  function Embedding:forward(ids)
    if not nl.is_tensor(ids) or ids:dtype() ~= 'int64' then
      nl._raise('Embedding: expected an int64 tensor of ids (1-based), got ' ..
                (nl.is_tensor(ids) and ids:dtype() or type(ids)))
    end
    local shape = ids:shape()
    local flat = ids:reshape(-1)
    local ok, rows = pcall(self.weight.index_select, self.weight, 1, flat)
    if not ok then        -- named here, with the likeliest cause (it named index_select)
      local lo, hi = flat:min():item(), flat:max():item()
      if lo >= 1 and hi <= self.num_embeddings then error(rows, 0) end
      nl._raise(('Embedding: id %d out of range 1..%d (ids are 1-based; ids shape %s)'):format(
        lo < 1 and lo or hi, self.num_embeddings, nl._shape_str(ids)))
    end
    if self.padding_idx then
      -- the padding row's values as they are, but detached: no gradient reaches it
      rows = nl.where(flat:eq(self.padding_idx):view(-1, 1), rows:detach(), rows)
    end
    shape[#shape + 1] = self.embedding_dim
    return rows:view(shape)
  end

  function Embedding:extra_repr()
    local s = ('%d, %d'):format(self.num_embeddings, self.embedding_dim)
    if self.padding_idx then s = s .. ', padding_idx=' .. self.padding_idx end
    return s
  end
end
