-- nl.data: IDX files (every element type, gzip and plain, truncated and
-- corrupt ones), CSV files (header, label by name or index, errors with
-- line and column), Fashion-MNIST checked against the raw bytes read by
-- the shell's zcat and od, TensorDataset and DataLoader (batch sizes,
-- drop_last, shuffles that cover every row once and differ per epoch,
-- seeds).
local ffi = require 'ffi'
local bit = require 'bit'
local nl = require 'nnlua'
local S = require 'support'
local data = nl.data

-- ---- helpers ---------------------------------------------------------------

local q, read, errmsg, contains = S.q, S.read, S.errmsg, S.contains
local dir = S.tmpdir()

local function write(name, bytes) return S.write(dir .. '/' .. name, bytes) end

-- path compressed by the gzip program into path .. '.gz'
local function gzip(path)
  assert(os.execute('gzip -c ' .. q(path) .. ' > ' .. q(path .. '.gz')) == 0)
  return path .. '.gz'
end


local function byte(v) return string.char(v % 256) end
local function be16(v) return string.char(bit.band(bit.rshift(v, 8), 255), bit.band(v, 255)) end
local function be32(v)
  return string.char(bit.band(bit.rshift(v, 24), 255), bit.band(bit.rshift(v, 16), 255),
                     bit.band(bit.rshift(v, 8), 255), bit.band(v, 255))
end
local f32u = ffi.new('union { float f; int32_t u; }')
local function be_float(v) f32u.f = v; return be32(f32u.u) end
local f64u = ffi.new('union { double d; uint8_t b[8]; }')
local function be_double(v)
  f64u.d = v
  local b = f64u.b
  return string.char(b[7], b[6], b[5], b[4], b[3], b[2], b[1], b[0])
end

-- an IDX file's bytes: magic, big-endian sizes, then the encoded values
local function idx_bytes(code, shape, vals, enc)
  local parts = { string.char(0, 0, code, #shape) }
  for _, s in ipairs(shape) do parts[#parts + 1] = be32(s) end
  for _, v in ipairs(vals) do parts[#parts + 1] = enc(v) end
  return table.concat(parts)
end

local flat = S.flat

-- ---- IDX -------------------------------------------------------------------

describe('data.load_idx', function()
  local types = {
    { code = 0x08, name = 'ubyte', vals = { 0, 1, 255, 128 }, enc = byte, natural = 'int64' },
    { code = 0x09, name = 'sbyte', vals = { -128, -1, 0, 127 }, enc = byte, natural = 'int64' },
    { code = 0x0B, name = 'short', vals = { -32768, -2, 300, 32767 }, enc = be16, natural = 'int64' },
    { code = 0x0C, name = 'int', vals = { -2147483648, -5, 70000, 2147483647 }, enc = be32, natural = 'int64' },
    { code = 0x0D, name = 'float', vals = { 1.5, -0.25, 1e10, 2 ^ -20 }, enc = be_float, natural = 'float32' },
    { code = 0x0E, name = 'double', vals = { math.pi, -1e300, 5e-324, 0.1 }, enc = be_double, natural = 'float64' },
  }
  for _, ty in ipairs(types) do
    for _, compressed in ipairs({ false, true }) do
      local label = string.format('reads %s (0x%02X) %s', ty.name, ty.code, compressed and 'gzip' or 'plain')
      it(label, function()
        local path = write('t' .. ty.code .. '.idx', idx_bytes(ty.code, { 2, 2 }, ty.vals, ty.enc))
        if compressed then path = gzip(path) end
        local t = data.load_idx(path)
        assert.are.equal(ty.natural, t:dtype())
        assert.are.same({ 2, 2 }, t:shape())
        assert.are.same(ty.vals, flat(t))
        -- every value above is exact in float64
        assert.are.same(ty.vals, flat(data.load_idx(path, 'float64')))
      end)
    end
  end

  it('converts to the requested dtype', function()
    local path = write('u8.idx', idx_bytes(0x08, { 4 }, { 0, 1, 255, 128 }, byte))
    local t = data.load_idx(path, 'float32')
    assert.are.equal('float32', t:dtype())
    assert.are.same({ 0, 1, 255, 128 }, flat(t))
    local s = data.load_idx(write('s.idx', idx_bytes(0x0B, { 3 }, { -7, 0, 9 }, be16)), 'float32')
    assert.are.same({ -7, 0, 9 }, flat(s))
  end)

  -- the element named as Lua counts (it said element 2 for the third)
  it('names the element, counting from 1, that does not fit in int64', function()
    local path = write('nan.idx', idx_bytes(0x0E, { 3 }, { 1, 2, 0 / 0 }, be_double))
    contains(errmsg(data.load_idx, path, 'int64'), 'element 3 (counting from 1) holds ')
  end)

  -- a fraction was truncated to int64 without a word (1.5 -> 1, -0.25 -> 0),
  -- where a NaN or a value past int64 was an error
  it('refuses a fraction as int64, and keeps whole floats', function()
    local path = write('frac.idx', idx_bytes(0x0D, { 3 }, { 4, 1.5, -0.25 }, be_float))
    contains(errmsg(data.load_idx, path, 'int64'), "load_idx: '" .. path .. "': element 2 (counting from 1) holds 1.5, "
             .. 'which is not a whole number; load it as float32 or float64')
    local big = write('big.idx', idx_bytes(0x0E, { 2 }, { 2 ^ 63, -2 }, be_double))
    contains(errmsg(data.load_idx, big, 'int64'), 'element 1 (counting from 1) holds 9.2233720368547758e+18, '
             .. 'which does not fit in int64')
    local t = data.load_idx(write('whole.idx', idx_bytes(0x0E, { 3 }, { -3, 2 ^ 53 + 2, 0 }, be_double)), 'int64')
    assert.are.equal('int64', t:dtype())
    assert.are.equal(-3, t[1])
    assert.are.equal(0, t[3])
    assert.are.equal(2 ^ 53 + 2, t[2])
  end)

  it('keeps a 3-D shape in row-major order', function()
    local vals = {}
    for i = 1, 24 do vals[i] = i - 1 end
    local t = data.load_idx(write('cube.idx', idx_bytes(0x08, { 2, 3, 4 }, vals, byte)))
    assert.are.same({ 2, 3, 4 }, t:shape())
    assert.are.equal(23, t[2][3][4])
    assert.are.equal(6, t[1][2][3])
  end)

  it('rejects a file whose data is cut short, naming the path', function()
    local path = write('short.idx', idx_bytes(0x08, { 2, 2 }, { 1, 2, 3 }, byte))
    local msg = errmsg(data.load_idx, path)
    contains(msg, 'load_idx')
    contains(msg, path)
    contains(msg, 'truncated')
  end)

  it('rejects a truncated gzip file', function()
    local vals = {}
    for i = 1, 4000 do vals[i] = (i * 7919) % 251 end
    local gz = gzip(write('big.idx', idx_bytes(0x08, { 4000 }, vals, byte)))
    local bytes = read(gz)
    local cut = write('cut.idx.gz', bytes:sub(1, math.floor(#bytes / 2)))
    local msg = errmsg(data.load_idx, cut)
    contains(msg, 'load_idx')
    contains(msg, cut)
    -- zlib's reason once, without a stream name of zlib's (<fd:3>) or the path again
    contains(msg, "load_idx: '" .. cut .. "' is truncated or corrupt: unexpected end of file")
    -- the full file reads
    assert.are.equal(4000, data.load_idx(gz):numel())
  end)

  it('rejects a gzip file whose checksum does not match', function()
    local gz = gzip(write('crc.idx', idx_bytes(0x08, { 3 }, { 1, 2, 3 }, byte)))
    local bytes = read(gz)
    local n = #bytes
    local bad = bytes:sub(1, n - 8) .. string.char((bytes:byte(n - 7) + 1) % 256) .. bytes:sub(n - 6)
    local msg = errmsg(data.load_idx, write('crc.idx.gz', bad))
    contains(msg, 'load_idx')
    contains(msg, 'crc.idx.gz')
    contains(msg, "load_idx: cannot read '" .. dir .. "/crc.idx.gz': incorrect data check")
  end)

  -- As Python's gzip module reads a file (gzip.open(f).read() and
  -- gzip.decompress agree): members one after another are one stream,
  -- zero bytes after a member are padding, anything else after it is an
  -- error. zlib's gzread ignored trailing garbage, and stopped at zero
  -- padding, losing a member after it.
  it('reads concatenated gzip members and zero padding, and refuses other trailing bytes', function()
    local vals = { 3, 1, 4, 1, 5, 9 }
    local raw = idx_bytes(0x08, { 2, 3 }, vals, byte)
    local head = read(gzip(write('part1.idx', raw:sub(1, 13))))
    local tail = read(gzip(write('part2.idx', raw:sub(14))))
    assert.are.same({ { 3, 1, 4 }, { 1, 5, 9 } }, data.load_idx(write('two.idx.gz', head .. tail)):totable())
    local zeros = string.rep('\0', 7)
    assert.are.same({ { 3, 1, 4 }, { 1, 5, 9 } },
                    data.load_idx(write('padmid.idx.gz', head .. zeros .. tail .. zeros)):totable())
    local whole = read(gzip(write('whole.idx', raw)))
    assert.are.same({ { 3, 1, 4 }, { 1, 5, 9 } }, data.load_idx(write('pad.idx.gz', whole .. zeros)):totable())
    for name, junk in pairs({ garbage = 'garbage', one = 'x', zthen = '\0\0\1', half = '\31' }) do
      local path = write('junk-' .. name .. '.idx.gz', whole .. junk)
      local msg = errmsg(data.load_idx, path)
      contains(msg, "load_idx: '" .. path .. "' has data after its gzip data that is neither zero padding "
                    .. 'nor another gzip member')
    end
    local path = write('junk.csv.gz', read(gzip(write('junk.csv', 'a,b\n1,2\n'))) .. 'x,y\n')
    contains(errmsg(data.load_csv, path), "load_csv: '" .. path .. "' has data after its gzip data")
    -- a second member cut short, down to its magic bytes alone
    for _, k in ipairs({ 2, 3, 12, #tail - 1 }) do
      contains(errmsg(data.load_idx, write('cut2.idx.gz', head .. tail:sub(1, k))),
               "load_idx: '" .. dir .. "/cut2.idx.gz' is truncated or corrupt: unexpected end of file")
    end
  end)

  it('rejects a header cut short', function()
    local path = write('hdr.idx', string.char(0, 0, 8, 3) .. be32(2))
    local msg = errmsg(data.load_idx, path)
    contains(msg, path)
    contains(msg, 'truncated')
    contains(errmsg(data.load_idx, write('tiny.idx', string.char(0, 0))), 'too short')
  end)

  it('rejects trailing data', function()
    local path = write('long.idx', idx_bytes(0x08, { 2, 2 }, { 1, 2, 3, 4, 5 }, byte))
    contains(errmsg(data.load_idx, path), 'data after the 4 bytes')
  end)

  it('rejects bad magic bytes, unknown types and too many dims', function()
    contains(errmsg(data.load_idx, write('m1.idx', string.char(1, 0, 8, 1) .. be32(1) .. 'x')), 'not an IDX file')
    contains(errmsg(data.load_idx, write('m2.idx', string.char(0, 0, 0x0A, 1) .. be32(1) .. 'x')), 'not an IDX file')
    local nine = string.char(0, 0, 8, 9) .. string.rep(be32(1), 9) .. 'x'
    contains(errmsg(data.load_idx, write('m3.idx', nine)), 'has 9 dims')
  end)

  it('rejects a size too large for memory without trying to allocate it', function()
    local path = write('huge.idx', string.char(0, 0, 0x0E, 2) .. be32(0x7fffffff) .. be32(0x7fffffff) .. 'abc')
    contains(errmsg(data.load_idx, path), 'too large')
    -- the whole shape, read before the product is checked (the third dim
    -- was printed unread: stack garbage)
    local path3 = write('huge3.idx', string.char(0, 0, 0x08, 3) .. be32(0x7fffffff):rep(2) .. be32(5) .. 'abc')
    contains(errmsg(data.load_idx, path3), 'shape [2147483647,2147483647,5] is too large')
    local path2 = write('huge2.idx', string.char(0, 0, 0x08, 1) .. be32(0x7fffffff) .. 'abc')
    contains(errmsg(data.load_idx, path2), 'truncated')
  end)

  it('names a missing file', function()
    local msg = errmsg(data.load_idx, dir .. '/nope.idx')
    contains(msg, 'load_idx: cannot open')
    contains(msg, 'nope.idx')
    contains(errmsg(data.load_idx, dir), 'is a directory')
  end)
end)

-- ---- CSV -------------------------------------------------------------------

describe('data.load_csv', function()
  local iris = write('iris.csv', 'sepal,petal,species\n1.5,2,0\n-3e2, 4 ,1\n"5",6,2\n')

  it('splits the label column by name', function()
    local X, y, names = data.load_csv(iris, { label = 'species' })
    assert.are.equal('float32', X:dtype())
    assert.are.same({ { 1.5, 2 }, { -300, 4 }, { 5, 6 } }, X:totable())
    assert.are.equal('int64', y:dtype())
    assert.are.same({ 0, 1, 2 }, y:totable())
    assert.are.same({ 'sepal', 'petal' }, names)
  end)

  it('splits the label column by index, also from the end', function()
    local X, y = data.load_csv(iris, { label = 1, label_dtype = 'float32' })
    assert.are.same({ { 2, 0 }, { 4, 1 }, { 6, 2 } }, X:totable())
    assert.are.equal('float32', y:dtype())
    assert.are.same({ 1.5, -300, 5 }, y:totable())
    local _, y2 = data.load_csv(iris, { label = -1 })
    assert.are.same({ 0, 1, 2 }, y2:totable())
  end)

  it('returns every column without a label', function()
    local X, y, names = data.load_csv(iris)
    assert.are.same({ 3, 3 }, X:shape())
    assert.is_nil(y)
    assert.are.same({ 'sepal', 'petal', 'species' }, names)
  end)

  it('reads without a header, other delimiters, CRLF, blank lines and gzip', function()
    local p = write('semi.csv', '1;2;3\r\n\r\n4;5;6\r\n')
    local X = data.load_csv(p, { header = false, delimiter = ';' })
    assert.are.same({ { 1, 2, 3 }, { 4, 5, 6 } }, X:totable())
    local Xg, yg = data.load_csv(gzip(iris), { label = 'species' })
    assert.are.same({ 0, 1, 2 }, yg:totable())
    assert.are.same({ 3, 2 }, Xg:shape())
  end)

  -- a quoted header name holding the delimiter is one column (it counted as
  -- two, and every data row then had too few fields), and blank lines
  -- before the header are skipped as they are before data rows (the blank
  -- line was taken as a header of one column)
  it('reads a quoted header name with the delimiter in it, and blank lines before the header', function()
    local X, y, names = data.load_csv(write('quoted.csv', '"Price, USD",qty,label\n1.5,2,0\n3,4,1\n'), { label = 'label' })
    assert.are.same({ 'Price, USD', 'qty' }, names)
    assert.are.same({ { 1.5, 2 }, { 3, 4 } }, X:totable())
    assert.are.same({ 0, 1 }, y:totable())
    local X2, _, names2 = data.load_csv(write('blank.csv', '\n  \r\na,b\n1,2\n'))
    assert.are.same({ 'a', 'b' }, names2)
    assert.are.same({ { 1, 2 } }, X2:totable())
  end)

  -- CR line ends made one line (the header took the data as names: no
  -- rows, no error); a quote in a name counted only at the field's start
  -- and "" is one quote, as Python's csv reads them (a name with "" could
  -- not be picked; a quote mid-name hid the later delimiters)
  it('reads CR line ends and quotes as RFC 4180 does', function()
    local X, _, names = data.load_csv(write('cr.csv', 'a,b\r1,2\r\r3,4\r'))
    assert.are.same({ 'a', 'b' }, names)
    assert.are.same({ { 1, 2 }, { 3, 4 } }, X:totable())
    local X2, y2, names2 = data.load_csv(write('esc.csv', '"a ""q"", x",b,y\n1,2,0\n'), { label = 'a "q", x' })
    assert.are.same({ 'b', 'y' }, names2)
    assert.are.same({ { 2, 0 } }, X2:totable())
    assert.are.same({ 1 }, y2:totable())
    local X3, _, names3 = data.load_csv(write('midq.csv', 'size 15",weight\n1,2\n'))
    assert.are.same({ 'size 15"', 'weight' }, names3)
    assert.are.same({ { 1, 2 } }, X3:totable())
    contains(errmsg(data.load_csv, write('qd.csv', 'a,b\n"2,3",4\n')), "line 2, column 1: '2,3' is not a number")
    -- a tab delimiter is not a space to skip: the empty first name pandas
    -- writes for its index (Python's csv: ['', 'x', 'y']) was dropped, and
    -- the label by name took the column before it
    local X4, y4, names4 = data.load_csv(write('tab.tsv', '\tx\ty\n0\t1\t2\n1\t3\t4\n'), { delimiter = '\t', label = 'y' })
    assert.are.same({ '', 'x' }, names4)
    assert.are.same({ 2, 4 }, y4:totable())
    assert.are.same({ { 0, 1 }, { 1, 3 } }, X4:totable())
    local _, _, names5 = data.load_csv(write('tab2.tsv', 'x\t\ty\n0\t1\t2\n'), { delimiter = '\t' })
    assert.are.same({ 'x', '', 'y' }, names5)
  end)

  -- A quoted field runs to its closing quote across line ends, in the
  -- header as in the rows, as RFC 4180 and Python's csv module read it
  -- (csv.reader gives ['a\nb', 'c'] for the first file's header): the
  -- header name was cut at its line end, the rest of it taken for a row
  -- of the wrong length. Lines are still counted as the file's lines.
  it('reads a quoted field holding line ends, in the header and in rows', function()
    local X, y, names = data.load_csv(write('nlname.csv', '"a\nb",c,"d ""e""\r\nf"\n1,2,0\n3,4,1\n'),
                                      { label = 'd "e"\r\nf' })
    assert.are.same({ 'a\nb', 'c' }, names)
    assert.are.same({ { 1, 2 }, { 3, 4 } }, X:totable())
    assert.are.same({ 0, 1 }, y:totable())
    local _, _, names2 = data.load_csv(write('nlname2.csv', '"x\r\ny",z\r\n5,6\r\n'))
    assert.are.same({ 'x\r\ny', 'z' }, names2)
    -- a row's quoted field spans lines too: one field, and the line count goes on
    local msg = errmsg(data.load_csv, write('nlrow.csv', '"p\n\nq",r\n1,2\n"1\n",3\nz,4\n'))
    contains(msg, "line 5, column 1: '1\n' is not a number")
    contains(errmsg(data.load_csv, write('nlrow2.csv', '"p\nq",r\n1,2\nz,4\n')), "line 4, column 1: 'z' is not a number")
    contains(errmsg(data.load_csv, write('nlrow3.csv', 'a,"b\n"\n1,2\n3,4,5\n')), 'line 4 has 3 fields, expected 2 as on line 1')
    -- a quote never closed is an error naming the line its row starts on
    contains(errmsg(data.load_csv, write('unclosed.csv', 'a,b\n1,2\n\n3,"4\n5,6\n')),
             "load_csv: '" .. dir .. "/unclosed.csv' line 4: the row that starts there has a quoted field that is never closed")
    contains(errmsg(data.load_csv, write('unclosed2.csv', '"a,b\n1,2\n')), 'line 1: the row that starts there')
  end)

  -- strtod's hex and nan(...) forms were numbers (Python and numpy refuse
  -- them: a hex ID column became values); int64 labels past 2^53 came back
  -- rounded, and one past 2^63 was 'not a whole number'
  it('refuses hex numbers and int64 labels it cannot hold exactly', function()
    contains(errmsg(data.load_csv, write('hex.csv', 'a,b\n0x10,2\n')), "line 2, column 1: '0x10' is not a number")
    contains(errmsg(data.load_csv, write('hexf.csv', '1,0X1p3\n'), { header = false }), "'0X1p3' is not a number")
    contains(errmsg(data.load_csv, write('nanp.csv', '1,nan(1)\n'), { header = false }), "'nan(1)' is not a number")
    local Xs = data.load_csv(write('specials.csv', 'inf,-nan,1e3,.5,+2\n'), { header = false, dtype = 'float64' })
    local v = Xs:totable()[1]
    assert.are.equal(math.huge, v[1])
    assert.are_not.equal(v[2], v[2])
    assert.are.same({ 1000, 0.5, 2 }, { v[3], v[4], v[5] })
    local big = write('big.csv', 'x,y\n1,3\n2,9007199254740993\n')
    contains(errmsg(data.load_csv, big, { label = 'y' }), "label column 'y'")
    contains(errmsg(data.load_csv, big, { label = 'y' }), "data row 2, past 2^53")
    contains(errmsg(data.load_csv, write('big2.csv', 'x,y\n1,-1e19\n'), { label = 'y' }), 'past 2^53')
    local _, y = data.load_csv(write('edge.csv', 'x,y\n1,9007199254740991\n2,-9007199254740991\n'), { label = 'y' })
    assert.are.equal(2 ^ 53 - 1, y[1])
    assert.are.equal(-(2 ^ 53 - 1), y[2])
  end)

  it('names the line and column of a field that is not a number', function()
    local p = write('bad.csv', 'a,b,c\n1,2,3\n\n4,abc,6\n')
    local msg = errmsg(data.load_csv, p)
    contains(msg, 'load_csv')
    contains(msg, p)
    contains(msg, "line 4, column 2: 'abc' is not a number")
    contains(errmsg(data.load_csv, write('empty.csv', 'a,b\n1,\n')), 'line 2, column 2: empty field')
  end)

  it('names a ragged row', function()
    local p = write('ragged.csv', 'a,b,c\n1,2,3\n4,5\n')
    contains(errmsg(data.load_csv, p), 'line 3 has 2 fields, expected 3 as on line 1')
    local p2 = write('ragged2.csv', '1,2\n3,4,5\n')
    contains(errmsg(data.load_csv, p2, { header = false }), 'line 2 has 3 fields, expected 2 as on line 1')
  end)

  it('rejects an unknown label name, listing the columns', function()
    contains(errmsg(data.load_csv, iris, { label = 'kind' }), "no column named 'kind'")
    contains(errmsg(data.load_csv, iris, { label = 'kind' }), 'sepal, petal, species')
    contains(errmsg(data.load_csv, iris, { label = 4 }), 'label column 4 out of range for 3 columns')
  end)

  it('refuses fractional labels as int64', function()
    local p = write('frac.csv', 'x,y\n1,0\n2,0.5\n')
    contains(errmsg(data.load_csv, p, { label = 'y' }), "label column 'y'")
    contains(errmsg(data.load_csv, p, { label = 'y' }), 'data row 2')
  end)

  -- dtype = 'int64' is held to what label_dtype = 'int64' is: 1.5 came
  -- back as 1 and NaN as 0 without a word (numpy 1.24's loadtxt warns that
  -- it truncates so, and will refuse; pandas refuses)
  it('refuses values that int64 cannot hold as written with dtype int64', function()
    local p = write('fracx.csv', 'a,b,c\n1,2,3\n4,5.5,6\n')
    contains(errmsg(data.load_csv, p, { dtype = 'int64' }),
             "load_csv: column 'b' of '" .. p .. "' holds 5.5 on data row 2, not a whole number; use dtype='float32'")
    contains(errmsg(data.load_csv, p, { dtype = 'int64', label = 'c' }), "column 'b' of")
    local X, y = data.load_csv(p, { dtype = 'int64', label = 'b', label_dtype = 'float64' })
    assert.are.equal('int64', X:dtype())
    assert.are.same({ { 1, 3 }, { 4, 6 } }, X:totable())
    assert.are.same({ 2, 5.5 }, y:totable())
    contains(errmsg(data.load_csv, write('nanx.csv', '1,2\n3,nan\n'), { dtype = 'int64', header = false }),
             "column 2 of '" .. dir .. "/nanx.csv' holds nan on data row 2, not a whole number")
    contains(errmsg(data.load_csv, write('infx.csv', '1,-inf\n'), { dtype = 'int64', header = false }), 'holds -inf')
    contains(errmsg(data.load_csv, write('bigx.csv', 'a\n9007199254740993\n'), { dtype = 'int64' }),
             "column 'a' of '" .. dir .. "/bigx.csv' holds 9007199254740992 on data row 1, past 2^53")
  end)

  -- strtod follows LC_NUMERIC, which a host program may set (setlocale(LC_ALL,
  -- "") under a German environment): '1.5' was then not a number and
  -- '"1,5"' was 1.5. Python's float() reads the C locale's numbers
  -- whatever the locale. The locale is built with localedef into a
  -- directory of the spec's (the machine need not have it installed).
  it('reads numbers in the C locale whatever LC_NUMERIC the host set', function()
    local locdir = dir .. '/locales'
    os.execute('mkdir -p ' .. q(locdir))
    local made = os.execute(('localedef -i de_DE -f UTF-8 %s >/dev/null 2>&1'):format(q(locdir .. '/de_DE.UTF-8')))
    if made ~= 0 and made ~= true then
      pending('localedef could not build de_DE.UTF-8 (no locale sources)')
      return
    end
    local csv1 = write('de1.csv', 'a,b\n1.5,-2.25e1\n')
    local csv2 = write('de2.csv', 'a;b\n"1,5";2\n')
    local script = write('locale_child.lua', S.path_prelude .. [[
      local nl = require 'nnlua'
      assert(os.setlocale('de_DE.UTF-8', 'numeric'), 'de_DE.UTF-8 not found')
      local X = nl.data.load_csv(arg[1], { dtype = 'float64' })
      print('values', X[1][1], X[1][2])
      print(pcall(nl.data.load_csv, arg[2], { delimiter = ';' }))
      print('locale after', os.setlocale(nil, 'numeric'))
    ]])
    local p = assert(io.popen(('LOCPATH=%s luajit %s %s %s 2>&1'):format(q(locdir), q(script), q(csv1), q(csv2))))
    local out = p:read('*a')
    p:close()
    contains(out, 'values\t1.5\t-22.5')
    contains(out, "line 2, column 1: '1,5' is not a number")
    contains(out, 'locale after\tde_DE.UTF-8')
  end)

  -- a file of blank lines had "1 lines; expected at least 1 header lines"
  it('names an empty file and one of blank lines as having no header', function()
    contains(errmsg(data.load_csv, write('empty0.csv', '')), "load_csv: '" .. dir .. "/empty0.csv' has no header line: the file is empty")
    contains(errmsg(data.load_csv, write('blank1.csv', ' \n')), "/blank1.csv' has no header line: its 1 line is blank")
    contains(errmsg(data.load_csv, write('blank3.csv', '\r\n\t\n\n')), "/blank3.csv' has no header line: its 3 lines are blank")
    local X = data.load_csv(write('blank4.csv', '\n \n'), { header = false })
    assert.are.same({ 0, 0 }, X:shape())
  end)

  it('names a missing file', function()
    contains(errmsg(data.load_csv, dir .. '/none.csv'), 'load_csv: cannot open')
  end)

  -- A FIFO that no process writes: its open waited for a writer forever
  -- (load_csv and load_idx alike); /dev/zero was read until memory ran
  -- out before its NUL bytes were looked at. Each runs in a child under a
  -- time and memory limit. A pipe with a writer is still read.
  it('reads a FIFO without a writer as empty, refuses /dev/zero at once, and reads a pipe', function()
    local fifo = dir .. '/nowriter'
    assert(os.execute('rm -f ' .. q(fifo) .. ' && mkfifo ' .. q(fifo)) == 0)
    local script = write('fifo_child.lua', S.path_prelude .. [[
      local data = require('nnlua').data
      for _, f in ipairs({ 'load_csv', 'load_idx' }) do print(pcall(data[f], arg[1])) end
      print(pcall(data.load_csv, '/dev/zero'))
      print(pcall(data.load_csv, arg[2]))
    ]])
    local csv = write('piped.csv', 'a,b\n1,2\n3,4\n')
    -- (ASan, under make test-asan, reserves its shadow memory past any
    -- ulimit -v; its max_allocation_size_mb bounds the child there)
    local limit = (os.getenv('LD_PRELOAD') or ''):find('asan', 1, true) and '' or 'ulimit -v 4000000; '
    local p = assert(io.popen(('bash -c %s 2>&1'):format(q(('%stimeout 20 luajit %s %s <(gzip -c %s)')
                                                        :format(limit, q(script), q(fifo), q(csv))))))
    local out = p:read('*a')
    p:close()
    contains(out, "load_csv: '" .. fifo .. "' has no header line: the file is empty")
    contains(out, "load_idx: '" .. fifo .. "' is too short for an IDX file (0 bytes)")
    contains(out, "load_csv: '/dev/zero' holds a NUL byte; it is not a text file")
    contains(out, 'true\ttensor([[1., 2.],')
  end)
end)

-- ---- Fashion-MNIST ---------------------------------------------------------

local FMNIST = '/usr/share/datasets/fashion-mnist/'

-- n bytes from offset of a gzip file, as numbers, read by zcat and od
local function raw_bytes(file, offset, n)
  local p = assert(io.popen(string.format('zcat %s | od -An -v -tu1 -j%d -N%d', q(FMNIST .. file), offset, n)))
  local out = {}
  for v in p:read('*a'):gmatch('%d+') do out[#out + 1] = tonumber(v) end
  p:close()
  return out
end

describe('data.fashion_mnist', function()
  local train, test
  setup(function() train, test = data.fashion_mnist() end)

  it('has the published shapes and dtypes', function()
    assert.are.same({ 60000, 784 }, train.X:shape())
    assert.are.same({ 60000 }, train.y:shape())
    assert.are.same({ 10000, 784 }, test.X:shape())
    assert.are.same({ 10000 }, test.y:shape())
    assert.are.equal('float32', train.X:dtype())
    assert.are.equal('int64', train.y:dtype())
  end)

  it('scales pixels into [0, 1] and labels into 1..10', function()
    for _, s in ipairs({ train, test }) do
      assert.are.equal(0, s.X:min():item())
      assert.are.equal(1, s.X:max():item())
      assert.are.equal(1, s.y:min():item())
      assert.are.equal(10, s.y:max():item())
    end
  end)

  it('has every class equally often', function()
    for c = 1, 10 do
      assert.are.equal(6000, nl.eq(train.y, c):sum():item())
      assert.are.equal(1000, nl.eq(test.y, c):sum():item())
    end
  end)

  it('matches the raw gzip bytes read by zcat and od', function()
    assert.are.equal(raw_bytes('train-labels-idx1-ubyte.gz', 8, 1)[1] + 1, train.y[1])
    assert.are.equal(raw_bytes('t10k-labels-idx1-ubyte.gz', 8 + 9999, 1)[1] + 1, test.y[10000])
    local px = raw_bytes('train-images-idx3-ubyte.gz', 16, 784)
    assert.are.equal(784, #px)
    local row = train.X[1]
    for k = 1, 784 do
      assert(math.abs(row[k] * 255 - px[k]) < 1e-4, 'pixel ' .. k)
    end
  end)

  it('names the Debian package when the files are missing', function()
    local msg = errmsg(data.fashion_mnist, dir .. '/no-such-dir')
    contains(msg, 'dataset-fashion-mnist')
    contains(msg, dir .. '/no-such-dir/train-images-idx3-ubyte.gz')
  end)
end)

-- ---- datasets that keep bytes ----------------------------------------------

describe('data.IdxDataset', function()
  -- 256 rows of 2 x 2 bytes covering every byte value, labels 0..255 % 10
  local n = 256
  local vals, labs = {}, {}
  for i = 0, n - 1 do
    for j = 0, 3 do vals[#vals + 1] = (i * 4 + j * 67) % 256 end
    labs[#labs + 1] = i % 10
  end
  local ipath = gzip(write('ds-images.idx', idx_bytes(0x08, { n, 2, 2 }, vals, byte)))
  local lpath = write('ds-labels.idx', idx_bytes(0x08, { n }, labs, byte))

  it('holds byte / 255 per row: float64 as Lua divides, float32 as load_idx and div_ give', function()
    local d64 = data.IdxDataset(ipath, lpath, { dtype = 'float64' })
    local X64 = d64:tensors()
    assert.are.same({ n, 4 }, X64:shape())
    assert.are.equal('float64', X64:dtype())
    local got = flat(X64)
    for k = 1, #vals do assert.are.equal(vals[k] / 255, got[k]) end
    local X32, y = data.IdxDataset(ipath, lpath):tensors()
    assert.are.equal('float32', X32:dtype())
    local want = data.load_idx(ipath, 'float32'):view(n, 4):div_(255)
    assert.are.same(flat(want), flat(X32))      -- bit for bit, every byte value
    -- other divisors, as div_ divides. For 1e-37 the FMA form is off by a
    -- rounding for some byte value and the loader divides; going back and
    -- forth checks that each divisor gets its own answer, not the last one's
    for _, d in ipairs({ 3, 7, 0.3, 1e-3, 1e-37, 3, 1e-37 }) do
      local Xd = data.IdxDataset(ipath, nil, { divisor = d }):tensors()
      assert.are.same(flat(data.load_idx(ipath, 'float32'):view(n, 4):div_(d)), flat(Xd))
    end
    assert.are.equal('int64', y:dtype())
    for i = 1, n do assert.are.equal(labs[i] + 1, y[i]) end
  end)

  it('gives rows by index, by ds:get and by ds:batch in any order', function()
    local ds = data.IdxDataset(ipath, lpath, { flatten = false, divisor = 1, label_offset = 0 })
    assert.are.equal(n, #ds)
    local x, yv = ds:get(7)
    assert.are.same({ { vals[25], vals[26] }, { vals[27], vals[28] } }, x:totable())
    assert.are.equal(labs[7], yv)
    local row = ds[256]
    assert.are.same({ 2, 2 }, row[1]:shape())
    assert.are.equal(labs[256], row[2])
    local idx = nl.tensor({ 200, 3, 3, 1 }, 'int64')
    local Xb, yb = ds:batch(idx)
    assert.are.same({ 4, 2, 2 }, Xb:shape())
    local all = data.load_idx(ipath, 'float32')
    assert.are.same(all:index_select(1, idx):totable(), Xb:totable())
    assert.are.same({ labs[200], labs[3], labs[3], labs[1] }, yb:totable())
    local none = ds:batch(nl.zeros({ 0 }, 'int64'))
    assert.are.same({ 0, 2, 2 }, none:shape())
  end)

  it('feeds a DataLoader the batches a TensorDataset of the same values gives', function()
    local ds = data.IdxDataset(ipath, lpath)
    local X, y = ds:tensors()
    for _, opts in ipairs({ { batch_size = 50, shuffle = true, seed = 5 }, { batch_size = 100 },
                            { batch_size = 64, shuffle = true, seed = 9, drop_last = true } }) do
      local a, b = data.DataLoader(ds, opts), data.DataLoader(data.TensorDataset(X, y), opts)
      assert.are.equal(#b, #a)
      local ib, batches = b:iter(), 0
      for xa, ya in a:iter() do
        local xb, yb = ib()
        assert.are.same(flat(xb), flat(xa))
        assert.are.same(yb:totable(), ya:totable())
        batches = batches + 1
      end
      assert.are.equal(#b, batches)
      assert.is_nil(ib())
    end
  end)

  it('works without labels', function()
    local ds = data.IdxDataset(ipath)
    local x, extra = ds:get(2)
    assert.are.same({ 4 }, x:shape())
    assert.is_nil(extra)
    local seen = 0
    for xb, yb in data.DataLoader(ds, { batch_size = 100 }):iter() do
      assert.is_nil(yb)
      seen = seen + xb:size(1)
    end
    assert.are.equal(n, seen)
  end)

  it('names the dataset, the file and the shapes in its errors', function()
    local ds = data.IdxDataset(ipath, lpath)
    contains(errmsg(ds.batch, ds, nl.tensor({ 1, 257 }, 'int64')), 'IdxDataset:batch: row 257 out of range for shape [256,2,2]')
    contains(errmsg(ds.batch, ds, nl.tensor({ 0 }, 'int64')), 'row 0 out of range')
    contains(errmsg(ds.batch, ds, nl.tensor({ 1, 2 })), 'index must be a 1-D int64 tensor, got float32 [2]')
    contains(errmsg(ds.batch, ds, { 1, 2 }), 'IdxDataset:batch: expected an int64 tensor')
    contains(errmsg(ds.get, ds, 0), 'IdxDataset: index 0 out of range 1..256')
    local floats = write('ds-floats.idx', idx_bytes(0x0D, { 2 }, { 1.5, 2 }, be_float))
    local msg = errmsg(data.IdxDataset, floats)
    contains(msg, 'IdxDataset')
    contains(msg, floats)
    contains(msg, 'float elements, not unsigned bytes')
    local few = write('ds-few.idx', idx_bytes(0x08, { 3 }, { 1, 2, 3 }, byte))
    contains(errmsg(data.IdxDataset, ipath, few), 'has 256 images (shape [256,2,2]) but ' .. few .. ' has labels of shape [3]')
    local cut = write('ds-cut.idx', idx_bytes(0x08, { 4, 2 }, { 1, 2, 3 }, byte))
    contains(errmsg(data.IdxDataset, cut), 'IdxDataset: ' .. "'" .. cut .. "' is truncated")
    contains(errmsg(data.IdxDataset, dir .. '/missing.idx'), 'cannot open')
    contains(errmsg(data.IdxDataset, ipath, nil, { divisor = 0 }), 'divisor must be a positive number')
    contains(errmsg(data.IdxDataset, ipath, nil, { dtype = 'int64' }), 'dtype must be float32 or float64')
    contains(errmsg(data.IdxDataset, ipath, nil, { label_offset = 0.5 }), 'label_offset must be an integer')
    contains(errmsg(data.IdxDataset, 5), 'IdxDataset: expected a path string')
  end)
end)

describe('data.FashionMNIST', function()
  it('keeps the bytes and gives the values of data.fashion_mnist bit for bit', function()
    local train, test = data.fashion_mnist()
    for _, c in ipairs({ { data.FashionMNIST(), train }, { data.FashionMNIST(FMNIST, { train = false }), test } }) do
      local ds, want = c[1], c[2]
      assert.are.equal(want.X:size(1), #ds)
      local X, y = ds:tensors()
      assert.are.same(want.X:shape(), X:shape())
      assert.are.equal(0, nl.ne(X, want.X):sum():item())
      assert.are.equal(0, nl.ne(y, want.y):sum():item())
    end
  end)

  it('holds a quarter of the memory of float copies (peak RSS of a child process)', function()
    -- VmHWM of a child nnlua after code ran
    local function peak(code)
      local bin = os.getenv('NNLUA_BIN') or S.root .. '/bin/nnlua'
      code = code .. "\nlocal f = io.open('/proc/self/status'); io.write(f:read('*a'):match('VmHWM:%s*(%d+)')); f:close()"
      local p = assert(io.popen(string.format('%s -e %s 2>&1', q(bin), q(code))))
      local out = p:read('*a')
      p:close()
      return assert(tonumber(out), out) / 1024
    end
    local base = peak('')
    local bytes = peak('local ds = nl.data.FashionMNIST(); assert(#ds == 60000)') - base
    local floats = peak('local tr = nl.data.fashion_mnist(); assert(tr.X:size(1) == 60000)') - base
    -- the training images are 47 MB as bytes, 188 MB as float32
    assert(bytes > 40 and bytes < 80, ('FashionMNIST() added %.0f MB'):format(bytes))
    assert(floats > 188, ('fashion_mnist() added %.0f MB'):format(floats))
  end)

  it("passes its other options to IdxDataset: label_offset = 0 gives the file's labels 0..9", function()
    local _, test = data.fashion_mnist()
    local ds = data.FashionMNIST(nil, { train = false, label_offset = 0, flatten = false })
    local X, y = ds:tensors()
    assert.are.same({ 10000, 28, 28 }, X:shape())
    assert.are.equal(0, nl.ne(y + 1, test.y):sum():item())
    assert.are.equal(0, nl.ne(X:view(10000, 784), test.X):sum():item())
  end)

  it('names the Debian package when the files are missing', function()
    contains(errmsg(data.FashionMNIST, dir .. '/no-such-dir'), 'FashionMNIST: ' .. dir .. '/no-such-dir/train-images')
    contains(errmsg(data.FashionMNIST, dir .. '/no-such-dir', { train = false }), 't10k-images-idx3-ubyte.gz not found')
    contains(errmsg(data.FashionMNIST, nil, 5), 'FashionMNIST: expected an options table')
  end)
end)

-- ---- TensorDataset and DataLoader ------------------------------------------

describe('data.TensorDataset', function()
  it('has #ds rows; ds[i] and ds:get(i) give row i of each tensor', function()
    local X = nl.arange(0, 12):float():view(4, 3)
    local y = nl.tensor({ 5, 6, 7, 8 }, 'int64')
    local ds = data.TensorDataset(X, y)
    assert.are.equal(4, #ds)
    local row = ds[3]
    assert.are.equal(2, #row)
    assert.are.same({ 6, 7, 8 }, row[1]:totable())
    assert.are.equal(7, row[2])
    local x3, y3 = ds:get(3)
    assert.are.same({ 6, 7, 8 }, x3:totable())
    assert.are.equal(7, y3)
    contains(errmsg(function() return ds[5] end), 'index 5 out of range 1..4')
    contains(errmsg(function() return ds:get(0) end), 'index 0 out of range 1..4')
  end)

  it('feeds a DataLoader through ds[i] when wrapped as a generic dataset', function()
    -- a dataset of our own that defers to a TensorDataset by index
    local inner = data.TensorDataset(nl.arange(1, 7):float():view(6, 1), nl.arange(1, 7))
    local outer = newproxy(true)
    getmetatable(outer).__len = function() return #inner end
    getmetatable(outer).__index = function(_, i) return inner[i] end
    local seen = {}
    for xb, yb in data.DataLoader(outer, { batch_size = 4 }):iter() do
      assert.are.same({ xb:size(1), 1 }, xb:shape())
      for _, v in ipairs(yb:totable()) do seen[#seen + 1] = v end
    end
    assert.are.same({ 1, 2, 3, 4, 5, 6 }, seen)
  end)

  it('rejects tensors of different lengths', function()
    contains(errmsg(data.TensorDataset, nl.zeros(4, 3), nl.zeros(5)), 'shapes [4,3] and [5] differ')
  end)
end)

describe('data.DataLoader', function()
  local N = 10
  local X = nl.arange(1, N + 1):float():view(N, 1)
  local y = nl.arange(1, N + 1)                  -- int64, y[i] == i == X[i][1]
  local ds = data.TensorDataset(X, y)

  -- batch sizes and the label order of one pass
  local function epoch(loader)
    local sizes, order = {}, {}
    for xb, yb in loader:iter() do
      sizes[#sizes + 1] = xb:size(1)
      assert.are.same(xb:view(-1):totable(), yb:float():totable())   -- rows stay paired
      for _, v in ipairs(yb:totable()) do order[#order + 1] = v end
    end
    return sizes, order
  end

  it('makes batches of batch_size, the last one shorter', function()
    local loader = data.DataLoader(ds, { batch_size = 3 })
    assert.are.equal(4, #loader)
    local sizes, order = epoch(loader)
    assert.are.same({ 3, 3, 3, 1 }, sizes)
    assert.are.same({ 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 }, order)
  end)

  it('drops the short last batch with drop_last', function()
    local loader = data.DataLoader(ds, { batch_size = 3, drop_last = true })
    assert.are.equal(3, #loader)
    local sizes, order = epoch(loader)
    assert.are.same({ 3, 3, 3 }, sizes)
    assert.are.same({ 1, 2, 3, 4, 5, 6, 7, 8, 9 }, order)
    assert.are.equal(2, #data.DataLoader(ds, { batch_size = 5, drop_last = true }))
  end)

  it('shuffles every row exactly once per epoch, differently each epoch', function()
    local big = data.TensorDataset(nl.arange(1, 101):float():view(100, 1), nl.arange(1, 101))
    local loader = data.DataLoader(big, { batch_size = 7, shuffle = true })
    local _, a = epoch(loader)
    local _, b = epoch(loader)
    for _, order in ipairs({ a, b }) do
      local sorted = { unpack(order) }
      table.sort(sorted)
      for i = 1, 100 do assert.are.equal(i, sorted[i]) end
    end
    assert.are_not.same(a, b)
    local identity = {}
    for i = 1, 100 do identity[i] = i end
    assert.are_not.same(identity, a)
  end)

  it('repeats the same orders with the same seed, whatever else draws', function()
    local function orders(seed)
      local loader = data.DataLoader(ds, { batch_size = 4, shuffle = true, seed = seed })
      local _, a = epoch(loader)
      nl.rand(100)                                 -- draws from nl's generator
      local _, b = epoch(loader)
      return { a, b }
    end
    local one = orders(42)
    assert.are.same(one, orders(42))
    assert.are_not.same(one, orders(43))
    assert.are_not.same(one[1], one[2])
  end)

  it('shuffles from nl.manual_seed without a seed of its own', function()
    local loader = data.DataLoader(ds, { batch_size = 4, shuffle = true })
    nl.manual_seed(7)
    local _, a = epoch(loader)
    nl.manual_seed(7)
    local _, b = epoch(loader)
    assert.are.same(a, b)
  end)

  -- `for xb, yb in loader do` was 'attempt to call a userdata value'
  it('runs in a generic for without iter(): the batches of iter(), a new epoch each loop', function()
    local loader = data.DataLoader(ds, { batch_size = 3 })
    local sizes, order = {}, {}
    for xb, yb in loader do
      sizes[#sizes + 1] = xb:size(1)
      assert.are.same(xb:view(-1):totable(), yb:float():totable())
      for _, v in ipairs(yb:totable()) do order[#order + 1] = v end
    end
    assert.are.same({ 3, 3, 3, 1 }, sizes)
    assert.are.same({ 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 }, order)
    -- shuffled: each loop one epoch, the order iter() draws under the same seed
    local sh = data.DataLoader(ds, { batch_size = 4, shuffle = true })
    local function loop_order()
      local o = {}
      for _, yb in sh do for _, v in ipairs(yb:totable()) do o[#o + 1] = v end end
      return o
    end
    nl.manual_seed(5)
    local a, b = loop_order(), loop_order()
    nl.manual_seed(5)
    local _, a2 = epoch(sh)
    local _, b2 = epoch(sh)
    assert.are.same(a2, a)
    assert.are.same(b2, b)
    assert.are_not.same(a, b)
    -- a loop left by break: the next loop starts a whole epoch
    for _ in loader do break end
    local n = 0
    for _ in loader do n = n + 1 end
    assert.are.equal(4, n)
    -- a collate_fn's batches too
    local cl = data.DataLoader({ 1, 2, 3 }, { batch_size = 2, collate_fn = function(s) return #s, s[1] end })
    local got = {}
    for k, first in cl do got[#got + 1] = { k, first } end
    assert.are.same({ { 2, 1 }, { 1, 3 } }, got)
  end)

  it('refuses a loop over a loader inside a loop over the same loader', function()
    local loader = data.DataLoader(ds, { batch_size = 3 })
    local msg = errmsg(function()
      for _ in loader do
        for _ in loader do break end
      end
    end)
    contains(msg, 'DataLoader: the loader was called with a batch it did not just give')
    contains(errmsg(function() for _ in loader do for _ in loader do end end end), 'use loader:iter() for each')
    -- iter() loops nest
    local n = 0
    for _ in loader:iter() do for _ in loader:iter() do n = n + 1 end end
    assert.are.equal(16, n)
  end)

  it('gives copies, so changing a batch leaves the data alone', function()
    for _, shuffle in ipairs({ false, true }) do
      for xb in data.DataLoader(ds, { batch_size = 4, shuffle = shuffle }):iter() do xb:fill_(-1) end
      assert.are.equal(1, X:min():item())
    end
  end)

  it('batches a plain list of samples', function()
    local samples = {}
    for i = 1, 5 do samples[i] = { nl.full({ 2 }, i), i } end
    local loader = data.DataLoader(samples, { batch_size = 2 })
    assert.are.equal(3, #loader)
    local batches = {}
    for xb, yb in loader:iter() do batches[#batches + 1] = { xb:shape(), yb:totable(), yb:dtype() } end
    assert.are.same({ { 2, 2 }, { 1, 2 }, 'int64' }, batches[1])
    assert.are.same({ { 1, 2 }, { 5 }, 'int64' }, batches[3])
  end)

  -- a field's dtype followed each batch's values: whole ones made int64,
  -- and a shuffle changed it from batch to batch
  it("collates a field of numbers to one dtype for the loader's whole life", function()
    local samples = {}
    for i, v in ipairs({ 0.5, 1, 2, 3 }) do samples[i] = { nl.full({ 2 }, i), v } end
    for _, opts in ipairs({ { batch_size = 2 }, { batch_size = 1, shuffle = true, seed = 3 } }) do
      for _, yb in data.DataLoader(samples, opts):iter() do assert.are.equal('float32', yb:dtype()) end
    end
    -- a dataset that is not a plain table: the first batch decides, and
    -- a fraction in an int64 field later is an error, not a new dtype
    local vals = { 1, 2, 2.5, 3 }
    local ds2 = newproxy(true)
    getmetatable(ds2).__len = function() return 4 end
    getmetatable(ds2).__index = function(_, i) return { nl.full({ 1 }, i), vals[i] } end
    local loader = data.DataLoader(ds2, { batch_size = 2 })
    local msg = errmsg(function() for _ in loader:iter() do end end)
    contains(msg, 'DataLoader: field 2 held whole numbers in the first batch, collated as int64')
  end)

  -- PyTorch's DataLoader(ds) gives one row a batch; shuffle = 'no' shuffled
  it("batches one row at a time by default, as PyTorch's, and takes only booleans as flags", function()
    assert.are.equal(10, #data.DataLoader(data.TensorDataset(nl.ones(10))))
    for _, k in ipairs({ 'shuffle', 'drop_last' }) do
      contains(errmsg(data.DataLoader, ds, { [k] = 'no' }), 'DataLoader: ' .. k .. " must be a boolean (true or false), got 'no'")
      contains(errmsg(data.DataLoader, ds, { [k] = 0 }), 'DataLoader: ' .. k .. ' must be a boolean (true or false), got 0')
      contains(errmsg(data.DistributedSampler, 10, { num_replicas = 2, rank = 0, [k] = 1 }),
               'DistributedSampler: ' .. k .. ' must be a boolean')
    end
    -- other flags of the loaders (train = 0 loaded the training files,
    -- header = 0 read a header) and positional options (dropped)
    contains(errmsg(data.FashionMNIST, nil, { train = 0 }), 'FashionMNIST: train must be a boolean')
    contains(errmsg(data.load_csv, '/nonexistent.csv', { header = 0 }), 'load_csv: header must be a boolean')
    contains(errmsg(data.DataLoader, ds, { batch_size = 2 }, true),
             'DataLoader: takes (dataset, {options}), got 3 arguments')
  end)

  it('rejects a bad batch size', function()
    contains(errmsg(data.DataLoader, ds, { batch_size = 0 }), 'batch_size must be a positive integer')
  end)

  -- a seed of 1.7 drew seed 1's order, and NaN or -1 were taken; iter('abc') meant skip 0
  it('rejects a seed that is not a whole number and a skip that is not a number', function()
    for _, sd in ipairs({ 1.7, -1, 0 / 0 }) do
      contains(errmsg(data.DataLoader, ds, { seed = sd }), 'DataLoader: seed must be a non-negative integer')
    end
    local loader = data.DataLoader(ds, { batch_size = 4, seed = 3 })
    contains(errmsg(loader.iter, loader, 'abc'), 'iter(skip)')
  end)

  -- a misspelt option was once dropped without a word (batches of 32, in
  -- order); now it is an error naming it, as PyTorch's TypeError
  it('rejects options it does not read, naming them', function()
    contains(errmsg(data.DataLoader, ds, { batchsize = 10, shufle = true }),
             "DataLoader: unknown options 'batchsize', 'shufle'")
    contains(errmsg(data.DataLoader, ds, { num_worker = 2 }), "DataLoader: unknown option 'num_worker'")
    local loader = data.DataLoader(ds, { batch_size = 4, shuffle = false, drop_last = true, seed = 1, sampler = nil })
    assert.are.same({ 4, 4 }, (epoch(loader)))
    contains(errmsg(data.load_csv, '/nonexistent.csv', { labels = 'y' }), "load_csv: unknown option 'labels'")
    contains(errmsg(data.IdxDataset, '/nonexistent', nil, { flaten = false }), "IdxDataset: unknown option 'flaten'")
    contains(errmsg(data.FashionMNIST, '/nonexistent', { trian = false }), "FashionMNIST: unknown option 'trian'")
  end)

  -- a nil row ended the epoch there (row 1 of a batch) or shortened the
  -- batch (a later row), and what is no dataset made a loader of no
  -- batches: a training loop ran short without a word
  it('names a row the dataset returns as nil, a row of other length, and what is not a dataset', function()
    local rows = {}
    for i = 0, 4 do rows[i] = { nl.full({ 2 }, i), i } end            -- 0-based by mistake
    local proxy = newproxy(true)
    getmetatable(proxy).__len = function() return 5 end
    getmetatable(proxy).__index = function(_, i) return rows[i] end
    local function run(d, bs)
      return errmsg(function() for _ in data.DataLoader(d, { batch_size = bs }):iter() do end end)
    end
    contains(run(proxy, 2), 'DataLoader: the dataset returned nil for row 5')
    contains(run(proxy, 3), 'DataLoader: the dataset returned nil for row 5')
    contains(run({ { nl.ones(2), 1 }, { nl.ones(2), 1, 5 } }, 2), "DataLoader: row 2 has 3 fields, the batch's first row 2")
    contains(run({ { nl.ones(2), 1 }, { nl.ones(2), nil, 5 } }, 2), 'DataLoader: field 2 of row 2 is nil')
    -- (a table of names is a sample PyTorch's dict: data_sampling_spec)
    contains(run({ { nl.ones(2), y = 1 } }, 1), 'DataLoader: row 1 is a table of both list entries and names')
    contains(errmsg(data.DataLoader, nl.nn.Linear(2, 2), { batch_size = 2 }), 'expected a dataset with #ds and ds[i], got a module')
    contains(errmsg(data.DataLoader, 'abc', { batch_size = 2 }), 'expected a dataset with #ds and ds[i], got string')
    local t = setmetatable({}, { __len = function() return 3 end, __index = function() return { nl.ones(2), 1 } end })
    contains(errmsg(data.DataLoader, t, { batch_size = 2 }), 'whose __len says 3 rows, which LuaJIT ignores')
    -- rows given right still come as batches
    local n = 0
    for xb, yb in data.DataLoader({ { nl.ones(2), 1 }, { nl.ones(2), 2 }, { nl.ones(2), 3 } }, { batch_size = 2 }):iter() do
      n = n + xb:size(1)
      assert.are.equal(xb:size(1), yb:size(1))
    end
    assert.are.equal(3, n)
  end)

  -- PyTorch 1.13's len() of a dataset whose __len__ gives 2.5: TypeError
  -- "'float' object cannot be interpreted as an integer"; -2: ValueError
  -- "__len__() should return >= 0". A loader over such a #ds failed inside
  -- string.format (2.5, NaN) or made no batches (-3); Subset, ConcatDataset
  -- and SequentialSampler took 2.5 rows
  it('refuses a dataset whose #ds is not a whole number of rows from 0', function()
    local function lying(len)
      local p = newproxy(true)
      getmetatable(p).__len = function() return len end
      getmetatable(p).__index = function(_, i) return { nl.full({ 2 }, i), i } end
      return p
    end
    for _, len in ipairs({ 2.5, -3, 0 / 0, math.huge }) do
      local want = "the dataset's #ds (its __len) must be a whole number of rows from 0, got " .. tostring(len)
      contains(errmsg(function() for _ in data.DataLoader(lying(len)):iter() do end end), 'DataLoader: ' .. want)
      contains(errmsg(data.ConcatDataset, { lying(len), lying(2) }), 'ConcatDataset: element 1 of the list: ' .. want)
      contains(errmsg(data.SequentialSampler, lying(len)), 'SequentialSampler: ' .. want)
      contains(errmsg(data.Subset, lying(len), { 1 }), 'Subset: ' .. want)
    end
    assert.are.equal(3, #data.DataLoader(lying(5), { batch_size = 2 }))
  end)
end)

describe('data.char_corpus', function()
  local path = dir .. '/corpus.txt'
  local f = assert(io.open(path, 'wb'))
  f:write('abcab\nba')
  f:close()

  it('numbers characters in order of first appearance, one id per byte', function()
    local c = data.char_corpus(path)
    assert.are.same({ 'a', 'b', 'c', '\n' }, c.chars)
    assert.are.same({ a = 1, b = 2, c = 3, ['\n'] = 4 }, c.index)
    assert.are.equal(4, c.vocab_size)
    assert.are.equal('int64', c.ids:dtype())
    assert.are.same({ 1, 2, 3, 1, 2, 4, 2, 1 }, c.ids:totable())
  end)

  it('draws windows whose targets are the next characters, inside the corpus', function()
    local c = data.char_corpus(path)
    local ids = c.ids:totable()
    nl.manual_seed(5)
    local x, y = c:windows(200, 3)
    assert.are.same({ 200, 3 }, x:shape())
    assert.are.same({ 200, 3 }, y:shape())
    local X, Y, starts = x:totable(), y:totable(), {}
    for b = 1, 200 do
      local s                      -- the start: where X[b] occurs in the corpus
      for i = 1, #ids - 3 do
        if ids[i] == X[b][1] and ids[i + 1] == X[b][2] and ids[i + 2] == X[b][3] and ids[i + 3] == Y[b][3] then
          s = i
          break
        end
      end
      assert.is_truthy(s, 'window ' .. b .. ' is not a run of the corpus')
      assert.are.same({ X[b][2], X[b][3] }, { Y[b][1], Y[b][2] })
      starts[s] = true
    end
    -- every start, the last window's too (its target ends the corpus)
    for s = 1, #ids - 3 do assert.is_true(starts[s] == true, 'start ' .. s .. ' never drawn') end
    local x7, y7 = c:windows(2, 7)
    assert.are.same({ ids[1], ids[2], ids[3], ids[4], ids[5], ids[6], ids[7] }, x7:totable()[2])
    assert.are.same({ ids[2], ids[3], ids[4], ids[5], ids[6], ids[7], ids[8] }, y7:totable()[2])
  end)

  -- a corpus past 2^24 characters: starts were drawn as float32 rand times
  -- the range, which there holds only every 2nd or 4th whole number (75%
  -- of the starts were odd)
  it('draws every start as likely in a corpus past 2^24 characters', function()
    local c = data.char_corpus(path)
    local n = 2 ^ 25 + 9
    local big = setmetatable({ ids = nl.arange(1, n + 1, 1, 'int64') }, getmetatable(c))
    nl.manual_seed(11)
    local x = big:windows(4000, 8)
    local starts = x:select(2, 1)
    assert.are.equal(1, nl.ge(starts, 1):all():item() and 1 or 0)
    assert.is_true(starts:max():item() <= n - 8)
    for m = 2, 4, 2 do
      for r = 0, m - 1 do
        local share = nl.eq(starts % m, r):double():mean():item()
        assert.is_true(math.abs(share - 1 / m) < 0.05, ('starts %% %d == %d: %.3f of them'):format(m, r, share))
      end
    end
    big.ids = nil
    collectgarbage()
  end)

  it('names the file it cannot read and windows longer than the corpus', function()
    contains(errmsg(data.char_corpus, dir .. '/no-such-file'), 'char_corpus: cannot read')
    contains(errmsg(data.char_corpus, dir .. '/no-such-file'), 'No such file or directory')
    -- a directory opens and then fails to read ("attempt to get length of
    -- local 'text'")
    contains(errmsg(data.char_corpus, dir), 'char_corpus: cannot read ' .. dir .. ': Is a directory')
    contains(errmsg(data.char_corpus, 42), 'char_corpus: expected a path string')
    local c = data.char_corpus(path)
    contains(errmsg(c.windows, c, 4, 8), 'windows of 8 need 9 characters; the corpus has 8')
    contains(errmsg(c.windows, c, 0, 2), 'positive integers')
  end)
end)

teardown(function() os.execute('rm -rf ' .. q(dir)) end)
