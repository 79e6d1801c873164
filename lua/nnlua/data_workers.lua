-- data_workers.lua: DataLoader's worker processes (num_workers > 0), as
-- PyTorch's with its default start method on Linux: each worker is a
-- fork() of the process, which runs the dataset and the collation on the
-- batches' row indices the parent's sampler drew (the order is the one
-- num_workers = 0 gives) and sends the batch back over a Unix socket, as
-- tensors' dtype, shape and bytes and plain Lua values; for an
-- IterableDataset each worker makes the batches of its own pass instead
-- (iter_stream). Loaded on the
-- first loader with workers; the sampling and collation are data.lua's
-- (the default collation's dtype of a field of numbers, fixed from the
-- first batch, is fixed in each worker from its own first batch).
local ffi = require 'ffi'
local bit = require 'bit'

-- libc, one declaration at a time: another module may have made one
for _, decl in ipairs({
  'int fork(void);', 'void _exit(int status);', 'int getpid(void);', 'int getppid(void);',
  'int kill(int pid, int sig);', 'int waitpid(int pid, int *status, int options);',
  'int socketpair(int domain, int type, int protocol, int sv[2]);', 'int close(int fd);',
  'intptr_t send(int fd, const void *buf, size_t n, int flags);',
  'intptr_t recv(int fd, void *buf, size_t n, int flags);',
  'struct pollfd { int fd; short events; short revents; };',
  'int poll(struct pollfd *fds, unsigned long nfds, int timeout);',
  'int prctl(int option, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5);',
  'void (*signal(int sig, void (*handler)(int)))(int);', 'int fflush(void *stream);',
  'int usleep(unsigned int usec);', 'char *strerror(int errnum);',
}) do pcall(ffi.cdef, decl) end
local C = ffi.C

-- Linux's values (the same on x86-64 and arm64)
local AF_UNIX, SOCK_STREAM, SOCK_CLOEXEC = 1, 1, 0x80000
local MSG_DONTWAIT, MSG_NOSIGNAL = 0x40, 0x4000
local POLLIN, POLLOUT, POLLERR, POLLHUP = 1, 4, 8, 16
local EINTR, EAGAIN = 4, 11
local WNOHANG, SIGKILL, SIGINT, PR_SET_PDEATHSIG = 1, 9, 2, 1
local SIG_IGN = ffi.cast('void (*)(int)', 1)

local TASK_HEAD, RESULT_HEAD = 3, 4   -- int64 words: task {epoch, batch, rows}; result {epoch, batch, status, bytes}
local GRACE = 0.1                     -- seconds a busy worker gets to exit once its socket closes

local lib     -- the runtime (nl._lib), once the module is set up

-- the parent's ends of every worker's socket in this process, which a
-- new worker closes (a worker holding another's socket kept that one
-- from seeing the parent close it)
local live_fds = {}

-- ---- reaping -----------------------------------------------------------------

-- A pool's processes as the FFI object whose finalizer reaps them (and
-- that loader:shutdown and the end of an epoch reap first): h[0] the
-- parent's pid (0 once reaped), h[1] the number of workers n, h[2 .. n+1]
-- their pids, h[n+2 .. 2n+1] the parent's sockets (-1 once closed).
-- Closing a socket ends a worker waiting for a task; one still busy is
-- killed after GRACE seconds. Safe to run twice, and a no-op in a forked
-- child (the workers are its siblings).
local status_out = ffi.new('int[1]')
local function reap(h)
  if h[0] == 0 or C.getpid() ~= h[0] then return end
  local n = h[1]
  for i = n + 2, 2 * n + 1 do
    if h[i] >= 0 then
      C.close(h[i])
      live_fds[h[i]] = nil
      h[i] = -1
    end
  end
  local t0, killed = lib.nl_time(), false
  while true do
    local left = 0
    for i = 2, n + 1 do
      if h[i] > 0 then
        local r = C.waitpid(h[i], status_out, killed and 0 or WNOHANG)
        if r == h[i] or (r < 0 and ffi.errno() ~= EINTR) then h[i] = 0 else left = left + 1 end
      end
    end
    if left == 0 then break end
    if not killed and lib.nl_time() - t0 > GRACE then
      for i = 2, n + 1 do if h[i] > 0 then C.kill(h[i], SIGKILL) end end
      killed = true
    elseif not killed then
      C.usleep(1000)
    end
  end
  h[0] = 0
end

-- the wait status of worker pid, which closed its socket: it is exiting
-- (killed after a second if not); nil if it was reaped already
local function exit_status(pid)
  local t0 = lib.nl_time()
  while true do
    local r = C.waitpid(pid, status_out, WNOHANG)
    if r == pid then return status_out[0] end
    if r < 0 and ffi.errno() ~= EINTR then return nil end
    if lib.nl_time() - t0 > 1 then C.kill(pid, SIGKILL) end
    C.usleep(1000)
  end
end

local function describe_status(st)
  if st == nil then return 'exited unexpectedly' end
  local sig = bit.band(st, 0x7f)
  if sig == 0 then return ('exited unexpectedly (exit status %d)'):format(bit.band(bit.rshift(st, 8), 0xff)) end
  return ('was killed by signal %d'):format(sig)
end

-- ---- the wire form of a batch ---------------------------------------------------

-- what the collation returns: tags, then for a number its double, a
-- string its length and bytes, a tensor its dtype, dims, sizes and
-- contiguous bytes, a table its number of pairs and the pairs
local NIL, FALSE, TRUE, NUMBER, STRING, TENSOR, TABLE = 0, 1, 2, 3, 4, 5, 6

return function(nl, data)
  lib = nl._lib
  local raise, wrap = nl._raise, nl._wrap
  local M = {}
  M.END = setmetatable({}, { __tostring = function() return 'the end of a worker\'s stream' end })

  -- the writer: one growing buffer, reused from batch to batch
  local cap, len = 65536, 0
  local buf = ffi.new('uint8_t[?]', cap)
  local function reserve(k)
    if len + k <= cap then return end
    while cap < len + k do cap = cap * 2 end
    local nb = ffi.new('uint8_t[?]', cap)
    ffi.copy(nb, buf, len)
    buf = nb
  end
  local function put_u8(v) reserve(1); buf[len] = v; len = len + 1 end
  local function put_i64(v) reserve(8); ffi.cast('int64_t *', buf + len)[0] = v; len = len + 8 end
  local function put_f64(v) reserve(8); ffi.cast('double *', buf + len)[0] = v; len = len + 8 end
  local function put_bytes(p, k) reserve(k); ffi.copy(buf + len, p, k); len = len + k end

  local function put(v, path, seen)
    local ty = type(v)
    if v == nil then put_u8(NIL)
    elseif ty == 'boolean' then put_u8(v and TRUE or FALSE)
    elseif ty == 'number' then put_u8(NUMBER); put_f64(v)
    elseif ty == 'string' then put_u8(STRING); put_i64(#v); put_bytes(v, #v)
    elseif nl.is_tensor(v) then
      local p = v.ptr
      if p == nil then raise(('DataLoader: a worker\'s batch holds a released tensor (at %s)'):format(path)) end
      if lib.nl_is_contiguous(p) == 0 then p = v:detach():contiguous().ptr end
      put_u8(TENSOR); put_u8(p.dtype); put_u8(p.ndim)
      for d = 0, p.ndim - 1 do put_i64(p.sizes[d]) end
      local bytes = tonumber(p.numel * lib.nl_dtype_size(p.dtype))
      if bytes > 0 then put_bytes(p.data, bytes) end
    elseif ty == 'table' and getmetatable(v) == nil then
      if seen[v] then raise(('DataLoader: a worker\'s batch holds a table inside itself (at %s)'):format(path)) end
      seen[v] = true
      local k = 0
      for _ in pairs(v) do k = k + 1 end
      put_u8(TABLE); put_i64(k)
      for key, x in pairs(v) do
        local kt = type(key)
        if kt ~= 'number' and kt ~= 'string' and kt ~= 'boolean' then
          raise(('DataLoader: a worker\'s batch has a %s key at %s; a worker sends tables whose keys are numbers, '
                 .. 'strings or booleans'):format(kt, path))
        end
        put(key, path, seen)
        put(x, path .. '.' .. tostring(key), seen)
      end
      seen[v] = nil
    else
      raise(('DataLoader: a worker cannot send a %s (at %s) back; a batch is made of tensors, numbers, strings, '
             .. 'booleans and plain tables of them'):format(ty == 'table' and 'table with a metatable' or ty, path))
    end
  end

  -- the collation's values, as the payload in buf[0 .. len)
  local function encode(...)
    len = 0
    local k = select('#', ...)
    put_i64(k)
    for i = 1, k do put((select(i, ...)), 'value ' .. i, {}) end
    return len
  end

  -- the values of a payload
  local sizes = ffi.new('int64_t[8]')
  local function decode(p, n)
    local pos = 0
    local function i64()
      local v = ffi.cast('int64_t *', p + pos)[0]
      pos = pos + 8
      return v
    end
    local function get()
      local tag = p[pos]
      pos = pos + 1
      if tag == NIL then return nil
      elseif tag == FALSE then return false
      elseif tag == TRUE then return true
      elseif tag == NUMBER then
        local v = ffi.cast('double *', p + pos)[0]
        pos = pos + 8
        return v
      elseif tag == STRING then
        local k = tonumber(i64())
        local s = ffi.string(p + pos, k)
        pos = pos + k
        return s
      elseif tag == TENSOR then
        local dt, nd = p[pos], p[pos + 1]
        pos = pos + 2
        for d = 0, nd - 1 do sizes[d] = i64() end
        local t = wrap(lib.nl_empty(nd, sizes, dt), nil, true)
        local bytes = tonumber(t.ptr.numel * lib.nl_dtype_size(dt))
        if bytes > 0 then ffi.copy(t.ptr.data, p + pos, bytes) end
        pos = pos + bytes
        return t
      elseif tag == TABLE then
        local t = {}
        for _ = 1, tonumber(i64()) do
          local key = get()
          t[key] = get()
        end
        return t
      end
      error('DataLoader: a worker sent a malformed batch (tag ' .. tostring(tag) .. ')')
    end
    local k = tonumber(i64())
    local out = {}
    for i = 1, k do out[i] = get() end
    assert(pos == n, 'DataLoader: a worker sent a malformed batch')
    return unpack(out, 1, k)
  end
  -- ---- the worker ----------------------------------------------------------------

  -- n bytes from a blocking socket into p; false at its end
  local function recv_all(fd, p, n)
    p = ffi.cast('uint8_t *', p)
    local got = 0
    while got < n do
      local r = tonumber(C.recv(fd, p + got, n - got, 0))
      if r == 0 then return false end
      if r < 0 then
        if ffi.errno() ~= EINTR then return false end
      else
        got = got + r
      end
    end
    return true
  end
  local function send_all(fd, p, n)
    p = ffi.cast('const uint8_t *', p)
    local sent = 0
    while sent < n do
      local r = tonumber(C.send(fd, p + sent, n - sent, MSG_NOSIGNAL))
      if r < 0 then
        if ffi.errno() ~= EINTR then return false end
      else
        sent = sent + r
      end
    end
    return true
  end

  local function traceback(e) return debug.traceback(tostring(e), 2) end

  -- a worker's life, in the forked child; never returns
  local function worker_main(cfg, id, seed, fd, parent)
    local code = 0
    local ok, err = pcall(function()
      -- ended with the parent, however it ends; Ctrl-C is the parent's to handle
      C.prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0)
      if C.getppid() ~= parent then C._exit(1) end
      C.signal(SIGINT, SIG_IGN)
      -- the parent's OpenMP and BLIS threads are not in this process: a
      -- region of more than one thread waited for them forever
      lib.nl_set_num_threads(1)
      for other in pairs(live_fds) do C.close(other) end
      live_fds = {}
      nl.manual_seed(seed)
      data._set_worker_info({ id = id, num_workers = cfg.num_workers, seed = seed, dataset = cfg.dataset })
      local init_err
      if cfg.worker_init_fn then
        local iok, e = xpcall(cfg.worker_init_fn, traceback, id)
        if not iok then init_err = 'worker_init_fn: ' .. tostring(e) end
      end
      C.fflush(nil)
      local head = ffi.new('int64_t[?]', RESULT_HEAD)
      while true do
        if not recv_all(fd, head, TASK_HEAD * 8) then return end
        local eid, b, rows = head[0], head[1], tonumber(head[2])
        local idx = nl.empty({ rows }, 'int64')
        if not recv_all(fd, idx.ptr.data, rows * 8) then return end
        local status, p, n = 0, nil, 0
        if init_err then
          status, p, n = 1, init_err, #init_err
        else
          -- (an IterableDataset's make gives M.END once the worker's stream
          -- has no more batches: status 2, no body)
          local function enc(first, ...) if first == M.END then return false end return encode(first, ...) end
          local rok, r = xpcall(function() return enc(cfg.make(idx, nil, rows, eid)) end, traceback)
          if rok and r == false then status, p, n = 2, buf, 0
          elseif rok then p, n = buf, r else status, p, n = 1, tostring(r), #tostring(r) end
        end
        head[0], head[1], head[2], head[3] = eid, b, status, n
        C.fflush(nil)
        if not send_all(fd, head, RESULT_HEAD * 8) or not send_all(fd, p, n) then return end
        idx = nil
      end
    end)
    if not ok then
      io.stderr:write(('DataLoader worker %d: %s\n'):format(id, tostring(err)))
      code = 1
    end
    C.fflush(nil)
    C._exit(code)
  end

  -- ---- the parent's side ----------------------------------------------------------

  local one_fd = ffi.new('int[2]')

  -- every pool's handle while it lives: a loop over loader:iter() left
  -- early keeps its workers until the collector takes its iterator, and
  -- the collector sees neither their memory nor their sockets (20 epochs
  -- left early held 40 processes and 40 sockets)
  local handles = setmetatable({}, { __mode = 'k' })

  -- n workers for cfg (the loader's: num_workers, make, dataset,
  -- worker_init_fn), seeded base .. base + n - 1
  local function start_pool(cfg, base)
    local n = cfg.num_workers
    -- two other pools alive (more than a validation loop inside a
    -- training loop holds): a full collection first reaps those whose
    -- iterators are gone; one still in use stays
    local alive = 0
    for h in pairs(handles) do
      if h[0] ~= 0 and h[0] == C.getpid() then alive = alive + 1 end
    end
    if alive >= 2 then collectgarbage() end
    local h = ffi.gc(ffi.new('int[?]', 2 * n + 2), reap)
    h[0], h[1] = C.getpid(), n
    for i = n + 2, 2 * n + 1 do h[i] = -1 end
    handles[h] = true
    local pool = { n = n, h = h, epoch = 0, inq = {}, outq = {}, eof = {} }
    C.fflush(nil)    -- (else the child's first flush wrote the parent's buffered output again)
    for w = 1, n do
      if C.socketpair(AF_UNIX, SOCK_STREAM + SOCK_CLOEXEC, 0, one_fd) ~= 0 then
        local e = ffi.errno()
        reap(h)
        raise(('DataLoader: cannot make a socket for worker %d: %s'):format(w - 1, ffi.string(C.strerror(e))))
      end
      local mine, theirs = one_fd[0], one_fd[1]
      local parent = h[0]
      local pid = C.fork()
      if pid == 0 then
        C.close(mine)
        worker_main(cfg, w - 1, base + w - 1, theirs, parent)
      end
      C.close(theirs)
      if pid < 0 then
        local e = ffi.errno()
        C.close(mine)
        reap(h)
        raise(('DataLoader: cannot start worker %d: %s'):format(w - 1, ffi.string(C.strerror(e))))
      end
      h[w + 1], h[n + 1 + w] = pid, mine
      live_fds[mine] = true
      pool.inq[w] = { head = ffi.new('int64_t[?]', RESULT_HEAD), got = 0, body = nil, msgs = {}, first = 1, last = 0 }
      pool.outq[w] = { first = 1, last = 0, off = 0 }
    end
    return pool
  end

  local function fd_of(pool, w) return pool.h[pool.n + 1 + w] end
  local function pid_of(pool, w) return pool.h[w + 1] end

  -- what worker w's socket has for us, without waiting; false at its end
  local function read_some(pool, w)
    local q, fd = pool.inq[w], fd_of(pool, w)
    while true do
      local r
      if q.body == nil then
        r = tonumber(C.recv(fd, ffi.cast('uint8_t *', q.head) + q.got, RESULT_HEAD * 8 - q.got, MSG_DONTWAIT))
      else
        r = tonumber(C.recv(fd, q.body + q.got, q.need - q.got, MSG_DONTWAIT))
      end
      if r == 0 then return false end
      if r < 0 then
        local e = ffi.errno()
        if e == EAGAIN then return true end
        if e ~= EINTR then return false end
      else
        q.got = q.got + r
        if q.body == nil and q.got == RESULT_HEAD * 8 then
          q.need = tonumber(q.head[3])
          q.body, q.got = ffi.new('uint8_t[?]', math.max(q.need, 1)), 0
        end
        if q.body ~= nil and q.got == q.need then
          q.last = q.last + 1
          q.msgs[q.last] = { epoch = q.head[0], batch = tonumber(q.head[1]), status = tonumber(q.head[2]),
                                  body = q.body, bytes = q.need }
          q.body, q.got = nil, 0
        end
      end
    end
  end

  -- the tasks queued for worker w, sent while its socket takes them; false
  -- when it is closed
  local function write_some(pool, w)
    local q, fd = pool.outq[w], fd_of(pool, w)
    while q[q.first] do
      local s = q[q.first]
      local r = tonumber(C.send(fd, ffi.cast('const char *', s) + q.off, #s - q.off, MSG_DONTWAIT + MSG_NOSIGNAL))
      if r < 0 then
        local e = ffi.errno()
        if e == EAGAIN then return true end
        if e ~= EINTR then return false end
      else
        q.off = q.off + r
        if q.off == #s then
          q[q.first], q.first, q.off = nil, q.first + 1, 0
        end
      end
    end
    return true
  end

  local function queue_task(pool, w, eid, b, idx)
    local rows = idx:numel()
    if not idx:is_contiguous() then idx = idx:contiguous() end
    local words = ffi.new('int64_t[?]', TASK_HEAD + rows)
    words[0], words[1], words[2] = eid, b, rows
    ffi.copy(words + TASK_HEAD, idx.ptr.data, rows * 8)
    local q = pool.outq[w]
    q.last = q.last + 1
    q[q.last] = ffi.string(words, (TASK_HEAD + rows) * 8)
    if not write_some(pool, w) then pool.eof[w] = true end
  end

  local pollfds, pollw = ffi.new('struct pollfd[?]', 64), {}
  local npoll = 64

  -- reads and writes what the sockets take, waiting at most ms (-1: until
  -- one is ready); the worker whose socket ended, if one did
  local function pump(pool, ms)
    for w = 1, pool.n do if pool.eof[w] then return w end end
    local k = 0
    if pool.n > npoll then
      npoll = pool.n
      pollfds = ffi.new('struct pollfd[?]', npoll)
    end
    for w = 1, pool.n do
      local fd = fd_of(pool, w)
      if fd >= 0 and not pool.eof[w] then
        pollfds[k].fd, pollfds[k].revents = fd, 0
        pollfds[k].events = POLLIN + (pool.outq[w][pool.outq[w].first] and POLLOUT or 0)
        k = k + 1
        pollw[k] = w
      end
    end
    local r = C.poll(pollfds, k, ms)
    if r < 0 then return nil end    -- EINTR: the caller waits again
    for j = 0, k - 1 do
      local ev, w = pollfds[j].revents, pollw[j + 1]
      if bit.band(ev, POLLOUT) ~= 0 and not write_some(pool, w) then pool.eof[w] = true end
      if bit.band(ev, POLLIN + POLLHUP + POLLERR) ~= 0 and not read_some(pool, w) then pool.eof[w] = true end
    end
    for w = 1, pool.n do if pool.eof[w] then return w end end
    return nil
  end

  -- ends the pool's workers
  local function end_pool(pool)
    reap(pool.h)
    pool.dead = true
  end
  -- ends the pool's workers, then raises msg
  local function fail(pool, msg)
    end_pool(pool)
    raise(msg)
  end
  -- ends the pool's workers, then raises err (an error caught) as it was
  local function rethrow(pool, err)
    end_pool(pool)
    error(err, 0)
  end

  -- the result of batch b of epoch eid from worker w, waiting at most
  -- timeout seconds (0: no limit); a worker's error, death or the
  -- timeout end the pool and raise
  local function wait_result(pool, w, eid, b, timeout)
    local deadline = timeout > 0 and lib.nl_time() + timeout or nil
    local q = pool.inq[w]
    while true do
      local m = q.msgs[q.first]
      if m then
        q.msgs[q.first], q.first = nil, q.first + 1
        if tonumber(m.epoch) == eid then
          if m.batch ~= b then fail(pool, ('DataLoader: worker %d sent batch %d for batch %d'):format(w - 1, m.batch, b)) end
          if m.status == 1 then
            fail(pool, ('DataLoader: worker %d (pid %d) raised an error making batch %d:\n%s'):format(w - 1,
              pid_of(pool, w), b, ffi.string(m.body, m.bytes)))
          end
          return m
        end
        -- (a batch of an epoch left unfinished: persistent workers went on to this one)
      else
        local ms = -1
        if deadline then
          local left = deadline - lib.nl_time()
          if left <= 0 then
            fail(pool, ('DataLoader: timed out after %g s waiting for batch %d from worker %d (pid %d)')
                       :format(timeout, b, w - 1, pid_of(pool, w)))
          end
          ms = math.ceil(left * 1000)
        end
        local dead = pump(pool, ms)
        if dead then
          local pid = pid_of(pool, dead)
          fail(pool, ('DataLoader: worker %d (pid %d) %s'):format(dead - 1, pid, describe_status(exit_status(pid))))
        end
      end
    end
  end

  -- a seed for an epoch's workers from the loader's generator's state and
  -- the epochs begun, without a draw from it (the batches are those of
  -- num_workers = 0): the same each run for a seeded loader, or after
  -- nl.manual_seed (on nl's generator the epochs count from the last
  -- nl.manual_seed, so that seeding again repeats the epoch, as PyTorch's
  -- base seed drawn from the generator); below 2^52 (manual_seed takes it)
  local function base_seed(gen, epochs)
    local z = gen.seed * 0x9E3779B97F4A7C15ULL + gen.offset * 0xBF58476D1CE4E5B9ULL
              + ffi.cast('uint64_t', epochs) * 0x94D049BB133111EBULL
    z = bit.bxor(z, bit.rshift(z, 30)) * 0xBF58476D1CE4E5B9ULL
    z = bit.bxor(z, bit.rshift(z, 27)) * 0x94D049BB133111EBULL
    z = bit.bxor(z, bit.rshift(z, 31))
    return tonumber(z % 0x10000000000000ULL)
  end

  -- The workers of one loader. cfg: num_workers, prefetch_factor,
  -- persistent_workers, worker_init_fn, timeout, dataset, make (the
  -- batch of an int64 tensor of rows), generator.
  function M.new(cfg)
    local self = { epochs = 0 }
    local pools = setmetatable({}, { __mode = 'k' })   -- the loader's live pools
    local finishers = setmetatable({}, { __mode = 'kv' })   -- an epoch's iterator -> its finish
    local persistent_pool

    local function new_pool()
      local pool = start_pool(cfg, base_seed(cfg.generator, self.epochs))
      pools[pool] = true
      return pool
    end

    -- the function that ends an epoch's pool of workers, unless persistent
    local function epoch_end(pool)
      return function()
        if not cfg.persistent_workers then end_pool(pool) end
      end
    end

    -- raises unless pool still runs epoch eid: not shut down, not taken
    -- over by a later iter() (persistent workers)
    local function still_ours(pool, eid)
      if pool.dead then
        raise('DataLoader: this epoch\'s workers were shut down (loader:shutdown(), or an error ended them)')
      end
      if pool.epoch ~= eid then
        raise('DataLoader: a later loader:iter() took over the persistent workers from this epoch\'s loop')
      end
    end

    -- the pool of the next epoch (the persistent one, or a new one), its
    -- epoch counted; the epochs count again from 0 after nl.manual_seed
    local function next_epoch_pool()
      if cfg.generator == nl._generator and self.seedings ~= nl._seedings then
        self.epochs, self.seedings = 0, nl._seedings
      end
      self.epochs = self.epochs + 1
      local pool
      if cfg.persistent_workers then
        if not persistent_pool or persistent_pool.dead then persistent_pool = new_pool() end
        pool = persistent_pool
      else
        pool = new_pool()
      end
      pool.epoch = pool.epoch + 1
      return pool
    end

    -- the epoch's batches: src gives each one's rows (idx, or start and
    -- len), as the loader draws them
    function self.iter(src)
      local pool = next_epoch_pool()
      local eid, n, timeout = pool.epoch, pool.n, cfg.timeout
      local sent, taken, drawn_all = 0, 0, false
      local function send_next()
        local ok, err = pcall(function()
          local idx, start, len = src()
          if len == nil then
            drawn_all = true
            return
          end
          sent = sent + 1
          queue_task(pool, (sent - 1) % n + 1, eid, sent, idx or nl.arange(start, start + len, 1, 'int64'))
        end)
        if not ok then rethrow(pool, err) end
      end
      local finish = epoch_end(pool)
      for _ = 1, n * cfg.prefetch_factor do
        send_next()
        if drawn_all then break end
      end
      pump(pool, 0)
      if sent == 0 then finish() end
      local function it()
        if taken == sent then
          finish()
          return nil
        end
        still_ours(pool, eid)
        taken = taken + 1
        -- an error while waiting that is not the pool's (an interrupt, out
        -- of memory) ends the workers too: they ignore SIGINT, and kept
        -- running until the iterator was collected
        local ok, m = pcall(wait_result, pool, (taken - 1) % n + 1, eid, taken, timeout)
        if not ok then rethrow(pool, m) end
        if not drawn_all then send_next() end
        if taken == sent then finish() end
        return decode(m.body, m.bytes)
      end
      finishers[it] = finish
      return it
    end

    -- the epoch's batches of an IterableDataset, PyTorch's way: each worker
    -- runs its own pass over the dataset (cfg.make(_, _, _, eid) gives its
    -- next batch, M.END after its last), split by data.get_worker_info()
    -- where the dataset does so; the tasks go round the workers whose
    -- stream has not ended and the batches come back in that order
    function self.iter_stream()
      local pool = next_epoch_pool()
      local eid, n, timeout = pool.epoch, pool.n, cfg.timeout
      local active, nactive, cycle = {}, n, 0
      for w = 1, n do active[w] = true end
      local task_w = {}        -- task number -> its worker
      local sent, taken = 0, 0
      local none = nl.empty({ 0 }, 'int64')
      local finish = epoch_end(pool)
      local function send_next()
        if nactive == 0 then return end
        repeat cycle = cycle % n + 1 until active[cycle]
        sent = sent + 1
        task_w[sent] = cycle
        local ok, err = pcall(queue_task, pool, cycle, eid, sent, none)
        if not ok then rethrow(pool, err) end
      end
      for _ = 1, n * cfg.prefetch_factor do send_next() end
      pump(pool, 0)
      local function it()
        while true do
          if taken == sent then
            finish()
            return nil
          end
          still_ours(pool, eid)
          taken = taken + 1
          local w = task_w[taken]
          task_w[taken] = nil
          local ok, m = pcall(wait_result, pool, w, eid, taken, timeout)
          if not ok then rethrow(pool, m) end
          if m.status == 2 then
            -- (a task sent before its end was known ends too: no new task for it)
            if active[w] then
              active[w], nactive = nil, nactive - 1
              send_next()
            end
          else
            send_next()
            return decode(m.body, m.bytes)
          end
        end
      end
      finishers[it] = finish
      return it
    end

    -- ends the workers of the epoch of iterator it, unless persistent
    -- (a plain for over the loader, left early, that another replaces)
    function self.close(it)
      local finish = finishers[it]
      if finish then finish() end
    end

    -- ends every worker the loader started
    function self.shutdown()
      for pool in pairs(pools) do end_pool(pool) end
      persistent_pool = nil
    end
    return self
  end

  return M
end
