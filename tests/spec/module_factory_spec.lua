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

  it('refuse another device, an int64 dtype, dtype where there is nothing to convert, and lazy modules', function()
    S.contains(S.errmsg(nn.Linear, 4, 3, { device = 'cuda' }), "Linear: device must be 'cpu' (nnlua runs on the CPU), got 'cuda'")
    S.contains(S.errmsg(nn.Linear, 4, 3, { dtype = 'int64' }), "Linear: dtype must be 'float32' or 'float64', got 'int64'")
    S.contains(S.errmsg(nn.Dropout, { p = 0.1, dtype = 'float64' }), "Dropout: unknown option 'dtype'")
    S.contains(S.errmsg(nn.LazyLinear, 3, { dtype = 'float64' }), 'LazyLinear: dtype is not taken by a lazy module')
    S.contains(S.errmsg(nn.Linear, 4, 3, { dtype = 'float64', bais = false }), "Linear: unknown option 'bais'")
  end)

  it("leave a user's class alone (its options are its own)", function()
    local My = nn.Module:extend('FactoryProbe')
    function My:init(opts) self.seen = opts.dtype end
    assert.are.equal('float64', My({ dtype = 'float64' }).seen)
  end)
end)
