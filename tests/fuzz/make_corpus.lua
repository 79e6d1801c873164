-- make_corpus.lua: writes the seed corpora of the fuzz harnesses, small
-- valid files, into tests/fuzz/corpus/<harness>/ (run from the repository
-- root: luajit tests/fuzz/make_corpus.lua). The files are committed; this
-- script says how they were made. IDX and CSV inputs start with the
-- harness's option byte (see fuzz_idx.c and fuzz_csv.c).
package.path = 'lua/?.lua;lua/?/init.lua;' .. package.path
local nl = require 'nnlua'

local function write(path, bytes)
  local f = assert(io.open(path, 'wb'))
  f:write(bytes)
  f:close()
end
local function be32(n)
  return string.char(math.floor(n / 2 ^ 24) % 256, math.floor(n / 2 ^ 16) % 256, math.floor(n / 256) % 256, n % 256)
end
local function le64(n)
  local s = ''
  for _ = 1, 8 do s = s .. string.char(n % 256); n = math.floor(n / 256) end
  return s
end
-- a safetensors file by hand: header JSON padded to 8 bytes, then data
local function st(header, data)
  header = header .. (' '):rep((8 - #header % 8) % 8)
  return le64(#header) .. header .. data
end

local C = 'tests/fuzz/corpus/'

-- safetensors: nnlua's writer (F32, F64, I64, metadata, a model checkpoint),
-- and by hand every dtype the reader converts
nl.save_safetensors(C .. 'safetensors/tensors.safetensors',
  { w = nl.tensor({ { 1, -2, 3 }, { 0.5, 0, -1 } }), d = nl.tensor({ 1.5, 2.5 }, 'float64'),
    i = nl.tensor({ 7, -8 }, 'int64'), s = nl.tensor(3), e = nl.zeros(0, 4) }, { note = 'seed' })
nl.manual_seed(1)
nl.nn.Sequential(nl.nn.Linear(2, 3), nl.nn.ReLU(), nl.nn.Linear(3, 1)):save(C .. 'safetensors/model.safetensors')
write(C .. 'safetensors/empty.safetensors', st('{}', ''))
write(C .. 'safetensors/dtypes.safetensors', st(
  '{"__metadata__":{"k":"v\\u00e9"},"h":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},'
  .. '"b":{"dtype":"BF16","shape":[2],"data_offsets":[4,8]},"i32":{"dtype":"I32","shape":[1],"data_offsets":[8,12]},'
  .. '"i16":{"dtype":"I16","shape":[1],"data_offsets":[12,14]},"u16":{"dtype":"U16","shape":[1],"data_offsets":[14,16]},'
  .. '"u32":{"dtype":"U32","shape":[1],"data_offsets":[16,20]},"i8":{"dtype":"I8","shape":[2],"data_offsets":[20,22]},'
  .. '"u8":{"dtype":"U8","shape":[1,2],"data_offsets":[22,24]},"t":{"dtype":"BOOL","shape":[2],"data_offsets":[24,26]}}',
  '\0\60\0\124' .. '\128\63\192\127' .. '\255\255\255\255' .. '\1\128' .. '\255\255' .. '\0\0\0\128' .. '\255\1' .. '\0\255' .. '\0\1'))

-- IDX: option byte, then the file
local function idx(code, sizes, body)
  local s = '\0\0' .. string.char(code, #sizes)
  for _, n in ipairs(sizes) do s = s .. be32(n) end
  return s .. body
end
write(C .. 'idx/images-ubyte', '\0' .. idx(8, { 2, 2, 3 }, '\0\1\2\3\4\5\250\251\252\253\254\255'))
write(C .. 'idx/images-ubyte-gzip-float32', '\5' .. idx(8, { 1, 2, 2 }, '\0\128\255\7'))
write(C .. 'idx/labels-int', '\0' .. idx(12, { 3 }, be32(0) .. be32(9) .. '\255\255\255\255'))
write(C .. 'idx/sbyte-int64', '\3' .. idx(9, { 2 }, '\127\128'))
write(C .. 'idx/short-float64', '\2' .. idx(11, { 2 }, '\127\255\128\0'))
write(C .. 'idx/float', '\0' .. idx(13, { 2 }, '\63\128\0\0\127\192\0\0'))
write(C .. 'idx/double-gzip', '\4' .. idx(14, { 1 }, '\64\9\33\251\84\68\45\24'))
write(C .. 'idx/scalar', '\0' .. idx(8, {}, '\42'))
write(C .. 'idx/empty-dim', '\0' .. idx(12, { 0, 5 }, ''))

-- CSV: option byte (delimiter, skipped lines, header, gzip), then the text
write(C .. 'csv/header', string.char(5 + 15) .. 'a,b,label\n1,2,0\n3.5,-4e2,1\n')
write(C .. 'csv/plain', '\0' .. '1,2,3\n4,5,6\n\n7,8,9')
write(C .. 'csv/semicolon-quoted-crlf', string.char(1 + 5 + 15) .. '"x";"y"\r\n"1.5"; 2\r\n nan ;-inf\r\n')
write(C .. 'csv/tab-bom', string.char(2) .. '\239\187\191' .. '1\t2\n3\t4\n')
write(C .. 'csv/gzip-two-skipped', string.char(3 + 10 + 15 + 60) .. '# comment\nc1|c2\n0x1p3|1e-300\n')
write(C .. 'csv/short-header-cap', string.char(30 + 15 + 5) .. 'a_rather_long_column_name,b\n1,2\n')
print('corpus written')
