-- ctc.lua: the connectionist temporal classification loss, as PyTorch
-- 1.13's nn.CTCLoss and nn.functional.ctc_loss. The per-sample negative
-- log-likelihoods are one C op with its backward (nl_ctc_loss, ops_ctc.c);
-- the unbatched form, the lengths given as numbers or tables and the
-- reductions are here.
--
--   local crit = nn.CTCLoss()                      -- blank = 1, the first class
--   local lp = logits:log_softmax(3)               -- (T, N, C)
--   local loss = crit(lp, targets, input_lengths, target_lengths)
--
-- Labels are 1-based, as every class label in nnlua: blank defaults to 1
-- (PyTorch's 0), and targets hold classes 1..C other than the blank.
return function(nl, nn)
  local lib = nl._lib
  local F = nn.functional or {}
  nn.functional = F

  local KNOWN = { blank = 1, reduction = 1, zero_infinity = 'flag' }

  -- the checked options: blank (a whole number), reduction and zero_infinity
  local function options(op, opts)
    opts = nl._opts(op, opts)
    nl._check_opts(op, opts, KNOWN)
    local r = opts.reduction or 'mean'
    if r ~= 'mean' and r ~= 'sum' and r ~= 'none' then
      nl._raise(("%s: reduction must be 'mean', 'sum' or 'none', got %s"):format(op, nl._describe_arg(r)))
    end
    local blank = opts.blank or 1
    if type(blank) ~= 'number' or blank ~= math.floor(blank) or blank < 1 or blank > 2 ^ 53 then
      nl._raise(('%s: blank must be a class index from 1, got %s'):format(op, nl._describe_arg(blank)))
    end
    return blank, r, opts.zero_infinity == true
  end

  -- lengths as an int64 vector of n: a number (one sample), a list of
  -- numbers, or an int64 tensor (0-dim for one sample, or 1-D)
  local function lengths_of(op, what, v, n)
    local t = v
    if type(v) == 'number' then
      t = nl.tensor({ v }, 'int64')
    elseif type(v) == 'table' and not nl.is_tensor(v) then
      local len = nl._list_len(v)
      if len == nil then nl._raise(('%s: %s must be a list of lengths, got a table with other keys'):format(op, what)) end
      for i = 1, len do
        local x = v[i]
        if type(x) ~= 'number' or x ~= math.floor(x) or x < 0 or x > 2 ^ 53 then
          nl._raise(('%s: %s[%d] must be a whole number >= 0, got %s'):format(op, what, i, nl._describe_arg(x)))
        end
      end
      t = len > 0 and nl.tensor(v, 'int64') or nl.zeros({ 0 }, 'int64')
    elseif not nl.is_tensor(v) then
      nl._argerror(op, what .. ' as a number, a list of numbers or an int64 tensor', v)
    end
    if t:dtype() ~= 'int64' or t:dim() > 1 then
      nl._raise(('%s: %s must be an int64 tensor of one length per sample, got %s %s'):format(op, what, t:dtype(),
        nl._shape_str(t)))
    end
    if t:dim() == 0 then t = t:reshape(1) end
    if t:size(1) ~= n then
      nl._raise(('%s: %s holds %d lengths for a batch of %d'):format(op, what, t:size(1), n))
    end
    return t
  end

  -- log_probs (T, N, C) or unbatched (T, C), float (log_softmax's output);
  -- targets int64: (N, S) padded or 1-D concatenated (unbatched: (S));
  -- input_lengths, target_lengths: one length per sample. opts: blank (1),
  -- reduction ('mean': each loss divided by its target length (at least
  -- 1), then the mean over the batch; 'sum'; 'none'), zero_infinity.
  function F.ctc_loss(log_probs, targets, input_lengths, target_lengths, opts, ...)
    local op = 'ctc_loss'
    nl._no_extra_args(op, '(log_probs, targets, input_lengths, target_lengths, opts)', nil, ...)
    nl._T(log_probs, op)
    nl._T(targets, op)
    local blank, r, zero_inf = options(op, opts)
    local d = log_probs:dim()
    if (d ~= 2 and d ~= 3) or log_probs:dtype() == 'int64' then
      nl._raise(('%s: log_probs must be a float tensor (T, N, C) or unbatched (T, C), got %s %s'):format(op,
        log_probs:dtype(), nl._shape_str(log_probs)))
    end
    local unbatched = d == 2
    if unbatched then
      if targets:dim() ~= 1 then
        nl._raise(('%s: unbatched log_probs %s takes a 1-D target (S), got %s'):format(op,
          nl._shape_str(log_probs), nl._shape_str(targets)))
      end
      log_probs, targets = log_probs:unsqueeze(2), targets:unsqueeze(1)
    end
    local N = log_probs:size(2)
    local il = lengths_of(op, 'input_lengths', input_lengths, N)
    local tl = lengths_of(op, 'target_lengths', target_lengths, N)
    local loss = nl._wrap(lib.nl_ctc_loss(log_probs.ptr, targets.ptr, il.ptr, tl.ptr, blank, 1, zero_inf and 1 or 0))
    if r == 'mean' then
      return (loss / tl:clamp(1):to(loss:dtype())):mean()
    elseif r == 'sum' then
      return loss:sum()
    end
    return unbatched and loss:reshape({}) or loss
  end

  local CTCLoss = nn.Module:extend('CTCLoss')
  nn.CTCLoss = CTCLoss
  function CTCLoss:init(opts)
    self.opts = nl._opts('CTCLoss', opts)
    options('CTCLoss', self.opts)
  end
  function CTCLoss:forward(log_probs, targets, input_lengths, target_lengths, ...)
    nl._no_extra_args('CTCLoss', '(log_probs, targets, input_lengths, target_lengths)',
      'give options to the constructor, as nn.CTCLoss({blank = ..., reduction = ...})', ...)
    return F.ctc_loss(log_probs, targets, input_lengths, target_lengths, self.opts)
  end
end
