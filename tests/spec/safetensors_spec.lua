-- Safetensors checkpoints: nl.save_safetensors / nl.load_safetensors.
-- Round trips are bit-exact for every dtype and any strides; metadata
-- survives; corrupt, truncated and hostile files are refused with a message
-- naming the loader and the path (never a crash); a failed save leaves the
-- old file as it was; and files cross to and from PyTorch: a golden file
-- written from torch tensors (tests/golden/gen_safetensors.py), and a file
-- written here that torch reads by hand (when /usr/bin/python3 has torch).
local ffi = require 'ffi'
local nl = require 'nnlua'
local S = require 'support'

local q, read, errmsg, contains = S.q, S.read, S.errmsg, S.contains
local dir = S.tmpdir()

local function write(name, bytes) return S.write(dir .. '/' .. name, bytes) end


-- the raw bytes of t's elements in row-major order
local function bytes_of(t)
  local c = t:contiguous()
  local p = c.ptr
  return ffi.string(p.data, t:numel() * tonumber(nl._lib.nl_dtype_size(p.dtype)))
end

local function le64(n)
  local b = {}
  for i = 1, 8 do
    b[i] = string.char(n % 256)
    n = math.floor(n / 256)
  end
  return table.concat(b)
end

-- a file of the given JSON header and data bytes
local function st_file(name, header, payload)
  return write(name, le64(#header) .. header .. (payload or ''))
end

local function int64_at(t, i) return ffi.cast('int64_t *', t.ptr.data)[i] end

-- ---- round trips -----------------------------------------------------------

describe('safetensors round trip', function()
  it('is bit-exact for float32, float64 and int64, special values included', function()
    local f = nl.randn(5, 7)
    f[1][1], f[1][2], f[1][3], f[1][4], f[1][5] = 0 / 0, math.huge, -math.huge, -0.0, 1e-45
    local d = nl.randn(3, 4, 'float64')
    d[1][1], d[1][2], d[1][3] = 0 / 0, 5e-324, -0.0
    local i = nl.zeros(5, 'int64')
    local p = ffi.cast('int64_t *', i.ptr.data)
    p[0], p[1], p[2], p[3], p[4] = -9223372036854775807LL - 1, 9223372036854775807LL, 9007199254740993LL, -1, 0
    local path = dir .. '/exact.safetensors'
    nl.save_safetensors(path, { f = f, d = d, i = i })
    local got = nl.load_safetensors(path)
    for name, want in pairs({ f = f, d = d, i = i }) do
      assert.are.equal(want:dtype(), got[name]:dtype())
      assert.are.same(want:shape(), got[name]:shape())
      assert.are.equal(bytes_of(want), bytes_of(got[name]))
    end
    assert.are.equal(9007199254740993LL, int64_at(got.i, 2))
  end)

  it('writes non-contiguous tensors as their values in row-major order', function()
    local base = nl.arange(0, 24):float():view(4, 6)
    local inputs = {
      transposed = base:t(),                                              -- strides (1, 6)
      narrowed = nl.arange(0, 30, 'float64'):view(5, 6):narrow(2, 2, 3), -- offset and gaps
      expanded = nl.tensor({ { 7 }, { -8 } }, 'int64'):expand(2, 5),     -- stride 0
      permuted = nl.randn(2, 3, 4):permute(3, 1, 2),
    }
    local path = dir .. '/strided.safetensors'
    nl.save_safetensors(path, inputs)
    local got = nl.load_safetensors(path)
    for name, t in pairs(inputs) do
      assert.is_false(t:is_contiguous())
      assert.are.same(t:shape(), got[name]:shape())
      assert.are.same(t:totable(), got[name]:totable())
      assert.are.equal(bytes_of(t), bytes_of(got[name]))
    end
  end)

  it('keeps 0-dim, empty and 8-dim tensors', function()
    local path = dir .. '/shapes.safetensors'
    local eight = nl.randn(1, 2, 1, 2, 1, 2, 1, 2)
    nl.save_safetensors(path, { s = nl.tensor(2.5), e = nl.zeros(0, 3, 'float64'), eight = eight })
    local got = nl.load_safetensors(path)
    assert.are.same({}, got.s:shape())
    assert.are.equal(2.5, got.s:item())
    assert.are.same({ 0, 3 }, got.e:shape())
    assert.are.equal('float64', got.e:dtype())
    assert.are.equal(bytes_of(eight), bytes_of(got.eight))
  end)

  it('round-trips metadata and names that need JSON escapes', function()
    local path = dir .. '/meta.safetensors'
    local names = { 'a"b\\c', 'line\nbreak\ttab\1ctl', 'caf\195\169', 'emoji\240\159\152\128', '' }
    local tensors = {}
    for k, n in ipairs(names) do tensors[n] = nl.full({ k }, k) end
    local meta = { format = 'pt', json = '{"layers": [1, 2], "s": "x\\"y"}', [''] = '', ['k\n'] = 'v\1' }
    nl.save_safetensors(path, tensors, meta)
    local got, gmeta = nl.load_safetensors(path)
    for k, n in ipairs(names) do assert.are.same(tensors[n]:totable(), got[n]:totable(), n) end
    assert.are.same(meta, gmeta)
    local _, none = nl.load_safetensors((function()
      nl.save_safetensors(dir .. '/nometa.safetensors', { a = nl.ones(1) })
      return dir .. '/nometa.safetensors'
    end)())
    assert.are.same({}, none)
  end)

  it('writes the header padded to 8 bytes, names sorted, offsets tiling the data', function()
    local path = dir .. '/layout.safetensors'
    nl.save_safetensors(path, { zeta = nl.ones(3), alpha = nl.ones(2, 'float64'), mid = nl.ones(1, 'int64') })
    local bytes = read(path)
    local n = 0
    for i = 8, 1, -1 do n = n * 256 + bytes:byte(i) end
    assert.are.equal(0, n % 8)
    assert.are.equal(8 + n + 16 + 8 + 12, #bytes)
    local header = bytes:sub(9, 8 + n)
    assert.are.equal('{', header:sub(1, 1))
    assert.truthy(header:find('"alpha":{"dtype":"F64","shape":[2],"data_offsets":[0,16]}', 1, true))
    assert.truthy(header:find('"mid":{"dtype":"I64","shape":[1],"data_offsets":[16,24]}', 1, true))
    assert.truthy(header:find('"zeta":{"dtype":"F32","shape":[3],"data_offsets":[24,36]}', 1, true))
    assert.truthy(header:find('alpha', 1, true) < header:find('mid', 1, true))
  end)

  it('refuses bad arguments before writing anything', function()
    local path = dir .. '/never.safetensors'
    contains(errmsg(nl.save_safetensors, path, { [1] = nl.ones(1) }), 'tensor names must be strings')
    contains(errmsg(nl.save_safetensors, path, { a = 5 }), "'a' is not a tensor")
    contains(errmsg(nl.save_safetensors, path, { a = nl.ones(1) }, { k = 5 }), "metadata value of 'k' must be a string")
    contains(errmsg(nl.save_safetensors, path, { __metadata__ = nl.ones(1) }), "'__metadata__' is reserved")
    contains(errmsg(nl.save_safetensors, path, { ['bad\255'] = nl.ones(1) }), 'not valid UTF-8')
    -- (C strings: 'a\0b' was saved as 'a' without a word)
    contains(errmsg(nl.save_safetensors, path, { ['a\0b'] = nl.ones(1) }),
             "save_safetensors: the tensor name 'a\\0b' holds a NUL byte")
    contains(errmsg(nl.save_safetensors, path, { a = nl.ones(1) }, { ['k\0'] = 'v' }), "the metadata key 'k\\0' holds")
    contains(errmsg(nl.save_safetensors, path, { a = nl.ones(1) }, { k = 'v\0w' }),
             "the metadata value of 'k', 'v\\0w' holds a NUL byte")
    assert.is_nil(io.open(path))
  end)
end)

-- ---- hostile files ---------------------------------------------------------

describe('load_safetensors on bad files', function()
  local good = dir .. '/good.safetensors'
  nl.save_safetensors(good, { a = nl.arange(0, 6):float():view(2, 3), b = nl.ones(4, 'int64') }, { k = 'v' })
  local good_bytes = read(good)

  -- the load must fail with a message naming the loader, the path and part
  local function refused(path, part)
    local msg = errmsg(nl.load_safetensors, path)
    contains(msg, 'load_safetensors')
    contains(msg, path)
    if part then contains(msg, part) end
  end

  it('refuses a truncated file', function()
    refused(write('t1.safetensors', good_bytes:sub(1, 5)), 'too short')
    refused(write('t2.safetensors', good_bytes:sub(1, 20)), 'runs past the end of the file')
    refused(write('t3.safetensors', good_bytes:sub(1, #good_bytes - 4)), 'outside the')
  end)

  it('refuses every truncation and never crashes', function()
    for n = 0, #good_bytes - 1 do refused(write('cut.safetensors', good_bytes:sub(1, n))) end
  end)

  it('survives random corruption of the header', function()
    local rng = S.rng(2024)
    local header_len = good_bytes:byte(1) + 256 * good_bytes:byte(2)
    local loaded = 0
    for _ = 1, 300 do
      local b = { good_bytes:byte(1, -1) }
      for _ = 1, 1 + math.floor(rng(0, 3)) do
        local at = 9 + math.floor(rng(0, header_len))
        b[at] = math.floor(rng(0, 256))
      end
      local path = write('fuzz.safetensors', string.char(unpack(b)))
      local ok, err = pcall(nl.load_safetensors, path)
      if ok then loaded = loaded + 1 else contains(tostring(err), 'load_safetensors') end
    end
    assert.is_true(loaded < 300)
  end)

  it('refuses a header whose offsets run past the end of the file', function()
    refused(st_file('past.safetensors', '{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}', string.rep('\0', 8)),
            'outside the 8 bytes of data')
  end)

  it('refuses an oversized header length without allocating it', function()
    refused(write('huge.safetensors', le64(2 ^ 40) .. '{}'), 'over the 100 MB limit')
    refused(write('max.safetensors', string.rep('\255', 8) .. '{}'), 'over the 100 MB limit')
  end)

  it('refuses overlapping offsets, gaps, trailing bytes and size mismatches', function()
    local two = '{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},'
             .. '"b":{"dtype":"F32","shape":[4],"data_offsets":[%d,%d]}}'
    refused(st_file('overlap.safetensors', two:format(8, 24), string.rep('\0', 24)), 'overlap')
    refused(st_file('gap.safetensors', two:format(20, 36), string.rep('\0', 36)), 'unused bytes before tensor')
    refused(st_file('trail.safetensors', two:format(16, 32), string.rep('\0', 40)), '8 bytes after the last')
    refused(st_file('size.safetensors', '{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}}', string.rep('\0', 16)),
            'takes 12 bytes')
    refused(st_file('order.safetensors', '{"a":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}}', string.rep('\0', 8)),
            'outside')
  end)

  local T = '{"dtype":"F32","shape":[1],"data_offsets":[0,4]}'
  local bad_headers = {
    { 'not JSON', 'PK\3\4 binary', 'not a safetensors file' },
    { 'unterminated', '{"a":' .. T, "expected ',' or '}'" },
    { 'trailing comma', '{"a":' .. T .. ',}', 'expected \'"\'' },
    { 'garbage after', '{"a":' .. T .. '} x', 'unexpected data after' },
    { 'leading zero', '{"a":{"dtype":"F32","shape":[01],"data_offsets":[0,4]}}', 'leading zero' },
    { 'negative', '{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}', 'non-negative integer' },
    { 'fraction', '{"a":{"dtype":"F32","shape":[1.0],"data_offsets":[0,4]}}', 'fraction' },
    { 'huge number', '{"a":{"dtype":"F32","shape":[99999999999999999999],"data_offsets":[0,4]}}', 'too large' },
    { 'unknown dtype', '{"a":{"dtype":"F8_E4M3","shape":[4],"data_offsets":[0,4]}}', "dtype 'F8_E4M3'" },
    { 'unknown field', '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":1}}', "unknown field 'x'" },
    { 'missing field', '{"a":{"dtype":"F32","shape":[1]}}', 'lacks its data_offsets' },
    { 'three offsets', '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}}', 'more than 2 entries' },
    { 'nine dims', '{"a":{"dtype":"F32","shape":[1,1,1,1,1,1,1,1,1],"data_offsets":[0,4]}}', 'more than 8 entries' },
    { 'duplicate name', '{"a":' .. T .. ',"a":' .. T .. '}', "'a' appears twice" },
    { 'metadata not string', '{"__metadata__":{"k":1},"a":' .. T .. '}', 'is not a string' },
    { 'two metadata', '{"__metadata__":{},"__metadata__":{},"a":' .. T .. '}', 'appears twice' },
    { 'bad escape', '{"a\\x":' .. T .. '}', 'invalid escape' },
    { 'lone surrogate', '{"a\\ud800":' .. T .. '}', 'unpaired surrogate' },
    { 'NUL escape', '{"a\\u0000":' .. T .. '}', 'NUL' },
    { 'control char', '{"a\1":' .. T .. '}', 'control character' },
    { 'bad UTF-8', '{"a\255":' .. T .. '}', 'not valid UTF-8' },
    { 'unterminated string', '{"a', 'unterminated string' },
  }
  for _, case in ipairs(bad_headers) do
    it('refuses a bad header: ' .. case[1], function()
      refused(st_file('bad.safetensors', case[2], string.rep('\0', 4)), case[3])
    end)
  end

  it('reads a minimal hand-written file with spaces and escapes', function()
    local path = st_file('min.safetensors',
      ' { "__metadata__" : null , "x\\u00e9\\ud83d\\ude00\\n" : { "shape" : [ 2 ] , "dtype" : "I32" , '
      .. '"data_offsets" : [ 0 , 8 ] } }   ', '\1\0\0\0\255\255\255\255')
    local got, meta = nl.load_safetensors(path)
    assert.are.same({ 1, -1 }, got['x\195\169\240\159\152\128\n']:totable())
    assert.are.same({}, meta)
  end)

  it('names a missing file and a directory', function()
    refused(dir .. '/missing.safetensors', 'cannot open')
    refused(dir, 'is a directory')
  end)
end)

-- ---- atomic saves ----------------------------------------------------------

describe('save_safetensors failures', function()
  local function leftovers()
    local p = assert(io.popen('ls -a ' .. q(dir)))
    local n = 0
    for line in p:lines() do if line:find('.tmp-', 1, true) then n = n + 1 end end
    p:close()
    return n
  end

  it('leaves the existing file intact when writing fails midway', function()
    local path = dir .. '/keep.safetensors'
    nl.save_safetensors(path, { w = nl.ones(3) })
    local before = read(path)
    -- 'a' is written to the temporary file, then 'z' cannot be made contiguous
    local msg = errmsg(nl.save_safetensors, path, { a = nl.randn(100), z = nl.tensor(1):expand(2 ^ 47) })
    contains(msg, "save_safetensors: tensor 'z'")
    assert.are.equal(before, read(path))
    assert.are.equal(0, leftovers())
    assert.are.same({ 1, 1, 1 }, nl.load_safetensors(path).w:totable())
  end)

  it('fails on a path that is a directory and leaves it alone', function()
    local sub = dir .. '/adir'
    assert(os.execute('mkdir -p ' .. q(sub) .. ' && touch ' .. q(sub .. '/inside')) == 0)
    local msg = errmsg(nl.save_safetensors, sub, { w = nl.ones(3) })
    contains(msg, 'save_safetensors')
    contains(msg, sub)
    assert.truthy(io.open(sub .. '/inside'))
    assert.are.equal(0, leftovers())
  end)

  it('fails in a directory that does not exist, naming the path', function()
    local path = dir .. '/no/such/dir/x.safetensors'
    local msg = errmsg(nl.save_safetensors, path, { w = nl.ones(3) })
    contains(msg, 'save_safetensors')
    contains(msg, path)
  end)

  it('replaces an existing file on success', function()
    local path = dir .. '/replace.safetensors'
    nl.save_safetensors(path, { w = nl.ones(3) })
    nl.save_safetensors(path, { v = nl.zeros(2) })
    local got = nl.load_safetensors(path)
    assert.is_nil(got.w)
    assert.are.same({ 0, 0 }, got.v:totable())
    assert.are.equal(0, leftovers())
  end)
end)

-- ---- interchange with PyTorch ----------------------------------------------

describe('safetensors and PyTorch', function()
  it('reads the golden file written from torch tensors', function()
    local got, meta = nl.load_safetensors(S.root .. '/tests/golden/torch_written.safetensors')
    local n = 0
    for _ in pairs(got) do n = n + 1 end
    assert.are.equal(12, n)

    local f32 = {}
    for i = 0, 11 do f32[i + 1] = i / 8 - 0.75 end
    assert.are.same({ 3, 4 }, got.f32:shape())
    assert.are.same(f32, got.f32:view(12):totable())

    local f64 = got.f64:totable()
    assert.are.equal('float64', got.f64:dtype())
    assert.are.same({ math.pi, -1e300, 5e-324, 0.1 }, { unpack(f64, 1, 4) })
    assert.are.equal(-math.huge, 1 / f64[5])                    -- -0.0
    assert.are.same({ math.huge, -math.huge }, { f64[6], f64[7] })
    assert.are_not.equal(f64[8], f64[8])                        -- NaN

    assert.are.equal('int64', got.i64:dtype())
    local want_i64 = { -4611686018427387904LL, 9007199254740993LL, -1LL, 0LL, 9223372036854775807LL }
    for i, v in ipairs(want_i64) do assert.are.equal(v, int64_at(got.i64, i - 1)) end

    local f16 = got.f16:totable()
    assert.are.equal('float32', got.f16:dtype())
    assert.are.same({ 1, -2.5, 65504, 2 ^ -14, 2 ^ -24, math.huge }, { unpack(f16, 1, 6) })
    assert.are.equal(-math.huge, 1 / f16[7])
    assert.are_not.equal(f16[8], f16[8])

    assert.are.equal('float32', got.bf16:dtype())
    assert.are.same({ 1, -3.140625, 2 ^ 100, -(2 ^ -126), 0.5 }, got.bf16:totable())
    assert.are.equal('int64', got.i32:dtype())
    assert.are.same({ { -2147483648, 2147483647 }, { 0, 7 } }, got.i32:totable())
    assert.are.same({ 0, 255, 128 }, got.u8:totable())
    assert.are.same({ 1, 0, 1 }, got.bool:totable())
    assert.are.same({}, got.scalar:shape())
    assert.are.equal(3.5, got.scalar:item())
    assert.are.same({ 0, 3 }, got.empty:shape())
    assert.are.same({ { { 0, 1, 2 }, { 3, 4, 5 } } }, got['layer.0/w\195\169ight "q"']:totable())
    assert.are.same({ -7 }, got['emoji\240\159\152\128']:totable())
    assert.are.same({ format = 'pt', note = 'tab\there "quoted" back\\slash \195\169\nnew line' }, meta)
  end)

  -- PyTorch reads an nnlua file by hand (the safetensors package is not used)
  local check_py = [==[
import json, struct, sys
import torch
raw = open(sys.argv[1], "rb").read()
(n,) = struct.unpack("<Q", raw[:8])
assert n % 8 == 0, n
header = json.loads(raw[8:8 + n].decode("utf-8"))
meta = header.pop("__metadata__", {})
buf = raw[8 + n:]
DT = {"F32": torch.float32, "F64": torch.float64, "I64": torch.int64}
got, end = {}, 0
for name, info in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"]):
    b, e = info["data_offsets"]
    assert b == end, (name, b, end)
    end = e
    chunk = bytearray(buf[b:e])
    dt = DT[info["dtype"]]
    t = torch.frombuffer(chunk, dtype=dt) if chunk else torch.empty(0, dtype=dt)
    got[name] = t.reshape(info["shape"])
assert end == len(buf), (end, len(buf))
want = {
    "weight": torch.arange(12, dtype=torch.float32).reshape(3, 4).t() / 4 - 1,
    "bias64": torch.tensor([0.1, -2.5, 1e300], dtype=torch.float64),
    "steps": torch.tensor([-3, 0, 2**53], dtype=torch.int64),
    "scalar": torch.tensor(2.5),
    "empty": torch.zeros(0, 3),
    "layer.0/w\u00e9ight \"q\"": torch.arange(6, dtype=torch.float64).reshape(1, 2, 3),
}
assert sorted(got) == sorted(want), (sorted(got), sorted(want))
for k, w in want.items():
    g = got[k]
    assert g.dtype == w.dtype and g.shape == w.shape and torch.equal(g, w), (k, g, w)
assert meta == {"format": "pt", "arch": "{\"a\": [1, 2]}"}, meta
print("OK", len(got))
]==]

  it('writes a file that PyTorch reads by name', function()
    if os.execute("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") ~= 0 then
      pending('python3-torch is absent: /usr/bin/python3 cannot import torch')
      return
    end
    local path = dir .. '/for_torch.safetensors'
    nl.save_safetensors(path, {
      weight = nl.arange(0, 12):float():view(3, 4):t() / 4 - 1,
      bias64 = nl.tensor({ 0.1, -2.5, 1e300 }, 'float64'),
      steps = nl.tensor({ -3, 0, 2 ^ 53 }, 'int64'),
      scalar = nl.tensor(2.5),
      empty = nl.zeros(0, 3),
      ['layer.0/w\195\169ight "q"'] = nl.arange(0, 6, 'float64'):view(1, 2, 3),
    }, { format = 'pt', arch = '{"a": [1, 2]}' })
    local script = write('check.py', check_py)
    local p = assert(io.popen('/usr/bin/python3 ' .. q(script) .. ' ' .. q(path) .. ' 2>&1'))
    local out = p:read('*a')
    p:close()
    assert.are.equal('OK 6\n', out)
  end)
end)

teardown(function() os.execute('rm -rf ' .. q(dir)) end)
