-- The thread team: every parallel region of an op runs in one team of the
-- thread setting, so ops of different sizes in a loop neither end nor start
-- threads; an op that uses fewer threads than the team still covers all of
-- its elements, each exactly once.
local nl = require 'nnlua'
local ffi = require 'ffi'
pcall(ffi.cdef, 'int getpid(void);')

-- the ids of this process's threads, sorted
local function thread_ids()
  local p = io.popen('ls /proc/' .. ffi.C.getpid() .. '/task')
  local ids = {}
  for id in p:read('*a'):gmatch('%d+') do ids[#ids + 1] = tonumber(id) end
  p:close()
  table.sort(ids)
  return table.concat(ids, ' ')
end

describe('threads', function()
  local prev
  before_each(function() prev = nl.get_num_threads() end)
  after_each(function() nl.set_num_threads(prev) end)

  it('keeps the same threads while ops of different sizes alternate', function()
    nl.set_num_threads(4)
    nl.manual_seed(0)
    -- 512K elements: 4 threads; 64K: 2; 2K: 1; the float32 matmuls: nnlua's
    -- GEMM on 4 threads and on 1; the float64 ones: BLIS with 4 and with 1
    local big, mid, small = nl.randn(512, 1024), nl.randn(64, 1024), nl.randn(2, 1024)
    local a, b = nl.randn(256, 256), nl.randn(16, 16)
    local ad, bd = a:double(), b:double()
    local _ = big + big
    _ = nl.matmul(a, a)
    _ = nl.matmul(ad, ad)
    local before = thread_ids()
    for _ = 1, 20 do
      _ = big + big
      _ = mid:relu()
      _ = nl.matmul(a, a)
      _ = small * 2
      _ = nl.matmul(bd, bd)
      _ = mid + mid
      _ = nl.matmul(ad, ad)
      _ = nl.matmul(b, b)
    end
    assert.are.equal(before, thread_ids())
  end)

  it('gives every element once when an op uses part of the team', function()
    nl.manual_seed(1)
    for _, n in ipairs({ 65537, 100003, 262147, 1000003 }) do   -- 2..16 shares of 32K at grain 1<<15
      local x = nl.randn(n, 'float64')
      nl.set_num_threads(1)
      local want = (x * 3 + 1):totable()
      for _, threads in ipairs({ 3, 5, 16 }) do
        nl.set_num_threads(threads)
        local got = (x * 3 + 1):totable()
        assert.are.equal(n, #got)
        for i = 1, n, 997 do assert.are.equal(want[i], got[i], ('n=%d threads=%d at %d'):format(n, threads, i)) end
        assert.are.equal(want[n], got[n])
        assert.are.same(want, got)
      end
    end
  end)
end)

-- NNLUA_NUM_THREADS: a whole number in 1..1024 is taken, anything else
-- leaves the machine's cores (99999999999 was read by atoi as a billion
-- threads, and OpenMP ended the process allocating them)
describe('NNLUA_NUM_THREADS', function()
  local S = require 'support'
  local function threads_with(v)
    local p = io.popen(('NNLUA_NUM_THREADS=%s %s/bin/nnlua -e "print(nl.get_num_threads())" 2>&1; echo rc=$?'):format(
      S.q(v), S.root))
    local out = p:read('*a')
    p:close()
    return out
  end
  it('is taken in 1..1024 and ignored otherwise, never ending the process', function()
    local default = threads_with('')
    assert.is_truthy(default:find('rc=0', 1, true), default)
    assert.are.equal('3\nrc=0\n', threads_with('3'))
    assert.are.equal('1024\nrc=0\n', threads_with('1024'))
    for _, v in ipairs({ '99999999999', '5000000000', '1025', '0', '-1', 'abc', '2x' }) do
      assert.are.equal(default, threads_with(v), v)
    end
  end)

  -- OpenMP makes no team past OMP_THREAD_LIMIT, and BLIS aborted the
  -- process when its team came out smaller than it asked for: the first
  -- large matmul, convolution or LSTM under a limit below the setting
  it('stays within OMP_THREAD_LIMIT, from the variable and from set_num_threads', function()
    local script = S.q([[
      nl.manual_seed(1)
      local a = nl.randn(600, 600)
      local x, w = nl.randn(1, 64, 32, 32), nl.randn(64, 64, 3, 3)
      local lstm = nl.nn.LSTM(64, 256)
      local seq = nl.randn(16, 8, 64)
      local function run()
        return nl.matmul(a, a):sum():item() + nl.nn.functional.conv2d(x, w):sum():item()
               + lstm(seq):sum():item()
      end
      local one = (nl.set_num_threads(1) or true) and run()
      nl.set_num_threads(3)
      local n = nl.get_num_threads()
      local many = run()
      print(n, math.abs(many - one) < 1e-3 * (1 + math.abs(one)))]])
    local p = io.popen(('NNLUA_NUM_THREADS=3 OMP_THREAD_LIMIT=2 %s/bin/nnlua -e %s 2>&1; echo rc=$?'):format(
      S.root, script))
    local out = p:read('*a')
    p:close()
    assert.are.equal('2\ttrue\nrc=0\n', out)
  end)
end)

describe('nl.set_flush_denormal', function()
  -- 1e-40 is subnormal in float32 (the smallest normal is 2^-126, 1.18e-38)
  local tiny = 1e-40
  local prev
  before_each(function() prev = nl.get_num_threads() end)
  after_each(function()
    nl.set_flush_denormal(false)
    nl.set_num_threads(prev)
  end)

  -- x * 3 for one element (the calling thread) and for 2^20 (every thread
  -- of the team): the first product and the float64 sum of the big one
  local function products()
    local one = (nl.full({ 1 }, tiny) * 3):double()[1]
    local many = (nl.full({ 2 ^ 20 }, tiny) * 3):double():sum():item()
    return one, many
  end

  it('keeps subnormals by default, as IEEE arithmetic (and PyTorch) do', function()
    nl.set_num_threads(2)
    local one, many = products()
    -- 3 x (1e-40 on the subnormal grid, steps of 2^-149), rounded again
    assert(math.abs(one - 3e-40) <= 3 * 2 ^ -149, tostring(one))
    assert(math.abs(many - 2 ^ 20 * one) < 1e-6 * 2 ^ 20 * one, tostring(many))
  end)

  it('flushes them to zero on the calling thread and the whole team, and back', function()
    nl.set_num_threads(2)
    assert.is_true(nl.set_flush_denormal(true))
    assert.are.same({ 0, 0 }, { products() })
    nl.set_num_threads(3)                  -- a larger team: its new thread flushes too
    assert.are.same({ 0, 0 }, { products() })
    nl.set_flush_denormal(false)
    local one, many = products()
    assert(one > 0 and many > 0, 'subnormals back after set_flush_denormal(false)')
  end)

  -- the team's idle threads keep the mode of when they last ran: turned
  -- off while the setting was 1, it reached only the calling thread, and
  -- back on 4 threads three quarters of a product still came out 0
  it('gives the whole team the mode that was set while the setting was lower', function()
    nl.set_num_threads(4)
    assert.is_true(nl.set_flush_denormal(true))
    assert.are.same({ 0, 0 }, { products() })
    nl.set_num_threads(1)
    nl.set_flush_denormal(false)
    nl.set_num_threads(4)
    local one, many = products()
    assert(one > 0, 'subnormals back on the calling thread')
    assert(math.abs(many - 2 ^ 20 * one) < 1e-6 * 2 ^ 20 * one, ('%g of %g'):format(many, 2 ^ 20 * one))
    nl.set_num_threads(1)
    nl.set_flush_denormal(true)
    nl.set_num_threads(4)
    assert.are.same({ 0, 0 }, { products() })
  end)

  it('takes a boolean', function()
    local ok, err = pcall(nl.set_flush_denormal, 1)
    assert.is_false(ok)
    assert.truthy(tostring(err):find('set_flush_denormal: expected a boolean', 1, true))
  end)
end)

-- fork(): libgomp's pool is the parent's, whose threads the child lacks;
-- the child's first op of more than one thread waited for them forever
-- (an OpenResty worker forked after the master ran a model). A child
-- forked after the team started runs on one thread and refuses more; one
-- forked before keeps the setting.
describe('fork', function()
  local S = require 'support'
  -- the child's line, or 'hung' where it ran past 20 s (then killed)
  local function child_says(before_fork, in_child)
    local script = S.write(S.tmpdir() .. '/fork.lua', ([[
      local ffi = require 'ffi'
      ffi.cdef 'int fork(void); int waitpid(int, int *, int); void _exit(int); int kill(int, int); int usleep(unsigned);'
      nl.set_num_threads(2)
      %s
      local pid = ffi.C.fork()
      if pid == 0 then
        %s
        ffi.C._exit(0)
      end
      local st = ffi.new('int[1]')
      for _ = 1, 200 do
        if ffi.C.waitpid(pid, st, 1) == pid then return end
        ffi.C.usleep(100000)
      end
      ffi.C.kill(pid, 9)
      ffi.C.waitpid(pid, st, 0)
      print('hung')]]):format(before_fork, in_child))
    local p = io.popen(('%s/bin/nnlua %s 2>&1'):format(S.root, S.q(script)))
    local out = p:read('*a')
    p:close()
    return out
  end

  it('runs a child forked after the team started on one thread', function()
    local out = child_says([[
      nl.manual_seed(1)
      local x = nl.randn(1000000)           -- 2 threads
      want = (x * 2):sum():item()
      X = x]], [[
      local got = (X * 2):sum():item()      -- 1M elements: 2 threads in the parent
      local ok, err = pcall(nl.set_num_threads, 2)
      print(got == want, nl.get_num_threads(), ok, err)
      io.stdout:flush()]])
    assert.is_nil(out:find('hung', 1, true), out)
    assert.truthy(out:find('^true\t1\tfalse\t'), out)
    S.contains(out, 'set_num_threads: this process was forked after its parent\'s OpenMP threads started')
  end)

  it('keeps the setting in a child forked before any op ran on threads', function()
    local out = child_says('', [[
      nl.manual_seed(1)
      local x = nl.randn(1000000)
      print(nl.get_num_threads(), (x * 2):sum():item() == 2 * x:sum():item())
      io.stdout:flush()]])
    assert.are.equal('2\ttrue\n', out)
  end)
end)
