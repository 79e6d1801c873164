-- nl.data.transforms: the deterministic transforms (Normalize, Pad in its
-- four modes, CenterCrop, Resize, ConvertImageDtype) against torchvision
-- 0.14's values computed with PyTorch 1.13 ops (tests/golden/transforms.lua,
-- made by tests/golden/gen_transforms.py), RandomResizedCrop's fallback
-- box against its closed form; the random ones by their properties (a
-- flip is the image or its mirror, each image of a batch drawn alone, at
-- frequency p; a crop is a window of the padded image, every place drawn;
-- boxes inside the image with area and ratio in range; an erased box
-- filled with the value), reproducibility under nl.manual_seed, the
-- errors, and the transform option of IdxDataset / FashionMNIST with the
-- DataLoader.
local nl = require 'nnlua'
local S = require 'support'
local data = nl.data
local T = data.transforms
local errmsg, contains = S.errmsg, S.contains

local golden = dofile(S.root .. '/tests/golden/transforms.lua')

-- the transform of golden case c
local function build(c)
  local args = {}
  for i, a in ipairs(c.args) do args[i] = a end
  return T[c.t](unpack(args, 1, #c.args))
end

local function range_tensor(...)      -- 0, 1, 2, ... in the shape given
  local shape = { ... }
  return nl.arange(0, S.numel(shape), 1, 'float32'):view(unpack(shape))
end

local function equal(a, b) return nl.equal(a, b) end

describe('data.transforms, deterministic', function()
  it('match torchvision 0.14 (PyTorch 1.13 ops) on every golden case', function()
    local n = 0
    for _, c in ipairs(golden) do
      if c.input then
        local x = S.from_golden(c.input)
        local got = build(c)(x)
        local dt = c.out.dtype or 'float32'
        assert.are.equal(dt, got:dtype(), c.name .. ': dtype')
        if dt == 'int64' then
          S.expect_golden(got, c.out, c.name)
        else
          S.expect_close(got, c.out, c.name, dt == 'float64' and 1e-10 or 1e-5, dt == 'float64' and 1e-12 or 1e-5)
        end
        n = n + 1
      end
    end
    assert.are.equal(62, n)
  end)

  it("give RandomResizedCrop's central box when no try fits, as torchvision's get_params", function()
    for _, c in ipairs(golden) do
      if c.t == 'RandomResizedCrop fallback' then
        local t = T.RandomResizedCrop(4, { scale = c.scale, ratio = c.ratio })
        for s = 1, 5 do
          nl.manual_seed(s)
          local i, j, h, w = t:get_params({ c.height, c.width })
          assert.are.same({ c.box[1] + 1, c.box[2] + 1, c.box[3], c.box[4] }, { i, j, h, w }, c.name)
        end
      end
    end
  end)

  it('Normalize inplace changes its input; Compose applies in order; Lambda calls its function', function()
    local x = nl.ones(2, 2, 2)
    local y = T.Normalize({ 0.5, 1 }, { 0.25, 2 }, { inplace = true })(x)
    assert.are.same({ 2, 2, 2, 2, 0, 0, 0, 0 }, S.flat(x))
    assert.are.same(S.flat(x), S.flat(y))
    local c = T.Compose({ T.Pad(1), T.Lambda(function(t) return t * 2 end), T.CenterCrop(2) })
    assert.are.same({ 2, 2, 2, 2 }, S.flat(c(nl.ones(1, 2, 2))))
    contains(tostring(c), 'Compose(\n    Pad(padding=[1, 1, 1, 1]')
    assert.are.equal('RandomHorizontalFlip(p=0.3)', tostring(T.RandomHorizontalFlip(0.3)))
  end)

  it('Resize bicubic of an int64 (byte) image clamps to 0..255, as torchvision\'s uint8', function()
    local x = nl.tensor({ { { 0, 255, 255, 0 }, { 255, 0, 0, 255 } } }, 'int64')
    local y = T.Resize({ 3, 7 }, { interpolation = 'bicubic' })(x):view(-1):totable()
    -- torchvision 0.14 (interpolate in float32, clamp, round to uint8); PyTorch's unclamped
    -- values are -52, 80, 260, 333, 260, 80, -52 in the first row, 307, 175, -5, -78, ... in the last
    local want = { [1] = 0, [2] = 80, [3] = 255, [4] = 255, [5] = 255, [6] = 80, [7] = 0,
                   [15] = 255, [16] = 175, [17] = 0, [18] = 0, [19] = 0, [20] = 175, [21] = 255 }
    for i, v in pairs(want) do assert.are.equal(v, y[i], 'element ' .. i) end
    local r = T.RandomResizedCrop({ 5, 6 }, { interpolation = 'bicubic', scale = { 1, 1 }, ratio = { 2, 2 } })(x)
    assert.is_true(r:min():item() >= 0 and r:max():item() <= 255)
  end)

  it('ConvertImageDtype of bytes 0 and 255 gives 0 and 1, and back', function()
    local b = nl.tensor({ 0, 128, 255 }, 'int64'):view(1, 1, 3)
    local f = T.ConvertImageDtype('float32')(b)
    assert.are.same({ 0, 1 }, { f[1][1][1], f[1][1][3] })
    assert.are.same({ 0, 128, 255 }, S.flat(T.ConvertImageDtype('int64')(f)))
  end)
end)

describe('data.transforms, random', function()
  it('flip each image of a batch alone: the image or its exact mirror, at frequency p', function()
    local x = nl.randn(4000, 1, 3, 4)
    for _, c in ipairs({ { T.RandomHorizontalFlip, 4 }, { T.RandomVerticalFlip, 3 } }) do
      nl.manual_seed(11)
      local y = c[1](0.3)(x)
      local mirror = x:flip(c[2])
      local same = (y - x):abs():sum({ 2, 3, 4 }):eq(0)
      local flipped = (y - mirror):abs():sum({ 2, 3, 4 }):eq(0)
      -- every image one or the other (randn images are never their own mirror)
      assert.are.equal(4000, (same + flipped):sum():item())
      local freq = flipped:sum():item() / 4000
      assert.is_true(math.abs(freq - 0.3) < 0.03, 'flipped ' .. freq)
    end
    -- p = 0 and 1, and an image alone
    assert.is_true(equal(T.RandomHorizontalFlip(0)(x), x))
    assert.is_true(equal(T.RandomHorizontalFlip(1)(x), x:flip(4)))
    local img = range_tensor(2, 3, 4)
    local flips = 0
    for s = 1, 200 do
      nl.manual_seed(s)
      local y = T.RandomHorizontalFlip()(img)
      if equal(y, img:flip(3)) then flips = flips + 1 else assert.is_true(equal(y, img)) end
    end
    assert.is_true(flips > 70 and flips < 130, 'flips ' .. flips)
  end)

  it('crop exact windows of the padded image, every place drawn', function()
    local x = range_tensor(2, 5, 6)
    for _, o in ipairs({ {}, { padding = 2 }, { padding = { 1, 2, 0, 3 }, padding_mode = 'reflect' },
                         { padding = 1, fill = -1 }, { padding = { 2, 1 }, padding_mode = 'symmetric' } }) do
      local t = T.RandomCrop({ 3, 4 }, o)
      local padded = o.padding and T.Pad(o.padding, { fill = o.fill, padding_mode = o.padding_mode })(x) or x
      local H, W = padded:size(2), padded:size(3)
      local seen, places = {}, 0
      nl.manual_seed(3)
      local ys = t(x:unsqueeze(1):expand(300, 2, 5, 6):contiguous())
      for k = 1, 300 do
        local y, found = ys[k], nil
        for i = 1, H - 2 do
          for j = 1, W - 3 do
            if equal(y, padded:narrow(2, i, 3):narrow(3, j, 4)) then found = i .. ',' .. j end
          end
        end
        assert.is_truthy(found, 'image ' .. k .. ' is not a window of the padded image')
        if not seen[found] then seen[found], places = true, places + 1 end
      end
      assert.are.equal((H - 2) * (W - 3), places)
    end
  end)

  it('pad_if_needed pads both sides by what the image lacks; a full-size crop is the image', function()
    local x = range_tensor(1, 3, 4)
    -- 3 x 4 padded by 2 on each side to 7 x 8, then cropped to 5 x 6
    local padded = T.Pad(2, { fill = -1 })(x)
    local places = {}
    for s = 1, 100 do
      nl.manual_seed(s)
      local z = T.RandomCrop({ 5, 6 }, { pad_if_needed = true, fill = -1 })(x)
      local found
      for i = 1, 3 do
        for j = 1, 3 do
          if equal(z, padded:narrow(2, i, 5):narrow(3, j, 6)) then found = i * 10 + j end
        end
      end
      assert.is_truthy(found, 'seed ' .. s)
      places[found] = true
    end
    local n = 0
    for _ in pairs(places) do n = n + 1 end
    assert.are.equal(9, n)
    assert.is_true(equal(T.RandomCrop({ 3, 4 })(x), x))
  end)

  it('RandomResizedCrop: boxes inside the image, area and ratio in range, the resized box', function()
    local t = T.RandomResizedCrop({ 5, 7 }, { scale = { 0.2, 0.6 }, ratio = { 0.5, 2 } })
    local H, W = 60, 80
    for s = 1, 300 do
      nl.manual_seed(s)
      local i, j, h, w = t:get_params({ H, W })
      assert.is_true(i >= 1 and j >= 1 and h >= 1 and w >= 1 and i + h - 1 <= H and j + w - 1 <= W)
      -- the area and the ratio drawn lie in range, up to rounding w and h
      assert.is_true((w + 0.5) * (h + 0.5) >= 0.2 * H * W and (w - 0.5) * (h - 0.5) <= 0.6 * H * W, w .. 'x' .. h)
      assert.is_true((w + 0.5) / (h - 0.5) >= 0.5 and (w - 0.5) / (h + 0.5) <= 2, w .. 'x' .. h)
    end
    local x = nl.randn(2, H, W)
    nl.manual_seed(9)
    local i, j, h, w = t:get_params(x)
    nl.manual_seed(9)
    local y = t(x)
    S.expect_close(y, T.Resize({ 5, 7 })(x:narrow(2, i, h):narrow(3, j, w)), 'resized box', 0, 0)
    -- the first image of a batch draws what the image alone does, the others their own
    nl.manual_seed(9)
    local yb = t(nl.stack({ x, x, x }, 1))
    assert.is_true(equal(yb[1], y))
    assert.is_false(equal(yb[2], yb[3]))
  end)

  it('RandomErasing fills one box of each chosen image with the value', function()
    local x = nl.rand(1000, 2, 10, 12) + 1
    nl.manual_seed(5)
    local t = T.RandomErasing(0.5, { scale = { 0.1, 0.3 }, ratio = { 0.5, 2 }, value = { -1, -2 } })
    local y = t(x)
    assert.is_true(nl.equal(x, x))
    local erased = 0
    for k = 1, 1000 do
      local yk = y[k]
      local mask = nl.ne(yk, x[k])
      local cnt = mask:sum():item()
      if cnt > 0 then
        erased = erased + 1
        -- the changed places: a box, the same in both channels, holding -1 and -2
        local rows = mask[1]:sum(2):gt(0):long()
        local cols = mask[1]:sum(1):gt(0):long()
        local h, w = rows:sum():item(), cols:sum():item()
        assert.are.equal(2 * h * w, cnt)
        assert.is_true(equal(mask[1], mask[2]))
        assert.are.equal(-h * w, (yk[1] * mask[1]):sum():item())
        assert.are.equal(-2 * h * w, (yk[2] * mask[2]):sum():item())
        assert.is_true((h + 0.5) * (w + 0.5) >= 0.1 * 120 and (h - 0.5) * (w - 0.5) <= 0.3 * 120, h .. 'x' .. w)
        assert.is_true((h + 0.5) / (w - 0.5) >= 0.5 and (h - 0.5) / (w + 0.5) <= 2, h .. 'x' .. w)
      end
    end
    assert.is_true(erased > 440 and erased < 560, 'erased ' .. erased)
    -- p = 0 gives the input; 'random' draws normal values; the input stays
    local img = nl.ones(3, 8, 8)
    assert.are.equal(img, T.RandomErasing(0)(img))
    local r = T.RandomErasing(1, { value = 'random' })(img)
    assert.is_true(nl.ne(r, 1):sum():item() > 0)
    assert.are.equal(192, img:sum():item())
  end)

  it('repeat under nl.manual_seed, and differ from seed to seed', function()
    local aug = T.Compose({ T.RandomResizedCrop(6), T.RandomHorizontalFlip(), T.RandomCrop(6, { padding = 1 }),
                            T.RandomErasing({ value = 'random' }) })
    local x = nl.randn(8, 3, 12, 10)
    nl.manual_seed(42)
    local a = aug(x)
    nl.manual_seed(42)
    local b = aug(x)
    nl.manual_seed(43)
    local c = aug(x)
    S.same_bits(a, b, 'seed 42 twice')
    assert.is_false(equal(a, c))
  end)
end)

describe('data.transforms, errors', function()
  it('name the transform and the shapes', function()
    local x = nl.rand(3, 4, 5)
    contains(errmsg(T.RandomCrop(6), x), 'RandomCrop: crop size (6, 6) is larger than the image (4, 5) of input [3,4,5]')
    contains(errmsg(T.RandomCrop({ 4, 8 }, { padding = 1 }), x), 'larger than the image (6, 7) of input [3,6,7] (padded from 3,4,5)')
    contains(errmsg(T.Normalize({ 0.5, 0.5 }, { 1, 1 }), x), 'Normalize: mean has 2 values for the 3 channels of input [3,4,5]')
    contains(errmsg(T.Normalize({ 0.5 }, { 1, 2 }), nl.rand(2, 3, 4, 5)), 'Normalize: std has 2 values for the 3 channels of input [2,3,4,5]')
    contains(errmsg(T.Normalize(0.5, 1), nl.rand(4, 5)), 'Normalize: expected an image C x H x W or a batch N x C x H x W, got shape [4,5]')
    contains(errmsg(T.Normalize(0.5, 1), nl.ones({ 1, 2, 2 }, 'int64')), 'Normalize: expected a float image, got int64 [1,2,2]')
    contains(errmsg(T.Normalize, { 0.5 }, { 0 }), 'Normalize: std[1] is 0')
    contains(errmsg(T.Resize(3), nl.rand(5)), 'Resize: expected an image C x H x W (or H x W) or a batch N x C x H x W, got shape [5]')
    contains(errmsg(T.CenterCrop(2), nl.rand(1, 1, 1, 2, 2)), 'CenterCrop: expected an image')
    contains(errmsg(T.RandomHorizontalFlip(), 'img'), 'RandomHorizontalFlip: expected an image tensor')
    contains(errmsg(T.Pad(4, { padding_mode = 'reflect' }), x), "Pad: padding_mode 'reflect' needs each padding less "
             .. "than the image's size: padding {4, 4, 4, 4} (left, top, right, bottom) for input [3,4,5]")
    contains(errmsg(T.Pad(5, { padding_mode = 'symmetric' }), x), "at most the image's size")
    contains(errmsg(T.RandomErasing(1, { value = { 1, 2 } }), x), 'RandomErasing: value has 2 entries for the 3 channels of input [3,4,5]')
    contains(errmsg(T.RandomErasing(1, { value = 'random' }), nl.ones({ 1, 4, 4 }, 'int64')),
             "RandomErasing: value 'random' draws normal values, which need a float image; got int64 [1,4,4]")
    contains(errmsg(T.RandomResizedCrop(3), nl.rand(2, 0, 4)), 'RandomResizedCrop: cannot crop the empty image of input [2,0,4]')
    -- max_size cuts the smaller edge 3 of a 5 x 70 image to int(4 * 3 / 42) = 0 (torchvision: interpolate's error)
    contains(errmsg(T.Resize(3, { max_size = 4 }), nl.ones(1, 5, 70)),
             'Resize: the output size (0, 4) of input [1,5,70] has an empty edge (size 3, max_size 4)')
  end)

  it('refuse bad sizes and options when made', function()
    contains(errmsg(T.RandomCrop, 0), 'RandomCrop: size must be a positive integer or a list {h, w} of them, got 0')
    contains(errmsg(T.CenterCrop, { 2, 3, 4 }), 'CenterCrop: size must be')
    contains(errmsg(T.Resize, { 2.5, 3 }), 'Resize: size must be')
    contains(errmsg(T.Resize, { 1, 2, 3 }), 'Resize: size must be a positive integer (the smaller edge)')
    contains(errmsg(T.Resize, { 4, 4 }, { max_size = 8 }), 'Resize: max_size applies only')
    contains(errmsg(T.Resize, 4, { max_size = 4 }), 'Resize: max_size must be an integer greater than the smaller edge 4')
    contains(errmsg(T.Resize, 4, { interpolation = 'nearest', antialias = true }), "Resize: antialias applies only")
    contains(errmsg(T.Resize, 4, { interpolation = 'lanczos' }), 'Resize: interpolation must be')
    contains(errmsg(T.RandomCrop, 4, { paddin = 1 }), "RandomCrop: unknown option 'paddin'")
    contains(errmsg(T.RandomCrop, 4, { padding = -1 }), 'RandomCrop: padding must be a non-negative integer')
    contains(errmsg(T.Pad, 1, { padding_mode = 'wrap' }), "Pad: padding_mode must be 'constant', 'edge', 'reflect' or 'symmetric'")
    contains(errmsg(T.RandomResizedCrop, 4, { scale = { 1, 0.5 } }), 'RandomResizedCrop: scale must be {min, max} with min <= max')
    contains(errmsg(T.RandomResizedCrop, 4, { ratio = { 0, 1 } }), 'RandomResizedCrop: ratio {0, 1} is out of range')
    contains(errmsg(T.RandomHorizontalFlip, 1.5), 'RandomHorizontalFlip: p must be a probability in [0, 1], got 1.5')
    contains(errmsg(T.RandomErasing, 0.5, { scale = { 0.5, 2 } }), 'RandomErasing: scale must lie in [0, 1]')
    contains(errmsg(T.RandomErasing, 0.5, { value = 'noise' }), "RandomErasing: value must be a number, a list of numbers or 'random'")
    contains(errmsg(T.Compose, { T.Pad(1), 3 }), 'Compose: transform 2 is not callable')
    contains(errmsg(T.ConvertImageDtype, 'uint8'), "ConvertImageDtype: dtype must be 'float32', 'float64' or 'int64'")
  end)
end)

describe('the transform option of IdxDataset and FashionMNIST', function()
  local ds, plain
  setup(function()
    plain = data.FashionMNIST(nil, { train = false, flatten = false })
  end)

  it('hands the transform batches N x 1 x 28 x 28 and gives its rows', function()
    local got
    ds = data.FashionMNIST(nil, { train = false, transform = function(x) got = x:shape(); return x:flip(4) end })
    local idx = nl.tensor({ 5, 1, 9000 }, 'int64')
    local xb, yb = ds:batch(idx)
    assert.are.same({ 3, 1, 28, 28 }, got)
    assert.is_true(equal(xb, plain:batch(idx):unsqueeze(2):flip(4)))
    assert.is_true(equal(yb, plain.labels:index_select(1, idx)))
    local x1, y1 = ds:get(9000)
    assert.are.same({ 1, 28, 28 }, x1:shape())
    assert.is_true(equal(x1, xb[3]))
    assert.are.equal(yb[3], y1)
    contains(tostring(ds), 'transformed')
  end)

  it('draws for each image of a DataLoader batch, and flattens with flatten = true', function()
    local aug = T.Compose({ T.RandomCrop(28, { padding = 4 }), T.RandomHorizontalFlip(),
                            T.Normalize({ 0.2860 }, { 0.3530 }) })
    local d = data.FashionMNIST(nil, { train = false, transform = aug })
    local loader = data.DataLoader(d, { batch_size = 64 })
    nl.manual_seed(1)
    local xb = loader:iter()()
    assert.are.same({ 64, 1, 28, 28 }, xb:shape())
    nl.manual_seed(1)
    S.same_bits(loader:iter()(), xb, 'seeded epoch')
    -- the same image twice is cropped in two ways
    local twice = d:batch(nl.tensor({ 7, 7, 7, 7 }, 'int64'))
    assert.is_false(equal(twice[1], twice[2]) and equal(twice[2], twice[3]) and equal(twice[3], twice[4]))
    local flat = data.FashionMNIST(nil, { train = false, flatten = true, transform = T.CenterCrop(20) })
    local fb = flat:batch(nl.tensor({ 1, 2 }, 'int64'))
    assert.are.same({ 2, 400 }, fb:shape())
    assert.is_true(equal(fb, plain:batch(nl.tensor({ 1, 2 }, 'int64')):narrow(2, 5, 20):narrow(3, 5, 20):reshape(2, 400)))
  end)

  it('refuses a transform that is not a function, or that loses rows', function()
    contains(errmsg(data.FashionMNIST, nil, { train = false, transform = 3 }),
             'IdxDataset: transform must be a function of a batch of images')
    local bad = data.FashionMNIST(nil, { train = false, transform = function(x) return x[1] end })
    contains(errmsg(bad.batch, bad, nl.tensor({ 1, 2 }, 'int64')),
             'IdxDataset: transform must return a tensor of the 2 rows it was given, got shape [1,28,28]')
  end)
end)
