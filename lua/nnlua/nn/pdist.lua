-- pdist.lua: nn.functional.pdist, PyTorch 1.13's p-norm distances between
-- every pair of an (N, M) input's rows, i < j in row-major order: the
-- rows' differences gathered by index and normed along the last dim by
-- t:norm, so autograd gives the backward (0 at a zero distance, as
-- PyTorch's).
return function(nl, nn)
  local F = nn.functional

  -- the int64 pair indices (i, j), i < j, of n rows, cached by n
  local pairs_of = setmetatable({}, { __mode = 'v' })
  local function pair_index(n)
    local hit = pairs_of[n]
    if hit then return hit[1], hit[2] end
    local I, J, k = {}, {}, 0
    for i = 1, n - 1 do
      for j = i + 1, n do
        k = k + 1
        I[k], J[k] = i, j
      end
    end
    local ti, tj = nl.tensor(I, 'int64'), nl.tensor(J, 'int64')
    pairs_of[n] = { ti, tj }
    return ti, tj
  end

  -- F.pdist(x, p = 2) (or {p}): x (N, M) float; (N * (N - 1) / 2)
  function F.pdist(x, p, ...)
    local op = 'pdist'
    nl._no_extra_args(op, '(input, p)', nil, ...)
    if type(p) == 'table' and not nl.is_tensor(p) then
      nl._check_opts(op, p, { p = 1 })
      p = p.p
    end
    if p == nil then p = 2 end
    if type(p) ~= 'number' or not (p >= 0) then
      nl._raise(('%s: expected a p >= 0 (math.huge for the largest difference), got %s'):format(op,
        nl._describe_arg(p)))
    end
    nl._T(x, op)
    if x:dim() ~= 2 then
      nl._raise(('%s: expected a 2-D input (N, M), got shape %s'):format(op, nl._shape_str(x)))
    end
    nl._float_only(x, op)
    local n = x:size(1)
    if n < 2 then return nl.zeros({ 0 }, x:dtype()) + x:sum() * 0 end
    local I, J = pair_index(n)
    local diff = x:index_select(1, I) - x:index_select(1, J)
    return diff:norm(p, 2)
  end
end
