-- serialize.lua: nl.save_safetensors and nl.load_safetensors, the Lua face
-- of io.c's safetensors writer and reader. Tensors travel as a table
-- name -> tensor, metadata as a flat table of strings; structured metadata
-- (JSON inside a string) is the caller's business.
local ffi = require 'ffi'

return function(nl)
  local lib, wrap, check, T, raise = nl._lib, nl._wrap, nl._check, nl._T, nl._raise

  -- s checked to hold no NUL byte: the C writer takes C strings, and
  -- 'a\0b' was saved as 'a' without a word
  local function no_nul(s, op, what)
    if s:find('\0', 1, true) then
      raise(string.format("%s: %s '%s' holds a NUL byte, which a safetensors file cannot keep", op, what,
        (s:gsub('%z', '\\0'))))
    end
  end

  -- the keys of t, checked to be strings, sorted
  local function sorted_keys(t, op, what)
    local keys = {}
    for k in pairs(t) do
      if type(k) ~= 'string' then
        raise(string.format('%s: %s must be strings, found the %s key %s', op, what, type(k), tostring(k)))
      end
      no_nul(k, op, what == 'tensor names' and 'the tensor name' or 'the metadata key')
      keys[#keys + 1] = k
    end
    table.sort(keys)
    return keys
  end

  -- Writes tensors (name -> tensor) and optional metadata (string -> string)
  -- to path as a safetensors file, tensors in sorted name order. The file
  -- is replaced atomically: a failed save leaves an existing file intact.
  function nl.save_safetensors(path, tensors, metadata, x_)
    local op = 'save_safetensors'
    if x_ ~= nil then nl._extra_arg(op, x_) end
    if type(path) ~= 'string' then raise(op .. ': expected a path string, got ' .. type(path)) end
    nl._path_arg(op, path)
    if type(tensors) ~= 'table' then raise(op .. ': expected a table of name -> tensor, got ' .. type(tensors)) end
    if metadata ~= nil and type(metadata) ~= 'table' then
      raise(op .. ': expected metadata as a table of string -> string, got ' .. type(metadata))
    end
    local names = sorted_keys(tensors, op, 'tensor names')
    local n = #names
    local cnames = ffi.new('const char *[?]', math.max(n, 1))
    local cts = ffi.new('nl_tensor *[?]', math.max(n, 1))
    for i, k in ipairs(names) do
      local v = tensors[k]
      if not nl.is_tensor(v) then
        raise(string.format("%s: '%s' is not a tensor (%s)", op, k, type(v)))
      end
      cnames[i - 1] = k        -- the strings stay alive in names
      cts[i - 1] = T(v, op)
    end
    local keys = metadata and sorted_keys(metadata, op, 'metadata keys') or {}
    local m = #keys
    local ckeys = ffi.new('const char *[?]', math.max(m, 1))
    local cvals = ffi.new('const char *[?]', math.max(m, 1))
    for i, k in ipairs(keys) do
      local v = metadata[k]
      if type(v) ~= 'string' then
        raise(string.format("%s: metadata value of '%s' must be a string, got %s", op, k, type(v)))
      end
      no_nul(v, op, "the metadata value of '" .. k .. "',")
      ckeys[i - 1] = k
      cvals[i - 1] = v
    end
    check(lib.nl_save_safetensors(path, n, cnames, cts, m, ckeys, cvals))
  end

  -- Reads a safetensors file: returns tensors (name -> tensor) and metadata
  -- (string -> string, empty when the file has none). F16 and BF16 come
  -- back as float32; I32 and smaller integer types as int64.
  function nl.load_safetensors(path, x_)
    if x_ ~= nil then nl._extra_arg('load_safetensors', x_) end
    if type(path) ~= 'string' then raise('load_safetensors: expected a path string, got ' .. type(path)) end
    nl._path_arg('load_safetensors', path)
    local f = lib.nl_st_open(path)
    if f == nil then raise(ffi.string(lib.nl_error())) end
    f = ffi.gc(f, lib.nl_st_close)     -- closed even when a read below raises
    local tensors, meta = {}, {}
    for i = 0, lib.nl_st_count(f) - 1 do
      tensors[ffi.string(lib.nl_st_name(f, i))] = wrap(lib.nl_st_get(f, i), nil, true)   -- a file's values: data
    end
    for i = 0, lib.nl_st_meta_count(f) - 1 do
      meta[ffi.string(lib.nl_st_meta_key(f, i))] = ffi.string(lib.nl_st_meta_value(f, i))
    end
    ffi.gc(f, nil)
    lib.nl_st_close(f)
    return tensors, meta
  end
end
