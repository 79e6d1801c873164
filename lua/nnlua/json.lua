-- json.lua: a small JSON encoder and a strict decoder for nnlua's own
-- metadata (model structure, optimizer settings, history). Tables with
-- keys 1..n encode as arrays; other tables as objects with sorted keys.
-- NaN and the infinities are written NaN, Infinity and -Infinity, as
-- Python's json module writes and reads them (a diverging run's history
-- holds them, and a checkpoint must still be written then).
local json = {}

local escapes = { ['"'] = '\\"', ['\\'] = '\\\\', ['\b'] = '\\b', ['\f'] = '\\f',
                  ['\n'] = '\\n', ['\r'] = '\\r', ['\t'] = '\\t' }

local function is_array(t)
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  for i = 1, n do if t[i] == nil then return false end end
  return true, n
end

local function encode(v, out)
  local tv = type(v)
  if tv == 'nil' then out[#out + 1] = 'null'
  elseif tv == 'boolean' then out[#out + 1] = tostring(v)
  elseif tv == 'number' then
    if v ~= v then out[#out + 1] = 'NaN'
    elseif v == math.huge then out[#out + 1] = 'Infinity'
    elseif v == -math.huge then out[#out + 1] = '-Infinity'
    elseif v == 0 and 1 / v < 0 then out[#out + 1] = '-0.0'     -- (as Python's; '%d' wrote 0)
    else out[#out + 1] = (v == math.floor(v) and math.abs(v) < 2^53) and string.format('%d', v) or string.format('%.17g', v) end
  elseif tv == 'string' then
    out[#out + 1] = '"' .. v:gsub('[%c"\\]', function(c)
      return escapes[c] or string.format('\\u%04x', c:byte())
    end) .. '"'
  elseif tv == 'table' then
    local arr, n = is_array(v)
    if arr and (n > 0 or next(v) == nil) then
      out[#out + 1] = '['
      for i = 1, n do
        if i > 1 then out[#out + 1] = ',' end
        encode(v[i], out)
      end
      out[#out + 1] = ']'
    else
      local keys = {}
      for k in pairs(v) do
        if type(k) ~= 'string' and type(k) ~= 'number' then error('json: cannot encode a ' .. type(k) .. ' key', 0) end
        keys[#keys + 1] = tostring(k)
      end
      table.sort(keys)
      out[#out + 1] = '{'
      for i, k in ipairs(keys) do
        if i > 1 then out[#out + 1] = ',' end
        encode(k, out)
        out[#out + 1] = ':'
        local val = v[k]
        if val == nil then val = v[tonumber(k)] end
        encode(val, out)
      end
      out[#out + 1] = '}'
    end
  else
    error('json: cannot encode a ' .. tv, 0)
  end
end

function json.encode(v)
  local out = {}
  encode(v, out)
  return table.concat(out)
end

-- ---- decoding ----

local function fail(s, i, what) error(('json: %s at byte %d'):format(what, i), 0) end

local function skip(s, i)
  return s:find('[^ \t\r\n]', i) or #s + 1
end

local decode_value

local function decode_string(s, i)
  local out, j = {}, i + 1
  while true do
    local c = s:sub(j, j)
    if c == '' then fail(s, j, 'unterminated string') end
    if c == '"' then return table.concat(out), j + 1 end
    if c == '\\' then
      local e = s:sub(j + 1, j + 1)
      local map = { ['"'] = '"', ['\\'] = '\\', ['/'] = '/', b = '\b', f = '\f', n = '\n', r = '\r', t = '\t' }
      if map[e] then out[#out + 1] = map[e]; j = j + 2
      elseif e == 'u' then
        local hex = s:sub(j + 2, j + 5)
        if not hex:match('^%x%x%x%x$') then fail(s, j, 'bad \\u escape') end
        local code = tonumber(hex, 16)
        j = j + 6
        -- a surrogate pair (\ud83d\ude00) is one character past U+FFFF
        local low = s:match('^\\u([dD][c-fC-F]%x%x)', j)
        if code >= 0xD800 and code < 0xDC00 and low then
          code = 0x10000 + (code - 0xD800) * 1024 + (tonumber(low, 16) - 0xDC00)
          j = j + 6
        end
        if code < 0x80 then out[#out + 1] = string.char(code)
        elseif code < 0x800 then out[#out + 1] = string.char(0xC0 + math.floor(code / 64), 0x80 + code % 64)
        elseif code < 0x10000 then
          out[#out + 1] = string.char(0xE0 + math.floor(code / 4096), 0x80 + math.floor(code / 64) % 64, 0x80 + code % 64)
        else
          out[#out + 1] = string.char(0xF0 + math.floor(code / 262144), 0x80 + math.floor(code / 4096) % 64,
                                      0x80 + math.floor(code / 64) % 64, 0x80 + code % 64)
        end
      else fail(s, j, 'bad escape') end
    else
      if c:byte() < 32 then fail(s, j, 'control character in string') end
      out[#out + 1] = c
      j = j + 1
    end
  end
end

function decode_value(s, i, depth)
  if depth > 200 then fail(s, i, 'nesting too deep') end
  i = skip(s, i)
  local c = s:sub(i, i)
  if c == '{' then
    local obj = {}
    i = skip(s, i + 1)
    if s:sub(i, i) == '}' then return obj, i + 1 end
    while true do
      if s:sub(i, i) ~= '"' then fail(s, i, 'expected a key') end
      local k
      k, i = decode_string(s, i)
      i = skip(s, i)
      if s:sub(i, i) ~= ':' then fail(s, i, "expected ':'") end
      obj[k], i = decode_value(s, i + 1, depth + 1)
      i = skip(s, i)
      local d = s:sub(i, i)
      if d == '}' then return obj, i + 1 end
      if d ~= ',' then fail(s, i, "expected ',' or '}'") end
      i = skip(s, i + 1)
    end
  elseif c == '[' then
    local arr, n = {}, 0
    i = skip(s, i + 1)
    if s:sub(i, i) == ']' then return arr, i + 1 end
    while true do
      -- counted, not #arr + 1: a null keeps its place ([1,null,3] has 3 at 3)
      n = n + 1
      arr[n], i = decode_value(s, i, depth + 1)
      i = skip(s, i)
      local d = s:sub(i, i)
      if d == ']' then return arr, i + 1 end
      if d ~= ',' then fail(s, i, "expected ',' or ']'") end
      i = i + 1
    end
  elseif c == '"' then return decode_string(s, i)
  elseif s:sub(i, i + 3) == 'true' then return true, i + 4
  elseif s:sub(i, i + 4) == 'false' then return false, i + 5
  elseif s:sub(i, i + 3) == 'null' then return nil, i + 4
  elseif s:sub(i, i + 2) == 'NaN' then return 0 / 0, i + 3
  elseif s:sub(i, i + 7) == 'Infinity' then return math.huge, i + 8
  elseif s:sub(i, i + 8) == '-Infinity' then return -math.huge, i + 9
  else
    local num = s:match('^-?%d+%.?%d*[eE]?[-+]?%d*', i)
    if not num or num == '' or not tonumber(num) then fail(s, i, 'unexpected character') end
    return tonumber(num), i + #num
  end
end

function json.decode(s)
  if type(s) ~= 'string' then error('json: expected a string', 0) end
  local v, i = decode_value(s, 1, 0)
  i = skip(s, i)
  if i <= #s then fail(s, i, 'trailing characters') end
  return v
end

return json
