-- dropout_extra.lua: the dropouts beside nn.Dropout and nn.Dropout2d:
-- nn.Dropout1d and nn.Dropout3d (whole channels), nn.AlphaDropout and
-- nn.FeatureAlphaDropout (SELU's dropout, which keeps a zero-mean unit-
-- variance input so), and their functional forms dropout1d, dropout3d,
-- alpha_dropout and feature_alpha_dropout. The mask is drawn from nnlua's
-- generator (nl.manual_seed), not PyTorch's; each is tensor ops, so the
-- gradient is the mask's scale where kept and 0 where dropped.
return function(nl, nn)
  local Module = nn.Module
  local F = nn.functional or {}
  nn.functional = F

  -- SELU's -scale * alpha, negated: a dropped unit of alpha dropout sits
  -- at SELU's saturation, -ALPHA (PyTorch's constant)
  local ALPHA = 1.7580993408473766

  local check_p = nn._dropout_p

  -- x with dropout of probability p in training. feature: the mask is
  -- drawn for dims 1 and 2 of x (batch and channel; with unbatched, dim 1
  -- only) and spread over the rest. alpha: the kept units become
  -- a x + ALPHA a p and the dropped ones ALPHA a (p - 1), with
  -- a = ((ALPHA^2 p + 1) (1 - p))^(-1/2), PyTorch's affine correction;
  -- else the kept ones are scaled by 1 / (1 - p). p = 1 gives x * 0, as
  -- PyTorch (NaN stays NaN).
  local function dropout(op, x, p, training, feature, alpha, unbatched)
    if not training or p == 0 or x:numel() == 0 then return x end
    nl._float_only(x, op)
    if p == 1 then return x * 0 end
    local shape = x:shape()
    if feature then
      for i = unbatched and 2 or 3, #shape do shape[i] = 1 end
    end
    local keep = nl.rand(shape, x:dtype()):ge(p)     -- 1 with probability 1 - p
    if not alpha then return x * (keep * (1 / (1 - p))) end
    local a = 1 / math.sqrt((ALPHA * ALPHA * p + 1) * (1 - p))
    return x * (keep * a) + ((keep - 1) * (ALPHA * a) + ALPHA * a * p)
  end

  -- the input ranks an op takes: dims (a list) and what to say of them;
  -- returns whether x is unbatched (its lowest rank, for the channel ones)
  local function ranks(op, x, dims, what)
    nl._T(x, op)
    local d = x:dim()
    for _, k in ipairs(dims) do if d == k then return d == dims[1] and #dims > 1 end end
    nl._raise(('%s: expected input %s, got shape %s'):format(op, what, nl._shape_str(x)))
  end

  -- name: the module; fname: the function; dims/what: the ranks taken
  -- (nil: any, or at least 2 for a feature dropout)
  local KINDS = {
    { 'Dropout1d', 'dropout1d', true, false, { 2, 3 }, '(N, C, L) or (C, L)' },
    { 'Dropout3d', 'dropout3d', true, false, { 4, 5 }, '(N, C, D, H, W) or (C, D, H, W)' },
    { 'AlphaDropout', 'alpha_dropout', false, true },
    { 'FeatureAlphaDropout', 'feature_alpha_dropout', true, true },
  }
  for _, k in ipairs(KINDS) do
    local name, fname, feature, alpha, dims, what = k[1], k[2], k[3], k[4], k[5], k[6]
    local function run(op, x, p, training)
      local unbatched = false
      if dims then
        unbatched = ranks(op, x, dims, what)
      else
        nl._T(x, op)
        if feature and x:dim() < 2 then
          nl._raise(('%s: expected input (N, C, *) of at least 2 dims, got shape %s'):format(op, nl._shape_str(x)))
        end
      end
      return dropout(op, x, p, training, feature, alpha, unbatched)
    end
    F[fname] = function(x, ...)
      -- (training defaults to true, as PyTorch's, but false for the alpha dropouts)
      local p, training = nn._dropout_args(fname, not alpha, ...)
      return run(fname, x, p, training)
    end

    local cls = Module:extend(name)
    nn[name] = cls
    -- (p, inplace) as nn.Dropout takes them, or {p, inplace}
    cls.init = function(self, ...)
      self.p, self.inplace = nn._dropout_init(name, ...)
    end
    cls.forward = function(self, x) return run(name, x, self.p, self.training) end
    cls.extra_repr = nn._dropout_repr
  end
end
