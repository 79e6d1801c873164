-- torch_compat.lua's names: the linear algebra methods, igamma, prelu,
-- angle and frombuffer against PyTorch 1.13 (tests/golden/torch_compat.lua,
-- made by tests/golden/gen_torch_compat.py); the in-place torch.* forms,
-- the device predicates and stubs, t:new, the flags and autocast by closed
-- forms; bad calls by their messages.
local S = require 'support'
local nl = require 'nnlua'
local ffi = require 'ffi'

local golden = dofile(S.root .. '/tests/golden/torch_compat.lua')
local TOL = { float32 = { 2e-5, 1e-6 }, float64 = { 1e-10, 1e-12 } }
-- frombuffer's values are the bytes' own: float32's within its 9 written
-- digits, the others exact
local BYTES_TOL = { float32 = { 1e-8, 0 } }

local function signed(v)
  local i = v:abs():argmax(-2, true)
  return v * v:gather(-2, i):sign()
end

local ops = {
  lu = function(x, a) return { x[1]:lu(true, a.get_infos) } end,
  lu_solve = function(x) return x[1]:lu_solve(x[2]:lu()) end,
  triangular_solve = function(x, a) return { x[1]:triangular_solve(x[2], a.upper, a.transpose) } end,
  symeig = function(x, a)
    local s = x[1] + x[1]:t()
    if not a.eigenvectors then return { s:symeig() } end
    local L, V = s:symeig(true)
    return { L, signed(V) }
  end,
  geqrf = function(x) return { x[1]:geqrf() } end,
  orgqr = function(x) return x[1]:orgqr(x[2]) end,
  ormqr = function(x, a) return x[1]:ormqr(x[2], x[3], a.left, a.transpose) end,
  prelu = function(x) return x[1]:prelu(x[2]) end,
  angle = function(x, _, c) return c.name == 'angle64' and x[1]:angle() or nl.angle(x[1]) end,
}
for _, name in ipairs({ 'igamma', 'igammac' }) do
  ops[name] = function(x, a)
    if a.form == 'function' then return nl[name](x[1], x[2]) end
    if a.form == 'method' then return x[1][name](x[1], x[2]) end
    local t = x[1]:clone()
    local r = t[name .. '_'](t, x[2])
    assert.are.equal(t, r)
    return r
  end
end

describe("torch_compat's names against PyTorch 1.13", function()
  S.golden_its(it, golden.cases, ops, function(c, op)
    S.check_golden_case(c, function(x, a) return op(x, a, c) end, TOL)
  end)

  it('reads frombuffer from a string, an FFI array and a pointer with its length, as a copy', function()
    for _, c in ipairs(golden.frombuffer) do
      local count, tol = c.count >= 0 and c.count or nil, BYTES_TOL[c.dtype]
      S.expect_golden(nl.frombuffer(c.bytes, c.dtype, count, c.offset), c.want, c.name, tol)
      local arr = ffi.new('uint8_t[?]', #c.bytes)
      ffi.copy(arr, c.bytes, #c.bytes)
      S.expect_golden(nl.frombuffer(arr, c.dtype, c.count, c.offset), c.want, c.name .. ' (array)', tol)
      local t = nl.frombuffer(ffi.cast('uint8_t *', arr), #c.bytes, c.dtype, c.count, c.offset)
      ffi.fill(arr, #c.bytes, 0)
      S.expect_golden(t, c.want, c.name .. ' (pointer, the buffer zeroed after)', tol)
    end
  end)

  it('reads a pointer to an array with its length, and structs of their bytes', function()
    -- (a pointer to an array was taken for the array: its own 8 bytes
    -- read, one float64 of the three)
    local arr = ffi.new('double[3]', 1.5, -2, 4)
    local t = nl.frombuffer(ffi.cast('double (*)[3]', arr), 24, 'float64')
    assert.are.same({ 1.5, -2, 4 }, t:totable())
    t = nl.frombuffer(ffi.new('struct { int32_t a; int32_t b; }', -3, 7), 'int32')
    assert.are.same({ -3, 7 }, t:totable())
  end)
end)

describe('torch_compat by closed forms', function()
  it('gives the in-place torch.* forms as nl functions that change their first argument', function()
    local a = nl.tensor({ 12, -18, 7 }, 'int64')
    assert.are.equal(a, nl.gcd_(a, nl.tensor({ 18, 12, 0 }, 'int64')))
    assert.are.same({ 6, 6, 7 }, a:totable())
    nl.lcm_(a, nl.tensor({ 4, 4, 3 }, 'int64'))
    assert.are.same({ 12, 12, 21 }, a:totable())
    local p = nl.tensor({ 0.5, 0.75 }, 'float64')
    nl.logit_(p)
    S.expect_close(p, nl.tensor({ 0, math.log(3) }, 'float64'), 'logit_', 1e-15, 1e-15)
    local e = nl.tensor({ 1.5, -3 })
    nl.ldexp_(e, nl.tensor({ 2, -1 }))
    assert.are.same({ 6, -1.5 }, e:totable())
    local c = nl.tensor({ 1, 2 })
    nl.addmv_(c, nl.tensor({ { 1, 2 }, { 3, 4 } }), nl.tensor({ 1, 1 }))
    assert.are.same({ 4, 9 }, c:totable())
  end)

  it("gives angle of a result in a graph a zero gradient, as 1.13's for real input", function()
    local x = nl.tensor({ -1, 2, 0 / 0 }, 'float64'):requires_grad()
    local y = nl.angle(x * 3)
    assert.is_true(y.is_requires_grad)
    local loss = (y * nl.tensor({ 5, 6, 7 }, 'float64')):sum()
    loss:backward()
    assert.are.same({ 0, 0, 0 }, x.grad:totable())
    -- without grad mode: no graph
    assert.is_false(nl.no_grad(function() return nl.angle(x) end).is_requires_grad)
  end)

  it("refuses igamma's gradient to a, as 1.13 does", function()
    local a, x = nl.tensor({ 1.5, 2 }):requires_grad(), nl.tensor({ 0.5, 3 })
    S.contains(S.errmsg(function() nl.igamma(a, x):sum():backward() end), 'is not implemented')
  end)

  it('has the device predicates and stubs of a CPU tensor', function()
    local t = nl.arange(1, 7):view(2, 3)
    for _, name in ipairs({ 'is_sparse', 'is_sparse_csr', 'is_quantized', 'is_meta', 'is_mkldnn', 'is_nested',
                            'is_vulkan', 'is_xpu', 'is_ipu', 'is_mps', 'is_ort', 'is_cuda' }) do
      assert.are.equal(false, t[name], name)
    end
    assert.are.equal(false, t:is_pinned())
    assert.are.equal(false, t:is_shared())
    assert.are.equal(false, t:is_distributed())
    assert.are.equal(-1, t:get_device())
    assert.are.equal(t, t:pin_memory())
    assert.are.equal(t, t:share_memory_())
    assert.are.equal('strided', t.layout)
    assert.are.equal(nl.strided, t.layout)
    assert.are.equal(0, t.output_nr)
    assert.are.equal(0, (t * 2).output_nr)
    for _, name in ipairs({ 'cuda', 'xpu' }) do
      local msg = S.errmsg(function() return t[name](t) end)
      S.contains(msg, name .. ': nnlua is CPU-only')
      S.contains(msg, '[2,3]')
    end
  end)

  it('gives data_ptr as the address of the first element', function()
    local t = nl.tensor({ { 1.5, 2.5, 3.5 }, { 4.5, 5.5, 6.5 } })
    assert.are.equal(1.5, ffi.cast('float *', t:data_ptr())[0])
    assert.are.equal(12, t[2]:data_ptr() - t:data_ptr())
    assert.are.equal(5.5, ffi.cast('float *', t[2]:narrow(1, 2, 1):data_ptr())[0])
    local d = nl.zeros({ 4 }, 'float64')
    assert.are.equal(16, d:narrow(1, 3, 2):data_ptr() - d:data_ptr())
  end)

  it('makes tensors of its dtype with the legacy t:new', function()
    local t = nl.zeros({ 2 }, 'float64')
    local e = t:new(3, 4)
    assert.are.same({ 3, 4 }, e:shape())
    assert.are.equal('float64', e:dtype())
    local d = t:new({ { 1, 2 }, { 3, 4 } })
    assert.are.same({ { 1, 2 }, { 3, 4 } }, d:totable())
    assert.are.equal('float64', d:dtype())
    assert.are.same({ 0 }, t:new():shape())
    assert.are.equal('int64', nl.tensor({ 1 }, 'int64'):new(2):dtype())
    S.contains(S.errmsg(function() return t:new(2, -1) end), 'new: expected sizes')
    S.contains(S.errmsg(function() return t:new(t) end), 't:clone()')
  end)

  it('records the float32 matmul precision and answers the build queries', function()
    assert.are.equal('highest', nl.get_float32_matmul_precision())
    nl.set_float32_matmul_precision('medium')
    assert.are.equal('medium', nl.get_float32_matmul_precision())
    nl.set_float32_matmul_precision('highest')
    S.contains(S.errmsg(nl.set_float32_matmul_precision, 'low'), "set_float32_matmul_precision: expected 'highest'")
    assert.are.equal(false, nl.is_vulkan_available())
    assert.are.equal(true, nl.compiled_with_cxx11_abi())
  end)

  it('runs autocast in float32 and float64 and refuses the half types', function()
    local x = nl.tensor({ 1, 2 }):requires_grad()
    local a, b = nl.autocast('cpu', 'float32', function() return x * 2, 'two' end)
    assert.are.same({ 2, 4 }, a:totable())
    assert.are.equal('two', b)
    assert.is_true(a.is_requires_grad)
    assert.are.equal(7, nl.autocast('cpu', 'float64', true, function() return 7 end))
    assert.are.equal(8, nl.autocast('cuda', 'float16', false, function() return 8 end))
    assert.are.equal(9, nl.autocast('cpu', nil, false, nil, function() return 9 end))
    for _, dt in ipairs({ 'bfloat16', 'float16' }) do
      S.contains(S.errmsg(nl.autocast, 'cpu', dt, function() end), 'autocast: nnlua has no half-precision types (' .. dt)
    end
    S.contains(S.errmsg(nl.autocast, 'cpu', function() end), "bfloat16, CPU autocast's default")
    S.contains(S.errmsg(nl.autocast, 'cuda', 'float32', function() end), 'autocast: nnlua is CPU-only')
    S.contains(S.errmsg(nl.autocast, 'cpu', 'float32'), 'autocast: expected a function to run')
    S.contains(S.errmsg(nl.autocast, 'tpu', 'float32', function() end), "autocast: expected device_type 'cpu'")
    S.contains(S.errmsg(nl.autocast, 'cpu', 'int64', function() end), 'autocast: expected a dtype')
    S.contains(S.errmsg(nl.autocast, 'cpu', 'float32', 'yes', function() end), 'autocast: expected a boolean enabled')
    S.contains(S.errmsg(nl.autocast, 'cpu', 'float32', function() end, 1), 'autocast: takes')
    -- an error inside fn is fn's
    S.contains(S.errmsg(nl.autocast, 'cpu', 'float32', function() error('inner') end), 'inner')
  end)

  it('raises clear errors naming the op', function()
    local v, m = nl.ones(3), nl.eye(3)
    for _, c in ipairs({
      { function() return v:lu() end, 'lu: A must be a matrix' },
      { function() return m:lu_solve(m, nl.ones(3)) end, 'lu_solve' },
      { function() return v:triangular_solve(m) end, 'triangular_solve: b must be a matrix' },
      { function() return v:symeig() end, 'symeig: A must be a matrix' },
      { function() return v:geqrf() end, 'geqrf: A must be a matrix' },
      { function() return m:orgqr(3) end, 'orgqr' },
      { function() return m:ormqr(nl.ones(3), v) end, 'ormqr: C must be a matrix' },
      { function() return m:solve(m) end, 'solve: removed in PyTorch 1.9' },
      { function() return m:lstsq(m) end, 'lstsq: removed in PyTorch 1.9' },
      { function() return m:eig() end, 'eig: removed in PyTorch 1.9' },
      { function() return nl.Tensor.lu(3) end, 'lu: expected a tensor' },
      { function() return nl.igamma(nl.ones(2), nl.ones(3)) end, 'igamma: ' },
      { function() return nl.ones(2):igammac(2) end, 'igammac: ' },
      { function() return nl.ones(2):igamma_(nl.ones(2, 2)) end, 'igamma_: ' },
      { function() return nl.ones(2, 3):prelu(nl.ones(2)) end, 'prelu' },
      { function() return nl.angle('x') end, 'angle: expected a tensor' },
      { function() return nl.ones(2):angle(1) end, 'angle: takes ()' },
      { function() return nl.ones(2):get_device(0) end, 'get_device: takes ()' },
      { function() return nl.frombuffer(3, 'float32') end, 'frombuffer: expected a string or an FFI buffer' },
      { function() return nl.frombuffer('abcd', 'int') end, "frombuffer: dtype must be 'float32'" },
      { function() return nl.frombuffer('abcdefg', 'int16') end, 'not a multiple of the int16 element size (2)' },
      { function() return nl.frombuffer('abcdefgh', 'float32', 3) end, 'frombuffer: 3 float32 elements (12 bytes)' },
      { function() return nl.frombuffer('abcdefgh', 'float32', -1, 2) end, 'not a multiple of the float32 element size' },
      { function() return nl.frombuffer('abcdefgh', 'float32', -1, 8) end, 'frombuffer: offset (8 bytes)' },
      { function() return nl.frombuffer('abcdefgh', 'float32', 0) end, 'frombuffer: neither the buffer length' },
      { function() return nl.frombuffer('', 'float32') end, 'frombuffer: neither the buffer length (0)' },
      { function() return nl.frombuffer(ffi.new('float *'), 'float32') end, 'followed by its length in bytes' },
      -- (a NULL pointer with a length was read: a segmentation fault)
      { function() return nl.frombuffer(ffi.cast('void *', 0), 16, 'float32') end,
        'frombuffer: the pointer (ctype<void *>) is NULL' },
      { function() return nl.frombuffer(ffi.new('float[2]') + 0, 1 / 0, 'float32') end,
        'followed by its length in bytes, got inf' },
      { function() return nl.frombuffer('abcd', 'float32', 1 / 0) end, 'frombuffer: expected a whole count' },
      { function() return nl.frombuffer('abcd', 'float32', 1, 0, 5) end, 'frombuffer: takes' },
      -- (an integer cdata was cast to a pointer, its value an address, and
      -- a function pointer's 8 bytes copied from it: segmentation faults)
      { function() return nl.frombuffer(ffi.new('int64_t', 5), 'int64') end,
        'frombuffer: expected a string, an FFI array, struct or union, or a pointer and its length; got '
        .. 'ctype<int64_t>, which holds no buffer' },
      { function() return nl.frombuffer(ffi.new('int32_t', 5), 'uint8') end, 'got ctype<int>, which holds no buffer' },
      { function() return nl.frombuffer(ffi.cast('int (*)(int)', 0), 'uint8') end, 'which holds no buffer' },
      { function() return nl.frombuffer(ffi.new('double', 1), 'float64') end, 'which holds no buffer' },
    }) do
      S.contains(S.errmsg(c[1]), c[2])
    end
  end)
end)
