-- data.lua: nl.data — IDX and CSV loaders, Fashion-MNIST, TensorDataset,
-- collation and DataLoader (Subset, ConcatDataset, random_split and the
-- samplers are data_sampling.lua's, IterableDataset, ChainDataset and
-- StackDataset data_iterable.lua's, the image transforms
-- data_transforms.lua's). Files are parsed and checked in C
-- (io.c); this file only picks columns, scales and batches. Datasets and
-- loaders are userdata proxies so that `#ds` and `#loader` work under
-- LuaJIT (tables ignore __len in Lua 5.1).
local ffi = require 'ffi'

return function(nl)
  local lib, wrap, T, raise = nl._lib, nl._wrap, nl._T, nl._raise
  local data = {}
  nl.data = data

  local argerror = nl._argerror

  -- data.transforms (data_transforms.lua) and the stream datasets
  -- (data_iterable.lua) load on first use
  local ITERABLE = { IterableDataset = true, ChainDataset = true, StackDataset = true }
  setmetatable(data, { __index = function(t, k)
    if ITERABLE[k] then
      require('nnlua.data_iterable')(nl, data)
      return rawget(t, k)
    end
    if k ~= 'transforms' then return nil end
    local transforms = require('nnlua.data_transforms')(nl, data)
    rawset(t, k, transforms)
    return transforms
  end })

  -- whether ds is an instance of data.IterableDataset (a class is not)
  function data._is_iterable(ds)
    if type(ds) ~= 'table' or getmetatable(ds) == nil or rawget(ds, '__name') ~= nil then return false end
    local ok, v = pcall(function() return ds._nl_iterable end)
    return ok and v == true
  end

  local function callable(f)
    if type(f) == 'function' then return true end
    local mt = (type(f) == 'table' or type(f) == 'userdata') and getmetatable(f)
    return type(mt) == 'table' and mt.__call ~= nil
  end

  -- the options each function reads; any other key is an error, not ignored
  local KNOWN = {
    load_csv = { header = 'flag', delimiter = 1, label = 1, label_dtype = 1, dtype = 1 },
    IdxDataset = { flatten = 'flag', divisor = 1, dtype = 1, label_offset = 1, transform = 1 },
    FashionMNIST = { train = 'flag', flatten = 'flag', divisor = 1, dtype = 1, label_offset = 1, transform = 1 },
    DataLoader = { batch_size = 1, shuffle = 'flag', drop_last = 'flag', seed = 1, sampler = 1, batch_sampler = 1,
                   collate_fn = 1, num_workers = 1, prefetch_factor = 1, persistent_workers = 'flag',
                   worker_init_fn = 1, timeout = 1 },
    -- 'flag': a boolean (a string 'no' or a 0 is true to Lua: it shuffled)
    DistributedSampler = { num_replicas = 1, rank = 1, seed = 1, shuffle = 'flag', drop_last = 'flag' },
  }

  -- ---- IDX -------------------------------------------------------------------

  -- An IDX file (gzip or plain). dtype: 'float32', 'float64' or 'int64';
  -- by default the file's kind (float -> float32, double -> float64,
  -- integer types -> int64); a fraction, NaN or a value past 2^63 is an
  -- error as int64.
  function data.load_idx(path, dtype, x_)
    if x_ ~= nil then nl._extra_arg('load_idx', x_) end
    if type(path) ~= 'string' then argerror('load_idx', 'a path string', path) end
    local dt = dtype == nil and -1 or nl._dtype_id(dtype, 'load_idx')
    return wrap(lib.nl_load_idx(path, dt), nil, true)
  end

  -- ---- CSV -------------------------------------------------------------------

  local HEADER_CAP = 2 ^ 18
  local header_buf                   -- allocated on first use, then kept

  -- the n names io.c read from the header line, each followed by a NUL
  -- (a quoted name may hold a line end: one a line cut it in two)
  local function split_header(buf, n)
    local names, at = {}, 0
    for j = 1, n do
      names[j] = ffi.string(buf + at)
      at = at + #names[j] + 1
    end
    return names
  end

  -- V (nrow x k, a CSV file's float64 values) as int64, or an error naming
  -- the first value that int64 does not hold as the file wrote it (what:
  -- 'label ' or '', cols[k] the k-th column's name or index, key the
  -- option). Fields are read as float64: past 2^53 a whole number is not
  -- held exactly (9007199254740993 came back as ...992), past 2^63 not at
  -- all; a fraction, NaN or an infinity is not whole (dtype = 'int64'
  -- truncated 1.5 to 1 and NaN to 0 without a word).
  local function csv_int64(op, path, V, cols, what, key)
    local k = V:size(2)
    local function at(flag)
      local i = flag:reshape(-1):argmax():item() - 1
      local r, c = math.floor(i / k) + 1, i % k + 1
      return r, cols[c], V[r][c]
    end
    local a = V:abs()
    local far = nl.ge(a, 2 ^ 53) * nl.lt(a, math.huge)
    if far:sum():item() > 0 then
      local row, col, v = at(far)
      raise(string.format("%s: %scolumn %s of '%s' holds %s on data row %d, past 2^53, which a CSV %s "
                          .. "cannot hold exactly as int64; use %s='float64'", op, what, col, path,
                          ('%.17g'):format(v), row, what == '' and 'field' or 'label', key))
    end
    local whole = V:long():double()
    local bad = nl.ne(whole, V)
    if bad:sum():item() > 0 then
      local row, col, v = at(bad)
      raise(string.format("%s: %scolumn %s of '%s' holds %s on data row %d, not a whole number; "
                          .. "use %s='float32'", op, what, col, path, tostring(v), row, key))
    end
    return whole:long()
  end

  -- A numeric CSV file (gzip or plain). opts:
  --   header      (default true) the first line holds column names
  --   delimiter   (default ',') one character
  --   label       column name or 1-based index (negative from the end):
  --               returned apart as y
  --   label_dtype (default 'int64') 'int64' (values must be whole) or 'float32'
  --   dtype       (default 'float32') of X
  -- Returns X (rows x features), y (or nil) and the feature names (or nil
  -- without a header).
  function data.load_csv(path, opts, x_)
    local op = 'load_csv'
    if x_ ~= nil then nl._extra_arg(op, x_) end
    if type(path) ~= 'string' then argerror(op, 'a path string', path) end
    if opts ~= nil and type(opts) ~= 'table' then argerror(op, 'an options table', opts) end
    opts = opts or {}
    nl._check_opts(op, opts, KNOWN.load_csv)
    local header = opts.header ~= false
    local delim = opts.delimiter or ','
    if type(delim) ~= 'string' or #delim ~= 1 then
      raise(string.format("%s: delimiter must be one character, got %s", op, tostring(delim)))
    end
    local xdt = opts.dtype or 'float32'
    nl._dtype_id(xdt, op)
    local ldt = opts.label_dtype or 'int64'
    if ldt ~= 'int64' and ldt ~= 'float32' and ldt ~= 'float64' then
      raise(string.format("%s: label_dtype must be 'int64', 'float32' or 'float64', got %s", op, tostring(ldt)))
    end
    if header and not header_buf then header_buf = ffi.new('char[?]', HEADER_CAP) end
    local M = wrap(lib.nl_load_csv(path, delim:byte(), header and 1 or 0,
                                   header and header_buf or nil, HEADER_CAP), nil, true)   -- a file's values: data
    local nrow, ncol = M:size(1), M:size(2)     -- (with a header, ncol is its number of names)
    local names = header and split_header(header_buf, ncol) or nil
    local label = opts.label
    if label == nil then
      if xdt ~= 'int64' or nrow == 0 then return M:to(xdt), nil, names end
      local cols = {}
      for j = 1, ncol do cols[j] = names and ("'" .. names[j] .. "'") or j end
      return csv_int64(op, path, M, cols, '', 'dtype'), nil, names
    end

    local li
    if type(label) == 'string' then
      if not names then raise(string.format("%s: label '%s' given by name, but header=false", op, label)) end
      for j, nm in ipairs(names) do
        if nm == label then li = j; break end
      end
      if not li then
        raise(string.format("%s: no column named '%s' in '%s' (columns: %s)", op, label, path,
                            table.concat(names, ', ')))
      end
    elseif type(label) == 'number' and label == math.floor(label) then
      li = label < 0 and label + ncol + 1 or label
      if li < 1 or li > ncol then
        raise(string.format("%s: label column %d out of range for %d columns", op, label, ncol))
      end
    else
      argerror(op, 'a label column name or index', label)
    end
    if nrow == 0 then
      local fnames = {}
      for j = 1, ncol do if j ~= li and names then fnames[#fnames + 1] = names[j] end end
      return nl.zeros({ 0, ncol - 1 }, xdt), nl.zeros({ 0 }, ldt), names and fnames or nil
    end

    local y = M:select(2, li)
    if ldt == 'int64' then
      y = csv_int64(op, path, y:view(nrow, 1), { names and ("'" .. names[li] .. "'") or li }, 'label ', 'label_dtype')
        :view(nrow)
    else
      y = y:to(ldt)
    end
    local keep, fnames = {}, {}
    for j = 1, ncol do
      if j ~= li then
        keep[#keep + 1] = j
        if names then fnames[#fnames + 1] = names[j] end
      end
    end
    if #keep == 0 then return nl.zeros({ nrow, 0 }, xdt), y, names and fnames or nil end
    local X = M:index_select(2, nl.tensor(keep, 'int64'))
    if xdt == 'int64' then
      local cols = {}
      for k, j in ipairs(keep) do cols[k] = names and ("'" .. names[j] .. "'") or j end
      return csv_int64(op, path, X, cols, '', 'dtype'), y, names and fnames or nil
    end
    return X:to(xdt), y, names and fnames or nil
  end

  -- ---- Fashion-MNIST -----------------------------------------------------------

  local FASHION_DIR = '/usr/share/datasets/fashion-mnist/'

  -- the path of Fashion-MNIST file name in dir (gzip or plain), or an error
  -- naming the Debian package
  local function fashion_file(op, dir, name)
    if dir ~= nil and type(dir) ~= 'string' then argerror(op, 'a directory path', dir) end
    dir = dir or FASHION_DIR
    if dir:sub(-1) ~= '/' then dir = dir .. '/' end
    for _, cand in ipairs({ name .. '.gz', name }) do
      local f = io.open(dir .. cand, 'rb')
      if f then f:close(); return dir .. cand end
    end
    raise(string.format("%s: %s%s.gz not found; install the Debian package dataset-fashion-mnist "
                        .. "(apt-get install dataset-fashion-mnist) or pass the directory that holds "
                        .. "Fashion-MNIST's four IDX files", op, dir, name))
  end

  -- xs: the images' shape; y: the labels, the file's plus offset
  local function check_fashion(op, ipath, lpath, xs, y, offset)
    local ys = y:shape()
    if #xs ~= 3 or xs[2] ~= 28 or xs[3] ~= 28 or #ys ~= 1 or ys[1] ~= xs[1] then
      raise(string.format('%s: %s has shape [%s] and %s [%s]; expected N x 28 x 28 images and N labels',
                          op, ipath, table.concat(xs, ','), lpath, table.concat(ys, ',')))
    end
    if ys[1] > 0 and (y:min():item() < offset or y:max():item() > 9 + offset) then
      raise(string.format('%s: %s holds labels outside 0..9', op, lpath))
    end
  end

  -- train, test: tables with X (N x 784 in [0,1], of the default dtype:
  -- float32 unless nl.set_default_dtype changed it, as torchvision's
  -- ToTensor) and y (N int64, labels 1..10), from the four IDX files of Debian's
  -- dataset-fashion-mnist package (or dir, gzip or plain).
  function data.fashion_mnist(dir, x_)
    local op = 'fashion_mnist'
    if x_ ~= nil then nl._extra_arg(op, x_) end
    local function split(images, labels)
      local ipath, lpath = fashion_file(op, dir, images), fashion_file(op, dir, labels)
      local X = data.load_idx(ipath, nl.get_default_dtype())
      local y = data.load_idx(lpath, 'int64')
      local xs = X:shape()
      check_fashion(op, ipath, lpath, xs, y, 0)
      X = X:view(xs[1], 784)
      X:div_(255)
      y:add_(1)
      return { X = X, y = y }
    end
    return split('train-images-idx3-ubyte', 'train-labels-idx1-ubyte'),
           split('t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte')
  end

  -- ---- datasets that keep image bytes --------------------------------------

  -- a dataset of n rows as a userdata proxy (so that #ds works under
  -- LuaJIT): ds[i] is the list of what fields.get returns for row i, other
  -- keys are fields[key]
  local function dataset_proxy(n, fields, describe)
    local self = newproxy(true)
    local mt = getmetatable(self)
    mt.__len = function() return n end
    mt.__index = function(_, i)
      if type(i) ~= 'number' then return fields[i] end
      return { fields.get(nil, i) }
    end
    mt.__tostring = describe
    return self
  end

  -- an error unless i is a row index of a dataset of n rows
  local function check_row(op, i, n)
    if type(i) ~= 'number' or i ~= math.floor(i) or i < 1 or i > n then
      raise(string.format('%s: index %s out of range 1..%d', op, tostring(i), n))
    end
  end

  -- data.IdxDataset(images, [labels], [opts]): the rows of an IDX file of
  -- unsigned bytes (images, path; gzip or plain), kept as bytes (a quarter
  -- of a float32 copy) and converted one batch at a time, with the labels of
  -- an IDX labels file (path, one per row) as int64, as torchvision's
  -- datasets do. opts:
  --   flatten  (true)  rows as 1-D tensors (N x 784 for 28 x 28 images);
  --                    false keeps the file's dims after the first
  --   divisor  (255)   a row holds byte / divisor, in [0, 1] by default
  --   dtype    'float32' or 'float64' (default: the default dtype)
  --   label_offset (1) added to the file's labels: 0..9 become 1..10
  --   transform (nil) a function of a batch of images (a data.transforms
  --                    one, or a Compose of them): the rows are what it
  --                    returns. It gets the rows of a file of N x H x W
  --                    images as a batch N x 1 x H x W (other files' as
  --                    they are), and its rows are flattened only with
  --                    flatten = true given. Each ds:batch or ds[i] applies
  --                    it anew (a random transform draws anew).
  -- #ds rows; ds[i] is { x, y }, ds:get(i) returns x, y; ds:batch(idx)
  -- returns the rows of the int64 tensor idx (1-based) as one tensor and
  -- their labels (what DataLoader calls); ds:tensors() returns every row.
  -- Without labels a row is x alone.
  function data.IdxDataset(images, labels, opts, x_)
    local op = 'IdxDataset'
    if x_ ~= nil then nl._extra_arg(op, x_) end
    if type(images) ~= 'string' then argerror(op, 'a path string for the images', images) end
    if labels ~= nil and type(labels) ~= 'string' then argerror(op, 'a path string for the labels', labels) end
    if opts ~= nil and type(opts) ~= 'table' then argerror(op, 'an options table', opts) end
    opts = opts or {}
    nl._check_opts(op, opts, KNOWN.IdxDataset)
    local divisor = opts.divisor or 255
    if type(divisor) ~= 'number' or not (divisor > 0 and divisor < math.huge) then
      raise(op .. ': divisor must be a positive number, got ' .. tostring(divisor))
    end
    local offset = opts.label_offset or 1
    if type(offset) ~= 'number' or offset ~= math.floor(offset) then
      raise(op .. ': label_offset must be an integer, got ' .. tostring(offset))
    end
    local transform = opts.transform
    if transform ~= nil and not callable(transform) then
      raise(op .. ': transform must be a function of a batch of images (see data.transforms), got '
            .. nl._describe_arg(transform))
    end
    local dt = nl._dtype_id(opts.dtype or nl.get_default_dtype(), op)
    if dt ~= nl._dtype_id('float32', op) and dt ~= nl._dtype_id('float64', op) then
      raise(op .. ': dtype must be float32 or float64, got ' .. tostring(opts.dtype))
    end
    local bytes = lib.nl_load_idx_bytes(images)
    if bytes == nil then raise((ffi.string(lib.nl_error()):gsub('^load_idx_bytes', op))) end
    bytes = ffi.gc(bytes, lib.nl_bytes_free)
    nl._gc_check()                         -- the bytes count as live memory
    local dims = {}
    for d = 1, lib.nl_bytes_ndim(bytes) do dims[d] = tonumber(lib.nl_bytes_size(bytes, d - 1)) end
    local n = dims[1]
    local row = { n }                      -- a batch's shape, n replaced
    if transform then                      -- (N x H x W images get a channel dim)
      if #dims == 3 then row[2] = 1 end
      for d = 2, #dims do row[#row + 1] = dims[d] end
    elseif opts.flatten == false then
      for d = 2, #dims do row[d] = dims[d] end
    else
      local len = 1
      for d = 2, #dims do len = len * dims[d] end
      row[2] = len
    end
    local y
    if labels then
      y = data.load_idx(labels, 'int64')
      if y:dim() ~= 1 or y:size(1) ~= n then
        raise(string.format('%s: %s has %d images (shape [%s]) but %s has labels of shape %s', op, images, n,
                            table.concat(dims, ','), labels, nl._shape_str(y)))
      end
      if offset ~= 0 then y:add_(offset) end
    end

    local function rows(idx)
      local X = lib.nl_bytes_rows(bytes, T(idx, op .. ':batch'), 1, divisor, dt)
      if X == nil then raise((ffi.string(lib.nl_error()):gsub('^bytes_rows', op .. ':batch'))) end
      X = wrap(X)
      row[1] = idx:numel()
      X = X:view(unpack(row))
      if not transform then return X end
      X = transform(X)
      if not nl.is_tensor(X) or X:dim() == 0 or X:size(1) ~= row[1] then
        raise(('%s: transform must return a tensor of the %d rows it was given, got %s'):format(op, row[1],
              nl.is_tensor(X) and 'shape ' .. nl._shape_str(X) or type(X)))
      end
      if opts.flatten then X = X:reshape(row[1], -1) end
      return X
    end
    local fields = { labels = y, path = images, dims = dims, transform = transform }
    function fields.batch(_, idx)
      if not nl.is_tensor(idx) then argerror(op .. ':batch', 'an int64 tensor of row indices', idx) end
      if y then return rows(idx), y:index_select(1, idx) end
      return rows(idx)
    end
    function fields.get(_, i)
      check_row(op, i, n)
      local X = rows(nl.tensor({ i }, 'int64'))[1]
      if y then return X, y[i] end
      return X
    end
    function fields.tensors(self_)
      return fields.batch(self_, nl.arange(1, n + 1, 1, 'int64'))
    end
    return dataset_proxy(n, nl._strict_fields(op, fields), function()
      return string.format('IdxDataset(%d rows of [%s] bytes%s%s: %s)', n, table.concat(row, ',', 2),
                           y and ', labels' or '', transform and ', transformed' or '', images)
    end)
  end

  -- data.FashionMNIST([dir], [opts]): Fashion-MNIST's training set (or with
  -- opts.train = false its test set) as an IdxDataset: rows of 784 float32
  -- in [0, 1] and labels 1..10, the values of data.fashion_mnist(), from
  -- 47 MB of bytes instead of 188 MB of floats. Other opts go to IdxDataset
  -- (label_offset = 0 gives labels 0..9).
  function data.FashionMNIST(dir, opts, x_)
    local op = 'FashionMNIST'
    if x_ ~= nil then nl._extra_arg(op, x_) end
    if opts ~= nil and type(opts) ~= 'table' then argerror(op, 'an options table', opts) end
    opts = opts or {}
    nl._check_opts(op, opts, KNOWN.FashionMNIST)
    local train = opts.train == nil or opts.train
    local pre = train and 'train' or 't10k'
    local ipath = fashion_file(op, dir, pre .. '-images-idx3-ubyte')
    local lpath = fashion_file(op, dir, pre .. '-labels-idx1-ubyte')
    local o = {}
    for k, v in pairs(opts) do if k ~= 'train' then o[k] = v end end
    local ds = data.IdxDataset(ipath, lpath, o)
    check_fashion(op, ipath, lpath, ds.dims, ds.labels, o.label_offset or 1)
    return ds
  end

  -- ---- character corpora -------------------------------------------------------

  -- data.char_corpus(path): a text file as character ids for a character
  -- language model. Returns { ids = int64 tensor (1-based ids, one per
  -- byte), chars = { id -> character }, index = { character -> id },
  -- vocab_size, path }, ids numbered in order of first appearance.
  -- corpus:windows(batch, len) draws batch random windows of len ids
  -- (starting at 1 .. #ids - len, each start as likely) and the windows one
  -- character later (the targets): two (batch, len) tensors.
  local Corpus = {}
  Corpus.__index = Corpus

  function data.char_corpus(path, x_)
    local op = 'char_corpus'
    if x_ ~= nil then nl._extra_arg(op, x_) end
    if type(path) ~= 'string' then argerror(op, 'a path string', path) end
    local f, err = io.open(path, 'rb')
    if not f then raise(string.format('%s: cannot read %s', op, err or path)) end
    local text, rerr = f:read('*a')
    f:close()
    -- (a directory opens, and reading it fails)
    if not text then raise(string.format('%s: cannot read %s: %s', op, path, rerr or 'read failed')) end
    local chars, index, ids = {}, {}, {}
    for i = 1, #text do
      local c = text:sub(i, i)
      local k = index[c]
      if not k then
        k = #chars + 1
        chars[k], index[c] = c, k
      end
      ids[i] = k
    end
    return setmetatable({ ids = nl.tensor(ids, 'int64'), chars = chars, index = index,
                          vocab_size = #chars, path = path }, Corpus)
  end

  function Corpus:windows(batch, len, x_)
    local op = 'char_corpus:windows'
    if x_ ~= nil then nl._extra_arg(op, x_) end
    local n = self.ids:size(1)
    for i = 1, 2 do
      local v = select(i, batch, len)
      if type(v) ~= 'number' or v ~= math.floor(v) or v < 1 then argerror(op, 'positive integers', v) end
    end
    if len + 1 > n then
      raise(string.format('%s: windows of %d need %d characters; the corpus has %d', op, len, len + 1, n))
    end
    -- (float32 rand * (n - len - 1) took only every 2nd..8th start of a
    -- corpus past 2^24 characters, most often those one past a multiple
    -- of 8, and never the last window, whose target ends the corpus)
    local starts = nl.randint(1, n - len + 1, { batch, 1 })       -- 1 .. n - len
    local idx = (starts + nl.arange(0, len):view(1, len)):view(-1)
    return self.ids:index_select(1, idx):view(batch, len), self.ids:index_select(1, idx + 1):view(batch, len)
  end

  -- ---- TensorDataset -----------------------------------------------------------

  local tensor_datasets = setmetatable({}, { __mode = 'k' })   -- proxy -> its tensors

  -- Rows of tensors that share their first size: #ds rows; ds[i] is the
  -- list { row i of each } (an index yields one value in Lua), ds:get(i)
  -- returns the rows as values (a number for a 1-D tensor); ds:batch(idx)
  -- the rows of the int64 tensor idx (1-based) of each; ds.tensors is the
  -- list of tensors.
  function data.TensorDataset(...)
    local op = 'TensorDataset'
    local k = select('#', ...)
    if k == 0 then raise(op .. ': expected at least one tensor') end
    local tensors = { ... }
    local n
    for i = 1, k do
      local t = tensors[i]
      if not nl.is_tensor(t) then raise(string.format('%s: argument %d is not a tensor (%s)', op, i, type(t))) end
      if t:dim() == 0 then raise(string.format('%s: argument %d is a 0-dim tensor; rows need dim 1', op, i)) end
      local rows = t:size(1)
      if n and rows ~= n then
        raise(string.format('%s: tensors of shapes %s and %s differ in their first size', op,
                            nl._shape_str(tensors[1]), nl._shape_str(t)))
      end
      n = rows
    end
    local fields = { tensors = tensors }
    function fields.get(_, i)
      check_row(op, i, n)
      if k == 1 then return tensors[1][i] end
      if k == 2 then return tensors[1][i], tensors[2][i] end
      local row = {}
      for j = 1, k do row[j] = tensors[j][i] end
      return unpack(row, 1, k)
    end
    function fields.batch(_, idx)
      if not nl.is_tensor(idx) then argerror(op .. ':batch', 'an int64 tensor of row indices', idx) end
      local out = {}
      for j = 1, k do out[j] = tensors[j]:index_select(1, idx) end
      return unpack(out, 1, k)
    end
    local self = dataset_proxy(n, nl._strict_fields(op, fields), function()
      local s = {}
      for j = 1, k do s[j] = nl._shape_str(tensors[j]) .. ' ' .. tensors[j]:dtype() end
      return string.format('TensorDataset(%d rows: %s)', n, table.concat(s, ', '))
    end)
    tensor_datasets[self] = tensors
    return self
  end

  -- ---- collation ---------------------------------------------------------------

  -- what a value is, in messages
  local function kind_of(v)
    if nl.is_tensor(v) then return 'tensor' end
    if type(v) ~= 'table' then return type(v) end
    if next(v) == nil then return 'empty table' end
    local m, named = table.maxn(v), false
    for k in pairs(v) do
      if type(k) == 'string' then named = true
      elseif type(k) ~= 'number' or k ~= math.floor(k) or k < 1 then return 'table' end
    end
    if named then return m > 0 and 'table' or 'table of names' end
    return 'list'
  end
  local function where(path) return 'field ' .. table.concat(path, '.') end
  local function at(path, key)
    local p = { unpack(path) }
    p[#p + 1] = key
    return p
  end

  -- the values (one a sample) at path, batched as PyTorch's default_collate
  -- batches them: tensors stacked, numbers into one tensor, booleans into
  -- int64 1/0 (nnlua has no bool dtype), strings kept as a list, lists by
  -- position and tables of names by key, each recursed into. ctx: op, word
  -- and ids name the rows in messages; with ctx.dtypes a field of numbers
  -- has one dtype for the loader's life (a shuffle changed it from batch to
  -- batch with the values it put there): int64 where every row's value is
  -- whole, read from the whole dataset by ctx.scan when it can, else from
  -- the first batch, and a fraction met later is an error. Without it (and
  -- in PyTorch, whose Python ints and floats differ) each batch decides.
  local function collate_field(values, path, ctx)
    local op, first = ctx.op, values[1]
    local kind = kind_of(first)
    for r = 2, #values do
      local k = kind_of(values[r])
      if k ~= kind then
        raise(('%s: %s is a %s in %s %d and a %s in %s %d'):format(op, where(path), kind, ctx.word, ctx.ids[1], k,
                                                                   ctx.word, ctx.ids[r]))
      end
    end
    if kind == 'tensor' then
      local shape = first:shape()
      for r = 2, #values do
        local s = values[r]:shape()
        if #s ~= #shape or table.concat(s, ',') ~= table.concat(shape, ',') then
          raise(('%s: %s holds tensors of shapes %s (%s %d) and %s (%s %d); a batch stacks them, so they must match')
                :format(op, where(path), nl._shape_str(first), ctx.word, ctx.ids[1], nl._shape_str(values[r]),
                        ctx.word, ctx.ids[r]))
        end
      end
      return nl.stack(values, 1)
    elseif kind == 'number' then
      local label = where(path)
      local dtype = ctx.dtypes and ctx.dtypes[label]
      if ctx.dtypes and not dtype and ctx.scan then
        dtype = ctx.scan(path)
        ctx.dtypes[label] = dtype
      end
      local whole = true
      for _, v in ipairs(values) do
        if v ~= math.floor(v) then whole = false end
      end
      if dtype == 'int64' and not whole then
        raise(('%s: %s held whole numbers in the first batch, collated as int64, and fractions in a later '
               .. 'one; return that field as a float tensor'):format(op, label))
      end
      local t = nl.tensor(values, dtype or (whole and 'int64' or nl._default_float()))
      if ctx.dtypes and not dtype then ctx.dtypes[label] = t:dtype() end
      return t
    elseif kind == 'boolean' then
      return nl.tensor(values, 'int64')
    elseif kind == 'string' then
      return { unpack(values) }
    elseif kind == 'empty table' then
      return {}
    elseif kind == 'list' then
      local m = table.maxn(first)
      for r = 1, #values do
        local v = values[r]
        for j = 1, table.maxn(v) do
          if v[j] == nil then raise(('%s: %s of %s %d is nil'):format(op, where(at(path, j)), ctx.word, ctx.ids[r])) end
        end
        if table.maxn(v) ~= m then
          raise(('%s: %s is a list of %d entries in %s %d and of %d in %s %d'):format(op, where(path), m, ctx.word,
                                                                                      ctx.ids[1], table.maxn(v),
                                                                                      ctx.word, ctx.ids[r]))
        end
      end
      local out, col = {}, {}
      for j = 1, m do
        for r = 1, #values do col[r] = values[r][j] end
        out[j] = collate_field(col, at(path, j), ctx)
      end
      return out
    elseif kind == 'table of names' then
      local keys = {}
      for k in pairs(first) do keys[#keys + 1] = k end
      table.sort(keys)
      local inside = #path > 0 and ' in ' .. where(path) or ''
      for r = 2, #values do
        local v = values[r]
        for _, k in ipairs(keys) do
          if v[k] == nil then
            raise(("%s: %s %d has no key '%s'%s, which %s %d has"):format(op, ctx.word, ctx.ids[r], k, inside,
                                                                       ctx.word, ctx.ids[1]))
          end
        end
        for k in pairs(v) do
          if first[k] == nil then
            raise(("%s: %s %d has a key '%s'%s, which %s %d has not"):format(op, ctx.word, ctx.ids[r], tostring(k),
                                                                          inside, ctx.word, ctx.ids[1]))
          end
        end
      end
      local out, col = {}, {}
      for _, k in ipairs(keys) do
        for r = 1, #values do col[r] = values[r][k] end
        out[k] = collate_field(col, at(path, k), ctx)
      end
      return out
    elseif kind == 'table' then
      raise(('%s: %s of %s %d is a table of both list entries and names (or keys that are neither)')
            :format(op, where(path), ctx.word, ctx.ids[1]))
    end
    raise(('%s: the dataset returned a %s in %s (%s %d); expected tensors, numbers, booleans, strings or tables '
           .. 'of them'):format(op, kind, where(path), ctx.word, ctx.ids[1]))
  end

  -- a batch of samples (samples[r] is what the dataset gave for its row
  -- ctx.ids[r]): a sample that is a list {x, y} gives its fields batched
  -- as values (xb, yb: PyTorch's tuple, unpacked), a table of names one
  -- table of batches (PyTorch's dict), a tensor or number one batch
  local function collate_samples(samples, ctx)
    local op, first = ctx.op, samples[1]
    local kind = kind_of(first)
    for r = 2, #samples do
      local k = kind_of(samples[r])
      if k ~= kind then
        raise(('%s: %s %d is a %s and %s %d a %s'):format(op, ctx.word, ctx.ids[1], kind, ctx.word, ctx.ids[r], k))
      end
    end
    if kind == 'empty table' then
      raise(('%s: the dataset returned an empty table for %s %d'):format(op, ctx.word, ctx.ids[1]))
    end
    if kind == 'table' then
      raise(('%s: %s %d is a table of both list entries and names (or keys that are neither); a sample is a '
             .. 'list {x, y}, a table of names or one value'):format(op, ctx.word, ctx.ids[1]))
    end
    if kind == 'table of names' then return collate_field(samples, {}, ctx) end
    if kind ~= 'list' then return collate_field(samples, { 1 }, ctx) end
    local m = table.maxn(first)
    for r = 1, #samples do
      local s = samples[r]
      for j = 1, table.maxn(s) do
        if s[j] == nil then raise(('%s: field %d of %s %d is nil'):format(op, j, ctx.word, ctx.ids[r])) end
      end
      if table.maxn(s) ~= m then
        raise(("%s: %s %d has %d fields, the batch's first %s %d"):format(op, ctx.word, ctx.ids[r], table.maxn(s),
                                                                         ctx.word, m))
      end
    end
    local out, col = {}, {}
    for j = 1, m do
      for r = 1, #samples do col[r] = samples[r][j] end
      out[j] = collate_field(col, { j }, ctx)
    end
    return unpack(out, 1, m)
  end

  -- data.default_collate(samples): the batch the DataLoader makes of a
  -- list of samples (what ds[i] gives), as PyTorch's default_collate: for
  -- a collate_fn that changes the default's batch. A field of numbers is
  -- int64 when this batch's are whole, else float32.
  data._collate_samples = collate_samples
  function data.default_collate(samples, ...)
    local op = 'default_collate'
    nl._no_extra_args(op, '(samples)', nil, ...)
    local m = nl._list_len(samples)
    if not m or m == 0 then argerror(op, 'a non-empty list of samples', samples) end
    local ids = {}
    for r = 1, m do ids[r] = r end
    return collate_samples(samples, { op = op, word = 'sample', ids = ids })
  end

  -- ---- DataLoader --------------------------------------------------------------

  -- data.get_worker_info(): in a DataLoader's worker process, { id (from
  -- 0), num_workers, seed (nl's generator's, the worker's own), dataset };
  -- nil elsewhere, as PyTorch's
  local worker_info
  function data.get_worker_info(x_)
    if x_ ~= nil then nl._extra_arg('get_worker_info', x_) end
    return worker_info
  end
  function data._set_worker_info(info) worker_info = info end
  local workers_module   -- data_workers.lua, set up on the first loader with workers
  function data._workers()
    workers_module = workers_module or require('nnlua.data_workers')(nl, data)
    return workers_module
  end

  -- the number of rows of dataset ds (#ds), or an error naming op
  function data._dataset_len(op, ds)
    -- (a table: its # was 0, and it made an empty dataset in silence)
    if data._is_iterable(ds) then
      raise(('%s: expected a dataset with #ds and ds[i], got an IterableDataset (%s), which only streams its '
             .. 'samples (a DataLoader batches it)'):format(op, ds.__name))
    end
    local ok, n = pcall(function() return #ds end)
    -- a string has a length, a module or an optimizer a raw length of 0:
    -- each made a loader of no batches (or of a string's bytes) in silence
    local nn = nl.nn
    if not ok or type(n) ~= 'number' or type(ds) == 'string' or (nn and nn.is_module(ds)) then
      raise(op .. ': expected a dataset with #ds and ds[i], got ' .. (nn and nn.is_module(ds) and 'a module' or type(ds)))
    end
    local mt = type(ds) == 'table' and getmetatable(ds)
    if mt and type(mt.__len) == 'function' and mt.__len(ds) ~= n then
      raise(('%s: the dataset is a table whose __len says %s rows, which LuaJIT ignores (#ds is %d); '
             .. 'make it a userdata (newproxy) or keep its rows in the table'):format(op, tostring(mt.__len(ds)), n))
    end
    -- as PyTorch's len(): a count of rows (a __len of 2.5, -2 or NaN made
    -- loaders fail inside string.format, or of no batches, and a
    -- ConcatDataset of 12.5 rows)
    if n ~= math.floor(n) or n < 0 or n >= 2 ^ 53 then
      raise(('%s: the dataset\'s #ds (its __len) must be a whole number of rows from 0, got %s')
            :format(op, tostring(n)))
    end
    return n
  end

  -- the generator of a seed option: one of its own, seeded once, so that
  -- its draws repeat on every run and other draws do not change them; nl's
  -- (nl.manual_seed sets it) without a seed
  function data._seed_generator(op, sd)
    if sd == nil then return nl._generator end
    -- a whole number, as DistributedSampler's (1.7 drew seed 1's order; NaN and -1 were taken)
    if type(sd) ~= 'number' or sd ~= math.floor(sd) or sd < 0 or sd >= 2 ^ 53 then
      raise(op .. ': seed must be a non-negative integer, got ' .. tostring(sd))
    end
    return ffi.new('nl_generator', { sd, 0 })
  end

  -- a sampler made as a table: #s of a table is its list length under
  -- LuaJIT, whatever its __len says, and such a sampler of 10 rows made a
  -- loader of no batches without a word
  function data._check_table_len(op, what, obj)
    if type(obj) ~= 'table' then return end
    local mt = getmetatable(obj)
    local said = mt and type(mt.__len) == 'function' and mt.__len(obj)
    if said ~= #obj then
      raise(('%s: %s is a table, whose # LuaJIT takes as its list length (%d)%s; make it a userdata (newproxy) '
             .. 'with __len'):format(op, what, #obj, said and (', not its __len (' .. tostring(said) .. ')') or ''))
    end
  end

  -- row indices given as a list of whole numbers or a 1-D int64 tensor, as
  -- an int64 tensor; what says what they are in the message
  function data._index_tensor(op, what, v)
    if nl.is_tensor(v) then
      if v:dtype() ~= 'int64' or v:dim() ~= 1 then
        raise(('%s: %s must be a 1-D int64 tensor or a list of row indices, got %s %s'):format(op, what,
                                                                                             v:dtype(), nl._shape_str(v)))
      end
      -- as the list's (a tensor's 0 or -1 was taken: Subset read row 0
      -- out of bounds or counted from the end)
      if v:numel() > 0 and v:min():item() < 1 then
        local i = 1
        while v[i] >= 1 do i = i + 1 end
        raise(('%s: %s must be whole numbers from 1, got %s at %d'):format(op, what, nl._describe_arg(v[i]), i))
      end
      return v
    end
    local m = nl._list_len(v)
    if not m then argerror(op, what .. ' as a list of row indices or a 1-D int64 tensor', v) end
    for i = 1, m do
      local x = v[i]
      if type(x) ~= 'number' or x ~= math.floor(x) or x < 1 or x >= 2 ^ 53 then
        raise(('%s: %s must be whole numbers from 1, got %s at %d'):format(op, what, nl._describe_arg(x), i))
      end
    end
    return m == 0 and nl.zeros({ 0 }, 'int64') or nl.tensor(v, 'int64')
  end

  -- the loader's worker options (opts: DataLoader's), checked as PyTorch's:
  -- num_workers, prefetch_factor (nil: not given), timeout
  function data._worker_opts(op, opts)
    local nw = opts.num_workers or 0
    if type(nw) ~= 'number' or nw ~= math.floor(nw) or nw < 0 or nw > 1024 then
      raise(op .. ': num_workers must be an integer in 0..1024, got ' .. nl._describe_arg(nw))
    end
    local prefetch = opts.prefetch_factor
    if prefetch ~= nil and (type(prefetch) ~= 'number' or prefetch ~= math.floor(prefetch) or prefetch < 1
                            or prefetch > 2 ^ 20) then
      raise(op .. ': prefetch_factor must be a positive integer, got ' .. nl._describe_arg(prefetch))
    end
    local timeout = opts.timeout or 0
    if type(timeout) ~= 'number' or not (timeout >= 0 and timeout < math.huge) then
      raise(op .. ': timeout must be a non-negative number of seconds, got ' .. nl._describe_arg(timeout))
    end
    if opts.worker_init_fn ~= nil and not callable(opts.worker_init_fn) then
      raise(op .. ': worker_init_fn must be a function of the worker id, got ' .. nl._describe_arg(opts.worker_init_fn))
    end
    -- (PyTorch's checks: these options are the workers')
    if nw == 0 and (prefetch ~= nil or opts.persistent_workers) then
      raise(op .. ': ' .. (prefetch ~= nil and 'prefetch_factor' or 'persistent_workers')
            .. ' needs num_workers > 0')
    end
    return nw, prefetch, timeout
  end

  -- a loader's __call for `for xb, yb in loader do`: (_, _, control),
  -- control nil at the first call and then the previous batch's first
  -- value. A nil control starts an epoch (iter()), ending the workers of
  -- a loop left early (workers.close) now, not when collected; the others
  -- go on with it. One epoch runs at a time: a control that is not the
  -- last batch given is a second loop over the loader inside the first
  -- (or a stale one), which would take the first's batches, so it is
  -- refused (loader:iter() gives each its own).
  function data._loop_call(op, iter, workers)
    local epoch, last        -- the running epoch's iterator and its last batch's first value
    return function(_, _, control)
      if control == nil then
        if epoch and workers then workers.close(epoch) end
        epoch = iter()
      elseif epoch == nil or control ~= last then
        raise(op .. ': the loader was called with a batch it did not just give: a loop over the loader inside a '
              .. 'loop over it (use loader:iter() for each)')
      end
      local it = epoch
      local function after(first, ...)
        if first == nil then
          if epoch == it then epoch, last = nil, nil end
        else
          last = first
        end
        return first, ...
      end
      return after(it())
    end
  end

  -- Batches of ds (a TensorDataset, an IdxDataset, a Subset, or anything
  -- with #ds and ds[i]: a plain array of samples {x, y} works). A dataset
  -- with a method ds:batch(idx) makes each batch in one call, idx an int64
  -- tensor of 1-based rows, instead of len calls of ds[i]. opts:
  --   batch_size (1, as PyTorch's), shuffle (false), drop_last (false),
  --   seed       (nil) shuffles with a generator of the loader's own, seeded
  --              once: the epochs' orders are the same on every run, and
  --              other draws do not change them. Without a seed the shuffle
  --              draws from nl's generator (nl.manual_seed sets it).
  --   sampler    (nil) decides the rows of each epoch instead of shuffle:
  --              an object with sampler:order() (an int64 tensor of 1-based
  --              row indices) and #sampler (their number), such as
  --              data.RandomSampler or data.DistributedSampler, or a list
  --              of row indices.
  --   batch_sampler (nil) decides each batch's rows: an object with
  --              #bs batches and bs:iter() yielding each one's row indices
  --              (an int64 tensor or a list), such as data.BatchSampler, or
  --              a list of such lists. Not with batch_size, shuffle,
  --              sampler or drop_last, as PyTorch's.
  --   collate_fn (nil) makes a batch of the list of samples ds[i] gives;
  --              what it returns is what iter() yields. The default,
  --              data.default_collate, stacks; a collate_fn bypasses
  --              ds:batch.
  --   num_workers (0) worker processes (forks) that make the batches,
  --              PyTorch's: the batches and their order are those of 0
  --              (data_workers.lua). With workers: prefetch_factor (2)
  --              batches in flight per worker; persistent_workers (false)
  --              keeps them from epoch to epoch (else each iter() starts
  --              its own, ended with its last batch); worker_init_fn(id)
  --              runs in each worker first (ids from 0); timeout (0: none)
  --              seconds to wait for a batch. In a worker,
  --              data.get_worker_info() gives { id, num_workers, seed,
  --              dataset }, and nl's generator is seeded with seed.
  -- loader:iter() yields xb, yb, ... per batch, a new order each call when
  -- shuffling; #loader is the number of batches. Batches are copies.
  -- loader.generator is the generator that shuffles.
  function data.DataLoader(ds, opts, ...)
    local op = 'DataLoader'
    nl._no_extra_args(op, '(dataset, {options})', 'give batch_size, shuffle and the rest in the options table', ...)
    if opts ~= nil and type(opts) ~= 'table' then argerror(op, 'an options table', opts) end
    opts = opts or {}
    nl._check_opts(op, opts, KNOWN.DataLoader)
    local bs = opts.batch_size or 1
    if type(bs) ~= 'number' or bs ~= math.floor(bs) or bs < 1 or bs > 2^40 then
      raise(op .. ': batch_size must be a positive integer, got ' .. tostring(bs))
    end
    if data._is_iterable(ds) then return data._iterable_loader(op, ds, opts, bs) end
    local shuffle, drop_last = opts.shuffle and true or false, opts.drop_last and true or false
    local sampler, batch_sampler, collate_fn = opts.sampler, opts.batch_sampler, opts.collate_fn
    if sampler ~= nil and shuffle then
      raise(op .. ': give shuffle or a sampler, not both (the sampler orders the rows)')
    end
    if batch_sampler ~= nil then
      -- (PyTorch's check: its batch_size of 1 is the default, so it passes)
      local clash = {}
      if bs ~= 1 then clash[#clash + 1] = 'batch_size' end
      if shuffle then clash[#clash + 1] = 'shuffle' end
      if sampler ~= nil then clash[#clash + 1] = 'sampler' end
      if drop_last then clash[#clash + 1] = 'drop_last' end
      if #clash > 0 then
        raise(('%s: batch_sampler is mutually exclusive with batch_size, shuffle, sampler and drop_last (the batch '
               .. 'sampler makes the batches); got %s'):format(op, table.concat(clash, ', ')))
      end
    end
    if collate_fn ~= nil and not callable(collate_fn) then
      raise(op .. ': collate_fn must be a function of the list of samples, got ' .. nl._describe_arg(collate_fn))
    end
    local function method(obj, key)
      local ok, f = pcall(function() return obj[key] end)
      return ok and type(f) == 'function'
    end
    local function check_table_len(what, obj) data._check_table_len(op, what, obj) end
    local sampler_order        -- the sampler's order of an epoch
    if sampler ~= nil then
      if type(sampler) == 'table' and getmetatable(sampler) == nil and not method(sampler, 'order') then
        local order = data._index_tensor(op, 'sampler', sampler)
        sampler_order = function() return order end
      else
        local ok, m = pcall(function() return #sampler end)
        if not ok or type(m) ~= 'number' or not method(sampler, 'order') then
          raise(op .. ': sampler must have sampler:order() and #sampler, got ' .. type(sampler)
                .. (method(sampler, 'iter') and ' (a batch sampler goes in batch_sampler)' or ''))
        end
        check_table_len('sampler', sampler)
        sampler_order = function() return sampler:order() end
      end
    end
    local nb_given            -- #batch_sampler
    if batch_sampler ~= nil then
      local okl, m = pcall(function() return #batch_sampler end)
      local plain = type(batch_sampler) == 'table' and getmetatable(batch_sampler) == nil
      if not okl or type(m) ~= 'number' or type(batch_sampler) == 'string'
         or not (plain or method(batch_sampler, 'iter')) then
        raise(op .. ': batch_sampler must have bs:iter() and #bs, or be a list of lists of row indices, got '
              .. type(batch_sampler))
      end
      if method(batch_sampler, 'iter') then check_table_len('batch_sampler', batch_sampler) end
      nb_given = m
    end
    local gen = data._seed_generator(op, opts.seed)
    local nw, prefetch, timeout = data._worker_opts(op, opts)
    local tensors = tensor_datasets[ds]
    local batcher         -- ds:batch(idx) of a dataset that gathers its own batches (IdxDataset)
    if not tensors then
      local okb, f = pcall(function() return ds.batch end)
      if okb and type(f) == 'function' then batcher = f end
    end
    local n = data._dataset_len(op, ds)
    local rows = sampler and #sampler or n      -- rows per epoch
    local nb = nb_given or (drop_last and math.floor(rows / bs) or math.ceil(rows / bs))

    -- the dtype of numbers at path (in every row) of a plain table, read
    -- from every row (nil for other datasets: their first batch decides)
    local function scan(path)
      if type(ds) ~= 'table' or getmetatable(ds) then return nil end
      for i = 1, n do
        local v = ds[i]
        if type(v) ~= 'table' then v = { v } end
        for _, key in ipairs(path) do v = type(v) == 'table' and v[key] or nil end
        if type(v) == 'number' and v ~= math.floor(v) then return nl._default_float() end
      end
      return 'int64'
    end
    local ctx = { op = op, word = 'row', dtypes = {}, scan = scan }

    -- collate_fn's batch; a nil first value would end the caller's loop
    -- (the epoch cut short without a word)
    local function collated(...)
      if (...) == nil then raise(op .. ': collate_fn returned nil; it must return the batch') end
      return ...
    end

    -- the batch of rows idx (an int64 tensor), or without idx of rows
    -- start .. start + len - 1 in order
    local function make(idx, start, len)
      if not collate_fn then
        if tensors then
          local k = #tensors
          local out = {}
          for j = 1, k do
            local t = tensors[j]
            out[j] = idx and t:index_select(1, idx) or t:narrow(1, start, len):clone()
          end
          return unpack(out, 1, k)
        end
        if batcher then return batcher(ds, idx or nl.arange(start, start + len, 1, 'int64')) end
      end
      local ids = idx and idx:totable()
      if not ids then
        ids = {}
        for r = 1, len do ids[r] = start + r - 1 end
      end
      local samples = {}
      for r = 1, len do
        local s = ds[ids[r]]
        -- a nil row ended the epoch there (the first) or shortened the
        -- batch (a later one)
        if s == nil then raise(('%s: the dataset returned nil for row %d'):format(op, ids[r])) end
        samples[r] = s
      end
      if collate_fn then return collated(collate_fn(samples)) end
      ctx.ids = ids
      return collate_samples(samples, ctx)
    end

    local self = newproxy(true)
    local mt = getmetatable(self)
    local fields = { dataset = ds, batch_size = not batch_sampler and bs or nil, shuffle = shuffle,
                     drop_last = drop_last, generator = gen, sampler = sampler, batch_sampler = batch_sampler,
                     collate_fn = collate_fn, num_workers = nw, prefetch_factor = nw > 0 and (prefetch or 2) or nil,
                     persistent_workers = opts.persistent_workers or false, worker_init_fn = opts.worker_init_fn,
                     timeout = timeout }
    local workers = nw > 0 and data._workers().new {
      num_workers = nw, prefetch_factor = prefetch or 2, persistent_workers = opts.persistent_workers,
      worker_init_fn = opts.worker_init_fn, timeout = timeout, dataset = ds, make = make, generator = gen,
    }
    -- the sampler's rows for this epoch, checked against the dataset
    local function sampled()
      local order = sampler_order()
      if not nl.is_tensor(order) or order:dtype() ~= 'int64' or order:dim() ~= 1 or order:numel() ~= rows then
        raise(('%s: sampler:order() must return %d row indices as a 1-D int64 tensor'):format(op, rows))
      end
      if rows > 0 and (order:min():item() < 1 or order:max():item() > n) then
        raise(('%s: sampler:order() returned a row index outside 1..%d'):format(op, n))
      end
      return order
    end
    -- batch b of the batch sampler's, as row indices checked against the dataset
    local function batch_rows(ix, b)
      local idx = (nl.is_tensor(ix) or type(ix) == 'table')
                  and data._index_tensor(op, ('batch %d of batch_sampler'):format(b), ix)
      if not idx then
        raise(('%s: batch %d of batch_sampler is a %s; expected a list or a 1-D int64 tensor of row indices')
              :format(op, b, type(ix)))
      end
      if idx:numel() == 0 then raise(('%s: batch %d of batch_sampler is empty'):format(op, b)) end
      if idx:min():item() < 1 or idx:max():item() > n then
        raise(('%s: batch %d of batch_sampler holds a row index outside 1..%d'):format(op, b, n))
      end
      return idx
    end
    -- the batch sampler's batches of an epoch, one a call
    local function sampler_batches()
      if type(batch_sampler) == 'table' and getmetatable(batch_sampler) == nil and not method(batch_sampler, 'iter') then
        local i = 0
        return function()
          i = i + 1
          return batch_sampler[i]
        end
      end
      local it = batch_sampler:iter()
      if not callable(it) then raise(op .. ': batch_sampler:iter() must return an iterator function') end
      return it
    end
    -- the rows of an epoch's batches after its first b, one batch a call:
    -- an int64 tensor idx, or rows start .. start + len - 1 in order (idx
    -- nil); len nil at the end
    local function batch_rows_of_epoch(b)
      if batch_sampler then
        local next_batch = sampler_batches()
        local k = 0
        while k < b and next_batch() ~= nil do k = k + 1 end
        return function()
          local ix = next_batch()
          if ix == nil then return nil end
          k = k + 1
          local idx = batch_rows(ix, k)
          return idx, nil, idx:numel()
        end
      end
      local order
      if sampler then order = sampled()
      elseif shuffle then order = wrap(lib.nl_randperm(gen, n, 1)) end
      b = math.min(b, nb)
      return function()
        if b >= nb then return nil end
        b = b + 1
        local start = (b - 1) * bs + 1
        local len = math.min(bs, rows - start + 1)
        return order and order:narrow(1, start, len), start, len
      end
    end
    -- loader:iter([skip]): the epoch's batches; skip leaves out its first ones
    -- (a resumed run: the order is drawn as before, the batches not made)
    function fields.iter(_, skip)
      if skip ~= nil and type(skip) ~= 'number' then argerror(op .. ': iter(skip)', 'a number', skip) end
      local b = skip or 0
      if b ~= b or b < 0 or b ~= math.floor(b) then raise(op .. ': iter(skip): skip must be a non-negative integer') end
      local src = batch_rows_of_epoch(b)
      if workers then return workers.iter(src) end
      local it = function()
        local idx, start, len = src()
        if len == nil then return nil end
        return make(idx, start, len)
      end
      -- (an epoch started under nl.profiler times each batch)
      local prof = rawget(nl, 'profiler')
      if prof and prof.is_running() then return prof._timed_iter(it, 'DataLoader.__next__') end
      return it
    end
    -- loader:shutdown(): ends the loader's worker processes now (persistent
    -- ones too; the next iter() starts new ones), where a loop left early
    -- ended them when the collector took its iterator
    function fields.shutdown()
      if workers then workers.shutdown() end
    end
    -- `for xb, yb in loader do` calls the loader as a generic for's
    -- iterator (calling it was an error, 'attempt to call a userdata value')
    mt.__call = data._loop_call(op, fields.iter, workers)
    mt.__len = function() return nb end
    mt.__index = nl._strict_fields(op, fields)
    mt.__tostring = function()
      local w = nw > 0 and (', num_workers=%d'):format(nw) or ''
      if batch_sampler then return string.format('DataLoader(%d rows, batch_sampler%s: %d batches)', n, w, nb) end
      return string.format('DataLoader(%d rows, batch_size=%d, shuffle=%s, drop_last=%s%s: %d batches)',
                           n, bs, tostring(shuffle), tostring(drop_last), w, nb)
    end
    return self
  end

  -- ---- DistributedSampler ------------------------------------------------------

  local function whole(x) return type(x) == 'number' and x == math.floor(x) and x >= 0 and x < 2 ^ 53 end

  -- Each rank's share of a dataset's rows, for data-parallel training over
  -- nl.dist's ranks, as PyTorch's DistributedSampler deals them: each epoch
  -- one permutation of the rows, the same on every rank (drawn from
  -- seed + epoch), dealt out in turn, so that of R ranks, rank r (from 0)
  -- gets the permutation's elements r+1, r+1+R, r+1+2R, ... Every rank gets
  -- the same number of rows, so all take the same number of steps. When R
  -- divides the number of rows n, the ranks together see each row exactly
  -- once per epoch. Otherwise the permutation is padded with its own first
  -- rows (up to R-1 rows are seen twice that epoch), or with drop_last cut
  -- to a multiple of R (up to R-1 rows are not seen that epoch).
  -- ds: a dataset (#ds rows) or the number of rows. opts:
  --   num_replicas, rank  (default nl.dist.size() and nl.dist.rank())
  --   shuffle (true), seed (0), drop_last (false)
  -- sampler:set_epoch(e) picks epoch e's permutation (call it before each
  -- epoch, with the same e on every rank); sampler:order() gives this
  -- rank's rows, an int64 tensor of 1-based indices; #sampler is their
  -- number. data.DataLoader takes it as opts.sampler.
  function data.DistributedSampler(ds, opts, x_)
    local op = 'DistributedSampler'
    if x_ ~= nil then nl._extra_arg(op, x_) end
    local n = ds
    if type(ds) ~= 'number' then
      local ok, len = pcall(function() return #ds end)
      if not ok or type(len) ~= 'number' then argerror(op, 'a dataset or a number of rows', ds) end
      n = len
    end
    if not whole(n) then raise(op .. ': the number of rows must be a non-negative integer, got ' .. tostring(n)) end
    if opts ~= nil and type(opts) ~= 'table' then argerror(op, 'an options table', opts) end
    opts = opts or {}
    nl._check_opts(op, opts, KNOWN.DistributedSampler)
    local R, r = opts.num_replicas, opts.rank
    if R == nil or r == nil then
      local dist = nl.dist
      if not dist.is_initialized() then
        raise(op .. ': nl.dist is not initialized; call nl.dist.init() first, or give num_replicas and rank')
      end
      R, r = R or dist.size(), r or dist.rank()
    end
    if not whole(R) or R < 1 then raise(op .. ': num_replicas must be a positive integer, got ' .. tostring(R)) end
    if not whole(r) or r >= R then
      raise(('%s: rank must be an integer in 0..%d, got %s'):format(op, R - 1, tostring(r)))
    end
    local seed = opts.seed or 0
    if not whole(seed) then raise(op .. ': seed must be a non-negative integer, got ' .. tostring(seed)) end
    local shuffle, drop_last = opts.shuffle ~= false, opts.drop_last and true or false
    local per = drop_last and math.floor(n / R) or math.ceil(n / R)   -- rows per rank
    local total = per * R
    local epoch = 0

    local fields = { num_replicas = R, rank = r, seed = seed, shuffle = shuffle, drop_last = drop_last }
    function fields.set_epoch(_, e)
      if not whole(e) then raise(op .. ': set_epoch: the epoch must be a non-negative integer, got ' .. tostring(e)) end
      epoch = e
    end
    function fields.order()
      if per == 0 then return nl.zeros({ 0 }, 'int64') end
      local perm
      if shuffle then perm = wrap(lib.nl_randperm(ffi.new('nl_generator', { seed + epoch, 0 }), n, 1))
      else perm = nl.arange(1, n + 1, 'int64') end
      if total > n then                       -- pad with the first rows, repeated if need be
        local parts, need = { perm }, total - n
        while need > 0 do
          local k = math.min(need, n)
          parts[#parts + 1] = perm:narrow(1, 1, k)
          need = need - k
        end
        perm = nl.cat(parts, 1)
      elseif total < n then
        perm = perm:narrow(1, 1, total)
      end
      return perm:view(per, R):select(2, r + 1):contiguous()
    end
    local self = newproxy(true)
    local mt = getmetatable(self)
    mt.__len = function() return per end
    nl._strict_fields(op, fields)
    mt.__index = function(_, k)
      if k == 'epoch' then return epoch end
      return fields[k]
    end
    mt.__tostring = function()
      return string.format('DistributedSampler(%d rows, rank %d of %d: %d rows, shuffle=%s, seed=%d, drop_last=%s)',
                           n, r, R, per, tostring(shuffle), seed, tostring(drop_last))
    end
    return self
  end

  -- Subset, ConcatDataset, random_split and the samplers
  require('nnlua.data_sampling')(nl, data)

  return data
end
