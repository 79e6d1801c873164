-- callbacks.lua: nl.callbacks, Keras 3's callbacks for model:fit's
-- callbacks option: the Callback base class, History, LambdaCallback,
-- TerminateOnNaN, EarlyStopping, ModelCheckpoint, CSVLogger,
-- LearningRateScheduler and ReduceLROnPlateau (Keras's, not
-- optim.ReduceLROnPlateau). Epochs and batches count from 1, as fit's
-- history does (Keras's from 0). fit calls the hooks; the ones with a
-- state give state_dict / load_state_dict, which fit's checkpoints keep.
return function(nl, H)
  local callbacks = {}

  -- ---- the base class ----
  -- Callback:extend(name) -> a class; calling it makes an instance and
  -- runs its init(...). set_model and set_params keep what fit gives
  -- (the model; epochs, steps, verbose, initial_epoch, metrics).
  local Callback = { __name = 'Callback' }
  Callback.__index = Callback
  callbacks.Callback = Callback
  function Callback:extend(name)
    if type(name) ~= 'string' then nl._raise('Callback:extend: expected a class name') end
    local cls = setmetatable({ __name = name }, { __index = self, __call = function(c, ...) return c:new(...) end })
    cls.__index = cls
    return cls
  end
  function Callback.new(cls, ...)
    if type(cls.init) == 'function' then nl._check_init_args(cls.__name, cls.init, ...) end
    local o = setmetatable({}, cls)
    if cls.init then o:init(...) end
    return o
  end
  setmetatable(Callback, { __call = function(c, ...) return c:new(...) end })
  function Callback:set_model(model) self.model = model end
  function Callback:set_params(params) self.params = params end

  local function finite(v) return type(v) == 'number' and v == v and math.abs(v) < math.huge end
  -- verbose as Keras takes it: 0, 1 or a boolean
  local function verbose_of(op, v)
    if v == nil or v == false then return 0 end
    if v == true then return 1 end
    if v ~= 0 and v ~= 1 and v ~= 2 then nl._argerror(op, 'verbose as 0, 1 or a boolean', v) end
    return v
  end
  -- the values fit records, by name, as check_monitor reads them
  local function recorded(params)
    local set = { epoch = {} }
    for _, k in ipairs(params.metrics) do set[k] = {} end
    return set
  end
  -- the optimizer fit trains with: the compiled one
  local function optimizer_of(model) return rawget(model, '_compiled').optimizer end
  -- a checkpoint's state that is not this callback's: an error naming both
  local function check_key(op, sd, key)
    if type(sd) ~= 'table' or sd.options ~= key then
      nl._raise(('%s: the checkpoint holds the state of %s {%s}, and this one is {%s}; resume with the same '
                 .. 'options'):format(op, op, type(sd) == 'table' and tostring(sd.options) or '?', key))
    end
  end
  local function check_numbers(op, sd, names)
    for _, k in ipairs(names) do
      if type(sd[k]) ~= 'number' then nl._raise(('%s: malformed state in the checkpoint (%s)'):format(op, k)) end
    end
  end
  -- on one rank, or rank 0 of several: where files are written
  local function writes()
    local dist = nl._dist_world()
    return not dist or dist.rank() == 0
  end
  -- a number as Python's str gives a float: the fewest digits that read
  -- back as it (an integer without a fraction)
  local function number_str(v)
    if type(v) ~= 'number' then return tostring(v) end
    if v ~= v then return 'nan' end
    if v == math.huge then return 'inf' elseif v == -math.huge then return '-inf' end
    if v % 1 == 0 and math.abs(v) < 2^53 then return ('%d'):format(v) end
    for digits = 15, 17 do
      local s = ('%.' .. digits .. 'g'):format(v)
      if tonumber(s) == v then return s end
    end
    return ('%.17g'):format(v)
  end

  -- ---- History ----
  -- the history fit returns: h.history is that table (h.history.loss[i],
  -- the i-th epoch run's loss), h.epoch its list of epochs
  local History = Callback:extend('History')
  function History:init() self.history, self.epoch = {}, {} end
  function History:_bind_history(h) self.history, self.epoch = h, h.epoch end

  -- ---- LambdaCallback ----
  -- functions called without self: on_epoch_begin(epoch, logs),
  -- on_train_begin(logs), on_train_batch_end(batch, logs) (or on_batch_end), ...
  local LAMBDA_KNOWN = { on_epoch_begin = 1, on_epoch_end = 1, on_train_begin = 1, on_train_end = 1,
                         on_train_batch_begin = 1, on_train_batch_end = 1, on_batch_begin = 1, on_batch_end = 1 }
  local LambdaCallback = Callback:extend('LambdaCallback')
  function LambdaCallback:init(fns)
    fns = nl._opts('LambdaCallback', fns)
    nl._check_opts('LambdaCallback', fns, LAMBDA_KNOWN)
    for k, f in pairs(fns) do
      if type(f) ~= 'function' then
        nl._raise(('LambdaCallback: %s must be a function, got %s'):format(k, nl._describe_arg(f)))
      end
    end
    for _, w in ipairs({ 'begin', 'end' }) do
      if fns['on_batch_' .. w] and fns['on_train_batch_' .. w] then
        nl._raise(('LambdaCallback: give on_train_batch_%s or on_batch_%s (its other name), not both'):format(w, w))
      end
    end
    for k, f in pairs(fns) do
      local hook = k:gsub('^on_batch_', 'on_train_batch_')
      self[hook] = function(_, ...) return f(...) end
    end
  end

  -- ---- TerminateOnNaN ----
  -- stops fit after a batch whose loss so far is NaN or infinite
  local TerminateOnNaN = Callback:extend('TerminateOnNaN')
  function TerminateOnNaN:init() end
  function TerminateOnNaN:on_train_batch_end(batch, logs)
    local loss = type(logs) == 'table' and logs.loss or nil
    if type(loss) == 'number' and not finite(loss) then
      if not self.params or self.params.verbose ~= 0 then
        print(('Batch %d: Invalid loss, terminating training'):format(batch))
      end
      rawset(self.model, 'stop_training', true)
    end
  end

  -- ---- EarlyStopping ----
  -- fit's early_stopping option as a callback: the same options, and
  -- Keras's verbose
  local ES_KNOWN = { verbose = 1 }
  for k, v in pairs(H.early_stopping_known) do ES_KNOWN[k] = v end
  local ES_WHO = { op = 'EarlyStopping', field = '', opts = 'EarlyStopping', known = ES_KNOWN,
                   what = 'a table of options {monitor =, patience =, ...}' }
  local EarlyStopping = Callback:extend('EarlyStopping')
  function EarlyStopping:init(opts)
    opts = opts == nil and {} or opts
    self.options = H.early_stopping_of(opts, nil, ES_WHO)
    self.monitor, self.verbose = self.options.monitor, verbose_of('EarlyStopping', opts.verbose)
    if opts.mode == nil or opts.mode == 'auto' then
      self.auto_opts = {}
      for k, v in pairs(opts) do self.auto_opts[k] = v end
    end
  end
  -- auto mode decided again once the model is known: by the direction of
  -- the compiled metric object monitor names (the name alone at init)
  local function compiled_of(model) return type(model) == 'table' and rawget(model, '_compiled') or nil end
  function EarlyStopping:set_params(params)
    self.params = params
    H.check_monitor('EarlyStopping', '', self.monitor, recorded(params))
    if self.auto_opts then self.options = H.early_stopping_of(self.auto_opts, nil, ES_WHO, compiled_of(self.model)) end
    local st = {}
    for k, v in pairs(self.options) do st[k] = v end
    self.es = st                     -- Keras's on_train_begin: wait, best, stopped_epoch afresh
  end
  function EarlyStopping:on_epoch_end(epoch, logs)
    local v = logs[self.monitor]
    if type(v) ~= 'number' then return end
    local es = self.es
    H.es_epoch_end(self.model, es, v, epoch)
    if es.stopped_epoch == epoch then
      rawset(self.model, 'stop_training', true)
      if self.verbose > 0 then print(('Epoch %d: early stopping'):format(epoch)) end
    end
  end
  function EarlyStopping:on_train_end()
    local es = self.es
    if es.restore and es.best_weights then
      if self.verbose > 0 then
        print(('Restoring model weights from the end of the best epoch: %d.'):format(es.best_epoch))
      end
      self.model:load_state_dict(es.best_weights)
    end
  end
  function EarlyStopping:state_dict()
    local es = self.es
    return { options = es.key, wait = es.wait, best = es.best, best_epoch = es.best_epoch,
             stopped_epoch = es.stopped_epoch, best_weights = es.best_weights }
  end
  function EarlyStopping:load_state_dict(sd)
    local es = self.es
    check_key('EarlyStopping', sd, es.key)
    check_numbers('EarlyStopping', sd, { 'wait', 'best', 'best_epoch', 'stopped_epoch' })
    if es.restore and sd.best_epoch > 0 and type(sd.best_weights) ~= 'table' then
      nl._raise('EarlyStopping: malformed state in the checkpoint (best_weights)')
    end
    es.wait, es.best, es.best_epoch, es.stopped_epoch = sd.wait, sd.best, sd.best_epoch, sd.stopped_epoch
    es.best_weights = sd.best_weights
  end

  -- ---- mode and monitor of ModelCheckpoint and ReduceLROnPlateau ----
  -- (compiled: the model's compile state once fit gives the model, for
  -- auto mode's metric directions; nil at init)
  local function mode_of(op, monitor, mode, compiled)
    mode = mode == nil and 'auto' or mode
    if mode ~= 'min' and mode ~= 'max' and mode ~= 'auto' then
      nl._raise(("%s: expected mode as 'min', 'max' or 'auto', got %s"):format(op, nl._describe_arg(mode)))
    end
    if type(monitor) ~= 'string' then
      nl._raise(('%s: expected monitor as a name, got %s'):format(op, nl._describe_arg(monitor)))
    end
    return mode == 'auto' and H.auto_mode(monitor, compiled) or mode
  end

  -- ---- ModelCheckpoint ----
  -- filepath's fields, as Python's str.format: {epoch}, {epoch:02d},
  -- {val_loss:.4f}, ... ({{ and }} are braces)
  local SPEC = '^[-+ #0]*%d*%.?%d*[dieEfFgGs]?$'
  local function fields_of(op, fp)
    local s = fp:gsub('{{', '\1'):gsub('}}', '\2')
    local names = {}
    local rest = s:gsub('{([^{}]*)}', function(body)
      local name, spec = body:match('^([%a_][%w_]*)(.*)$')
      if spec and spec ~= '' then spec = spec:match('^:(.*)$') end
      if not name or not spec or not spec:match(SPEC) then
        nl._raise(("%s: the filepath's field {%s} must be a name with an optional format, such as {epoch:02d} "
                   .. 'or {val_loss:.4f}'):format(op, body))
      end
      -- the types Python's format refuses for the value: epoch is an int,
      -- every other value a float ({loss:d} wrote the loss cut to an int)
      local code, prec = spec:sub(-1), spec:find('.', 1, true)
      local kind = name == 'epoch' and 'int' or 'float'
      if code == 'i' or code == 's' or (code == 'd' and kind == 'float') then
        nl._raise(("%s: the filepath's field {%s} has format code '%s', which Python's format refuses for "
                   .. "{%s}, a%s %s (use d for epoch, f, e or g for the others)"):format(op, body, code, name,
                   kind == 'int' and 'n' or '', kind))
      end
      if kind == 'int' and prec and not code:match('[eEfFgG]') then
        nl._raise(("%s: the filepath's field {%s} has a precision, which Python's format refuses for the int "
                   .. 'epoch without a float code (use {epoch:d} or {epoch:.2f})'):format(op, body))
      end
      names[#names + 1] = name
      return ''
    end)
    if rest:find('[{}]') then
      nl._raise(("%s: the filepath '%s' has a brace without its pair (write {{ and }} for braces)"):format(op, fp))
    end
    return names
  end
  -- C's printf of a double (as Python's %): LuaJIT's string.format rounds
  -- exact ties away from zero ({loss:.2f} of 0.625 was 0.63, Python's 0.62);
  -- with '.' whatever LC_NUMERIC the host set (C's snprintf named the file
  -- m-0,62.st under de_DE)
  local ffi = require 'ffi'
  local fmtbuf, fmtlen = ffi.new('char[64]'), 64
  local function cformat(f, v)
    local n = nl._lib.nl_format_double(fmtbuf, fmtlen, f, v)
    if n < 0 then nl._raise('ModelCheckpoint: ' .. ffi.string(nl._lib.nl_error())) end
    if n >= fmtlen then                -- (a width past the buffer: it grows)
      fmtlen = n + 1
      fmtbuf = ffi.new('char[?]', fmtlen)
      n = nl._lib.nl_format_double(fmtbuf, fmtlen, f, v)
    end
    return ffi.string(fmtbuf, n)
  end
  -- a float as Python's format(v, spec) gives it where spec has no type:
  -- repr without a precision, else 'g' switching to the exponent at
  -- p - 1, and a fixed form keeps a digit past the point (4.0, not 4)
  local function py_float(v, spec)
    local flags, width, p = spec:match('^([-+ #0]*)(%d*)%.?(%d*)$')
    local neg = v < 0 or (v == 0 and 1 / v < 0)
    local a, body = math.abs(v), nil
    if v ~= v then body = 'nan'
    elseif a == math.huge then body = 'inf'
    elseif p == '' then
      body = (a % 1 == 0 and a < 1e16) and ('%.1f'):format(a) or number_str(a)
    else
      p = math.max(tonumber(p), 1)
      local e = cformat('%.' .. (p - 1) .. 'e', a)
      local x = tonumber(e:match('e([-+]%d+)$'))
      if x < -4 or x >= p - 1 then
        local m, ex = e:match('^(.-)(e.*)$')
        if m:find('.', 1, true) then m = m:gsub('0+$', ''):gsub('%.$', '') end
        body = m .. ex
      else
        body = cformat('%.' .. (p - 1 - x) .. 'f', a)
        if body:find('.', 1, true) then body = body:gsub('0+$', '') end
        body = body:sub(-1) == '.' and body .. '0' or body:find('.', 1, true) and body or body .. '.0'
      end
    end
    local sign = neg and '-' or flags:find('+', 1, true) and '+' or flags:find(' ', 1, true) and ' ' or ''
    local pad = (tonumber(width) or 0) - #sign - #body
    if pad <= 0 then return sign .. body end
    if flags:find('0', 1, true) then return sign .. ('0'):rep(pad) .. body end
    return (' '):rep(pad) .. sign .. body
  end
  -- epoch an int, every other value a float, as Keras's logs hold them
  -- (the untyped {loss:.3} of a loss of 4 was '004', Python's '4.0')
  local function format_path(fp, values)
    local s = fp:gsub('{{', '\1'):gsub('}}', '\2')
    s = s:gsub('{([%a_][%w_]*):?([^{}]*)}', function(name, spec)
      local v = values[name]
      if name ~= 'epoch' and type(v) == 'number' and not spec:match('[dieEfFgGs]$') then return py_float(v, spec) end
      if spec == '' then return number_str(v) end
      if not spec:match('[dieEfFgGs]$') then spec = spec .. 'd' end
      if spec:match('[eEfFgG]$') then return cformat('%' .. spec, v) end
      if spec:match('[di]$') then v = v < 0 and math.ceil(v) or math.floor(v) end
      return ('%' .. spec):format(v)
    end)
    return (s:gsub('\1', '{'):gsub('\2', '}'))
  end

  local MC_KNOWN = { filepath = 1, monitor = 1, verbose = 1, save_best_only = 'flag', save_weights_only = 'flag',
                     mode = 1, initial_value_threshold = 1 }
  local ModelCheckpoint = Callback:extend('ModelCheckpoint')
  -- ModelCheckpoint(filepath, {monitor, mode, save_best_only, save_weights_only,
  -- initial_value_threshold, verbose}) or ModelCheckpoint{filepath = , ...}
  function ModelCheckpoint:init(filepath, opts)
    local op = 'ModelCheckpoint'
    if type(filepath) == 'table' and opts == nil then filepath, opts = filepath.filepath, filepath
    else
      opts = nl._opts(op, opts)
      if opts.filepath ~= nil then nl._raise('ModelCheckpoint: give filepath once, as the first argument or the option') end
    end
    nl._check_opts(op, opts, MC_KNOWN)
    if type(filepath) ~= 'string' or filepath == '' then nl._argerror(op, 'a filepath string', filepath) end
    self.filepath, self.fields = filepath, fields_of(op, filepath)
    self.monitor = opts.monitor == nil and 'val_loss' or opts.monitor
    self.mode = mode_of(op, self.monitor, opts.mode)
    self.auto = opts.mode == nil or opts.mode == 'auto'
    self.verbose = verbose_of(op, opts.verbose)
    self.save_best_only, self.save_weights_only = opts.save_best_only == true, opts.save_weights_only == true
    local t = opts.initial_value_threshold
    if t ~= nil and (type(t) ~= 'number' or t ~= t) then nl._argerror(op, 'initial_value_threshold as a number', t) end
    self.initial_value_threshold = t
    -- the best so far, kept from one fit to the next, as Keras's (it set it
    -- at each fit's start, and a second fit overwrote the best file with
    -- its first epoch, however worse)
    self:_set_mode(self.mode)
  end
  function ModelCheckpoint:_set_mode(mode)
    self.mode, self.best = mode, self.initial_value_threshold or (mode == 'min' and math.huge or -math.huge)
    self.key = ("monitor = '%s', mode = '%s'"):format(self.monitor, mode)
  end
  function ModelCheckpoint:set_params(params)
    self.params = params
    -- auto mode by the compiled metric's direction, while no best is kept
    -- (one from an earlier fit stays with the mode it was taken in)
    if self.auto then
      local mode = mode_of('ModelCheckpoint', self.monitor, 'auto', compiled_of(self.model))
      local start = self.initial_value_threshold or (self.mode == 'min' and math.huge or -math.huge)
      if mode ~= self.mode and self.best == start then self:_set_mode(mode) end
    end
    local values = recorded(params)
    for _, name in ipairs(self.fields) do
      if values[name] == nil then
        local names = { 'epoch' }
        for _, k in ipairs(params.metrics) do names[#names + 1] = k end
        nl._raise(("ModelCheckpoint: the filepath's field {%s} names no value this fit records (%s)"):format(name,
          table.concat(names, ', ')))
      end
    end
    if self.save_best_only then H.check_monitor('ModelCheckpoint', '', self.monitor, values) end
  end
  function ModelCheckpoint:_save(path)
    if not writes() then return end
    if self.save_weights_only then nl.save_safetensors(path, self.model:state_dict())
    else self.model:save(path, { optimizer = optimizer_of(self.model) }) end
  end
  function ModelCheckpoint:on_epoch_end(epoch, logs)
    -- (an epoch fit did not validate, by validation_freq, has no val_
    -- values: Keras's saves no best model of it, and cannot fill the
    -- filepath's fields of them)
    if self.save_best_only and logs[self.monitor] == nil then
      if self.verbose > 0 then
        print(('Epoch %d: Can save best model only with %s available, skipping.'):format(epoch, self.monitor))
      end
      return
    end
    local values = { epoch = epoch }
    for k, v in pairs(logs) do values[k] = v end
    for _, name in ipairs(self.fields) do
      if values[name] == nil then
        nl._raise(("ModelCheckpoint: the filepath's field {%s} has no value in epoch %d (fit's validation_freq "
                   .. 'skipped its validation)'):format(name, epoch))
      end
    end
    local path = format_path(self.filepath, values)
    if not self.save_best_only then
      if self.verbose > 0 then print(('Epoch %d: saving model to %s'):format(epoch, path)) end
      return self:_save(path)
    end
    local v = logs[self.monitor]
    -- Keras's: strictly better (a NaN never is)
    local better = type(v) == 'number' and (self.mode == 'min' and v < self.best or self.mode == 'max' and v > self.best)
    if better then
      if self.verbose > 0 then
        print(('Epoch %d: %s improved from %.5f to %.5f, saving model to %s'):format(epoch, self.monitor, self.best,
          v, path))
      end
      self.best = v
      self:_save(path)
    elseif self.verbose > 0 then
      print(('Epoch %d: %s did not improve from %.5f'):format(epoch, self.monitor, self.best))
    end
  end
  function ModelCheckpoint:state_dict() return { options = self.key, best = self.best } end
  function ModelCheckpoint:load_state_dict(sd)
    check_key('ModelCheckpoint', sd, self.key)
    check_numbers('ModelCheckpoint', sd, { 'best' })
    self.best = sd.best
  end

  -- ---- CSVLogger ----
  -- one line an epoch: epoch, then the logs' keys sorted, joined by
  -- separator; each line appended and the file closed (flushed) at once
  local CSV_KNOWN = { filename = 1, separator = 1, append = 'flag' }
  local CSVLogger = Callback:extend('CSVLogger')
  function CSVLogger:init(filename, opts)
    local op = 'CSVLogger'
    if type(filename) == 'table' and opts == nil then filename, opts = filename.filename, filename
    else
      opts = nl._opts(op, opts)
      if opts.filename ~= nil then nl._raise('CSVLogger: give filename once, as the first argument or the option') end
    end
    nl._check_opts(op, opts, CSV_KNOWN)
    if type(filename) ~= 'string' or filename == '' then nl._argerror(op, 'a filename string', filename) end
    local sep = opts.separator == nil and ',' or opts.separator
    if type(sep) ~= 'string' or sep == '' or sep:find('[\r\n]') then
      nl._argerror(op, 'separator as a string without line breaks', sep)
    end
    self.filename, self.separator, self.append = filename, sep, opts.append == true
  end
  local function open(self, mode)
    local f, err = io.open(self.filename, mode)
    if not f then nl._raise(('CSVLogger: cannot open %s: %s'):format(self.filename, tostring(err))) end
    return f
  end
  function CSVLogger:set_params(params)
    self.params, self.keys, self.bytes, self.header, self.resume = params, nil, 0, true, nil
  end
  function CSVLogger:on_train_begin()
    if not writes() then return end
    if self.resume then
      -- the file as the checkpoint left it: lines written after it (the
      -- killed run's) are cut, so the resumed run writes each epoch once
      local f = io.open(self.filename, 'rb')
      local text = f and f:read('*a') or ''
      if f then f:close() end
      -- written whole or not at all (opened with 'wb', a failed write, as
      -- of a full disk, left the log cut short and said nothing)
      local keep = text:sub(1, self.resume.bytes)
      if nl._lib.nl_write_file(self.filename, keep, #keep) ~= 0 then
        nl._raise(('CSVLogger: cannot write %s (%s)'):format(self.filename, require('ffi').string(nl._lib.nl_error())))
      end
      self.bytes, self.keys, self.header = math.min(#text, self.resume.bytes), self.resume.keys, self.resume.header
      self.resume = nil
    elseif self.append then
      -- Keras's: a header only where the file is new or empty
      local f = io.open(self.filename, 'rb')
      self.bytes = f and f:seek('end') or 0
      if f then f:close() end
      self.header = self.bytes == 0
    else
      open(self, 'wb'):close()
      self.bytes, self.header = 0, true
    end
  end
  function CSVLogger:on_epoch_end(epoch, logs)
    if not writes() then return end
    if not self.keys then
      self.keys = {}
      for k in pairs(logs) do self.keys[#self.keys + 1] = k end
      -- (the val_ values of the epochs fit validates, by validation_freq,
      -- have their columns from the first line, NA in the other epochs,
      -- as Keras 3's)
      for _, k in ipairs(self.params and self.params.metrics or {}) do
        if k:sub(1, 4) == 'val_' and logs[k] == nil then self.keys[#self.keys + 1] = k end
      end
      table.sort(self.keys)
    end
    local sep, lines = self.separator, {}
    if self.header then
      lines[1] = 'epoch' .. sep .. table.concat(self.keys, sep) .. '\n'
      self.header = false
    end
    local row = { ('%d'):format(epoch) }
    for i, k in ipairs(self.keys) do row[i + 1] = logs[k] == nil and 'NA' or number_str(logs[k]) end
    lines[#lines + 1] = table.concat(row, sep) .. '\n'
    -- (appended whole or not at all and checked: a write that failed
    -- part way, as on a full disk, left a torn line at the log's end;
    -- unchecked, bytes became nil, which a resume took for a malformed state)
    local text = table.concat(lines)
    local at = nl._lib.nl_append_file(self.filename, text, #text)
    if at < 0 then
      local msg = require('ffi').string(nl._lib.nl_error()):gsub('^append_file: ', '')
      nl._raise(('CSVLogger: cannot write %s: %s'):format(self.filename, msg))
    end
    self.bytes = tonumber(at)
  end
  function CSVLogger:state_dict()
    return { bytes = self.bytes, keys = self.keys, header = self.header }
  end
  function CSVLogger:load_state_dict(sd)
    if type(sd) ~= 'table' or type(sd.bytes) ~= 'number' or (sd.keys ~= nil and type(sd.keys) ~= 'table') then
      nl._raise('CSVLogger: malformed state in the checkpoint')
    end
    self.resume = { bytes = sd.bytes, keys = sd.keys, header = sd.header == true }
  end

  -- the lr of each param group set to lr(group's lr)
  local function set_lrs(opt, f)
    for _, g in ipairs(opt.param_groups) do g.lr = f(g.lr) end
  end

  -- ---- LearningRateScheduler ----
  -- schedule(epoch, lr) -> the lr of the epoch, set at its beginning in
  -- every param group (lr: the first group's, as the history records it)
  local LearningRateScheduler = Callback:extend('LearningRateScheduler')
  LearningRateScheduler.records_lr = true
  function LearningRateScheduler:init(schedule, opts)
    local op = 'LearningRateScheduler'
    if type(schedule) ~= 'function' then nl._argerror(op, 'a schedule function (epoch, lr)', schedule) end
    opts = nl._opts(op, opts)
    nl._check_opts(op, opts, { verbose = 1 })
    self.schedule, self.verbose = schedule, verbose_of(op, opts.verbose)
  end
  function LearningRateScheduler:on_epoch_begin(epoch)
    local opt = optimizer_of(self.model)
    local lr = self.schedule(epoch, opt.param_groups[1].lr)
    if type(lr) ~= 'number' or not (lr >= 0 and lr < math.huge) then
      nl._raise(('LearningRateScheduler: the schedule gave %s for epoch %d; it must return a learning rate >= 0')
                :format(nl._describe_arg(lr), epoch))
    end
    set_lrs(opt, function() return lr end)
    if self.verbose > 0 then
      print(('Epoch %d: LearningRateScheduler setting learning rate to %s.'):format(epoch, number_str(lr)))
    end
  end

  -- ---- ReduceLROnPlateau (Keras's) ----
  -- each group's lr times factor (not below min_lr) once patience epochs
  -- have passed without monitor improving by more than min_delta, then
  -- cooldown epochs in which the wait does not count
  local RLR_KNOWN = { monitor = 1, factor = 1, patience = 1, verbose = 1, mode = 1, min_delta = 1, cooldown = 1,
                      min_lr = 1 }
  local ReduceLROnPlateau = Callback:extend('ReduceLROnPlateau')
  ReduceLROnPlateau.records_lr = true
  function ReduceLROnPlateau:init(opts)
    local op = 'ReduceLROnPlateau'
    opts = nl._opts(op, opts)
    nl._check_opts(op, opts, RLR_KNOWN)
    local function bad(what, v) nl._raise(('%s: expected %s, got %s'):format(op, what, nl._describe_arg(v))) end
    self.monitor = opts.monitor == nil and 'val_loss' or opts.monitor
    self.mode = mode_of(op, self.monitor, opts.mode)
    self.auto = opts.mode == nil or opts.mode == 'auto'
    local factor = opts.factor == nil and 0.1 or opts.factor
    -- (Keras refuses a factor >= 1, which would raise the lr)
    if type(factor) ~= 'number' or not (factor >= 0 and factor < 1) then bad('factor in [0, 1)', factor) end
    local patience, cooldown = opts.patience == nil and 10 or opts.patience, opts.cooldown or 0
    if not H.whole(patience) then bad('patience as a whole number >= 0', patience) end
    if not H.whole(cooldown) then bad('cooldown as a whole number >= 0', cooldown) end
    local delta = opts.min_delta == nil and 1e-4 or opts.min_delta
    if not finite(delta) or delta < 0 then bad('min_delta as a finite number >= 0', delta) end
    local min_lr = opts.min_lr or 0
    if not finite(min_lr) or min_lr < 0 then bad('min_lr as a finite number >= 0', min_lr) end
    self.factor, self.patience, self.cooldown, self.min_delta, self.min_lr = factor, patience, cooldown, delta, min_lr
    self.verbose = verbose_of(op, opts.verbose)
    self:_set_key()
  end
  function ReduceLROnPlateau:_set_key()
    self.key = ("monitor = '%s', mode = '%s', factor = %.17g, patience = %d, min_delta = %.17g, cooldown = %d, "
                .. 'min_lr = %.17g'):format(self.monitor, self.mode, self.factor, self.patience, self.min_delta,
                self.cooldown, self.min_lr)
  end
  function ReduceLROnPlateau:set_params(params)
    self.params = params
    H.check_monitor('ReduceLROnPlateau', '', self.monitor, recorded(params))
    if self.auto then
      self.mode = mode_of('ReduceLROnPlateau', self.monitor, 'auto', compiled_of(self.model))
      self:_set_key()
    end
    self.best = self.mode == 'min' and math.huge or -math.huge
    self.wait, self.cooldown_counter = 0, 0
  end
  -- Keras 3's on_epoch_end
  function ReduceLROnPlateau:on_epoch_end(epoch, logs)
    local v = logs[self.monitor]
    if type(v) ~= 'number' then return end
    local in_cooldown = self.cooldown_counter > 0
    if in_cooldown then
      self.cooldown_counter = self.cooldown_counter - 1
      self.wait = 0
    end
    local better
    if self.mode == 'min' then better = v < self.best - self.min_delta else better = v > self.best + self.min_delta end
    if better then
      self.best, self.wait = v, 0
    elseif not (self.cooldown_counter > 0) then
      self.wait = self.wait + 1
      if self.wait >= self.patience then
        local opt, reduced = optimizer_of(self.model), false
        set_lrs(opt, function(lr)
          if lr > self.min_lr then
            reduced = true
            return math.max(lr * self.factor, self.min_lr)
          end
          return lr
        end)
        if reduced then
          if self.verbose > 0 then
            print(('Epoch %d: ReduceLROnPlateau reducing learning rate to %s.'):format(epoch,
              number_str(opt.param_groups[1].lr)))
          end
          self.cooldown_counter, self.wait = self.cooldown, 0
        end
      end
    end
  end
  function ReduceLROnPlateau:state_dict()
    return { options = self.key, best = self.best, wait = self.wait, cooldown_counter = self.cooldown_counter }
  end
  function ReduceLROnPlateau:load_state_dict(sd)
    check_key('ReduceLROnPlateau', sd, self.key)
    check_numbers('ReduceLROnPlateau', sd, { 'best', 'wait', 'cooldown_counter' })
    self.best, self.wait, self.cooldown_counter = sd.best, sd.wait, sd.cooldown_counter
  end

  callbacks.History, callbacks.LambdaCallback, callbacks.TerminateOnNaN = History, LambdaCallback, TerminateOnNaN
  callbacks.EarlyStopping, callbacks.ModelCheckpoint, callbacks.CSVLogger = EarlyStopping, ModelCheckpoint, CSVLogger
  callbacks.LearningRateScheduler, callbacks.ReduceLROnPlateau = LearningRateScheduler, ReduceLROnPlateau

  -- the methods of these classes refuse arguments past Keras's signature
  -- (es:state_dict(1), cb:set_model(m, 2), cb:on_train_end(logs, 3)
  -- dropped them; Keras raises TypeError): a hook takes Keras's logs even
  -- where this one reads none, as fit passes them. A subclass's own
  -- methods are its writer's.
  local TAKES = { on_train_begin = '([logs])', on_train_end = '([logs])', on_epoch_begin = '(epoch, [logs])',
                  on_epoch_end = '(epoch, [logs])', on_train_batch_begin = '(batch, [logs])',
                  on_train_batch_end = '(batch, [logs])', on_batch_begin = '(batch, [logs])',
                  on_batch_end = '(batch, [logs])', set_model = '(model)', set_params = '(params)',
                  state_dict = '()', load_state_dict = '(state_dict)' }
  for _, cls in pairs(callbacks) do
    for k, takes in pairs(TAKES) do
      local f = rawget(cls, k)
      if type(f) == 'function' then
        local most = takes == '()' and 0 or select(2, takes:gsub(',', '')) + 1
        cls[k] = function(self, ...)
          if select('#', ...) > most then nl._no_extra_args(self.__name .. ': ' .. k, takes, nil, select(most + 1, ...)) end
          return f(self, ...)
        end
      end
    end
  end
  return callbacks
end
