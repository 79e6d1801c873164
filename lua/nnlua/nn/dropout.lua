-- dropout.lua: nn.Dropout and F.dropout: in training, zeroes each element
-- with probability p and scales the rest by 1/(1-p); identity in eval
-- mode. Also the argument readers every dropout shares (dropout_extra.lua,
-- vision.lua).
return function(nl, nn)
  local F = nn.functional or {}
  nn.functional = F

  -- p as a dropout takes it: nil is 0.5, else a number in [0, 1]
  local function check_p(op, p)
    if p == nil then return 0.5 end
    -- (a string p printed as if a number, '0.5', and a table as its address)
    if type(p) ~= 'number' or not (p >= 0 and p <= 1) then      -- NaN too
      nl._raise(op .. ': p must be a number in [0, 1], got ' .. nl._describe_arg(p))
    end
    return p
  end
  nn._dropout_p = check_p

  -- a dropout module's (p, inplace), or {p, inplace}: p checked, the
  -- inplace flag taken (computed out of place, as the activations'); more
  -- is an error (it was dropped in silence). Returns p and the flag.
  function nn._dropout_init(name, p, inplace, ...)
    if select('#', ...) > 0 then
      nl._raise(('%s: expected p and an inplace flag, got %d arguments'):format(name, 2 + select('#', ...)))
    end
    p, inplace = nl._opts_or_args(name, 'p inplace:flag', p, inplace)
    nn._inplace_arg(name, inplace)
    if type(inplace) == 'table' then inplace = inplace.inplace end      -- (p, {inplace = true})
    return check_p(name, p), inplace == true
  end

  -- the functional form's (p, training, inplace): positional, or a table
  -- {p, training, inplace} as the second argument; training defaults to
  -- dflt, PyTorch's: true for dropout, dropout1d/2d/3d, false for the
  -- alpha dropouts (true there dropped units of ported code run in eval).
  -- inplace is taken and computed out of place, as the modules'.
  function nn._dropout_args(op, dflt, p, training, inplace, ...)
    nl._no_extra_args(op, '(input, p, training, inplace)', nil, ...)
    p, training, inplace = nl._opts_or_args(op, 'p training:flag inplace:flag', p, training, inplace)
    p = check_p(op, p)
    if training ~= nil and type(training) ~= 'boolean' then nl._argerror(op, 'a boolean training flag', training) end
    if inplace ~= nil and type(inplace) ~= 'boolean' then nl._argerror(op, 'a boolean inplace flag', inplace) end
    if training == nil then training = dflt end
    return p, training
  end

  -- PyTorch's repr of a dropout: p and the flag, always (Dropout(p=0.5,
  -- inplace=False); the flag was left out)
  function nn._dropout_repr(self) return ('p=%s, inplace=%s'):format(tostring(self.p), self.inplace and 'True' or 'False') end

  local function dropout(op, x, p, training)
    nl._T(x, op)
    if not training or p == 0 then return x end
    if p == 1 then return x * 0 end
    -- as PyTorch: int64 passes where no random draw is made, else is refused (rand named)
    nl._float_only(x, op)
    local keep = nl.rand(x:shape(), x:dtype()):ge(p)
    return x * keep * (1 / (1 - p))
  end

  -- F.dropout(x, p = 0.5, training = true, inplace = false), or
  -- F.dropout(x, {p, training, inplace}), as PyTorch's
  function F.dropout(x, ...)
    local p, training = nn._dropout_args('dropout', true, ...)
    return dropout('dropout', x, p, training)
  end

  local Dropout = nn.Module:extend('Dropout')
  nn.Dropout = Dropout

  -- Dropout(p = 0.5, inplace = false), or {p, inplace}
  function Dropout:init(...)
    self.p, self.inplace = nn._dropout_init('Dropout', ...)
  end

  function Dropout:forward(x) return dropout('Dropout', x, self.p, self.training) end

  Dropout.extra_repr = nn._dropout_repr
end
