-- nnlua's output under a host's locale: a program embedding nnlua that
-- called setlocale(LC_ALL, "de_DE.UTF-8") got C's snprintf with ',' as the
-- decimal point, in printed tensors (tensor([1,5000])), in the messages of
-- the C runtime and in ModelCheckpoint's file names ({loss:.2f}: m-0,62.st).
-- PyTorch and Python write '.' whatever the locale; the values expected
-- here are what PyTorch 1.13 prints and Python 3's str.format and json
-- write. The locale is built with localedef into the spec's directory (as
-- data_spec's CSV test does); the spec is pending where that fails.
local S = require 'support'

local q, contains = S.q, S.contains
local dir = S.tmpdir()

-- the output of a child luajit that sets the host locale, then runs code
local function under_de_locale(code)
  local locdir = dir .. '/locales'
  os.execute('mkdir -p ' .. q(locdir))
  local made = os.execute(('localedef -i de_DE -f UTF-8 %s >/dev/null 2>&1'):format(q(locdir .. '/de_DE.UTF-8')))
  if made ~= 0 and made ~= true then return nil end
  local script = S.write(dir .. '/child.lua', S.path_prelude .. [[
    assert(os.setlocale('de_DE.UTF-8', 'all'), 'de_DE.UTF-8 not found')
    assert(('%.1f'):format(0.5) == '0.5')          -- (LuaJIT's own format has no locale)
    local nl = require 'nnlua'
    local ffi = require 'ffi'
    pcall(ffi.cdef, 'int snprintf(char *s, size_t n, const char *fmt, ...);')
    local buf = ffi.new('char[32]')
    ffi.C.snprintf(buf, 32, '%.1f', ffi.cast('double', 0.5))
    print('C library', ffi.string(buf))
  ]] .. code .. [[
    print('locale after', os.setlocale(nil, 'numeric'))
  ]])
  local p = assert(io.popen(('LOCPATH=%s luajit %s 2>&1'):format(q(locdir), q(script))))
  local out = p:read('*a')
  p:close()
  return out
end

describe("output under the host's de_DE locale", function()
  local out = under_de_locale(([[
    print('T1', nl.tensor({ 1, 5000 }))
    print('T2', nl.tensor({ 1.5, 2.25 }))
    print('T3', nl.tensor(0.5, 'float64'))
    print('T4', nl.tensor({ 1, 2 }))
    print('E1', select(2, pcall(nl.clamp, nl.zeros(2), 2.5, 1.5)))
    local m = nl.nn.Linear(1, 1, { bias = false })
    m:compile { optimizer = 'sgd', loss = 'mse' }
    local losses = { 0.625, 1234.5 }
    local set = { on_epoch_end = function(_, e, logs) logs.loss = losses[e] end }
    m:fit(nl.ones(1, 1), nl.zeros(1, 1), { epochs = 2, batch_size = 1, verbose = 0, callbacks = { set,
      nl.callbacks.ModelCheckpoint(%q .. '/m-{epoch:02d}-{loss:.2f}-{loss:.1e}-{loss:.3}-{loss}.st',
                                   { save_weights_only = true }),
      nl.callbacks.CSVLogger(%q .. '/log.csv') } })
    for name in io.popen('ls ' .. %q):lines() do print('F', name) end
    local json = require 'nnlua.json'
    print('J1', json.encode({ a = 1.5, b = { -2.25e-7 } }), json.decode(json.encode({ 0.1 }))[1] == 0.1)
    print('J2', json.decode('{"a": 2.5e-1, "b": [-1.25]}').a, json.decode('[-1.25]')[1])
    nl.save({ x = 0.1, t = nl.tensor({ 2.5 }) }, %q .. '/s.st')
    local back = nl.load(%q .. '/s.st')
    print('S1', back.x == 0.1, back.t:item())
    nl.save_safetensors(%q .. '/m.st', { w = nl.ones(1) }, { lr = '0.001' })
    print('S2', select(2, nl.load_safetensors(%q .. '/m.st')).lr)
  ]]):format(dir, dir, dir, dir, dir, dir, dir))

  local function check(f)
    if not out then pending('localedef could not build de_DE.UTF-8 (no locale sources)') return end
    f(out)
  end

  it("is the locale's own for C's snprintf (the test's premise)", function()
    check(function(o) contains(o, 'C library\t0,5') contains(o, 'locale after\tde_DE.UTF-8') end)
  end)

  it('prints tensors with a decimal point, as PyTorch does', function()
    check(function(o)
      contains(o, 'T1\ttensor([1.0000e+00, 5.0000e+03], shape=[2], dtype=float32)')
      contains(o, 'T2\ttensor([1.5000, 2.2500], shape=[2], dtype=float32)')
      contains(o, 'T3\ttensor(0.5000, shape=[], dtype=float64)')
      contains(o, 'T4\ttensor([1., 2.], shape=[2], dtype=float32)')
    end)
  end)

  it("writes the C runtime's messages with a decimal point", function()
    check(function(o) contains(o, 'clamp: min 2.5 is greater than max 1.5') end)
  end)

  it("names ModelCheckpoint's files as Python's str.format does", function()
    check(function(o)
      contains(o, 'F\tm-01-0.62-6.2e-01-0.625-0.625.st')
      contains(o, 'F\tm-02-1234.50-1.2e+03-1.23e+03-1234.5.st')
    end)
  end)

  it('writes CSV logs and JSON and reads them back with a decimal point', function()
    check(function(o)
      assert.are.equal('epoch,loss\n1,0.625\n2,1234.5\n', S.read(dir .. '/log.csv'))
      contains(o, 'J1\t{"a":1.5,"b":[-2.2499999999999999e-07]}\ttrue')
      contains(o, 'J2\t0.25\t-1.25')
      contains(o, 'S1\ttrue\t2.5')
      contains(o, 'S2\t0.001')
    end)
  end)
end)

-- the C API takes a format from its caller: one that would read another
-- argument than the double (%s, %d, %*f, two conversions) is refused
describe('nl_format_double', function()
  it('formats one double and refuses formats of other arguments', function()
    local ffi, nl = require 'ffi', require 'nnlua'
    local lib, buf = nl._lib, ffi.new('char[64]')
    local function fmt(f, v)
      local n = lib.nl_format_double(buf, 64, f, v)
      return n >= 0 and ffi.string(buf, n) or ffi.string(lib.nl_error())
    end
    assert.are.equal('0.62', fmt('%.2f', 0.625))              -- Python's '%.2f' % 0.625
    assert.are.equal('[ 1.250e+03%]', fmt('[%10.3e%%]', 1250))
    for _, bad in ipairs({ '%s', '%d', '%*f', '%.2f %f', 'x', '%', '%.2' }) do
      contains(fmt(bad, 1), "format_double: the format '" .. bad .. "' must hold one conversion of a double")
    end
  end)
end)
