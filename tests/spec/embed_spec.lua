-- Embedding and installing: the C host of examples/embed built against an
-- installed tree through pkg-config, one vm and two vms in two threads;
-- errors inside a vm come back to the host; `luarocks make` into a
-- temporary tree, then plain luajit; luaopen_nnlua as a C module.
local S = require 'support'
local nl = require 'nnlua'

local root = S.root
-- output and exit status of a shell command (LuaJIT's popen close gives no status)
local function sh(cmd)
  local p = io.popen('(' .. cmd .. ') 2>&1; echo "exit status $?"')
  local out = p:read('*a')
  p:close()
  local code = tonumber(out:match('exit status (%d+)%s*$'))
  return out:gsub('exit status %d+%s*$', ''), code
end

local tmp = os.tmpname()
os.remove(tmp)
local prefix = tmp .. '-prefix'
local ckpt = tmp .. '-mlp.safetensors'

describe('embedding', function()
  setup(function()
    -- a small trained model to serve: the MLP of the example, one quick epoch
    nl.manual_seed(3)
    local nn, data = nl.nn, nl.data
    local train = data.fashion_mnist()
    local model = nn.Sequential(nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 10))
    model:compile { optimizer = 'adam', loss = 'cross_entropy' }
    model:fit(train.X:narrow(1, 1, 6000), train.y:narrow(1, 1, 6000), { epochs = 2, batch_size = 64, verbose = 0 })
    model:save(ckpt)
    local out, code = sh(('cd %s && make install PREFIX=%s'):format(root, prefix))
    assert(code == 0, out)
  end)

  teardown(function()
    os.execute(('rm -rf %s %s %s-host'):format(prefix, ckpt, tmp))
  end)

  local host = tmp .. '-host'
  local pc = ('PKG_CONFIG_PATH=%s/lib/pkgconfig'):format(prefix)

  it('builds the C host against the installed tree with pkg-config', function()
    local out, code = sh(('%s cc -O2 -Wall -Wextra -Werror %s/examples/embed/host.c -o %s $(%s pkg-config --cflags --libs nnlua) -lpthread')
      :format(pc, root, host, pc))
    assert.are.equal(0, code, out)
  end)

  -- how many of the first n test images the model gets right, in nnlua itself
  local function expected_correct(n)
    local model = nl.nn.load(ckpt)
    local _, test = nl.data.fashion_mnist()
    local pred = model:predict(test.X:narrow(1, 1, n)):argmax(2)
    return pred:eq(test.y:narrow(1, 1, n)):sum():item()
  end

  it('classifies every frame as nnlua itself does, and reports errors without stopping', function()
    local out, code = sh(('%s %s/examples/embed/classify.lua %s 200 1'):format(host, root, ckpt))
    assert.are.equal(0, code, out)
    local correct = tonumber(out:match('vm 1: (%d+)/200 frames'))
    assert.are.equal(expected_correct(200), correct, out)
    assert.is_truthy(out:find("expected error: vm_call: no global function 'no_such_function'", 1, true), out)
    assert.is_truthy(out:find('[vm 1] classify.lua: loaded', 1, true), out)   -- print() reached the log callback
    local us = tonumber(out:match('mean latency ([%d.]+) us'))
    print(('\n    embed host: %d/200 correct, mean latency %.1f us per 784-feature sample'):format(correct, us))
  end)

  it('runs two vms in two threads at once with the same results', function()
    local out, code = sh(('%s %s/examples/embed/classify.lua %s 150 2'):format(host, root, ckpt))
    assert.are.equal(0, code, out)
    local want = expected_correct(150)
    assert.are.equal(want, tonumber(out:match('vm 1: (%d+)/150')), out)
    assert.are.equal(want, tonumber(out:match('vm 2: (%d+)/150')), out)
  end)

  it('a script error in a vm is a status and a message; a bad script path too', function()
    local bad = tmp .. '-bad.lua'
    local f = io.open(bad, 'w')
    f:write("error('script failed on purpose')\n")
    f:close()
    local out, code = sh(('%s %s %s 1 1'):format(host, bad, ckpt))
    assert.are_not.equal(0, code)
    assert.is_truthy(out:find('script failed on purpose', 1, true), out)
    out, code = sh(('%s /nonexistent/script.lua %s 1 1'):format(host, ckpt))
    assert.are_not.equal(0, code)
    assert.is_truthy(out:find('cannot open /nonexistent/script.lua', 1, true), out)
    os.remove(bad)
  end)
end)

describe('the header', function()
  -- the first program in include/nnlua.h's opening comment, compiled and
  -- run as written (it once called nl_reduce_all with two arguments)
  it("its first program compiles and prints 18", function()
    local text = assert(io.open(root .. '/include/nnlua.h')):read('*a')
    local body = assert(text:match('A first program:%s*\n(.-)%*/'), 'no first program in nnlua.h')
    body = body:gsub('\n %*', '\n'):gsub('^ %*', '')
    local src, exe = tmp .. '-first.c', tmp .. '-first'
    local f = assert(io.open(src, 'w'))
    f:write('#include <stdio.h>\n#include <nnlua.h>\nint main(void) {\n', body, '\nreturn 0;\n}\n')
    f:close()
    local out, code = sh(('cc -Wall -Werror -I%s/include %s -o %s -L%s/lib -Wl,-rpath,%s/lib -lnnlua -lluajit-5.1 && %s')
      :format(root, src, exe, root, root, exe))
    os.remove(src)
    os.remove(exe)
    assert.are.equal(0, code, out)
    assert.are.equal('18\n', out)
  end)
end)

describe('installing', function()
  it('luarocks make installs into a tree where plain luajit can require nnlua', function()
    local tree = tmp .. '-tree'
    local out, code = sh(('cd %s && luarocks --lua-version 5.1 --tree %s make rocks/nnlua-scm-1.rockspec'):format(root, tree))
    assert.are.equal(0, code, out)
    out, code = sh(('cd /tmp && eval "$(luarocks --lua-version 5.1 --tree %s path)" && '
      .. [[luajit -e "local nl = require 'nnlua'; print('sum', (nl.ones(3, 4) * 2):sum():item()); print('from', package.searchpath('nnlua', package.path))"]]):format(tree))
    assert.are.equal(0, code, out)
    assert.is_truthy(out:find('sum\t24', 1, true), out)
    assert.is_truthy(out:find('from\t' .. tree, 1, true), out)
    os.execute('rm -rf ' .. tree)
  end)

  it('a host running LuaJIT can require nnlua as a C module (luaopen_nnlua)', function()
    local dir = tmp .. '-cmod'
    os.execute(('mkdir -p %s && cp %s/lib/libnnlua.so %s/nnlua.so'):format(dir, root, dir))
    local out, code = sh(("cd /tmp && LUA_PATH=';;' LUA_CPATH='%s/?.so' luajit -e \"local nl = require 'nnlua'; "
      .. "print(nl.nn.Linear(2, 3)(nl.ones(1, 2)):shape()[2], package.loaded['nnlua._library_path'])\""):format(dir))
    assert.are.equal(0, code, out)
    assert.are.equal('3\t' .. dir .. '/nnlua.so\n', out)
    os.execute('rm -rf ' .. dir)
  end)

  it('make uninstall removes what make install put there', function()
    local p2 = tmp .. '-prefix2'
    local out, code = sh(('cd %s && make install PREFIX=%s && find %s -type f'):format(root, p2, p2))
    assert.are.equal(0, code, out)
    assert.is_truthy(out:find('lib/libnnlua.so', 1, true) and out:find('include/nnlua.h', 1, true)
                     and out:find('pkgconfig/nnlua.pc', 1, true) and out:find('share/lua/5.1/nnlua/init.lua', 1, true), out)
    out, code = sh(('cd %s && make uninstall PREFIX=%s'):format(root, p2))
    assert.are.equal(0, code, out)
    out = sh(('find %s -type f'):format(p2))
    assert.are.equal('', out)
    os.execute('rm -rf ' .. p2)
  end)
end)
