-- grid_sample.lua: nn.functional.grid_sample (the C kernel nl_grid_sample
-- in ops_grid_sample.c, with its gradients to the input and to the grid)
-- and nn.functional.affine_grid, PyTorch 1.13's: the base grid of pixel
-- positions in [-1, 1] times theta^T, a matmul, so gradients reach theta.
return function(nl, nn)
  local lib = nl._lib
  local F = nn.functional
  local describe = nn._describe
  local raise = nl._raise

  local MODES = { bilinear = lib.NL_GRID_BILINEAR, nearest = lib.NL_GRID_NEAREST, bicubic = lib.NL_GRID_BICUBIC }
  local PADDINGS = { zeros = lib.NL_GRID_ZEROS, border = lib.NL_GRID_BORDER, reflection = lib.NL_GRID_REFLECTION }

  local function is_options(v) return type(v) == 'table' and not nl.is_tensor(v) end

  local function check_align(op, v)
    if v ~= nil and type(v) ~= 'boolean' then
      raise(('%s: align_corners must be a boolean (true or false), got %s'):format(op, nl._describe_arg(v)))
    end
    return v == true
  end

  local GS_KNOWN = { mode = 1, padding_mode = 1, align_corners = 1 }
  local GS_ARGS = { 'mode', 'padding_mode', 'align_corners' }

  -- input (N, C, H, W) read at grid (N, Ho, Wo, 2) -> (N, C, Ho, Wo), or
  -- (N, C, D, H, W) at (N, Do, Ho, Wo, 3): F.grid_sample(input, grid,
  -- {mode = 'bilinear', padding_mode = 'zeros', align_corners = false}) or
  -- PyTorch's positional F.grid_sample(input, grid, mode, padding_mode, align_corners)
  function F.grid_sample(input, grid, a, ...)
    local op = 'grid_sample'
    local o = nn._positional_options(op, '(input, grid', GS_ARGS, GS_KNOWN, a, ...)
    local mode = o.mode == nil and 'bilinear' or o.mode
    local m = type(mode) == 'string' and MODES[mode]
    if not m then
      raise(("%s: mode must be 'bilinear', 'nearest' or 'bicubic', got %s"):format(op, describe(mode)))
    end
    local pad = o.padding_mode == nil and 'zeros' or o.padding_mode
    local p = type(pad) == 'string' and PADDINGS[pad]
    if not p then
      raise(("%s: padding_mode must be 'zeros', 'border' or 'reflection', got %s"):format(op, describe(pad)))
    end
    local ac = check_align(op, o.align_corners)
    local x, g = nl._T(input, op), nl._T(grid, op)
    return nl._wrap(lib.nl_grid_sample(x, g, m, p, ac and 1 or 0), op)
  end

  -- PyTorch's linspace_from_neg_one: steps points over [-1, 1] (0 for one),
  -- pulled in to the pixel centres, by (steps - 1) / steps, without
  -- align_corners; computed as PyTorch's linspace (from both ends)
  local function base_coords(steps, ac)
    local v = {}
    if steps <= 1 then return { 0 } end
    local step = 2 / (steps - 1)
    local half = math.floor(steps / 2)
    for i = 0, steps - 1 do
      v[i + 1] = i < half and -1 + step * i or 1 - step * (steps - i - 1)
    end
    return v, (not ac) and (steps - 1) / steps or nil
  end

  -- theta (N, 2, 3) and size {N, C, H, W} -> grid (N, H, W, 2), or (N, 3, 4)
  -- and {N, C, D, H, W} -> (N, D, H, W, 3): each pixel's (x, y[, z], 1)
  -- times theta^T. F.affine_grid(theta, size, {align_corners = false}) or
  -- F.affine_grid(theta, size, align_corners)
  function F.affine_grid(theta, size, a, ...)
    local op = 'affine_grid'
    nl._no_extra_args(op, '(theta, size, align_corners)', nil, ...)
    local ac
    if is_options(a) then
      nl._check_opts(op, a, { align_corners = 1 })
      ac = check_align(op, a.align_corners)
    else
      ac = check_align(op, a)
    end
    local tp = nl._T(theta, op)
    if type(size) ~= 'table' or nl.is_tensor(size) then
      raise(('%s: size must be a list {N, C, H, W} or {N, C, D, H, W}, got %s'):format(op, describe(size)))
    end
    local n = nl._list_len(size)
    if n ~= 4 and n ~= 5 then
      raise(('%s: size must have 4 (N, C, H, W) or 5 (N, C, D, H, W) entries, got %s'):format(op, describe(size)))
    end
    for i = 1, n do
      if not nn._whole(size[i], 1) then
        raise(('%s: size must hold integers >= 1, got %s at position %d'):format(op, nl._describe_arg(size[i]), i))
      end
    end
    if tp.dtype == lib.NL_INT64 then
      raise(('%s: theta must be float32 or float64, got int64 %s'):format(op, nl._shape_str(theta)))
    end
    local nsp = n - 2
    local shape = theta:shape()
    if #shape ~= 3 or shape[1] ~= size[1] or shape[2] ~= nsp or shape[3] ~= nsp + 1 then
      raise(('%s: theta must be a batch of %s affine matrices (N, %d, %d) for size [%s], got shape %s'):format(op,
        nsp == 2 and '2-D' or '3-D', nsp, nsp + 1, table.concat(size, ','), nl._shape_str(theta)))
    end
    -- the base grid (spatial..., nsp + 1): x fastest, then y, then z, then 1
    local sp = {}
    for i = 1, nsp do sp[i] = size[2 + i] end      -- (D,) H, W
    local coords, scales = {}, {}
    for a_ = 1, nsp do                              -- a_: x, y, z
      coords[a_], scales[a_] = base_coords(sp[nsp + 1 - a_], ac)
    end
    local count = 1
    for i = 1, nsp do count = count * sp[i] end
    local vals, k = {}, 0
    local idx = {}
    for i = 1, nsp do idx[i] = 1 end
    for _ = 1, count do
      for a_ = 1, nsp do                            -- x from the last index
        local v = coords[a_][idx[nsp + 1 - a_]]
        if scales[a_] then v = v * scales[a_] end
        k = k + 1
        vals[k] = v
      end
      k = k + 1
      vals[k] = 1
      for i = nsp, 1, -1 do                         -- the next pixel, the last dim fastest
        idx[i] = idx[i] + 1
        if idx[i] <= sp[i] then break end
        idx[i] = 1
      end
    end
    local dt = theta:dtype()
    local base = nl.tensor(vals, dt):view(1, count, nsp + 1)
    local out = nl.matmul(base, theta:transpose(2, 3))   -- (N, count, nsp)
    local oshape = { size[1] }
    for i = 1, nsp do oshape[1 + i] = sp[i] end
    oshape[nsp + 2] = nsp
    return out:reshape(oshape)
  end
end
