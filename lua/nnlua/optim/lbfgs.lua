-- lbfgs.lua: L-BFGS, as torch.optim.LBFGS of PyTorch 1.13 (after minFunc
-- and Torch7's optim.lbfgs): opt:step(closure) runs up to max_iter
-- iterations, each a direction from the last history_size curvature pairs
-- and a step along it, of lr (the first of a run min(1, 1 / |g|_1) * lr),
-- or one a strong Wolfe line search finds. closure re-evaluates the model
-- (zero_grad, forward, backward) and returns the loss. One param group,
-- all its parameters of one dtype; the state (the pairs, the last
-- direction and step) is kept for the first parameter, as PyTorch keeps it.
--
-- The parameters are seen as one flat vector: the gradients gathered into
-- one, the direction added back piece by piece. The vectors are nnlua
-- tensors (so state_dict can save them) in the parameters' dtype, the
-- arithmetic on them plain loops over their memory; dot products and
-- sums accumulate in double, and the scalars (step, 1 / y's, the initial
-- Hessian scale) are Lua numbers. For float64 parameters that is
-- PyTorch's arithmetic up to the order of its sums; for float32 ones
-- PyTorch also rounds the scalars to float32.
return function(nl, optim)
  local ffi = require 'ffi'
  local raise, T = nl._raise, nl._T
  local floor, huge, abs = math.floor, math.huge, math.abs
  local Optimizer = optim.Optimizer

  local LBFGS = optim._class {
    name = 'LBFGS',
    defaults = { lr = 1, max_iter = 20, tolerance_grad = 1e-7, tolerance_change = 1e-9, history_size = 100 },
    _check = function(g)
      for _, k in ipairs({ 'max_iter', 'history_size' }) do
        local v = g[k]
        if v < 1 or v ~= floor(v) or v == huge then return ('%s must be a positive integer, got %s'):format(k, tostring(v)) end
      end
      for _, k in ipairs({ 'tolerance_grad', 'tolerance_change' }) do
        if g[k] ~= g[k] then return k .. ' must be a number, got nan' end
      end
    end,
    state_keys = {},
    -- (fit steps it with a closure that re-evaluates the batch's loss)
    needs_closure = true,
  }
  -- options with no default of their type: max_eval's is max_iter's, and
  -- line_search_fn's is none (set after construction, below)
  LBFGS._group_keys.max_eval = 1
  LBFGS._group_keys.line_search_fn = 1
  local new = LBFGS.new

  -- the two options the class's defaults leave out, or a message
  local function check_extra(g)
    local m = g.max_eval
    if type(m) ~= 'number' or m < 1 or m ~= floor(m) or m == huge then
      return ('max_eval must be a positive integer, got %s'):format(nl._describe_arg(m))
    end
    if g.line_search_fn ~= nil and g.line_search_fn ~= 'strong_wolfe' then
      return ("line_search_fn must be nil or 'strong_wolfe', got %s"):format(nl._describe_arg(g.line_search_fn))
    end
  end

  -- the group's options as step reads them (they may have been set since)
  local function check_group(g, op)
    for _, k in ipairs({ 'lr', 'max_iter', 'tolerance_grad', 'tolerance_change', 'history_size' }) do
      if type(g[k]) ~= 'number' then raise(('%s: %s must be a number, got %s'):format(op, k, nl._describe_arg(g[k]))) end
    end
    local msg = LBFGS._check(g) or check_extra(g)
    if msg then raise(op .. ': ' .. msg) end
  end

  optim.LBFGS = function(params, opts, ...)
    local name = 'LBFGS'
    nl._no_extra_args(name, '(params, {options})', 'give lr and the rest in the options table', ...)
    opts = nl._opts(name, opts)
    local rest, extra = {}, {}
    for k, v in pairs(opts) do
      if k == 'max_eval' or k == 'line_search_fn' then extra[k] = v else rest[k] = v end
    end
    local self = new(params, rest)
    if #self.param_groups ~= 1 then
      raise(("%s: takes one param group (PyTorch's LBFGS has no per-group options), got %d"):format(name,
        #self.param_groups))
    end
    local g = self.param_groups[1]
    for k, v in pairs(extra) do if g[k] == nil then g[k] = v end end     -- (a group's own comes first)
    if g.max_eval == nil then g.max_eval = floor(g.max_iter * 5 / 4) end
    local msg = check_extra(g)
    if msg then raise(name .. ': ' .. msg) end
    local dt = g.params[1]:dtype()
    for i, p in ipairs(g.params) do
      if p:dtype() ~= dt then
        raise(('%s: the parameters must share one dtype (parameter 1 is %s, parameter %d %s)'):format(name, dt, i,
          p:dtype()))
      end
    end
    return self
  end

  -- PyTorch's LBFGS steps its first group only: a group added later was
  -- never stepped, so it is refused here
  function LBFGS:add_param_group(...)   -- (any arguments: refused below, whatever they are)
    raise("LBFGS: add_param_group: LBFGS takes one param group (PyTorch's LBFGS has no per-group options)")
  end

  -- ---- the flat vectors ---------------------------------------------------

  -- the parameters' count and dtype, and the pointer type of their memory
  local function layout(self)
    local ps, n = self.param_groups[1].params, 0
    for _, p in ipairs(ps) do n = n + p:numel() end
    local dt = ps[1]:dtype()
    return ps, n, dt, ffi.typeof(dt == 'float64' and 'double *' or 'float *')
  end

  -- v's memory (v a contiguous 1-D tensor this file made)
  local function mem(v, ct) return ffi.cast(ct, T(v, 'LBFGS').data) end

  local function dot(a, b, n, ct)
    local pa, pb, s = mem(a, ct), mem(b, ct), 0
    for i = 0, n - 1 do s = s + pa[i] * pb[i] end
    return s
  end

  local function abs_max(a, n, ct, scale)
    local pa, m = mem(a, ct), 0
    scale = scale or 1
    for i = 0, n - 1 do
      local x = abs(pa[i] * scale)
      if x > m then m = x elseif x ~= x then return x end     -- (a NaN is the max, as torch's max gives it)
    end
    return m
  end

  local function abs_sum(a, n, ct)
    local pa, s = mem(a, ct), 0
    for i = 0, n - 1 do s = s + abs(pa[i]) end
    return s
  end

  -- a new vector: a * s + b * r (b optional)
  local function combine(a, s, b, r, n, dt, ct)
    local out = nl.empty({ n }, dt)
    local po, pa = mem(out, ct), mem(a, ct)
    if b then
      local pb = mem(b, ct)
      for i = 0, n - 1 do po[i] = pa[i] * s + pb[i] * r end
    else
      for i = 0, n - 1 do po[i] = pa[i] * s end
    end
    return out
  end

  -- a += alpha * b, in place
  local function axpy(a, alpha, b, n, ct)
    local pa, pb = mem(a, ct), mem(b, ct)
    for i = 0, n - 1 do pa[i] = pa[i] + alpha * pb[i] end
  end

  -- the parameters' gradients as one vector (zeros for a parameter with none)
  local function flat_grad(ps, n, dt)
    local flat, off = nl.zeros({ n }, dt), 0
    for _, p in ipairs(ps) do
      local k = p:numel()
      local g = p.grad
      if g ~= nil and k > 0 then flat:narrow(1, off + 1, k):view(p:shape()):copy_(g) end
      off = off + k
    end
    return flat
  end

  -- each parameter += t * its piece of d
  local function add_dir(ps, t, d)
    local off = 0
    for _, p in ipairs(ps) do
      local k = p:numel()
      if k > 0 then p:add_(d:narrow(1, off + 1, k):view(p:shape()), t) end
      off = off + k
    end
  end

  -- ---- the line search (PyTorch's _cubic_interpolate and _strong_wolfe) --

  -- Python's max(a, b) and min(a, b): a unless b is above (below) it
  local function pymax(a, b) if b > a then return b end return a end
  local function pymin(a, b) if b < a then return b end return a end

  -- the minimizer of the cubic through (x1, f1) and (x2, f2) with slopes
  -- g1 and g2, within [lo, hi] (the points' interval by default); the
  -- interval's middle where the cubic has none
  local function cubic_interpolate(x1, f1, g1, x2, f2, g2, lo, hi)
    if lo == nil then
      if x1 <= x2 then lo, hi = x1, x2 else lo, hi = x2, x1 end
    end
    local d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    local d2_square = d1 * d1 - g1 * g2
    if d2_square >= 0 then
      local d2 = math.sqrt(d2_square)
      local min_pos
      if x1 <= x2 then
        min_pos = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
      else
        min_pos = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
      end
      return pymin(pymax(min_pos, lo), hi)
    end
    return (lo + hi) / 2
  end

  -- A step t along d from x (loss f, gradient g, slope gtd = g . d) that
  -- meets the strong Wolfe conditions: brackets one, then zooms in.
  -- obj(t) evaluates the loss and gradient at x + t d (and puts x back).
  -- Returns the loss, gradient and t found and the evaluations made.
  -- (PyTorch's LBFGS calls it with its defaults: tolerance_change 1e-9,
  -- not the optimizer's.)
  local function strong_wolfe(obj, t, d, f, g, gtd, n, ct)
    local c1, c2, tolerance_change, max_ls = 1e-4, 0.9, 1e-9, 25
    local d_norm = abs_max(d, n, ct)
    local f_new, g_new = obj(t)
    local evals = 1
    local gtd_new = dot(g_new, d, n, ct)
    local t_prev, f_prev, g_prev, gtd_prev = 0, f, g, gtd
    local done, ls_iter = false, 0
    local bracket, bracket_f, bracket_g, bracket_gtd
    while ls_iter < max_ls do
      -- a bracket: no sufficient decrease, or no lower than the step before
      if f_new > f + c1 * t * gtd or (ls_iter > 1 and f_new >= f_prev) then
        bracket, bracket_f, bracket_g, bracket_gtd = { t_prev, t }, { f_prev, f_new }, { g_prev, g_new }, { gtd_prev, gtd_new }
        break
      end
      -- the strong Wolfe conditions met
      if abs(gtd_new) <= -c2 * gtd then
        bracket, bracket_f, bracket_g, done = { t }, { f_new }, { g_new }, true
        break
      end
      -- a bracket: the slope turned
      if gtd_new >= 0 then
        bracket, bracket_f, bracket_g, bracket_gtd = { t_prev, t }, { f_prev, f_new }, { g_prev, g_new }, { gtd_prev, gtd_new }
        break
      end
      -- extrapolate
      local min_step = t + 0.01 * (t - t_prev)
      local max_step = t * 10
      local tmp = t
      t = cubic_interpolate(t_prev, f_prev, gtd_prev, t, f_new, gtd_new, min_step, max_step)
      t_prev, f_prev, g_prev, gtd_prev = tmp, f_new, g_new, gtd_new
      f_new, g_new = obj(t)
      evals = evals + 1
      gtd_new = dot(g_new, d, n, ct)
      ls_iter = ls_iter + 1
    end
    if ls_iter == max_ls then
      bracket, bracket_f, bracket_g = { 0, t }, { f, f_new }, { g, g_new }
    end

    -- zoom: shrink the bracket until a point meets the conditions
    local insuf_progress = false
    local low, high = 1, 2
    if not (bracket_f[1] <= bracket_f[#bracket_f]) then low, high = 2, 1 end
    while not done and ls_iter < max_ls do
      if abs(bracket[2] - bracket[1]) * d_norm < tolerance_change then break end
      t = cubic_interpolate(bracket[1], bracket_f[1], bracket_gtd[1], bracket[2], bracket_f[2], bracket_gtd[2])
      -- a t close to an end of the bracket, twice running or past it,
      -- moves to a tenth of the bracket inside it
      local bmax, bmin = pymax(bracket[1], bracket[2]), pymin(bracket[1], bracket[2])
      local eps = 0.1 * (bmax - bmin)
      if pymin(bmax - t, t - bmin) < eps then
        if insuf_progress or t >= bmax or t <= bmin then
          if abs(t - bmax) < abs(t - bmin) then t = bmax - eps else t = bmin + eps end
          insuf_progress = false
        else
          insuf_progress = true
        end
      else
        insuf_progress = false
      end
      f_new, g_new = obj(t)
      evals = evals + 1
      gtd_new = dot(g_new, d, n, ct)
      ls_iter = ls_iter + 1
      if f_new > f + c1 * t * gtd or f_new >= bracket_f[low] then
        -- no sufficient decrease, or not below the low end: the new high end
        bracket[high], bracket_f[high], bracket_g[high], bracket_gtd[high] = t, f_new, g_new, gtd_new
        if bracket_f[1] <= bracket_f[2] then low, high = 1, 2 else low, high = 2, 1 end
      else
        if abs(gtd_new) <= -c2 * gtd then
          done = true
        elseif gtd_new * (bracket[high] - bracket[low]) >= 0 then
          -- the old low end becomes the high one
          bracket[high], bracket_f[high], bracket_g[high], bracket_gtd[high] =
            bracket[low], bracket_f[low], bracket_g[low], bracket_gtd[low]
        end
        bracket[low], bracket_f[low], bracket_g[low], bracket_gtd[low] = t, f_new, g_new, gtd_new
      end
    end
    return bracket_f[low], bracket_g[low], bracket[low], evals
  end

  -- ---- step -----------------------------------------------------------------

  -- the closure's loss: what it returned, and as a number
  local function evaluate(closure)
    local loss = nl.enable_grad(closure)
    if type(loss) == 'number' then return loss, loss end
    if nl.is_tensor(loss) and loss.ptr ~= nil and loss:numel() == 1 then return loss, loss:item() end
    raise(('LBFGS: step: the closure must return the loss, a number or a one-element tensor, got %s'):format(
      nl._describe_arg(loss)))
  end

  local function run(self, closure, group)
    local ps, n, dt, ct = layout(self)
    local lr, max_iter, max_eval = group.lr, group.max_iter, group.max_eval
    local tolerance_grad, tolerance_change = group.tolerance_grad, group.tolerance_change
    local history_size, line_search = group.history_size, group.line_search_fn

    local state = self.state[1]
    if state == nil then
      state = { func_evals = 0, n_iter = 0 }
      self.state[1] = state
    end

    local orig_loss, loss = evaluate(closure)
    local current_evals = 1
    state.func_evals = state.func_evals + 1
    local flat = flat_grad(ps, n, dt)
    if abs_max(flat, n, ct) <= tolerance_grad then return orig_loss end
    local opt_cond

    local d, t, old_dirs, old_stps, ro = state.d, state.t, state.old_dirs, state.old_stps, state.ro
    local H_diag, prev_flat, prev_loss = state.H_diag, state.prev_flat_grad, state.prev_loss
    local n_iter = 0
    while n_iter < max_iter do
      n_iter = n_iter + 1
      state.n_iter = state.n_iter + 1

      -- the direction
      if state.n_iter == 1 then
        d = combine(flat, -1, nil, nil, n, dt, ct)
        old_dirs, old_stps, ro, H_diag = {}, {}, {}, 1
      else
        -- the newest curvature pair (y, s), kept when y . s > 1e-10
        local y = combine(flat, 1, prev_flat, -1, n, dt, ct)
        local s = combine(d, t, nil, nil, n, dt, ct)
        local ys = dot(y, s, n, ct)
        if ys > 1e-10 then
          if #old_dirs == history_size then
            table.remove(old_dirs, 1)
            table.remove(old_stps, 1)
            table.remove(ro, 1)
          end
          old_dirs[#old_dirs + 1], old_stps[#old_stps + 1], ro[#ro + 1] = y, s, 1 / ys
          H_diag = ys / dot(y, y, n, ct)
        end
        -- the two-loop recursion: d = -H g
        local al, q = {}, combine(flat, -1, nil, nil, n, dt, ct)
        for i = #old_dirs, 1, -1 do
          al[i] = dot(old_stps[i], q, n, ct) * ro[i]
          axpy(q, -al[i], old_dirs[i], n, ct)
        end
        d = combine(q, H_diag, nil, nil, n, dt, ct)
        for i = 1, #old_dirs do
          local be_i = dot(old_dirs[i], d, n, ct) * ro[i]
          axpy(d, al[i] - be_i, old_stps[i], n, ct)
        end
      end
      if prev_flat == nil then prev_flat = flat:clone() else prev_flat:copy_(flat) end
      prev_loss = loss

      -- the step length
      if state.n_iter == 1 then t = pymin(1, 1 / abs_sum(flat, n, ct)) * lr else t = lr end
      local gtd = dot(flat, d, n, ct)
      if gtd > -tolerance_change then break end           -- not a descent direction (to tolerance)

      local ls_evals = 0
      if line_search ~= nil then
        local x0 = {}
        for i, p in ipairs(ps) do x0[i] = p:clone() end
        local function obj(tt)
          add_dir(ps, tt, d)
          local _, l = evaluate(closure)
          local fg = flat_grad(ps, n, dt)
          for i, p in ipairs(ps) do p:copy_(x0[i]) end
          return l, fg
        end
        loss, flat, t, ls_evals = strong_wolfe(obj, t, d, loss, flat, gtd, n, ct)
        add_dir(ps, t, d)
        opt_cond = abs_max(flat, n, ct) <= tolerance_grad
      else
        add_dir(ps, t, d)
        -- (not after the last iteration: in a stochastic setting the
        -- next step evaluates it anyway)
        if n_iter ~= max_iter then
          local _
          _, loss = evaluate(closure)
          flat = flat_grad(ps, n, dt)
          opt_cond = abs_max(flat, n, ct) <= tolerance_grad
          ls_evals = 1
        end
      end
      current_evals = current_evals + ls_evals
      state.func_evals = state.func_evals + ls_evals

      -- the ends: iterations, evaluations, a small gradient, a small step
      -- or a small change of the loss
      if n_iter == max_iter or current_evals >= max_eval or opt_cond then break end
      if abs_max(d, n, ct, t) <= tolerance_change then break end
      if abs(loss - prev_loss) < tolerance_change then break end
    end

    state.d, state.t, state.old_dirs, state.old_stps, state.ro = d, t, old_dirs, old_stps, ro
    state.H_diag, state.prev_flat_grad, state.prev_loss = H_diag, prev_flat, prev_loss
    return orig_loss
  end

  -- One step: up to max_iter iterations (and max_eval evaluations of
  -- closure); returns the closure's first loss, as PyTorch's. The
  -- parameters change with grad mode off, the closure runs with it on.
  function LBFGS:step(closure, ...)
    if select('#', ...) > 0 then nl._no_extra_args('LBFGS: step', '(closure)', nil, ...) end
    if type(closure) ~= 'function' then
      raise(('LBFGS: step needs a closure that re-evaluates the model and returns the loss '
             .. '(opt:step(function() opt:zero_grad(); local l = loss_fn(model(x), y); l:backward(); return l end)), '
             .. 'got %s'):format(nl._describe_arg(closure)))
    end
    local group = self.param_groups[1]
    check_group(group, 'LBFGS: step')
    return nl.no_grad(function() return run(self, closure, group) end)
  end

  -- ---- state_dict -------------------------------------------------------------

  local VECTORS = { d = true, prev_flat_grad = true }
  local NUMBERS = { t = true, H_diag = true, prev_loss = true }
  local LISTS = { old_dirs = 'tensors', old_stps = 'tensors', ro = 'numbers' }

  -- Optimizer's dict of the group, with the state: func_evals and n_iter,
  -- and after an iteration d, t, the pairs old_dirs (y), old_stps (s) and
  -- ro (1 / y . s), H_diag, prev_flat_grad and prev_loss, PyTorch's keys
  -- (its scratch list al is not kept: each iteration writes it before it
  -- reads it). The tensors are copies.
  function LBFGS:state_dict()
    local kept = self.state
    self.state = {}
    local sd = Optimizer.state_dict(self)
    self.state = kept
    local st = self.state[1]
    if st then
      local s = {}
      for k, v in pairs(st) do
        if nl.is_tensor(v) then
          s[k] = v:clone()
        elseif type(v) == 'table' then
          s[k] = {}
          for i, x in ipairs(v) do s[k][i] = nl.is_tensor(x) and x:clone() or x end
        else
          s[k] = v
        end
      end
      sd.state[1] = s
    end
    return sd
  end

  -- what state_dict returned, checked whole before anything changes
  function LBFGS:load_state_dict(sd)
    local op = 'LBFGS: load_state_dict'
    if type(sd) ~= 'table' or type(sd.state) ~= 'table' or type(sd.param_groups) ~= 'table' then
      raise(op .. ': expected a table with state and param_groups')
    end
    local sg = sd.param_groups[1]
    if #sd.param_groups ~= 1 or type(sg) ~= 'table' or type(sg.params) ~= 'table' then
      raise(op .. ': expected one param group with its params, as state_dict writes')
    end
    local g = {}
    for k, v in pairs(self.param_groups[1]) do g[k] = v end
    for k, v in pairs(sg) do if k ~= 'params' then g[k] = v end end
    -- a group saved without line_search_fn had none (a Lua table holds no
    -- nil): the receiver's 'strong_wolfe' was kept, and the resumed run
    -- searched where the saved one stepped
    g.line_search_fn = sg.line_search_fn
    check_group(g, op)
    local ps, n, dt = layout(self)
    local id = sg.params[1]
    local state = {}
    for k, st in pairs(sd.state) do
      if k ~= id or type(st) ~= 'table' then
        raise(('%s: state for parameter %s; LBFGS keeps its state for the first parameter (%s)'):format(op,
          tostring(k), tostring(id)))
      end
      for key, v in pairs(st) do
        local bad
        if key == 'func_evals' or key == 'n_iter' then
          bad = not (type(v) == 'number' and v >= 0 and v == floor(v) and v < huge) and 'a whole number'
          state[key] = v
        elseif VECTORS[key] then
          bad = not (nl.is_tensor(v) and v.ptr ~= nil and v:dim() == 1 and v:numel() == n)
                and ('a 1-D tensor of %d elements (the parameters\' count)'):format(n)
          state[key] = not bad and nl.tensor(v:detach(), dt) or nil
        elseif NUMBERS[key] then
          bad = type(v) ~= 'number' and 'a number'
          state[key] = v
        elseif LISTS[key] then
          local kind = LISTS[key]
          bad = not (nl._list_len(v) and #v <= g.history_size)
          local list = {}
          for i = 1, bad and 0 or #v do
            local x = v[i]
            if kind == 'numbers' then
              bad = bad or type(x) ~= 'number'
              list[i] = x
            else
              bad = bad or not (nl.is_tensor(x) and x.ptr ~= nil and x:dim() == 1 and x:numel() == n)
              list[i] = not bad and nl.tensor(x:detach(), dt) or nil
            end
          end
          bad = bad and ('a list of at most history_size (%d) %s'):format(g.history_size,
            kind == 'numbers' and 'numbers' or ('1-D tensors of %d elements'):format(n))
          state[key] = list
        elseif key ~= 'al' then
          raise(('%s: unknown state %s (LBFGS keeps func_evals, n_iter, d, t, old_dirs, old_stps, ro, H_diag, '
                 .. 'prev_flat_grad and prev_loss)'):format(op, tostring(key)))
        end
        if bad then raise(('%s: state %s must be %s'):format(op, tostring(key), bad)) end
      end
      -- a part of it would fail at the next step, or start a new history
      -- under an old count
      if next(st) ~= nil then
        for _, key in ipairs({ 'func_evals', 'n_iter' }) do
          if state[key] == nil then raise(('%s: state lacks %s'):format(op, key)) end
        end
        if state.n_iter > 0 then
          for _, key in ipairs({ 'd', 't', 'old_dirs', 'old_stps', 'ro', 'H_diag', 'prev_flat_grad', 'prev_loss' }) do
            if state[key] == nil then raise(('%s: state lacks %s (saved after %d iterations)'):format(op, key, state.n_iter)) end
          end
          if #state.old_dirs ~= #state.old_stps or #state.ro ~= #state.old_dirs then
            raise(op .. ': state old_dirs, old_stps and ro must be lists of one length')
          end
        end
      end
    end
    -- the group through Optimizer's load (ids, keys, types), the state here
    Optimizer.load_state_dict(self, { optimizer = sd.optimizer, param_groups = sd.param_groups, state = {} })
    self.param_groups[1].line_search_fn = sg.line_search_fn
    self.state = optim._param_keyed(self, next(state) and { state } or {})
  end

  nl._guard_methods(LBFGS, function(self) return type(self) == 'table' and type(rawget(self, 'param_groups')) == 'table' end,
                    'an optimizer', 'opt', { new = true })
end
