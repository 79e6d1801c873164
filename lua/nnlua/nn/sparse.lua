-- sparse.lua: nn.Embedding, a lookup table of vectors indexed by 1-based
-- int64 ids; the gradient accumulates into the rows that were used.
return function(nl, nn)
  local Embedding = nn.Module:extend('Embedding')
  nn.Embedding = Embedding

  function Embedding:init(num_embeddings, embedding_dim)
    if type(num_embeddings) ~= 'number' or type(embedding_dim) ~= 'number' or num_embeddings < 1 or embedding_dim < 1 then
      nl._raise('Embedding: expected positive sizes')
    end
    self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
    self.weight = nl.empty(num_embeddings, embedding_dim):requires_grad()
    nn.init.normal_(self.weight, 0, 1)
  end

  function Embedding:forward(ids)
    if not nl.is_tensor(ids) or ids:dtype() ~= 'int64' then
      nl._raise('Embedding: expected an int64 tensor of ids (1-based), got ' ..
                (nl.is_tensor(ids) and ids:dtype() or type(ids)))
    end
    local shape = ids:shape()
    local rows = self.weight:index_select(1, ids:reshape(-1))
    shape[#shape + 1] = self.embedding_dim
    return rows:view(shape)
  end

  function Embedding:extra_repr() return ('%d, %d'):format(self.num_embeddings, self.embedding_dim) end
end
