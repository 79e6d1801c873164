-- PyTorch's factory options dtype and device in a built-in module's
-- options table (nn.Linear(4, 3, {dtype = 'float64'})): the module is
-- built, then its float parameters and buffers converted; device 'cpu'
-- only; a module with nothing to convert refuses dtype, as PyTorch's
-- parameterless modules do. Closed forms: the dtypes, the outputs of the
-- converted module against the module converted by :double(), nn.load.
local nl = require 'nnlua'
local S = require 'support'

local nn = nl.nn

describe('dtype and device in the options of built-in modules', function()
  it('convert the parameters and buffers, float64 as :double() does', function()
    local builds = {
      function(o) return nn.Linear(4, 3, o) end,
      function(o) return nn.Conv2d(2, 3, 3, o) end,
      function(o) return nn.BatchNorm1d(4, o) end,
      function(o) return nn.LayerNorm({ 4 }, o) end,
      function(o) return nn.Embedding(6, 4, o) end,
      function(o) return nn.GRU(4, 5, o) end,
      function(o) return nn.MultiheadAttention(4, 2, o) end,
      function(o) return nn.ConvTranspose3d(2, 2, 2, o) end,       -- (a lazily loaded family)
    }
    for i, build in ipairs(builds) do
      nl.manual_seed(i)
      local m = build({ dtype = 'float64', device = 'cpu' })
      nl.manual_seed(i)
      local want = build({}):double()
      local names = {}
      for _, kv in ipairs(want:named_parameters()) do
        names[#names + 1] = kv[1]
        assert.are.equal('float64', kv[2]:dtype(), kv[1])
      end
      local got = m:named_parameters()
      assert.are.equal(#names, #got)
      for j, kv in ipairs(got) do
        assert.are.equal(names[j], kv[1])
        assert.are.equal('float64', kv[2]:dtype(), kv[1])
        assert.are.same(S.flat(want:named_parameters()[j][2]), S.flat(kv[2]), kv[1])
        assert.is_true(kv[2].is_requires_grad, kv[1])
      end
      for _, kv in ipairs(m:named_buffers()) do
        if kv[1] ~= 'num_batches_tracked' then assert.are.equal('float64', kv[2]:dtype(), kv[1]) end
      end
    end
  end)

  it('keep the other options, and float32 changes nothing', function()
    local c = nn.Conv2d(1, 2, 3, { padding = 1, bias = false, dtype = 'float64' })
    assert.is_nil(c.bias)
    assert.are.same({ 1, 2, 5, 5 }, c(nl.randn({ 1, 1, 5, 5 }, 'float64')):shape())
    local r = nn.LSTM(3, 4, { batch_first = true, dtype = 'float64' })
    assert.is_true(r.batch_first)
    assert.are.equal('float32', nn.Linear(2, 2, { dtype = 'float32' }).weight:dtype())
  end)

  it('are kept in the recorded arguments: nn.load and clone rebuild the same', function()
    local m = nn.Sequential(nn.Linear(3, 2, { dtype = 'float64' }), nn.ReLU())
    local path = S.tmpdir() .. '/factory.safetensors'
    m:save(path)
    local back = nn.load(path)
    assert.are.equal('float64', back[1].weight:dtype())
    assert.are.same(S.flat(m[1].weight), S.flat(back[1].weight))
    assert.are.equal('float64', m:clone()[1].bias:dtype())
  end)

  -- a lazy module keeps them for the module its first call makes: PyTorch
  -- 1.13's nn.LazyLinear(3, dtype=torch.float64) called on float64 input
  -- has float64 weight and bias (LazyConv1d, LazyBatchNorm1d's buffers,
  -- LazyInstanceNorm1d(affine=True) too; without weights it takes dtype),
  -- and refuses float32 input ('mat1 and mat2 must have the same dtype')
  it('in a lazy module, for the module its first call makes', function()
    local builds = {
      { function(o) return nn.LazyLinear(3, o) end, function() return nn.Linear(4, 3) end, { 2, 4 } },
      { function(o) return nn.LazyConv1d(3, 2, o) end, function() return nn.Conv1d(4, 3, 2) end, { 1, 4, 5 } },
      { function(o) return nn.LazyBatchNorm1d(o) end, function() return nn.BatchNorm1d(4) end, { 3, 4 } },
      { function(o) o.affine = true return nn.LazyInstanceNorm1d(o) end,
        function() return nn.InstanceNorm1d(4, { affine = true }) end, { 1, 4, 5 } },
    }
    for i, b in ipairs(builds) do
      nl.manual_seed(i)
      local m = b[1]({ dtype = 'float64', device = 'cpu' })
      local x = nl.randn(b[3]):double()
      local y = m(x)
      nl.manual_seed(i)
      nl.randn(b[3])      -- (x's draws, then the module's at the call)
      local want = b[2]():double()
      assert.are.equal(getmetatable(want), getmetatable(m))
      for _, kv in ipairs(want:named_parameters()) do
        assert.are.equal('float64', m[kv[1]]:dtype(), kv[1])
        assert.are.same(S.flat(kv[2]), S.flat(m[kv[1]]), kv[1])
      end
      for _, kv in ipairs(want:named_buffers()) do assert.are.equal(kv[2]:dtype(), m[kv[1]]:dtype(), kv[1]) end
      assert.are.same(S.flat(want(x)), S.flat(y))
      -- (saved with dtype in its arguments: nn.load rebuilds it float64)
      local path = S.tmpdir() .. '/lazy.nnl'
      m:save(path)
      assert.are.equal('float64', nn.load(path):parameters()[1]:dtype())
    end
    local m = nn.LazyInstanceNorm1d({ dtype = 'float64' })
    assert.are.equal('float64', m(nl.randn(1, 4, 5):double()):dtype())
    m = nn.LazyLinear(3, { dtype = 'float64' })
    S.contains(S.errmsg(m, nl.randn(2, 4)), 'linear: input, weight and bias must share a dtype, got float32, float64')
    m = nn.LazyLinear(3, { dtype = 'float32', bias = false })
    S.contains(S.errmsg(m, nl.randn(2, 4):double()), 'linear: input, weight and bias must share a dtype')
    S.contains(S.errmsg(nn.LazyConv2d, 3, 2, { dtype = 'int64' }), "LazyConv2d: dtype must be 'float32' or 'float64', got 'int64'")
  end)

  it('refuse another device, an int64 dtype and dtype where there is nothing to convert', function()
    S.contains(S.errmsg(nn.Linear, 4, 3, { device = 'cuda' }), "Linear: device must be 'cpu' (nnlua runs on the CPU), got 'cuda'")
    S.contains(S.errmsg(nn.Linear, 4, 3, { dtype = 'int64' }), "Linear: dtype must be 'float32' or 'float64', got 'int64'")
    S.contains(S.errmsg(nn.Dropout, { p = 0.1, dtype = 'float64' }), "Dropout: unknown option 'dtype'")
    S.contains(S.errmsg(nn.LazyLinear, 3, { device = 'cuda' }), "LazyLinear: device must be 'cpu'")
    S.contains(S.errmsg(nn.Linear, 4, 3, { dtype = 'float64', bais = false }), "Linear: unknown option 'bais'")
  end)

  it("leave a user's class alone (its options are its own)", function()
    local My = nn.Module:extend('FactoryProbe')
    function My:init(opts) self.seen = opts.dtype end
    assert.are.equal('float64', My({ dtype = 'float64' }).seen)
  end)
end)
