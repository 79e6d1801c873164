-- dropout.lua: nn.Dropout: in training, zeroes each element with
-- probability p and scales the rest by 1/(1-p); identity in eval mode.
return function(nl, nn)
  local Dropout = nn.Module:extend('Dropout')
  nn.Dropout = Dropout

  -- PyTorch's inplace flag is taken (computed out of place, as the
  -- activations'); anything more is an error (it was dropped in silence)
  function Dropout:init(p, inplace, ...)
    if select('#', ...) > 0 then nl._raise(('Dropout: expected p and an inplace flag, got %d arguments'):format(2 + select('#', ...))) end
    nn._inplace_arg('Dropout', inplace)
    p = p or 0.5
    -- (a string p printed as if a number, '0.5', and a table as its address)
    if type(p) ~= 'number' or not (p >= 0 and p <= 1) then      -- NaN too
      nl._raise('Dropout: p must be a number in [0, 1], got ' .. nl._describe_arg(p))
    end
    self.p = p
  end

  function Dropout:forward(x)
    nl._T(x, 'Dropout')
    if not self.training or self.p == 0 then return x end
    if self.p == 1 then return x * 0 end
    -- as PyTorch: int64 passes where no random draw is made, else is refused (rand named)
    nl._float_only(x, 'Dropout')
    local keep = nl.rand(x:shape(), x:dtype()):ge(self.p)
    return x * keep * (1 / (1 - self.p))
  end

  function Dropout:extra_repr() return 'p=' .. self.p end
end
