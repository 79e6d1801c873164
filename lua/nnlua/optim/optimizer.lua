-- optimizer.lua: what every optimizer shares: param groups with their
-- hyperparameters, per-parameter state, step's walk over the parameters,
-- zero_grad, set_lr, state_dict / load_state_dict. A family file (sgd.lua,
-- adam.lua, ...) gives a name, the defaults, a check of one group's
-- options and the update of one parameter, which is one C call.
return function(nl, optim)
  local lib, check, raise, T = nl._lib, nl._check, nl._raise, nl._T
  local ffi = require 'ffi'

  -- a default the user must give (SGD's lr)
  local REQUIRED = setmetatable({}, { __tostring = function() return 'required' end })
  optim._REQUIRED = REQUIRED

  local Optimizer = {}
  optim.Optimizer = Optimizer

  -- options are numbers, booleans and lists of numbers (betas)
  local function copy(v)
    if type(v) ~= 'table' or v == REQUIRED then return v end
    local c = {}
    for i = 1, #v do c[i] = v[i] end
    return c
  end

  -- 'a, b and c', sorted
  local function keys_str(t)
    local ks = {}
    for k in pairs(t) do ks[#ks + 1] = k end
    table.sort(ks)
    return #ks == 1 and ks[1] or table.concat(ks, ', ', 1, #ks - 1) .. ' and ' .. ks[#ks]
  end

  -- the edit distance of strings a and b, a swap of two neighbours
  -- counting as one edit
  local function distance(a, b)
    local d = {}
    for i = 0, #a do d[i] = { [0] = i } end
    for j = 0, #b do d[0][j] = j end
    for i = 1, #a do
      for j = 1, #b do
        local cost = a:byte(i) == b:byte(j) and 0 or 1
        local v = math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
        if i > 1 and j > 1 and a:byte(i) == b:byte(j - 1) and a:byte(i - 1) == b:byte(j) then
          v = math.min(v, d[i - 2][j - 2] + 1)
        end
        d[i][j] = v
      end
    end
    return d[#a][#b]
  end

  -- k misspells option opt: it differs in case only, or by one edit from
  -- an option's name of 5 letters or more ('l1' or 'lr0' beside 'lr',
  -- 'no_decay' beside 'lr_decay', 'damping' beside 'dampening', and any
  -- 'initial_xy' beside the schedulers' 'initial_lr' are a user's own)
  local function misspells(k, opt)
    k = k:lower()
    if k == opt then return true end
    return #opt >= 5 and opt ~= 'params' and opt ~= 'initial_lr' and distance(k, opt) <= 1
  end

  -- PyTorch's flags, refused in a group as in the options table by an
  -- optimizer that PyTorch 1.13 does not give them (a group's maximize was
  -- kept unread)
  local NOT_HERE = { maximize = true, foreach = true, capturable = true, differentiable = true, fused = true }

  -- the flags each optimizer takes, as torch.optim 1.13's: maximize
  -- (ascend: the update sees the negated gradient, as PyTorch's does);
  -- foreach (nil, true or false: one C update per parameter either way, the
  -- same arithmetic); differentiable, capturable and fused false only
  local FLAGS = {
    SGD = { 'maximize', 'foreach', 'differentiable' },
    Adam = { 'maximize', 'foreach', 'capturable', 'differentiable', 'fused' },
    AdamW = { 'maximize', 'foreach', 'capturable' },
    Adagrad = { 'maximize', 'foreach' }, Adadelta = { 'maximize', 'foreach' }, Adamax = { 'maximize', 'foreach' },
    ASGD = { 'maximize', 'foreach' }, Rprop = { 'maximize', 'foreach' },
    RMSprop = { 'maximize', 'foreach', 'differentiable' },
    NAdam = { 'foreach' }, RAdam = { 'foreach' },
  }
  -- why a flag may not be true
  local ONLY_FALSE = {
    differentiable = 'the update runs in C, outside autograd',
    capturable = 'it is for CUDA graphs; PyTorch refuses it for CPU tensors too',
    fused = "PyTorch's fused kernel needs CUDA tensors",
  }

  -- A param group's keys besides its options: a misspelt option
  -- ('momentun', 'LR') is an error naming it (it was kept unread: the
  -- option stayed at its default); any other (a 'name' to tell groups
  -- apart) is kept, as PyTorch keeps it.
  local function check_group_keys(cls, g, where, op)
    op = op or cls.name
    for k in pairs(g) do
      if type(k) ~= 'string' then
        raise(('%s: a param group key must be a string, got %s%s'):format(op, nl._describe_arg(k), where))
      end
      if NOT_HERE[k] and cls._group_keys[k] == nil then raise(("%s: unknown option '%s'%s"):format(op, k, where)) end
      if cls._group_keys[k] == nil then
        for opt in pairs(cls._group_keys) do
          if misspells(k, opt) then
            raise(("%s: unknown option '%s'%s (did you mean '%s'?)"):format(op, k, where, opt))
          end
        end
      end
    end
  end

  -- the options of group g against the class's defaults: types, then
  -- (unless types_only) the ranges and the family's own check (which
  -- returns a message or nil); op, optional, the messages' start
  local function check_group(cls, g, where, types_only, op)
    local name = op or cls.name
    for k, d in pairs(cls.defaults) do
      local v = g[k]
      if v == REQUIRED then raise(('%s: %s is required%s'):format(name, k, where)) end
      local want = d == REQUIRED and 'number' or type(d)
      if want == 'table' then
        local ok = type(v) == 'table' and #v == #d
        for i = 1, #d do ok = ok and type(v[i]) == 'number' end
        if not ok then raise(('%s: %s must be a list of %d numbers%s'):format(name, k, #d, where)) end
      elseif type(v) ~= want then
        raise(('%s: %s must be a %s, got %s%s'):format(name, k, want, type(v), where))
      end
    end
    if g.foreach ~= nil and type(g.foreach) ~= 'boolean' then
      raise(('%s: foreach must be a boolean or nil, got %s%s'):format(name, nl._describe_arg(g.foreach), where))
    end
    for k, why in pairs(ONLY_FALSE) do
      if g[k] == true then raise(('%s: %s = true is not supported (%s)%s'):format(name, k, why, where)) end
    end
    if types_only then return end
    if not (g.lr >= 0) then raise(('%s: invalid learning rate %s (must be >= 0)%s'):format(name, g.lr, where)) end
    local msg = cls._check(g)
    if msg then raise(('%s: %s%s'):format(name, msg, where)) end
  end

  -- a nil in a list ended ipairs there: every parameter after it was
  -- dropped without a word (PyTorch refuses None)
  local function check_holes(name, list, what)
    for i = 1, table.maxn(list) do
      if list[i] == nil then raise(('%s: %s %d is nil (a hole in the list)'):format(name, what, i)) end
    end
  end

  -- Param group number gi of an optimizer of class cls, from rg (a table
  -- with params and options); an option rg lacks comes from defaults.
  -- seen: the parameters of the groups before (keyed by their C handle),
  -- which a parameter of this group may not be; where: ' (param group
  -- gi)' or '' for the messages; op: the name they start with.
  local function make_group(cls, op, rg, gi, where, defaults, seen)
    if type(rg) ~= 'table' or (type(rg.params) ~= 'table' and not nl.is_tensor(rg.params)) then
      raise(('%s: param group %d must be a table with a params list'):format(op, gi))
    end
    check_group_keys(cls, rg, where, op)
    local g = {}
    for k, v in pairs(rg) do g[k] = copy(v) end
    for k, d in pairs(defaults) do
      if g[k] == nil then g[k] = copy(d) end
    end
    local ps = nl.is_tensor(rg.params) and { rg.params } or rg.params
    -- (an empty group is kept, as PyTorch keeps it: it steps nothing and
    -- its options are still scheduled and saved)
    check_holes(op, ps, 'parameter')
    g.params = {}
    local mine = {}
    for i, p in ipairs(ps) do
      if not nl.is_tensor(p) then
        raise(('%s: parameter %d%s is not a tensor (%s)'):format(op, i, where, type(p)))
      end
      local pc = T(p, op)
      if pc.dtype ~= 0 and pc.dtype ~= 1 then
        raise(('%s: parameter %d%s is %s; optimizers update float32 or float64 tensors'):format(op, i, where, p:dtype()))
      end
      if not p:is_leaf() then raise(('%s: cannot optimize a non-leaf tensor (parameter %d%s)'):format(op, i, where)) end
      local key = tostring(ffi.cast('void *', pc))
      if mine[key] then raise(('%s: a parameter appears more than once (parameter %d%s)'):format(op, i, where)) end
      if seen[key] then
        raise(('%s: some parameters appear in more than one parameter group (parameter %d%s)'):format(op, i, where))
      end
      mine[key] = true
      g.params[i] = p
    end
    for k in pairs(mine) do seen[k] = true end
    check_group(cls, g, where, false, op)
    return g
  end

  -- Builds the optimizer class `spec` describes: spec.name, spec.defaults
  -- (option -> default value), spec._check(group) -> message or nil,
  -- spec._update(p, pc, gc, state, group): one parameter's step (p the
  -- tensor, pc its C tensor, gc its C gradient, state its table),
  -- spec.state_keys: the keys of that table, each 'required' (once a step
  -- has run) or 'optional'; spec.state_numbers, optional: the keys among
  -- them that hold a number, as step does, not a tensor (NAdam's
  -- mu_product, ASGD's eta and mu).
  function optim._class(spec)
    local cls = setmetatable(spec, { __index = Optimizer })
    -- opt.lr reads the first group's lr (what schedulers change)
    local inst_mt = {
      __index = function(self, k)
        if k == 'lr' then return self.param_groups[1].lr end
        return cls[k]
      end,
      -- and opt.lr = x sets every group's (it made a field that hid them:
      -- steps kept the old lr while opt.lr read the new one)
      __newindex = function(self, k, v)
        if k == 'lr' then return self:set_lr(v) end
        rawset(self, k, v)
      end,
      __tostring = function(self)
        return ('%s (%d parameter group%s, lr=%s)'):format(cls.name, #self.param_groups,
          #self.param_groups == 1 and '' or 's', tostring(self.param_groups[1].lr))
      end,
    }

    -- what a param group may hold: the options, its params, and the
    -- initial_lr a scheduler gives it
    -- (the flags: false by default, foreach nil, as PyTorch's)
    for _, f in ipairs(FLAGS[cls.name] or {}) do
      if f ~= 'foreach' then cls.defaults[f] = false end
    end
    cls._group_keys = { params = 1, initial_lr = 1 }
    for k in pairs(cls.defaults) do cls._group_keys[k] = 1 end
    -- the options the constructor takes
    cls._known = {}
    for k in pairs(cls.defaults) do cls._known[k] = 1 end
    for _, f in ipairs(FLAGS[cls.name] or {}) do cls._known[f], cls._group_keys[f] = 1, 1 end

    function cls.new(params, opts, ...)
      local name = cls.name
      -- PyTorch's positional hyperparameters (SGD(p, 0.1, 0.9)) are not
      -- read here: an extra argument was dropped without a word
      nl._no_extra_args(name, '(params, {options})', 'give lr and the rest in the options table', ...)
      if opts == nil then opts = {} end
      if type(opts) ~= 'table' then raise(('%s: options must be a table, got %s'):format(name, type(opts))) end
      nl._check_opts(name, opts, cls._known)
      if nl.is_tensor(params) then params = { params } end
      if type(params) ~= 'table' then
        raise(('%s: params must be a list of tensors or of param groups, got %s'):format(name, type(params)))
      end
      if #params == 0 then raise(name .. ': got an empty parameter list') end
      local raw = nl.is_tensor(params[1]) and { { params = params } } or params
      check_holes(name, raw, raw == params and 'param group' or 'parameter')

      local groups, seen, defaults = {}, {}, {}
      for k, d in pairs(cls.defaults) do
        local v = opts[k]
        if v == nil then v = d end
        defaults[k] = copy(v)
      end
      defaults.foreach = opts.foreach       -- (no default: nil, as PyTorch's None)
      for gi, rg in ipairs(raw) do
        groups[gi] = make_group(cls, name, rg, gi, #raw > 1 and (' (param group %d)'):format(gi) or '', defaults, seen)
      end
      -- (defaults: the constructor's options, which add_param_group fills
      -- a new group's missing ones from, as PyTorch's opt.defaults)
      local self = { param_groups = groups, defaults = defaults }
      self.state = optim._param_keyed(self, {})
      return setmetatable(self, inst_mt)
    end
    return cls
  end

  -- opt.state keyed by the parameter too, as PyTorch's: opt.state[p] is
  -- the state of parameter p (nil before its first step), which the
  -- table holds at p's place over all groups (the key step uses; it said
  -- nil for every tensor). LBFGS keeps one state, the first parameter's.
  function optim._param_keyed(self, state)
    return setmetatable(state, { __index = function(st, k)
      if not nl.is_tensor(k) then return nil end
      local kc, idx = T(k), 0
      for _, g in ipairs(self.param_groups) do
        for _, q in ipairs(g.params) do
          idx = idx + 1
          if T(q) == kc then return rawget(st, idx) end
        end
      end
      return nil
    end })
  end

  -- Adds a param group (a table with params, a tensor or a list of them,
  -- and any options), as PyTorch's add_param_group: an option the group
  -- lacks is the constructor's (opt.defaults); a parameter another group
  -- holds is refused. The state of the new parameters starts at their
  -- first step, as every optimizer's does. A scheduler made after this
  -- sees the group (and gives it its initial_lr).
  function Optimizer:add_param_group(group, ...)
    local op = self.name .. ': add_param_group'
    nl._no_extra_args(op, '(param_group)', nil, ...)
    if type(group) ~= 'table' or nl.is_tensor(group) then
      raise(('%s: expected a param group (a table with params), got %s'):format(op, nl._describe_arg(group)))
    end
    local seen = {}
    for _, g in ipairs(self.param_groups) do
      for _, p in ipairs(g.params) do seen[tostring(ffi.cast('void *', T(p, op)))] = true end
    end
    local gi = #self.param_groups + 1
    local g = make_group(self, op, group, gi, (' (param group %d)'):format(gi), rawget(self, 'defaults') or self.defaults, seen)
    self.param_groups[gi] = g
  end

  -- One step over every parameter that has a gradient. closure, optional,
  -- recomputes the loss first (and its value is returned); it runs with
  -- grad mode on, as PyTorch's (enable_grad): under nl.no_grad its
  -- backward failed ('does not require grad').
  local keep = {}         -- a maximize step's negated gradient, held through the C update

  function Optimizer:step(closure, ...)
    if select('#', ...) > 0 then nl._no_extra_args(self.name .. ': step', '([closure])', nil, ...) end
    local loss
    if closure ~= nil and type(closure) ~= 'function' then
      raise(('%s: step takes an optional closure (a function), got %s'):format(self.name, type(closure)))
    end
    if closure ~= nil then loss = nl.enable_grad(closure) end
    local state, update, name = self.state, self._update, self.name
    local idx, groups = 0, self.param_groups
    for gi, group in ipairs(groups) do
      -- options set since: their types (a nil lr failed inside the C call);
      -- not their ranges, as PyTorch steps with the negative lr that
      -- chained schedulers can give
      check_group(self, group, #groups > 1 and (' (param group %d)'):format(gi) or '', true)
      for _, p in ipairs(group.params) do
        idx = idx + 1
        local pc = T(p, name)
        local gc = pc.grad
        if gc ~= nil then
          local st = state[idx]
          if st == nil then
            st = {}
            state[idx] = st
          end
          if group.maximize then
            keep[1] = nl._wrap(lib.nl_unary(lib.NL_OP_NEG, gc))
            gc = keep[1].ptr
          end
          update(p, pc, gc, st, group)
          keep[1] = nil
        end
      end
    end
    return loss
  end

  -- Drops every gradient (t.grad becomes nil, PyTorch's set_to_none), or
  -- zeros them in place when set_to_none is false; a gradient with a graph
  -- (backward with create_graph) is detached first, as PyTorch's
  -- (zeroing it in place was refused: 'in-place change of a tensor that
  -- requires grad')
  function Optimizer:zero_grad(set_to_none, ...)
    if select('#', ...) > 0 then nl._no_extra_args(self.name .. ': zero_grad', '([set_to_none])', nil, ...) end
    if set_to_none ~= nil and type(set_to_none) ~= 'boolean' then   -- 0 was true: gradients dropped
      nl._argerror('zero_grad', 'a boolean set_to_none', set_to_none)
    end
    for _, group in ipairs(self.param_groups) do
      for _, p in ipairs(group.params) do
        local pc = T(p, 'zero_grad')
        local gc = pc.grad
        if gc ~= nil then
          if set_to_none == false then
            if bit.band(gc.flags, lib.NL_FLAG_REQUIRES_GRAD) ~= 0 then   -- (a graph made it)
              local d = nl._wrap(lib.nl_detach(gc))  -- (the same memory, no graph)
              check(lib.nl_set_grad(pc, d.ptr))
              gc = d.ptr
            end
            check(lib.nl_fill_(gc, 0))
          else
            check(lib.nl_set_grad(pc, nil))
          end
        end
      end
    end
  end

  -- the lr of every group
  function Optimizer:set_lr(lr, ...)
    if select('#', ...) > 0 then nl._no_extra_args(self.name .. ': set_lr', '(lr)', nil, ...) end
    if type(lr) ~= 'number' or not (lr >= 0) then
      raise(('%s: invalid learning rate %s (must be a number >= 0)'):format(self.name, tostring(lr)))
    end
    for _, g in ipairs(self.param_groups) do g.lr = lr end
  end

  -- { optimizer = name, state = { [i] = { step = n, <buffer> = tensor, ... } },
  --   param_groups = { { lr = ..., <options>, params = { i, ... } }, ... } }
  -- i numbers the parameters across the groups, from 1. The tensors are
  -- copies: later steps do not change a saved state_dict.
  function Optimizer:state_dict(...)
    if select('#', ...) > 0 then nl._no_extra_args(self.name .. ': state_dict', '()', nil, ...) end
    local state = {}
    for i, st in pairs(self.state) do
      local s = {}
      for k, v in pairs(st) do s[k] = nl.is_tensor(v) and v:clone() or v end
      state[i] = s
    end
    local groups, idx = {}, 0
    for gi, g in ipairs(self.param_groups) do
      local c = {}
      for k, v in pairs(g) do
        if k ~= 'params' then c[k] = copy(v) end
      end
      c.params = {}
      for j = 1, #g.params do
        idx = idx + 1
        c.params[j] = idx
      end
      groups[gi] = c
    end
    return { optimizer = self.name, state = state, param_groups = groups }
  end

  -- Restores what state_dict returned (for an optimizer over parameters of
  -- the same shapes, in the same groups): the run continues as the saved
  -- one would have. Nothing changes when the dict does not fit.
  function Optimizer:load_state_dict(sd, ...)
    if select('#', ...) > 0 then nl._no_extra_args(self.name .. ': load_state_dict', '(state_dict)', nil, ...) end
    local name = self.name .. ': load_state_dict'
    if type(sd) ~= 'table' or type(sd.state) ~= 'table' or type(sd.param_groups) ~= 'table' then
      raise(name .. ': expected a table with state and param_groups')
    end
    -- another family's dict mixed its options and state into these (an
    -- SGD checkpoint ran Adam at SGD's lr)
    if sd.optimizer ~= nil and sd.optimizer ~= self.name then
      raise(('%s: the state_dict is from %s'):format(name, tostring(sd.optimizer)))
    end
    if #sd.param_groups ~= #self.param_groups then
      raise(('%s: %d parameter groups saved, the optimizer has %d'):format(name, #sd.param_groups, #self.param_groups))
    end
    -- flat: saved id -> the parameter; pos: saved id -> the parameter's
    -- place over all groups, which step keys state by (the state went in
    -- under the saved id, so ids other than 1..n in order gave each
    -- parameter another's state, as PyTorch's remapping does not)
    local flat, pos, groups, n = {}, {}, {}, 0
    for gi, g in ipairs(self.param_groups) do
      local sg = sd.param_groups[gi]
      if type(sg) ~= 'table' or type(sg.params) ~= 'table' or #sg.params ~= #g.params then
        raise(('%s: param group %d has %d parameters, the saved one %s'):format(name, gi, #g.params,
          type(sg) == 'table' and type(sg.params) == 'table' and tostring(#sg.params) or 'none'))
      end
      check_group_keys(self, sg, (' (param group %d)'):format(gi), name)
      local ng = {}
      for k, v in pairs(sg) do if k ~= 'params' then ng[k] = copy(v) end end
      for k, v in pairs(g) do if ng[k] == nil and k ~= 'params' then ng[k] = copy(v) end end
      ng.params = g.params
      -- (the types: a run whose chained schedulers took lr below 0, as
      -- PyTorch's may, resumes)
      check_group(self, ng, (' (loading param group %d)'):format(gi), true)
      for j, p in ipairs(g.params) do
        local id = sg.params[j]
        if id == nil or flat[id] ~= nil then
          raise(('%s: param group %d names parameter id %s twice or not at all'):format(name, gi, tostring(id)))
        end
        n = n + 1
        flat[id], pos[id] = p, n
      end
      groups[gi] = ng
    end
    local state, numbers = {}, self.state_numbers or {}
    for i, st in pairs(sd.state) do
      local p = flat[i]
      if p == nil or type(st) ~= 'table' then raise(('%s: state for parameter %s, which no group holds'):format(name, tostring(i))) end
      local s = {}
      for k, v in pairs(st) do
        if self.state_keys[k] == nil then
          raise(('%s: unknown state %s for parameter %s (%s keeps %s)'):format(name, tostring(k), tostring(i),
            self.name, keys_str(self.state_keys)))
        end
        if numbers[k] then
          if type(v) ~= 'number' then
            raise(('%s: state %s of parameter %s must be a number, got %s'):format(name, k, tostring(i),
              nl.is_tensor(v) and 'a tensor' or type(v)))
          end
          s[k] = v
        elseif nl.is_tensor(v) then
          if nl._shape_str(v) ~= nl._shape_str(p) then
            raise(('%s: %s of shape %s for parameter %s of shape %s'):format(name, k, nl._shape_str(v), tostring(i),
              nl._shape_str(p)))
          end
          s[k] = nl.tensor(v:detach(), p:dtype())      -- a contiguous copy in the parameter's dtype
        elseif k == 'step' and type(v) == 'number' and v >= 0 and v == math.floor(v) then
          s[k] = v
        else
          -- every state entry is a tensor but the step count and the
          -- family's numbers (above): anything else (a corrupt file)
          -- failed at the next step inside the update
          raise(('%s: state %s of parameter %s must be %s, got %s'):format(name, tostring(k), tostring(i),
            k == 'step' and 'a whole number of steps' or 'a tensor', type(v) == 'number' and tostring(v) or type(v)))
        end
      end
      -- a part of the state (a step count without the averages) would
      -- restart the rest from zero, or fail at the next step
      if next(s) ~= nil then
        for k, need in pairs(self.state_keys) do
          if need == 'required' and s[k] == nil then
            raise(('%s: state of parameter %s lacks %s'):format(name, tostring(i), k))
          end
        end
      end
      state[pos[i]] = s
    end
    self.param_groups, self.state = groups, optim._param_keyed(self, state)
  end

  -- a zero tensor of p's shape and dtype, for state
  function optim._zeros_like(p) return nl.zeros(p:shape(), p:dtype()) end

  -- opt.step() (a dot for a colon) failed inside on a nil self
  nl._guard_methods(Optimizer, function(self) return type(self) == 'table' and type(rawget(self, 'param_groups')) == 'table' end,
                    'an optimizer', 'opt')
end
