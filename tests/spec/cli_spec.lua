-- cli_spec.lua — the `nnlua` executable, driven as a user drives it: scripts
-- and their arguments, -e, -i, -v, -h, errors, the REPL through a pipe, and
-- startup time. Needs bin/nnlua built (`make`); NNLUA_BIN overrides the path.

local ffi = require 'ffi'

-- The repository root, from this file's path: <root>/tests/spec/cli_spec.lua.
local function repo_root()
  local src = debug.getinfo(1, 'S').source:sub(2)
  if src:sub(1, 1) ~= '/' then src = io.popen('pwd'):read('*l') .. '/' .. src end
  return (src:gsub('/tests/spec/[^/]*$', ''))
end

local ROOT = repo_root()
local BIN = os.getenv('NNLUA_BIN') or ROOT .. '/bin/nnlua'

local S = require 'support'
local q, slurp, write_file = S.q, S.read, S.write

local tmpfiles = {}
local function tmpfile(text, suffix)
  local path = os.tmpname() .. (suffix or '')
  tmpfiles[#tmpfiles + 1] = path
  return write_file(path, text or '')
end

-- Runs `nnlua <args>` (args a shell-quoted string), stdin fed through a pipe
-- when given. Returns { out = stdout, err = stderr, rc = exit status }.
-- With merge, stderr goes into out (to check the order of the two).
local function nnlua(args, stdin, merge)
  local errfile = tmpfile('')
  local cmd = q(BIN) .. ' ' .. (args or '')
  if stdin then cmd = 'cat ' .. q(tmpfile(stdin)) .. ' | ' .. cmd end
  cmd = cmd .. (merge and ' 2>&1' or ' 2>' .. q(errfile))
  local p = assert(io.popen('{ ' .. cmd .. '; } ; echo "__rc=$?"'))
  local out = p:read('*a')
  p:close()
  local rc = tonumber(out:match('__rc=(%d+)\n$'))
  out = out:gsub('__rc=%d+\n$', '')
  return { out = out, err = slurp(errfile), rc = rc }
end

local function lines(s)
  local t = {}
  for l in s:gmatch('([^\n]*)\n') do t[#t + 1] = l end
  return t
end

describe('nnlua executable', function()
  teardown(function()
    for _, p in ipairs(tmpfiles) do os.remove(p) end
  end)

  it('exists and is executable', function()
    local p = assert(io.popen('test -x ' .. q(BIN) .. ' && echo yes'))
    local out = p:read('*a')
    p:close()
    assert.are.equal('yes\n', out, BIN .. ' is missing: run make')
  end)

  describe('scripts', function()
    it('sets arg and ... as lua does', function()
      local script = tmpfile([[
print('arg0', arg[0])
print('arg1', arg[1], 'arg2', arg[2], 'n', #arg)
print('arg-1', arg[-1])
print('dots', select('#', ...), ...)
]], '.lua')
      local r = nnlua(q(script) .. ' alpha "b c"')
      assert.are.equal(0, r.rc)
      assert.are.equal('', r.err)
      assert.are.same({
        'arg0\t' .. script,
        'arg1\talpha\targ2\tb c\tn\t2',
        'arg-1\t' .. BIN,
        'dots\t2\talpha\tb c',
      }, lines(r.out))
    end)

    -- the options were at arg[1..]: an example run with dofile from -e
    -- read '-e' as its first argument
    it('without a script, puts every word below arg[0], as luajit', function()
      -- luajit -e 'print(arg[-2], arg[0], arg[1])' prints -e nil nil
      local r = nnlua([[-e 'print(arg[-2], arg[0], arg[1])']])
      assert.are.equal(0, r.rc)
      assert.are.equal('-e\tnil\tnil\n', r.out)
    end)

    it('puts options before the script at negative arg indices', function()
      local script = tmpfile('print(arg[-3], arg[-2], arg[-1], arg[0], arg[1])', '.lua')
      local r = nnlua("-e 'x = 1' " .. q(script) .. ' z')
      assert.are.equal(0, r.rc)
      assert.are.equal(BIN .. '\t-e\tx = 1\t' .. script .. '\tz\n', r.out)
    end)

    it('reads the script from stdin with -', function()
      local r = nnlua('- one two', 'print("from stdin", arg[0], ...)\n')
      assert.are.equal(0, r.rc)
      assert.are.equal('from stdin\t-\tone\ttwo\n', r.out)
    end)

    it('passes os.exit codes through', function()
      assert.are.equal(7, nnlua("-e 'os.exit(7)'").rc)
      assert.are.equal(0, nnlua("-e 'os.exit(true)'").rc)
    end)

    it('reports a runtime error with the message and a traceback, exit 1', function()
      local script = tmpfile([[
local function inner_fail()
  error('kaboom ' .. (2 + 3))
end
local function outer() inner_fail() end
print('before')
outer()
print('after')
]], '.lua')
      local r = nnlua(q(script))
      assert.are.equal(1, r.rc)
      assert.are.equal('before\n', r.out)
      assert.matches('^nnlua: [^\n]*:2: kaboom 5\n', r.err)
      assert.matches('stack traceback:', r.err, 1, true)
      assert.matches("in function 'inner_fail'", r.err, 1, true)
      assert.matches(':6: in main chunk', r.err, 1, true)
      local merged = nnlua(q(script), nil, true)   -- stdout flushed before the error
      assert.matches('^before\nnnlua: ', merged.out)
    end)

    it('reports a syntax error in the script, exit 1', function()
      local script = tmpfile('print(1)\nlocal = 2\n', '.lua')
      local r = nnlua(q(script))
      assert.are.equal(1, r.rc)
      assert.are.equal('', r.out)
      assert.matches('^nnlua: [^\n]*:2: ', r.err)
    end)

    it('reports a missing script, exit 1', function()
      local r = nnlua(q(ROOT .. '/no/such/script.lua'))
      assert.are.equal(1, r.rc)
      assert.matches('^nnlua: cannot open [^\n]*no/such/script%.lua', r.err)
    end)

    it('shows a non-string error object by its __tostring', function()
      local r = nnlua([[-e 'error(setmetatable({}, {__tostring = function() return "custom err" end}))']])
      assert.are.equal(1, r.rc)
      assert.matches('^nnlua: custom err\nstack traceback:', r.err)
    end)
  end)

  describe('-e', function()
    it('runs a chunk and exits without a REPL', function()
      local r = nnlua("-e 'print(6 * 7)'", 'print("REPL ran")\n')
      assert.are.equal(0, r.rc)
      assert.are.equal('42\n', r.out)
    end)

    it('runs repeated chunks in order, then the script', function()
      local script = tmpfile('print("script sees", x, y)', '.lua')
      local r = nnlua("-e 'x = 2' -e 'y = x * 3; print(y)' " .. q(script))
      assert.are.equal(0, r.rc)
      assert.are.equal('6\nscript sees\t2\t6\n', r.out)
    end)

    it('stops at a failing chunk, exit 1', function()
      local r = nnlua([[-e 'error("first fails")' -e 'print("second ran")']])
      assert.are.equal(1, r.rc)
      assert.are.equal('', r.out)
      assert.matches('^nnlua: %(command line%):1: first fails\nstack traceback:', r.err)
    end)

    it('requires a library with -l', function()
      local r = nnlua("-l string -e 'print(string.rep(\"ab\", 3))'")
      assert.are.equal(0, r.rc)
      assert.are.equal('ababab\n', r.out)
    end)
  end)

  describe('options', function()
    it('-v and --version print the version and exit 0', function()
      local header = slurp(ROOT .. '/include/nnlua.h')
      local version = assert(header:match('#define NL_VERSION_STRING "([^"]+)"'))
      for _, opt in ipairs({ '-v', '--version' }) do
        local r = nnlua(opt, 'print("REPL ran")\n')
        assert.are.equal(0, r.rc)
        assert.are.equal('', r.err)
        local pat = '^nnlua ' .. version:gsub('%.', '%%.') .. ' %(LuaJIT 2%.%d[^,]*, BLIS %S+%)\n$'
        assert.matches(pat, r.out)
      end
    end)

    it('-h and --help print usage and exit 0', function()
      for _, opt in ipairs({ '-h', '--help' }) do
        local r = nnlua(opt)
        assert.are.equal(0, r.rc)
        assert.matches('^usage: nnlua', r.out)
        for _, o in ipairs({ '-e', '-i', '-v', '-h' }) do
          assert.matches('\n  ' .. o, r.out, 1, true)
        end
      end
    end)

    it('rejects an unknown option with usage on stderr, exit 1', function()
      local r = nnlua('--bogus')
      assert.are.equal(1, r.rc)
      assert.are.equal('', r.out)
      assert.matches("unrecognized option '--bogus'", r.err, 1, true)
      assert.matches('usage: nnlua', r.err, 1, true)
    end)

    it('rejects -e without an argument, exit 1', function()
      local r = nnlua('-e')
      assert.are.equal(1, r.rc)
      assert.matches("'-e' needs an argument", r.err, 1, true)
    end)
  end)

  describe('globals', function()
    it('sets nl, nn, optim and data', function()
      local r = nnlua([[-e 'print(type(nl), type(nn), type(optim), type(data), nl == require "nnlua")']])
      assert.are.equal(0, r.rc)
      assert.are.equal('', r.err)
      assert.are.equal('table\ttable\ttable\ttable\ttrue\n', r.out)
    end)

    it('finds the Lua layer from its own path, whatever the cwd', function()
      local p = assert(io.popen('cd / && ' .. q(BIN) .. [[ -e 'print(type(nl))' 2>&1]]))
      local out = p:read('*a')
      p:close()
      assert.are.equal('table\n', out)
    end)
  end)

  describe('REPL on a pipe', function()
    it('prints values, survives errors and exits 0 at EOF', function()
      local r = nnlua('', 'x = 1 + 2\nx\nerror("boom")\nx * 2\n')
      assert.are.equal(0, r.rc)
      assert.are.equal('3\n6\n', r.out)
      assert.matches('stdin:1: boom\nstack traceback:', r.err, 1, true)
    end)

    it('keeps output and errors in order', function()
      local r = nnlua('', 'x = 1 + 2\nx\nerror("boom")\nx * 2\n', true)
      assert.are.equal(0, r.rc)
      assert.matches('^3\nstdin:1: boom\nstack traceback:\n.*\n6\n$', r.out)
    end)

    it('reads multi-line chunks', function()
      local r = nnlua('', 'function f()\nreturn 5\nend\nf()\nlocal t = {\n1,\n2,\n}\nmath.max(\n4,\n9)\n')
      assert.are.equal(0, r.rc)
      assert.are.equal('', r.err)
      assert.are.equal('5\n9\n', r.out)
    end)

    -- an expression that goes on past its line is no statement at all, so
    -- the statement form's error was reported and the next line run apart
    it('reads an expression over several lines, as luajit -i does', function()
      local r = nnlua('', '=1 +\n2\n"ab" ..\n"cd"\nnl.ones(2) +\n  nl.ones(2)\n')
      assert.are.equal(0, r.rc)
      assert.are.equal('', r.err)
      assert.are.equal('3\nabcd\n', r.out:match('^[^\n]*\n[^\n]*\n'))
      assert.matches('tensor([2., 2.]', r.out, 1, true)
    end)

    -- the wrapper's closing parenthesis stood on a line of its own, where
    -- LuaJIT places a trailing index: a one-line chunk failed on line 2
    it('names line 1 for an error in a one-line expression', function()
      local r = nnlua('', 'foo.bar\nt = nl.ones(3)\nt[5]\n1 -- a comment\n')
      assert.are.equal(0, r.rc)
      assert.matches("^stdin:1: attempt to index global 'foo'", r.err)
      assert.matches('\nstdin:1: index: index 5 out of range', r.err)
      assert.not_matches('stdin:2:', r.err, 1, true)
      assert.are.equal('1\n', r.out)
    end)

    it('prints several values tab separated, =expr as in lua 5.1', function()
      local r = nnlua('', '1, "a", nil\n=2 ^ 10\nprint("side effect")\n')
      assert.are.equal(0, r.rc)
      assert.are.equal('1\ta\tnil\n1024\nside effect\n', r.out)
    end)

    it('reports a syntax error and goes on', function()
      local r = nnlua('', 'x = = 1\nprint("after")\n')
      assert.are.equal(0, r.rc)
      assert.are.equal('after\n', r.out)
      assert.matches('^stdin:1: ', r.err)
    end)

    it('reports an unfinished chunk at EOF', function()
      local r = nnlua('', 'for i = 1, 3 do\n')
      assert.are.equal(0, r.rc)
      assert.matches("'<eof>'", r.err, 1, true)
    end)

    it('prints a tensor through its __tostring', function()
      local want = nnlua([[-e 'print(nl.ones(2, 2))']])
      assert.are.equal(0, want.rc)
      local r = nnlua('', 'nl.ones(2, 2)\n')
      assert.are.equal(0, r.rc)
      assert.are.equal('', r.err)
      assert.are.equal(want.out, r.out)
      assert.matches('1', r.out, 1, true)
      assert.matches('float32', r.out, 1, true)
      assert.not_matches('^cdata<', r.out)
    end)

    it('-i runs the script, then the REPL', function()
      local script = tmpfile('y = 42\nprint("script done", ...)\n', '.lua')
      local r = nnlua('-i ' .. q(script) .. ' q', 'y + 1\n')
      assert.are.equal(0, r.rc)
      assert.are.equal('', r.err)
      assert.are.equal('script done\tq\n43\n', r.out)
    end)

    it('-i after -e enters the REPL', function()
      local r = nnlua("-e 'z = 5' -i", 'z * z\n')
      assert.are.equal(0, r.rc)
      assert.are.equal('25\n', r.out)
    end)
  end)

  it('turns Ctrl-C in a running script into an error', function()
    local flag = os.tmpname()
    os.remove(flag)
    local script = tmpfile(([[
io.open(%q, 'w'):close()
while true do os.time() end
]]):format(flag), '.lua')
    local errfile = tmpfile('')
    local cmd = ('%s %s 2>%s & pid=$!; n=0; while [ ! -e %s ] && [ $n -lt 200 ]; do sleep 0.05; n=$((n+1)); done; '
      .. 'kill -INT $pid; wait $pid; echo "rc=$?"'):format(q(BIN), q(script), q(errfile), q(flag))
    local p = assert(io.popen(cmd))
    local out = p:read('*a')
    p:close()
    os.remove(flag)
    assert.are.equal('rc=1\n', out)
    assert.matches('interrupted!', slurp(errfile), 1, true)
  end)

  it('NNLUA_CPU_CAPABILITY=default turns the AVX-512 kernels off, BLIS\'s skx ones with them', function()
    -- the runtime asks BLIS for skx when, and only when, its own kernels
    -- may use AVX-512: one reading of the CPU and the setting for both
    local flags = (slurp('/proc/cpuinfo'):match('\nflags%s*:([^\n]*)') or '') .. ' '
    local has = true
    for _, f in ipairs({ 'avx512f', 'avx512dq', 'avx512bw', 'avx512vl' }) do
      has = has and flags:find(' ' .. f .. ' ', 1, true) ~= nil
    end
    local function blis_arch(cap)
      local env = 'env -u BLIS_ARCH_TYPE ' .. (cap and 'NNLUA_CPU_CAPABILITY=' .. cap or '-u NNLUA_CPU_CAPABILITY')
      local p = assert(io.popen(env .. ' ' .. q(BIN) .. [[ -e "io.write(tostring(os.getenv('BLIS_ARCH_TYPE')))"]]))
      local out = p:read('*a')
      p:close()
      return out
    end
    assert.are.equal(has and 'skx' or 'nil', blis_arch(nil))
    assert.are.equal(has and 'skx' or 'nil', blis_arch('avx512'))
    assert.are.equal('nil', blis_arch('default'))
    assert.are.equal('nil', blis_arch('avx2'))
  end)

  it('starts in under 20 ms (best of 5 runs of nnlua -e "", up to 20 on a loaded host)', function()
    pcall(ffi.cdef, [[
      typedef struct { long tv_sec; long tv_nsec; } nnlua_cli_timespec;
      int clock_gettime(int clock, nnlua_cli_timespec *ts);
      int posix_spawn(int *pid, const char *path, const void *file_actions,
                      const void *attr, char *const argv[], char *const envp[]);
      int waitpid(int pid, int *status, int options);
    ]])
    pcall(ffi.cdef, 'extern char **environ;')
    local CLOCK_MONOTONIC = 1
    local ts = ffi.new('nnlua_cli_timespec')
    local function now_ms()
      assert(ffi.C.clock_gettime(CLOCK_MONOTONIC, ts) == 0)
      return tonumber(ts.tv_sec) * 1e3 + tonumber(ts.tv_nsec) / 1e6
    end
    local argv = ffi.new('char *[4]')
    local strs = { BIN, '-e', '' }
    local keep = {}
    for i, s in ipairs(strs) do
      keep[i] = ffi.new('char[?]', #s + 1, s)
      argv[i - 1] = keep[i]
    end
    argv[3] = nil
    local pid, status = ffi.new('int[1]'), ffi.new('int[1]')
    -- five runs, and up to 20 while none was under 20 ms: a host busy with
    -- other work (a CI machine's neighbours) made the best of five 24 ms
    -- once where the quiet host's is 8
    local best, runs = math.huge, 0
    while runs < 5 or (best >= 20 and runs < 20) do
      runs = runs + 1
      local t0 = now_ms()
      assert.are.equal(0, ffi.C.posix_spawn(pid, BIN, nil, nil, argv, ffi.C.environ))
      assert.are.equal(pid[0], ffi.C.waitpid(pid[0], status, 0))
      local dt = now_ms() - t0
      assert.are.equal(0, status[0], 'nnlua -e "" failed')
      best = math.min(best, dt)
    end
    -- under the sanitizers (make test-asan) the binary is instrumented and
    -- slower: there it only has to start and exit cleanly
    local sanitized = (os.getenv('LD_PRELOAD') or ''):find('asan') ~= nil
    print(('\nnnlua -e "": best of %d = %.2f ms%s'):format(runs, best, sanitized and ' (sanitized build, not timed)' or ''))
    if not sanitized then assert.is_true(best < 20, ('startup took %.2f ms'):format(best)) end
  end)
end)
