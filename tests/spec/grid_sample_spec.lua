-- F.grid_sample and F.affine_grid (STYLE 12): nl_grid_sample in
-- ops_grid_sample.c and the matmul of nn/grid_sample.lua. Against PyTorch
-- 1.13 golden values (tests/golden/grid_sample.lua, made by
-- gen_grid_sample.py): every mode x padding_mode x align_corners on 4-D
-- and 5-D inputs, float32 and float64, grids reaching past [-1, 1], out
-- and the gradients to the input and the grid; affine_grid and theta's
-- gradient, alone and through grid_sample. Then float64 gradchecks
-- (h = 1e-6), closed forms (the identity transform, a shift by one
-- pixel), one thread against two, create_graph (equal to the plain
-- gradients; second derivatives against central differences), and the
-- errors.
local nl = require 'nnlua'
local S = require 'support'
local F = nl.nn.functional

local golden = dofile(S.root .. '/tests/golden/grid_sample.lua')
local error_of, has = S.errmsg, S.contains

-- float32: other summation orders than PyTorch's AVX kernels; the grid's
-- gradient sums products over channels and taps (cancellations)
local TOL = { float32 = { 2e-5, 2e-5 }, float64 = { 1e-12, 1e-12 } }
local GRAD_TOL = { float32 = { 1e-4, 1e-4 }, float64 = { 1e-10, 1e-10 } }

local rand = S.rand_by(20261128)

local function T(g) return S.from_golden(g) end

describe('F.grid_sample and F.affine_grid against PyTorch golden values', function()
  it('has a case for every mode, padding_mode and align_corners, 4-D and 5-D, in both dtypes', function()
    local seen = {}
    for _, c in ipairs(golden) do
      if c.kind == 'grid_sample' then
        local a = c.args
        seen[('%s %s %s %s %s'):format(c.name:sub(1, 2), a.mode, a.padding_mode, tostring(a.align_corners), c.dtype)] = true
      end
      seen[c.kind] = true
    end
    for _, d in ipairs({ '2d', '3d' }) do
      for _, m in ipairs({ 'bilinear', 'nearest', 'bicubic' }) do
        for _, p in ipairs({ 'zeros', 'border', 'reflection' }) do
          for _, ac in ipairs({ 'true', 'false' }) do
            for _, dt in ipairs({ 'float32', 'float64' }) do
              local k = ('%s %s %s %s %s'):format(d, m, p, ac, dt)
              if not (d == '3d' and m == 'bicubic') then assert.is_true(seen[k], 'no golden case for ' .. k) end
            end
          end
        end
      end
    end
    assert.is_true(seen.affine_grid and seen.transformer)
  end)

  for _, c in ipairs(golden) do
    it(c.kind .. ' ' .. c.name, function()
      local t, gt = TOL[c.dtype], GRAD_TOL[c.dtype]
      local a = c.args
      if c.kind == 'grid_sample' then
        local x, grid = T(c.input):requires_grad(), T(c.grid):requires_grad()
        -- the options table, and PyTorch's positional form
        local out = F.grid_sample(x, grid, a)
        S.expect_close(out, c.out, c.name .. ' out', t[1], t[2])
        local out2 = F.grid_sample(x, grid, a.mode, a.padding_mode, a.align_corners)
        S.expect_golden(out2, out, c.name .. ' positional')
        ;(out * T(c.w)):sum():backward()
        S.expect_close(x.grad, c.grad_input, c.name .. ' grad of the input', gt[1], gt[2])
        S.expect_close(grid.grad, c.grad_grid, c.name .. ' grad of the grid', gt[1], gt[2])
      elseif c.kind == 'affine_grid' then
        local theta = T(c.theta):requires_grad()
        local grid = F.affine_grid(theta, a.size, { align_corners = a.align_corners })
        S.expect_close(grid, c.out, c.name .. ' grid', t[1], t[2])
        S.expect_golden(F.affine_grid(theta, a.size, a.align_corners), grid, c.name .. ' positional')
        ;(grid * T(c.w)):sum():backward()
        S.expect_close(theta.grad, c.grad_theta, c.name .. ' grad of theta', gt[1], gt[2])
      else
        local x, theta = T(c.input):requires_grad(), T(c.theta):requires_grad()
        local o = { align_corners = a.align_corners }
        local out = F.grid_sample(x, F.affine_grid(theta, x:shape(), o), o)
        S.expect_close(out, c.out, c.name .. ' out', t[1], t[2])
        ;(out * T(c.w)):sum():backward()
        S.expect_close(x.grad, c.grad_input, c.name .. ' grad of the input', gt[1], gt[2])
        S.expect_close(theta.grad, c.grad_theta, c.name .. ' grad of theta', gt[1], gt[2])
      end
    end)
  end
end)

describe('F.grid_sample', function()
  -- grid points drawn in [-lim, lim], float64
  local function grid_of(shape, lim) return rand(shape, 'float64') * lim end

  it('passes float64 gradchecks to the input and the grid in every mode and padding', function()
    for _, m in ipairs({ 'bilinear', 'bicubic', 'nearest' }) do
      for _, p in ipairs({ 'zeros', 'border', 'reflection' }) do
        for _, ac in ipairs({ false, true }) do
          local o = { mode = m, padding_mode = p, align_corners = ac }
          local x, grid = rand({ 2, 2, 4, 5 }, 'float64'), grid_of({ 2, 3, 2, 2 }, 1.4)
          if m == 'nearest' then
            -- piecewise constant in the grid: the input's gradient only
            S.gradcheck(function(xx) return F.grid_sample(xx, grid, o) end, x)
          else
            S.gradcheck(function(xx, gg) return F.grid_sample(xx, gg, o) end, x, grid)
          end
          if m ~= 'bicubic' then
            local x3, g3 = rand({ 1, 2, 3, 4, 3 }, 'float64'), grid_of({ 1, 2, 2, 2, 3 }, 1.4)
            if m == 'nearest' then S.gradcheck(function(xx) return F.grid_sample(xx, g3, o) end, x3)
            else S.gradcheck(function(xx, gg) return F.grid_sample(xx, gg, o) end, x3, g3) end
          end
        end
      end
    end
  end)

  it('reproduces the input at the identity grid and shifts it by a pixel', function()
    local x = rand({ 2, 3, 5, 6 }, 'float64')
    local id = nl.tensor({ { { 1, 0, 0 }, { 0, 1, 0 } }, { { 1, 0, 0 }, { 0, 1, 0 } } }, 'float64')
    for _, m in ipairs({ 'bilinear', 'nearest', 'bicubic' }) do
      for _, ac in ipairs({ false, true }) do
        local y = F.grid_sample(x, F.affine_grid(id, { 2, 3, 5, 6 }, ac), { mode = m, align_corners = ac })
        assert.is_true((y - x):abs():max():item() < 1e-12, m .. ' align_corners ' .. tostring(ac))
      end
    end
    -- x moved right by one pixel (2 / W in grid units): column j reads j - 1, zeros first
    local shift = nl.tensor({ { { 1, 0, -2 / 6 }, { 0, 1, 0 } }, { { 1, 0, -2 / 6 }, { 0, 1, 0 } } }, 'float64')
    local y = F.grid_sample(x, F.affine_grid(shift, { 2, 3, 5, 6 }))
    assert.is_true((y:narrow(4, 2, 5) - x:narrow(4, 1, 5)):abs():max():item() < 1e-12)
    assert.are.equal(0, y:narrow(4, 1, 1):abs():max():item())
  end)

  it('gives the same values and gradients on one thread and on two (a batch of one splits its planes)', function()
    local x, grid = rand({ 1, 4, 40, 40 }), rand({ 1, 48, 48, 2 }) * 1.2
    local w = rand({ 1, 4, 48, 48 })
    local function run(n)
      nl.set_num_threads(n)
      local xx, gg = x:detach():requires_grad(), grid:detach():requires_grad()
      local y = F.grid_sample(xx, gg, { padding_mode = 'reflection' })
      ;(y * w):sum():backward()
      return y, xx.grad, gg.grad
    end
    local prev = nl.get_num_threads()
    local y1, gx1, gg1 = run(1)
    local y2, gx2, gg2 = run(2)
    nl.set_num_threads(prev)
    S.expect_golden(y2, y1, 'out')
    S.expect_golden(gx2, gx1, 'grad of the input')
    S.expect_golden(gg2, gg1, 'grad of the grid')
  end)

  it('reads nothing off the input: an inf or NaN pixel leaves the points beside it finite, as PyTorch', function()
    -- PyTorch 1.13.1: arange(1, 10) as (1, 1, 3, 3) with x[0, 0, 0, 0] = inf, grid points
    -- (5, 5) (off the input), (0.9, 0.9) (one tap in), (-1, -1) (the inf pixel a tap), (0, 0)
    local want = {
      bilinear = { 0, 3.8025012016296387, math.huge, 5 },
      nearest = { 0, 9, math.huge, 5 },
      bicubic = { 0, 4.300682067871094, math.huge, 0 / 0 },
    }
    for _, dt in ipairs({ 'float32', 'float64' }) do
      local x = nl.arange(1, 10):to(dt):view(1, 1, 3, 3)
      x[1][1][1][1] = math.huge
      local grid = nl.tensor({ { { { 5, 5 }, { 0.9, 0.9 }, { -1, -1 }, { 0, 0 } } } }, dt)
      for m, w in pairs(want) do
        local y = F.grid_sample(x, grid, { mode = m }):view(-1):totable()
        for i = 1, 4 do
          local ok = w[i] ~= w[i] and y[i] ~= y[i] or math.abs(y[i] - w[i]) <= 1e-5 * math.abs(w[i]) or y[i] == w[i]
          assert.is_true(ok, ('%s %s point %d: %s, PyTorch %s'):format(dt, m, i, tostring(y[i]), tostring(w[i])))
        end
      end
    end
    -- gradients: a NaN pixel and an inf output gradient at a point off the input
    -- (PyTorch: the input's gradient is 0 there, the grid's finite at the point inside)
    local pt = {
      bilinear = { { -8.775001525878906, -8.775001525878906 }, { 0, 0, 0, 0, 0, 0, 0, 0, 0.4225001335144043 } },
      bicubic = { { -10.396099090576172, -10.081799507141113 },
        { 0, 0, 0, 0, 0.012300115078687668, -0.08628132939338684, 0, -0.08628132939338684, 0.6052355766296387 } },
    }
    for m, w in pairs(pt) do
      local x = nl.arange(1, 10):float():view(1, 1, 3, 3)
      x[1][1][1][1] = 0 / 0
      x:requires_grad()
      local grid = nl.tensor({ { { { 0.9, 0.9 }, { 5, 5 } } } }):requires_grad()
      F.grid_sample(x, grid, { mode = m }):backward(nl.tensor({ 1, math.huge }):view(1, 1, 1, 2))
      S.expect_close(grid.grad:view(-1):narrow(1, 1, 2), nl.tensor(w[1]), m .. ' grid gradient', 1e-5, 1e-5)
      S.expect_close(x.grad:view(-1), nl.tensor(w[2]), m .. ' input gradient', 1e-5, 1e-6)
      -- create_graph's recomputed forward (an output gradient of 2 at the point off the input)
      local y = F.grid_sample(x, grid, { mode = m })
      local gx, gg = (unpack or table.unpack)(nl.autograd.grad({ (y * nl.tensor({ 1, 2 }):view(1, 1, 1, 2)):sum() },
        { x, grid }, { create_graph = true }))
      S.expect_close(gg:view(-1), nl.tensor({ w[1][1], w[1][2], 0, 0 }), m .. ' create_graph grid gradient', 1e-5, 1e-5)
      S.expect_close(gx:view(-1), nl.tensor(w[2]), m .. ' create_graph input gradient', 1e-5, 1e-6)
    end
  end)

  it('rounds nearest halves to even in 2-D and away from 0 in 3-D, as PyTorch\'s CPU kernels', function()
    -- PyTorch 1.13.1, align_corners: positions 0.5 and 1.5 along x, 0.5 along y, 1.5 along z;
    -- (-1, -1, -1) without align_corners is -0.5, off the input in 3-D (PyTorch: 0)
    for _, dt in ipairs({ 'float32', 'float64' }) do
      local x = nl.arange(1, 28):to(dt):view(1, 1, 3, 3, 3):requires_grad()
      local g = nl.tensor({ { { { { -0.5, 0, 0 }, { 0.5, 0, 0 }, { 0, -0.5, 0 }, { 0, 0, 0.5 } } } } }, dt)
      local y = F.grid_sample(x, g, { mode = 'nearest', align_corners = true })
      assert.are.same({ 14, 15, 14, 23 }, y:view(-1):totable())
      y:sum():backward()
      local want = {}
      for i = 1, 27 do want[i] = 0 end
      want[14], want[15], want[23] = 2, 1, 1
      assert.are.same(want, x.grad:view(-1):totable())
      local gx = nl.autograd.grad({ F.grid_sample(x, g, { mode = 'nearest', align_corners = true }):sum() }, { x },
        { create_graph = true })[1]
      assert.are.same(want, gx:view(-1):totable())
      local off = F.grid_sample(x, nl.tensor({ { { { { -1, -1, -1 } } } } }, dt), { mode = 'nearest' })
      assert.are.equal(0, off:item())
      local x2 = nl.arange(1, 10):to(dt):view(1, 1, 3, 3)
      local y2 = F.grid_sample(x2, nl.tensor({ { { { -0.5, 0 }, { 0.5, 0 } } } }, dt), { mode = 'nearest', align_corners = true })
      assert.are.same({ 4, 6 }, y2:view(-1):totable())
    end
  end)

  it('reads a non-contiguous input and grid as their values', function()
    local x, grid = rand({ 2, 3, 6, 5 }), rand({ 2, 4, 3, 2 }) * 1.3
    local y = F.grid_sample(x:transpose(3, 4), grid:transpose(2, 3), { mode = 'bicubic', padding_mode = 'border' })
    local want = F.grid_sample(x:transpose(3, 4):contiguous(), grid:transpose(2, 3):contiguous(),
      { mode = 'bicubic', padding_mode = 'border' })
    S.expect_golden(y, want, 'transposed views')
  end)

  -- create_graph recomputes the forward with ops that have rules
  -- (autograd_higher_conv.lua): its gradients are the plain backward's,
  -- and their own derivatives pass float64 central differences
  it('gives create_graph gradients equal to the plain ones in every mode, padding and rank', function()
    for _, m in ipairs({ 'bilinear', 'nearest', 'bicubic' }) do
      for _, p in ipairs({ 'zeros', 'border', 'reflection' }) do
        for _, ac in ipairs({ false, true }) do
          for _, sh in ipairs({ { { 2, 2, 4, 5 }, { 2, 3, 2, 2 } }, { { 1, 2, 3, 4, 3 }, { 1, 2, 2, 2, 3 } } }) do
            if not (m == 'bicubic' and #sh[1] == 5) then
              local o = { mode = m, padding_mode = p, align_corners = ac }
              local x, grid = rand(sh[1], 'float64'):requires_grad(), grid_of(sh[2], 1.4):requires_grad()
              local w = rand(F.grid_sample(x, grid, o):shape(), 'float64')
              local what = ('%s %s %s %d-D'):format(m, p, tostring(ac), #sh[1])
              local a = nl.autograd.grad((F.grid_sample(x, grid, o) * w):sum(), { x, grid }, { create_graph = true })
              local b = nl.autograd.grad((F.grid_sample(x, grid, o) * w):sum(), { x, grid })
              S.expect_close(a[1], b[1], what .. ' grad of the input', 1e-12, 1e-12)
              S.expect_close(a[2], b[2], what .. ' grad of the grid', 1e-12, 1e-12)
            end
          end
        end
      end
    end
  end)

  it('has second derivatives that pass float64 gradchecks (bilinear, trilinear, bicubic)', function()
    local cases = {
      { { 1, 2, 4, 5 }, { 1, 2, 2, 2 }, 'bilinear', 'zeros', false },
      { { 1, 2, 4, 5 }, { 1, 2, 2, 2 }, 'bilinear', 'reflection', true },
      { { 1, 2, 4, 5 }, { 1, 2, 2, 2 }, 'bicubic', 'border', false },
      { { 1, 2, 4, 5 }, { 1, 2, 2, 2 }, 'bicubic', 'reflection', false },
      { { 1, 1, 3, 4, 3 }, { 1, 1, 2, 2, 3 }, 'bilinear', 'border', true },
    }
    for _, c in ipairs(cases) do
      local o = { mode = c[3], padding_mode = c[4], align_corners = c[5] }
      local x, grid = rand(c[1], 'float64'), grid_of(c[2], 1.4)
      local w = rand(F.grid_sample(x, grid, o):shape(), 'float64')
      local u, v = rand(c[1], 'float64'), rand(c[2], 'float64')
      -- u . d/dx + v . d/dgrid of (out * w):sum(), a function of x and grid
      S.gradcheck(function(xx, gg)
        return nl.enable_grad(function()
          local r = nl.autograd.grad((F.grid_sample(xx, gg, o) * w):sum(), { xx, gg }, { create_graph = true })
          return (r[1] * u):sum() + (r[2] * v):sum()
        end)
      end, x, grid)
    end
  end)

  it('names the op and the shapes in its errors', function()
    local x = rand({ 2, 3, 4, 5 })
    has(error_of(F.grid_sample, x, rand({ 2, 3, 3, 3 })),
        'grid_sample: grid must be (N, Ho, Wo, 2) for input [2,3,4,5], got grid [2,3,3,3]')
    has(error_of(F.grid_sample, x, rand({ 2, 3, 3, 2, 2 })),
        'grid_sample: grid must be (N, Ho, Wo, 2) for input [2,3,4,5], got grid [2,3,3,2,2]')
    has(error_of(F.grid_sample, x, rand({ 3, 3, 3, 2 })),
        'grid_sample: grid and input must have the same batch size, got input [2,3,4,5] and grid [3,3,3,2]')
    has(error_of(F.grid_sample, x, rand({ 2, 3, 3, 2 }, 'float64')),
        'grid_sample: input and grid must have the same dtype, got input float32 [2,3,4,5] and grid float64 [2,3,3,2]')
    has(error_of(F.grid_sample, rand({ 1, 2, 3, 4, 5 }), rand({ 1, 2, 2, 2, 3 }), { mode = 'bicubic' }),
        "grid_sample: mode 'bicubic' needs a 4-D input (N, C, H, W), got input [1,2,3,4,5]")
    has(error_of(F.grid_sample, rand({ 3, 4, 5 }), rand({ 3, 2, 2 })),
        'grid_sample: input must be 4-D (N, C, H, W) or 5-D (N, C, D, H, W), got float32 [3,4,5]')
    has(error_of(F.grid_sample, nl.zeros({ 1, 1, 2, 2 }, 'int64'), nl.zeros({ 1, 1, 1, 2 }, 'int64')),
        'grid_sample: input must be float32 or float64, got int64 [1,1,2,2]')
    has(error_of(F.grid_sample, rand({ 1, 1, 0, 2 }), rand({ 1, 1, 1, 2 })),
        'grid_sample: input must have non-empty spatial dims, got input [1,1,0,2]')
    has(error_of(F.grid_sample, x, rand({ 2, 3, 3, 2 }), { mode = 'linear' }),
        "grid_sample: mode must be 'bilinear', 'nearest' or 'bicubic', got 'linear'")
    has(error_of(F.grid_sample, x, rand({ 2, 3, 3, 2 }), 'bilinear', 'edge'),
        "grid_sample: padding_mode must be 'zeros', 'border' or 'reflection', got 'edge'")
    has(error_of(F.grid_sample, x, rand({ 2, 3, 3, 2 }), { align_corners = 1 }),
        'grid_sample: align_corners must be a boolean (true or false), got 1')
    has(error_of(F.grid_sample, x, rand({ 2, 3, 3, 2 }), { padding = 'zeros' }), 'grid_sample')
    has(error_of(F.grid_sample, x, nil), 'grid_sample')
  end)
end)

describe('F.affine_grid', function()
  it('passes a float64 gradcheck to theta, 2-D and 3-D', function()
    S.gradcheck(function(th) return F.affine_grid(th, { 2, 1, 3, 4 }) end, rand({ 2, 2, 3 }, 'float64'))
    S.gradcheck(function(th) return F.affine_grid(th, { 1, 2, 2, 3, 4 }, true) end, rand({ 1, 3, 4 }, 'float64'))
  end)

  it('names the op and the shapes in its errors', function()
    has(error_of(F.affine_grid, rand({ 2, 2, 3 }), { 2, 1, 3, 4, 5 }),
        'affine_grid: theta must be a batch of 3-D affine matrices (N, 3, 4) for size [2,1,3,4,5], got shape [2,2,3]')
    has(error_of(F.affine_grid, rand({ 2, 2, 3 }), { 3, 1, 3, 4 }),
        'affine_grid: theta must be a batch of 2-D affine matrices (N, 2, 3) for size [3,1,3,4], got shape [2,2,3]')
    has(error_of(F.affine_grid, rand({ 2, 2, 3 }), { 2, 3, 4 }),
        'affine_grid: size must have 4 (N, C, H, W) or 5 (N, C, D, H, W) entries')
    has(error_of(F.affine_grid, rand({ 2, 2, 3 }), { 2, 1, 0, 4 }),
        'affine_grid: size must hold integers >= 1, got 0 at position 3')
    has(error_of(F.affine_grid, rand({ 2, 2, 3 }), { 2, 1, 3, 4 }, 'yes'),
        'affine_grid: align_corners must be a boolean (true or false)')
  end)
end)
