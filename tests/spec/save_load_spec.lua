-- nl.save / nl.load (utility.lua): tensors and tables of them round trip
-- bit for bit with dtype, shape and requires_grad; shared tensors and
-- tables come back shared; checkpoints of a model and its optimizer
-- resume training on the same losses; bad files and bad objects raise
-- errors naming nl.load / nl.save; a failed save leaves the old file.
local ffi = require 'ffi'
local S = require 'support'
local nl = require 'nnlua'
local nn, optim = nl.nn, nl.optim

local dir = S.tmpdir()
local function file(name) return dir .. '/' .. name end

local bytes = S.bytes   -- (-0 and 0, NaN payloads told apart)
local function same_tensor(a, b, what)
  assert.are.equal(a:dtype(), b:dtype(), what .. ': dtype')
  assert.are.same(a:shape(), b:shape(), what .. ': shape')
  assert.is_true(bytes(a) == bytes(b), what .. ': values differ')
  assert.are.equal(bit.band(a.ptr.flags, 1), bit.band(b.ptr.flags, 1), what .. ': requires_grad')
end

describe('nl.save and nl.load', function()
  it('round trip tensors of each dtype bit for bit, with shape and requires_grad', function()
    local nan = 0 / 0
    local obj = {
      f32 = nl.tensor({ { 1.5, -0.0, nan }, { math.huge, -math.huge, 1e-40 } }),            -- 1e-40: a float32 denormal
      f64 = nl.tensor({ 0.1, -0.0, 5e-324, 1.7976931348623157e308, 1 / 3 }, 'float64'),
      i64 = nl.tensor({ -2 ^ 62, 2 ^ 53 + 2, 0, -1 }, 'int64') + nl.tensor({ 1, 0, 0, 0 }, 'int64'),
      scalar = nl.tensor(2.25, 'float64'),
      empty = nl.zeros(0, 3),
      deep = nl.rand(1, 2, 1, 2, 1, 2, 1, 2),
      w = nl.randn(3, 4):requires_grad(),
    }
    local path = file('tensors.pt')
    nl.save(obj, path)
    local back = nl.load(path)
    for k, t in pairs(obj) do same_tensor(back[k], t, k) end
    -- a leaf that requires grad: a loss of it backpropagates into it
    back.w:sum():backward()
    same_tensor(back.w.grad, nl.ones(3, 4), 'grad of the loaded leaf')
    -- int64 past 2^53 exactly (-2^62 + 1)
    assert.are.equal('-4611686018427387903LL', tostring(ffi.cast('int64_t *', back.i64.ptr.data)[0]))
    -- a lone tensor
    nl.save(obj.f64, path)
    same_tensor(nl.load(path), obj.f64, 'a lone tensor')
  end)

  it('round trip nested tables of numbers, strings and booleans, keys of each kind', function()
    local obj = {
      epoch = 3, lr = 0.1, tiny = 5e-324, big = 2 ^ 60 + 2 ^ 8, neg_zero = -0.0, inf = -math.huge, nan = 0 / 0,
      name = 'run "7"\n\ttab', bytes = 'caf\195\169 \0 \255', empty = '',
      flags = { true, false, true },
      [1] = 'one', [2.5] = 'two and a half', [true] = 'yes', [-7] = { {}, { {} } },
      nested = { a = { b = { c = { d = 'deep' } } } },
    }
    local path = file('tables.pt')
    nl.save(obj, path)
    local back = nl.load(path)
    assert.are.equal(3, back.epoch)
    assert.are.equal(0.1, back.lr)
    assert.are.equal(5e-324, back.tiny)
    assert.are.equal(2 ^ 60 + 2 ^ 8, back.big)
    assert.is_true(back.neg_zero == 0 and 1 / back.neg_zero < 0, 'the sign of -0')
    assert.are.equal(-math.huge, back.inf)
    assert.is_true(back.nan ~= back.nan)
    assert.are.equal(obj.name, back.name)
    assert.are.equal(obj.bytes, back.bytes)
    assert.are.equal('', back.empty)
    assert.are.same({ true, false, true }, back.flags)
    assert.are.equal('one', back[1])
    assert.are.equal('two and a half', back[2.5])
    assert.are.equal('yes', back[true])
    assert.are.same({ {}, { {} } }, back[-7])
    assert.are.equal('deep', back.nested.a.b.c.d)
    -- numbers and strings at the root
    nl.save(0.1 + 0.2, path)
    assert.are.equal(0.1 + 0.2, nl.load(path))
    nl.save('text', path)       -- two strings: PyTorch's order, save(obj, path)
    assert.are.equal('text', nl.load(path))
  end)

  it('keep a tensor or table that appears twice shared, and views give their values', function()
    local w = nl.randn(4, 5)
    local shared = { 1, 2 }
    local obj = { a = w, b = { c = w }, s1 = shared, s2 = shared,
                  view = w:narrow(2, 2, 3), tview = w:t(), row = w[2] }
    local path = file('shared.pt')
    nl.save(obj, path)
    local back = nl.load(path)
    assert.is_true(rawequal(back.a, back.b.c), 'one tensor saved twice comes back as one')
    assert.is_true(rawequal(back.s1, back.s2), 'one table saved twice comes back as one')
    back.a[1][1] = 42
    assert.are.equal(42, back.b.c[1][1])
    same_tensor(back.view, w:narrow(2, 2, 3):contiguous(), 'narrow view')
    same_tensor(back.tview, w:t():contiguous(), 'transposed view')
    same_tensor(back.row, w[2]:contiguous(), 'row view')
    -- the file holds the shared tensor once: 4*5 floats, the three views, and a header
    local size = #S.read(path)
    assert.is_true(size < (20 + 12 + 20 + 5) * 4 + 2000, 'file of ' .. size .. ' bytes')
    -- a chain of 60 tables each holding the one below twice: saved and
    -- loaded once each (walked as a tree, 2^60 visits)
    local chain = { leaf = w }
    for _ = 1, 60 do chain = { a = chain, b = chain } end
    nl.save({ chain = chain, __metadata__ = w }, path)
    back = nl.load(path)
    local c = back.chain
    for _ = 1, 60 do assert.is_true(rawequal(c.a, c.b)); c = c.a end
    assert.is_true(rawequal(c.leaf, back.__metadata__))
  end)

  it("take Torch7's order save(path, obj) when the first is a string and the second is not", function()
    local t = nl.tensor({ 1, 2, 3 }, 'int64')
    local path = file('torch7.t7')
    nl.save(path, { x = t })
    same_tensor(nl.load(path).x, t, 'Torch7 order')
    nl.save(path, t)
    same_tensor(nl.load(path), t, 'Torch7 order, a tensor')
  end)

  it("restore a model's state_dict through load_state_dict", function()
    nl.manual_seed(1)
    local m1 = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3), nn.BatchNorm1d(3))
    m1:train()
    m1(nl.randn(16, 4))          -- running stats that are not the initial ones
    local path = file('model.pt')
    nl.save(m1:state_dict(), path)
    nl.manual_seed(2)
    local m2 = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3), nn.BatchNorm1d(3))
    m2:load_state_dict(nl.load(path))
    local sd1, sd2 = m1:state_dict(), m2:state_dict()
    for k, v in pairs(sd1) do same_tensor(sd2[k]:detach(), v:detach(), k) end
    m1:eval(); m2:eval()
    local x = nl.randn(5, 4)
    assert.is_true(bytes(m1(x)) == bytes(m2(x)), 'the outputs of the restored model')
  end)

  it('resume training from a checkpoint of model and optimizer on the same losses as a run that did not stop', function()
    local X, Y = nl.randn(32, 6), nl.randn(32, 2)
    local function make(seed)
      nl.manual_seed(seed)
      local m = nn.Sequential(nn.Linear(6, 10), nn.Tanh(), nn.Linear(10, 2))
      return m, optim.Adam(m:parameters(), { lr = 0.01, weight_decay = 1e-3 })
    end
    local function train(m, opt, steps)
      local losses = {}
      for i = 1, steps do
        opt:zero_grad()
        local loss = nn.functional.mse_loss(m(X), Y)
        loss:backward()
        opt:step()
        losses[i] = loss:item()
      end
      return losses
    end
    local m, opt = make(7)
    train(m, opt, 5)
    local path = file('checkpoint.pt')
    nl.save({ epoch = 5, model = m:state_dict(), optim = opt:state_dict() }, path)
    local straight = train(m, opt, 5)
    -- a fresh process would build other weights: another seed here
    local m2, opt2 = make(8)
    local ck = nl.load(path)
    assert.are.equal(5, ck.epoch)
    m2:load_state_dict(ck.model)
    opt2:load_state_dict(ck.optim)
    local resumed = train(m2, opt2, 5)
    for i = 1, 5 do assert.are.equal(straight[i], resumed[i], 'loss ' .. i) end
    -- and SGD with momentum's buffers
    local m3 = nn.Linear(6, 2)
    local o3 = optim.SGD(m3:parameters(), { lr = 0.05, momentum = 0.9, nesterov = true })
    local function step3() o3:zero_grad(); local l = nn.functional.mse_loss(m3(X), Y); l:backward(); o3:step(); return l:item() end
    step3(); step3()
    nl.save({ m = m3:state_dict(), o = o3:state_dict() }, path)
    local want = { step3(), step3() }
    local ck3 = nl.load(path)
    m3:load_state_dict(ck3.m)
    o3:load_state_dict(ck3.o)
    assert.are.same(want, { step3(), step3() })
  end)

  it('load a plain safetensors file (m:save, save_safetensors) as its table name -> tensor', function()
    local t = nl.randn(2, 3)
    local path = file('plain.safetensors')
    nl.save_safetensors(path, { weight = t }, { note = 'x' })
    local back = nl.load(path)
    same_tensor(back.weight, t, 'weight')
    assert.are.same({ 'weight' }, (function() local k = {} for n in pairs(back) do k[#k + 1] = n end return k end)())
  end)

  it('raise errors naming nl.load for missing, truncated and corrupt files', function()
    local path = file('whole.pt')
    nl.save({ a = nl.randn(50, 50), b = 'x' }, path)
    local whole = S.read(path)
    local cut = S.write(file('cut.pt'), whole:sub(1, #whole - 100))
    local msg = S.errmsg(nl.load, cut)
    S.contains(msg, 'nl.load: ')
    S.contains(msg, 'truncated')
    -- cut inside the header
    S.write(cut, whole:sub(1, 30))
    S.contains(S.errmsg(nl.load, cut), 'nl.load: ')
    S.write(cut, 'not a checkpoint at all')
    S.contains(S.errmsg(nl.load, cut), 'nl.load: ')
    S.write(cut, '')
    S.contains(S.errmsg(nl.load, cut), 'nl.load: ')
    S.contains(S.errmsg(nl.load, file('missing.pt')), 'nl.load: ')
    -- a structure that is not JSON, and one that names a tensor the file lacks
    nl.save_safetensors(cut, { x = nl.ones(1) }, { ['nnlua.save'] = '1', ['nnlua.save.object'] = '{"root": [' })
    msg = S.errmsg(nl.load, cut)
    S.contains(msg, 'nl.load: ')
    S.contains(msg, 'is corrupt')
    nl.save_safetensors(cut, { x = nl.ones(1) }, { ['nnlua.save'] = '1',
                                                   ['nnlua.save.object'] = '{"root": ["t", "y", false], "tables": []}' })
    S.contains(S.errmsg(nl.load, cut), "nl.load: " .. cut .. " is corrupt: the tensor 'y' is not in the file")
    nl.save_safetensors(cut, {}, { ['nnlua.save'] = '1',
                                   ['nnlua.save.object'] = '{"root": ["T", 1], "tables": [[["s", "me"], ["T", 1]]]}' })
    S.contains(S.errmsg(nl.load, cut), 'tables hold one another')
    nl.save_safetensors(cut, {}, { ['nnlua.save'] = '2', ['nnlua.save.object'] = '{}' })
    S.contains(S.errmsg(nl.load, cut), 'newer nnlua')
    S.contains(S.errmsg(nl.load, 5), 'nl.load: expected a path string')
    S.contains(S.errmsg(nl.load, path, { map_location = 'cuda:0' }), "map_location must be 'cpu'")
    assert.are.equal('x', nl.load(path, { map_location = 'cpu' }).b)
  end)

  it('raise errors naming nl.save for values it cannot save, cycles and bad paths', function()
    local path = file('bad.pt')
    S.contains(S.errmsg(nl.save, { f = print }, path), "nl.save: 'f' is a function")
    S.contains(S.errmsg(nl.save, { a = { b = coroutine.create(print) } }, path), "nl.save: 'a.b' is a thread")
    local cyc = { x = 1 }
    cyc.self = { back = cyc }
    S.contains(S.errmsg(nl.save, cyc, path), "nl.save: 'self.back' holds itself (a cycle")
    S.contains(S.errmsg(nl.save, nn.Linear(2, 2), path), 'nl.save: the object is a module (nn.Linear): save its state_dict()')
    S.contains(S.errmsg(nl.save, path), 'nl.save: expected an object and a path (save(obj, path)), got one argument')
    S.contains(S.errmsg(nl.save, nil, path), 'nl.save: the object is nil')
    S.contains(S.errmsg(nl.save, { [{}] = 1 }, path), 'nl.save: the object has a key of type table')
    S.contains(S.errmsg(nl.save, { 1 }, 5), 'nl.save: expected a path string')
    S.contains(S.errmsg(nl.save, { 1 }, dir .. '/no/such/dir/x.pt'), 'nl.save: ')
    S.contains(S.errmsg(nl.save, { setmetatable({}, {}) }, path), "nl.save: '1' is a table with a metatable")
    -- a NUL byte in a path is refused (C's path ended there: 'bad.pt\0x' wrote and read bad.pt)
    local nul = dir .. '/nul.pt\0x'
    S.contains(S.errmsg(nl.save, { 1 }, nul), 'nl.save: the path')
    S.contains(S.errmsg(nl.save, { 1 }, nul), 'holds a NUL byte')
    S.contains(S.errmsg(nl.load, nul), 'nl.load: the path')
    S.contains(S.errmsg(nl.save_safetensors, nul, { a = nl.ones(1) }), 'save_safetensors: the path')
    S.contains(S.errmsg(nl.load_safetensors, nul), 'load_safetensors: the path')
    local m = nn.Linear(1, 1)
    S.contains(S.errmsg(m.save, m, nul), 'save: the path')
    S.contains(S.errmsg(nn.load, nul), 'load: the path')
    assert.is_nil(io.open(dir .. '/nul.pt'))
  end)

  it('refuse tables nested past 1000 levels with errors naming nl.save and nl.load, not a stack overflow', function()
    local path = file('deep.pt')
    local function chain(n)
      local root = {}
      local t = root
      for _ = 2, n do t[1] = {}; t = t[1] end
      t[1] = 'leaf'
      return root
    end
    nl.save(chain(1000), path)
    local t = nl.load(path)
    for _ = 1, 999 do t = t[1] end
    assert.are.equal('leaf', t[1])
    S.contains(S.errmsg(nl.save, chain(20000), path), 'nl.save: the object nests tables more than 1000 deep')
    -- a file whose tables nest 50000 deep, written by hand
    local recs = {}
    for i = 1, 50000 do recs[i] = ('[["n", "1"], ["T", %d]]'):format(i + 1) end
    recs[50000] = '[["n", "1"], ["s", "leaf"]]'
    nl.save_safetensors(path, {}, { ['nnlua.save'] = '1',
                                    ['nnlua.save.object'] = '{"root": ["T", 1], "tables": [' .. table.concat(recs, ',') .. ']}' })
    S.contains(S.errmsg(nl.load, path), 'nl.load: ' .. path .. ' is corrupt: its tables nest more than 1000 deep')
    -- an int64 tensor marked as requiring grad came from no nl.save
    nl.save_safetensors(path, { w = nl.ones({ 1 }, 'int64') },
                        { ['nnlua.save'] = '1', ['nnlua.save.object'] = '{"root": ["t", "w", true], "tables": []}' })
    S.contains(S.errmsg(nl.load, path), "nl.load: " .. path .. " is corrupt: the int64 tensor 'w' is marked as requiring grad")
  end)

  it('leave the old file whole when a save fails, before or while writing', function()
    local path = file('keep.pt')
    local old = { step = 1, w = nl.randn(3, 3) }
    nl.save(old, path)
    local before = S.read(path)
    -- refused part way through the object
    S.errmsg(nl.save, { w = nl.randn(3, 3), later = { fn = print } }, path)
    assert.is_true(S.read(path) == before)
    -- a process stopped by the file size limit while it writes a larger one
    local code = S.path_prelude .. ([[
      local nl = require 'nnlua'
      nl.save({ step = 2, w = nl.randn(1000, 1000) }, %q)
      print('saved')
    ]]):format(path)
    local script = S.write(file('big.lua'), code)
    local p = assert(io.popen('ulimit -f 512; luajit ' .. S.q(script) .. ' 2>&1; echo "rc=$?"'))
    local out = p:read('*a')
    p:close()
    assert.is_nil(out:find('saved', 1, true), out)
    assert.is_nil(out:find('rc=0', 1, true), out)
    assert.is_true(S.read(path) == before, 'the old file changed')
    local back = nl.load(path)
    assert.are.equal(1, back.step)
    same_tensor(back.w, old.w, 'old tensor')
  end)
end)
