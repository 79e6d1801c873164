-- dist.lua: nl.dist, runs over several processes on Open MPI (mpirun):
-- init, rank, size, barrier, allreduce and broadcast of tensors in place,
-- finalize. nnlua does not link MPI: nl.dist loads on first use, and
-- Open MPI's libmpi when dist.init() runs, so nnlua works where Open MPI is
-- not installed. Ranks are MPI's, 0 .. size-1, as mpirun and Open MPI's
-- messages number them. After init, a process that exits with a failure
-- aborts the whole job (src/dist.c) instead of leaving the others waiting,
-- and one that exits cleanly finalizes MPI by itself, after telling the
-- others it leaves: a rank waiting in a collective that one never started
-- fails then, and the job ends, where it waited forever. Every wait here
-- is a non-blocking call and nl_dist_wait, which looks for those notices.
-- nn.DataParallel (nn/parallel.lua) and data.DistributedSampler build on it.
local ffi = require 'ffi'

-- Open MPI's C ABI (its mpi.h): handles are pointers, and the predefined
-- ones (MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM, ...) are the addresses of
-- global objects in libmpi. Declared once per Lua state.
if not pcall(ffi.typeof, 'nl_ompi_object') then
  ffi.cdef [[
typedef struct nl_ompi_object { char opaque; } nl_ompi_object;
extern nl_ompi_object ompi_mpi_comm_world;
extern nl_ompi_object ompi_mpi_float, ompi_mpi_double, ompi_mpi_int64_t;
extern nl_ompi_object ompi_mpi_op_sum, ompi_mpi_op_max, ompi_mpi_op_min;
int MPI_Initialized(int *flag);
int MPI_Finalized(int *flag);
int MPI_Init_thread(int *argc, char ***argv, int required, int *provided);
int MPI_Finalize(void);
int MPI_Abort(void *comm, int errorcode);
int MPI_Comm_rank(void *comm, int *rank);
int MPI_Comm_size(void *comm, int *size);
int MPI_Error_string(int errorcode, char *string, int *resultlen);
int MPI_Iallreduce(const void *sendbuf, void *recvbuf, int count, void *datatype, void *op, void *comm,
                   void **request);
int MPI_Test(void **request, int *flag, void *status);
int MPI_Comm_dup(void *comm, void **newcomm);
int MPI_Ibarrier(void *comm, void **request);
int MPI_Ibcast(void *buffer, int count, void *datatype, int root, void *comm, void **request);
int MPI_Iprobe(int source, int tag, void *comm, int *flag, void *status);
int MPI_Recv(void *buf, int count, void *datatype, int source, int tag, void *comm, void *status);
int MPI_Send(const void *buf, int count, void *datatype, int dest, int tag, void *comm);
void *dlopen(const char *filename, int flags);
]]
end

local MPI_THREAD_FUNNELED = 1           -- only the main thread calls MPI
local MPI_IN_PLACE = ffi.cast('void *', 1)
local RTLD_LAZY, RTLD_NOLOAD, RTLD_GLOBAL, RTLD_NODELETE = 0x1, 0x4, 0x100, 0x1000   -- glibc's
local INT_MAX = 2 ^ 31 - 1              -- MPI counts are ints: longer tensors go in pieces

return function(nl)
  local lib, raise, T = nl._lib, nl._raise, nl._T
  local dist = {}

  local mpi                             -- libmpi, once loaded
  local world, dtypes, ops              -- MPI_COMM_WORLD; nl dtype id -> MPI_Datatype; op name -> MPI_Op
  local state = 'new'                   -- 'new', 'running', 'finalized'
  local owner = false                   -- this module called MPI_Init (and finalizes)
  local rank, size = 0, 1
  local int_out = ffi.new('int[1]')     -- out-parameters, allocated once
  local request = ffi.new('void *[1]')
  local mpis                            -- nl_dist_mpi: the functions and handles C waits with
  local META = 12                          -- the call, its op or root, dtype, ndim, 8 sizes (see agree)
  local meta = ffi.new('int64_t[?]', 2 * META)
  local errbuf = ffi.new('char[512]')   -- MPI_MAX_ERROR_STRING is 256 in Open MPI

  -- Open MPI's libmpi: NNLUA_MPI_LIB when set (then nothing else), else
  -- Debian's libmpi.so.40, else libmpi.so. Loaded global: Open MPI's
  -- plugins resolve their symbols against it; and never unloaded, since
  -- the exit handler calls it after the Lua state (and its ffi.load) is gone.
  local function load_mpi()
    local env = os.getenv('NNLUA_MPI_LIB')
    local names = (env and env ~= '') and { env } or { 'libmpi.so.40', 'libmpi.so' }
    local errs = {}
    for _, name in ipairs(names) do
      local ok, l = pcall(ffi.load, name, true)
      if ok then
        if not pcall(function() return l.ompi_mpi_comm_world end) then
          raise(("dist.init: %s is not Open MPI's libmpi (nl.dist speaks Open MPI's ABI)"):format(name))
        end
        if ffi.C.dlopen(name, RTLD_LAZY + RTLD_NOLOAD + RTLD_GLOBAL + RTLD_NODELETE) == nil then
          raise(('dist.init: cannot keep %s loaded (dlopen failed)'):format(name))
        end
        return l
      end
      errs[#errs + 1] = tostring(l)
    end
    raise('dist.init: libmpi not found (install openmpi-bin: apt-get install openmpi-bin); '
          .. table.concat(errs, '; '))
  end

  local function addr(obj) return ffi.cast('void *', obj) end

  local function mpi_check(rc, op)
    if rc ~= 0 then
      local msg = ''
      if mpi.MPI_Error_string(rc, errbuf, int_out) == 0 then msg = ': ' .. ffi.string(errbuf, int_out[0]) end
      raise(('dist.%s: MPI error %d%s'):format(op, rc, msg))
    end
  end

  local function need(op)
    if state == 'new' then raise(('dist.%s: nl.dist is not initialized (call nl.dist.init() first)'):format(op)) end
    if state == 'finalized' then raise(('dist.%s: nl.dist was finalized'):format(op)) end
  end

  -- Starts MPI (once; later calls return at once) and returns rank, size.
  -- Run under mpirun, every process calls it; alone, it is a job of one.
  function dist.init()
    if state == 'running' then return rank, size end
    if state == 'finalized' then raise('dist.init: nl.dist was finalized; MPI cannot start again in this process') end
    mpi = mpi or load_mpi()
    world = addr(mpi.ompi_mpi_comm_world)
    dtypes = { [0] = addr(mpi.ompi_mpi_float), [1] = addr(mpi.ompi_mpi_double), [2] = addr(mpi.ompi_mpi_int64_t) }
    ops = { sum = addr(mpi.ompi_mpi_op_sum), mean = addr(mpi.ompi_mpi_op_sum),
            max = addr(mpi.ompi_mpi_op_max), min = addr(mpi.ompi_mpi_op_min) }
    mpi_check(mpi.MPI_Finalized(int_out), 'init')
    if int_out[0] ~= 0 then raise('dist.init: MPI was finalized in this process; it cannot start again') end
    mpi_check(mpi.MPI_Initialized(int_out), 'init')
    owner = int_out[0] == 0              -- else a host started MPI and ends it
    if owner then mpi_check(mpi.MPI_Init_thread(nil, nil, MPI_THREAD_FUNNELED, int_out), 'init') end
    mpi_check(mpi.MPI_Comm_rank(world, int_out), 'init')
    rank = int_out[0]
    mpi_check(mpi.MPI_Comm_size(world, int_out), 'init')
    size = int_out[0]
    local ctl = ffi.new('void *[1]')
    mpi_check(mpi.MPI_Comm_dup(world, ctl), 'init')
    mpis = ffi.new('nl_dist_mpi', { mpi.MPI_Iallreduce, mpi.MPI_Test, world, ops.sum,
                                    dtypes[0], dtypes[1], size, mpi.MPI_Iprobe, mpi.MPI_Recv, mpi.MPI_Send,
                                    ctl[0], dtypes[2], rank })
    if owner then
      nl._check(lib.nl_dist_on_exit(ffi.new('nl_dist_exit', {
        mpi.MPI_Finalized, mpi.MPI_Finalize, mpi.MPI_Abort, world, rank, size, mpis })))
    end
    state = 'running'
    return rank, size
  end

  -- true between init and finalize; never loads libmpi
  function dist.is_initialized() return state == 'running' end

  function dist.rank()
    need('rank')
    return rank
  end
  function dist.size()
    need('size')
    return size
  end

  -- waits for the collective just started in request[0], numbered seq
  local function wait(seq, op) nl._check(lib.nl_dist_wait(mpis, request, seq, 'dist.' .. op)) end

  -- Every rank must make the same call (a barrier on one rank and an
  -- allreduce on another died in MPI; an allreduce against a broadcast
  -- waited for ever; each rank naming itself root, or sum against mean,
  -- gave each rank its own answer) with a tensor of one dtype and shape
  -- (else garbage: int64 bits read as float64, a stale tail). One small
  -- allreduce of the call, its op or root, the dtype, the dims and the
  -- sizes, and of each negated, under max, gives every rank the largest and
  -- the smallest of each: any difference fails on every rank alike. It is
  -- a barrier too. arg: allreduce's op or broadcast's root, for the message.
  local CALLS = { allreduce = 1, broadcast = 2, barrier = 3 }
  local OP_CODES = { sum = 1, mean = 2, max = 3, min = 4 }
  local function agree(op, detail, arg, p, t)
    if size == 1 then return end
    for i = 0, META - 1 do meta[i] = 0 end
    meta[0], meta[1] = CALLS[op], detail
    if p ~= nil then
      meta[2], meta[3] = p.dtype, p.ndim
      for d = 0, p.ndim - 1 do meta[4 + d] = p.sizes[d] end
    end
    for i = 0, META - 1 do meta[META + i] = -meta[i] end
    local seq = lib.nl_dist_next_seq()
    mpi_check(mpi.MPI_Iallreduce(MPI_IN_PLACE, meta, 2 * META, dtypes[2], ops.max, world, request), op)
    wait(seq, op)
    for i = 0, META - 1 do
      if meta[i] ~= -meta[META + i] then
        if i < 2 then
          local call = op == 'barrier' and 'barrier()'
            or op == 'allreduce' and ("allreduce(%s %s, '%s')"):format(t:dtype(), nl._shape_str(t), arg)
            or ('broadcast(%s %s, root %d)'):format(t:dtype(), nl._shape_str(t), arg)
          raise(('dist.%s: the ranks make different collective calls (rank %d: %s); every rank must make the same '
                 .. 'call, with the same op or root'):format(op, rank, call))
        end
        raise(('dist.%s: the ranks pass tensors of different dtypes or shapes (rank %d: %s %s); every rank '
               .. 'must pass the same'):format(op, rank, t:dtype(), nl._shape_str(t)))
      end
    end
  end

  -- returns when every rank has called it
  function dist.barrier()
    need('barrier')
    if size == 1 then return end
    agree('barrier', 0)
  end

  -- the C tensor of t, which a collective reads and writes in place
  local function buffer(t, op)
    local p = T(t, 'dist.' .. op)
    if lib.nl_is_contiguous(p) == 0 then
      raise(('dist.%s: tensor %s %s is not contiguous (collectives work in place on contiguous '
             .. 'tensors; use t:contiguous() and copy the result back)'):format(op, nl._shape_str(t), t:dtype()))
    end
    return p
  end

  -- the element size and the first byte of p
  local function span(p) return tonumber(lib.nl_dtype_size(p.dtype)), ffi.cast('char *', p.data) end

  -- dist.allreduce(t, [op]): t becomes, on every rank, the elementwise
  -- op over all ranks' t: 'sum' (default), 'mean' (float tensors), 'max'
  -- or 'min'. t must have the same shape and dtype on every rank.
  -- Returns t.
  function dist.allreduce(t, op)
    need('allreduce')
    if op == nil then op = 'sum' end
    local mop = ops[op]
    if not mop then raise(("dist.allreduce: unknown op '%s' (sum, mean, max, min)"):format(tostring(op))) end
    local p = buffer(t, 'allreduce')
    if op == 'mean' and p.dtype == 2 then
      raise(('dist.allreduce: mean of an int64 tensor %s; use sum and divide'):format(nl._shape_str(t)))
    end
    agree('allreduce', OP_CODES[op], op, p, t)
    local esize, base = span(p)
    local n, done = tonumber(p.numel), 0
    repeat
      local c = math.min(n - done, INT_MAX)
      local seq = lib.nl_dist_next_seq()
      mpi_check(mpi.MPI_Iallreduce(MPI_IN_PLACE, base + done * esize, c, dtypes[p.dtype], mop, world, request),
                'allreduce')
      wait(seq, 'allreduce')
      done = done + c
    until done >= n
    if op == 'mean' and size > 1 then
      local prev = lib.nl_set_grad_enabled(0)   -- a parameter may be reduced too
      local rc = lib.nl_binary_scalar_(lib.NL_OP_DIV, p, size)
      lib.nl_set_grad_enabled(prev)
      nl._check(rc)
    end
    return t
  end

  -- dist.broadcast(t, [root]): t on every rank becomes root's t (root
  -- defaults to 0). Same shape and dtype on every rank. Returns t.
  function dist.broadcast(t, root)
    need('broadcast')
    if root == nil then root = 0 end
    if type(root) ~= 'number' or root ~= math.floor(root) or root < 0 or root >= size then
      raise(('dist.broadcast: root %s out of range 0..%d'):format(tostring(root), size - 1))
    end
    local p = buffer(t, 'broadcast')
    agree('broadcast', root + 1, root, p, t)
    local esize, base = span(p)
    local n, done = tonumber(p.numel), 0
    repeat
      local c = math.min(n - done, INT_MAX)
      local seq = lib.nl_dist_next_seq()
      mpi_check(mpi.MPI_Ibcast(base + done * esize, c, dtypes[p.dtype], root, world, request), 'broadcast')
      wait(seq, 'broadcast')
      done = done + c
    until done >= n
    return t
  end

  -- What nn.DataParallel's C reducer calls: the non-blocking allreduce
  -- and its test and wait, with the world, MPI_SUM and the float types.
  function dist._reducer_mpi()
    need('DataParallel')
    return mpis
  end

  -- Ends MPI in this process (every rank calls it). Optional: a clean exit
  -- finalizes by itself. Later collectives are errors.
  function dist.finalize()
    if state ~= 'running' then return end
    state = 'finalized'
    if owner then
      mpi_check(mpi.MPI_Finalized(int_out), 'finalize')
      if int_out[0] == 0 then
        nl._check(lib.nl_dist_announce_exit(mpis))   -- a rank still waiting in a collective fails
        mpi_check(mpi.MPI_Finalize(), 'finalize')
      end
    end
  end

  return dist
end
