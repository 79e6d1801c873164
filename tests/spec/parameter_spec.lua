-- Parameters made from given tensors: nn.Parameter (a leaf over the
-- tensor's memory, registered by the module it is assigned to, with or
-- without requires_grad) and nn.Embedding.from_pretrained (freeze,
-- padding_idx, max_norm), its max_norm and F.embedding's against PyTorch
-- 1.13 golden values (tests/golden/functional.lua, made by
-- tests/golden/gen_functional.py): the renormed weight, output and
-- gradient; save / nn.load / clone keep a frozen weight frozen; errors.
local nl = require 'nnlua'
local S = require 'support'
local nn, optim = nl.nn, nl.optim
local F = nn.functional

local golden = dofile(S.root .. '/tests/golden/functional.lua')
local TOL = { float32 = { 1e-5, 1e-6 }, float64 = { 1e-12, 1e-14 } }
local errmsg, has = S.errmsg, S.contains
local dir = S.tmpdir()

describe('nn.Parameter', function()
  local Affine = nn.Module:extend('ParamSpecAffine')
  function Affine:init(n)
    self.scale = nn.Parameter(nl.ones(n))
    self.shift = nn.Parameter(nl.zeros(n))
    self.fixed = nn.Parameter(nl.full({ n }, 2), false)
  end
  function Affine:forward(x) return x * self.scale + self.shift + self.fixed end

  it('is a leaf over the tensor\'s memory that requires grad; the tensor keeps its flag', function()
    local t = nl.tensor({ 1, 2, 3 })
    local p = nn.Parameter(t)
    assert.is_true(p.is_requires_grad and p:is_leaf())
    assert.is_false(t.is_requires_grad)
    t:fill_(5)
    assert.are.same({ 5, 5, 5 }, S.flat(p))                  -- one memory
    -- a leaf that requires grad is one already: kept (a tied weight stays one tensor)
    local l = nn.Linear(2, 2)
    assert.is_true(rawequal(nn.Parameter(l.weight), l.weight))
    -- a tensor an op made: a new leaf over its values
    local a = nl.ones(2):requires_grad()
    local q = nn.Parameter(a * 3)
    assert.is_true(q:is_leaf() and q.is_requires_grad)
    assert.are.same({ 3, 3 }, S.flat(q))
    assert.is_true(nn.Parameter(t, { requires_grad = true }).is_requires_grad)
  end)

  it('registers in a custom module: parameters, state dict, training; requires_grad = false is kept out of steps', function()
    local m = Affine(3)
    assert.are.same({ 'scale', 'shift', 'fixed' }, S.names_of(m:named_parameters()))
    assert.are.same({ 'fixed', 'scale', 'shift' }, (function()
      local k = {}
      for name in pairs(m:state_dict()) do k[#k + 1] = name end
      table.sort(k)
      return k
    end)())
    assert.is_false(m.fixed.is_requires_grad)
    local opt = optim.SGD(m:parameters(), { lr = 0.5 })
    local x = nl.tensor({ 1, 2, 3 })
    -- loss = sum(x * scale + shift + 2): d/dscale = x, d/dshift = 1
    m(x):sum():backward()
    opt:step()
    assert.are.same({ 0.5, 0, -0.5 }, S.flat(m.scale))
    assert.are.same({ -0.5, -0.5, -0.5 }, S.flat(m.shift))
    assert.are.same({ 2, 2, 2 }, S.flat(m.fixed))
    -- saved and rebuilt: the frozen one comes back as a parameter that does not require grad
    local path = dir .. '/affine.safetensors'
    m:save(path)
    local m2 = nn.load(path)
    S.same_bits(m2(x), m(x), 'rebuilt')
    assert.is_false(m2.fixed.is_requires_grad)
    assert.are.same({ 'scale', 'shift', 'fixed' }, S.names_of(m2:named_parameters()))
  end)

  it('refuses what cannot be a parameter, naming Parameter', function()
    has(errmsg(nn.Parameter, nl.ones(2, 'int64')), 'Parameter: data is an int64 tensor; only float tensors can require gradients')
    has(errmsg(nn.Parameter, { 1, 2 }), 'Parameter: data must be a tensor, got table')
    has(errmsg(nn.Parameter, { 1, 2 }, false), 'Parameter: data must be a tensor, got table')
    has(errmsg(nn.Parameter, nl.ones(2), 1), 'Parameter: expected a boolean requires_grad flag, got number')
    has(errmsg(nn.Parameter, nl.ones(2), true, 3), 'Parameter: takes (data, requires_grad), got 3 arguments')
    has(errmsg(nn.Parameter, nl.ones(2), { grad = true }), "Parameter: unknown option 'grad'")
    local m = nn.Identity()
    has(errmsg(function() m['a.b'] = nn.Parameter(nl.ones(1), false) end), "a module or parameter needs a non-empty name without dots, got 'a.b'")
  end)
end)

describe('nn.Embedding.from_pretrained', function()
  it('wraps the embeddings\' memory, frozen by default, the padding row as given', function()
    local w = nl.tensor({ { 1, 2.3, 3 }, { 4, 5.1, 6.3 } })
    local e = nn.Embedding.from_pretrained(w)
    -- (PyTorch's docstring example: index 1 there, 2 here)
    assert.are.same(S.flat(w:select(1, 2)), S.flat(e(nl.tensor({ 2 }, 'int64'))))
    assert.is_false(e.weight.is_requires_grad)
    assert.are.same({ 'weight' }, S.names_of(e:named_parameters()))
    nl.no_grad(function() w:select(1, 1):fill_(7) end)
    assert.are.same({ 7, 7, 7 }, S.flat(e.weight:select(1, 1)))         -- one memory
    assert.are.equal('Embedding(2, 3)', tostring(e):match('^[^\n]*'))
    -- freeze = false trains; padding_idx keeps its row (not zeroed) and gets no gradient
    local t = nl.tensor({ { 1, 1 }, { 2, 2 }, { 3, 3 } }, 'float64')
    for _, e2 in ipairs({ nn.Embedding.from_pretrained(t, false, 2), nn.Embedding.from_pretrained(t, { freeze = false, padding_idx = 2 }) }) do
      assert.is_true(e2.weight.is_requires_grad)
      e2(nl.tensor({ 1, 2, 2, 3 }, 'int64')):sum():backward()
      assert.are.same({ 1, 1, 0, 0, 1, 1 }, S.flat(e2.weight.grad))
      assert.are.same({ 2, 2 }, S.flat(e2.weight:select(1, 2)))
      assert.are.equal('Embedding(3, 2, padding_idx=2)', tostring(e2):match('^[^\n]*'))
    end
  end)

  for i, c in ipairs(golden.from_pretrained) do
    it(('max_norm %g, norm_type %g%s (%s): the weight renormed in place, the output and gradient as PyTorch 1.13'):format(
        c.max_norm, c.norm_type, c.padding_idx and ', padding_idx' or '', c.dtype), function()
      local tol = TOL[c.dtype]
      local emb = S.from_golden(c.embeddings)
      local e = nn.Embedding.from_pretrained(emb, { freeze = false, padding_idx = c.padding_idx, max_norm = c.max_norm,
                                                    norm_type = c.norm_type })
      local y = e(S.from_golden(c.ids))
      S.expect_close(y, c.out, 'out', tol[1], tol[2])
      S.expect_close(e.weight, c.weight, 'weight after', tol[1], tol[2])
      S.expect_close(emb, c.weight, 'the embeddings given (one memory)', tol[1], tol[2])
      ;(y * S.from_golden(c.w)):sum():backward()
      S.expect_close(e.weight.grad, c.grad, 'grad', tol[1], tol[2])
      -- F.embedding renorms the weight it is given, as PyTorch's
      local w2 = S.from_golden(c.embeddings):requires_grad()
      local y2 = F.embedding(S.from_golden(c.ids), w2, c.padding_idx, c.max_norm, c.norm_type)
      S.same_bits(y2, y, 'F.embedding')
      S.same_bits(w2, e.weight, 'F.embedding\'s weight')
      if i == 1 then
        -- the weight changed: a check that reads it before the call fails
        assert.has_error(function() S.expect_close(S.from_golden(c.embeddings), c.weight, 'before', tol[1], tol[2]) end)
        assert.are.equal('Embedding(5, 4, max_norm=1.5)', tostring(e):match('^[^\n]*'))
        assert.are.equal('Embedding(5, 4, max_norm=1.5, norm_type=3)',
                         tostring(nn.Embedding(5, 4, { max_norm = 1.5, norm_type = 3 })):match('^[^\n]*'))
      end
    end)
  end

  it('save, nn.load and clone keep the options and the frozen weight', function()
    local e = nn.Embedding.from_pretrained(nl.randn(4, 3), { padding_idx = 1, max_norm = 1 })
    local path = dir .. '/emb.safetensors'
    e:save(path)
    for _, e2 in ipairs({ nn.load(path), e:clone() }) do
      assert.is_false(e2.weight.is_requires_grad)
      assert.are.equal(1, e2.padding_idx)
      assert.are.equal(1, e2.max_norm)
      S.same_bits(e2.weight, e.weight, 'weight')
    end
    local t = nn.Embedding.from_pretrained(nl.randn(4, 3), false):clone()
    assert.is_true(t.weight.is_requires_grad)
  end)

  it('refuses bad embeddings and options, naming Embedding.from_pretrained', function()
    local w = nl.randn(3, 2)
    local op = 'Embedding.from_pretrained: '
    has(errmsg(nn.Embedding.from_pretrained, nl.ones(3)), op .. 'embeddings must be a 2-D float tensor (num_embeddings, embedding_dim), got float32 [3]')
    has(errmsg(nn.Embedding.from_pretrained, nl.ones(3, 2, 'int64')), op .. 'embeddings must be a 2-D float tensor')
    has(errmsg(nn.Embedding.from_pretrained, 'w'), op .. 'expected a tensor, got string')
    has(errmsg(nn.Embedding.from_pretrained, w, { padding_idx = 4 }), op .. 'padding_idx must be an id in 1..3 or -3..-1, got 4')
    has(errmsg(nn.Embedding.from_pretrained, w, { max_norm = 0 }), op .. 'max_norm must be a positive number, got 0')
    has(errmsg(nn.Embedding.from_pretrained, w, { norm_type = 0 / 0 }), op .. 'norm_type must be a positive number, got nan')
    has(errmsg(nn.Embedding.from_pretrained, w, { sparse = true }), op .. 'sparse is not supported (only false)')
    has(errmsg(nn.Embedding.from_pretrained, w, true, nil, nil, nil, 1), op .. 'expected a boolean scale_grad_by_freq')
    has(errmsg(nn.Embedding.from_pretrained, w, { freez = true }), op .. "unknown option 'freez'")
    has(errmsg(nn.Embedding.from_pretrained, w, 1), op .. 'expected a boolean freeze flag, got number')
    has(errmsg(nn.Embedding.from_pretrained, w, {}, 2), op .. 'takes its options as a table or as arguments, not both')
    has(errmsg(nn.Embedding.from_pretrained, w, true, nil, nil, 2, false, false, 1), op .. 'takes (embeddings, freeze')
    has(errmsg(function() return nn.Embedding:from_pretrained(w) end), op .. 'call it with a dot')
    has(errmsg(nn.Embedding(3, 2, { max_norm = 1 }), nl.tensor({ 4 }, 'int64')), 'Embedding: id 4 out of range 1..3')
    has(errmsg(nn.Embedding, 3, 2, { sparse = true }), 'Embedding: sparse is not supported (only false)')
  end)
end)

teardown(function() os.execute('rm -rf ' .. S.q(dir)) end)
