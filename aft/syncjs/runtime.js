// The SyncJS runtime: the bridge to Python host functions, the job context,
// the global constants and the plain host functions. Evaluated before every script; the
// other runtime files (vfs.js, watchers.js, net.js) when a script first needs them.
// The names come from Python (aft/syncjs/script_api.py), as dukpy.api (JSON text): its
// `functions` (by owner; "" for globals), `constants`, `clients`, `defaults`, `response`.
(function (g) {
  "use strict";
  var callPython = g.call_python;
  delete g.call_python; // scripts reach the host only through the functions below
  var slice = Array.prototype.slice;
  var job = g.dukpy;
  delete g.dukpy;
  var api = JSON.parse(job.api);

  function AftExit() {}
  AftExit.prototype.toString = function () { return "Exit"; };

  // Every function the runtime defines is named "aft:..." so that an error's script
  // line is found by skipping those frames (see aft/executor.py).
  function mark(fn, name) {
    Object.defineProperty(fn, "name", { value: "aft:" + name });
    return fn;
  }

  // Call host function `name`; unwraps the envelope made by aft/syncjs/engine.py.
  var host = mark(function (name) {
    var r = callPython.apply(null, slice.call(arguments));
    if ("v" in r) return r.v;
    if ("t" in r) throw new TypeError(r.t);
    if ("x" in r) throw new AftExit();
    throw new Error(r.e);
  }, "host");

  function text(values) {
    return slice.call(values).map(function (v) {
      if (typeof v === "string") return v;
      if (v !== null && typeof v === "object") {
        try { return JSON.stringify(v); } catch (e) { return String(v); }
      }
      return String(v);
    }).join(" ");
  }

  function define(name, value) {
    if (typeof value === "function") mark(value, name);
    Object.defineProperty(g, name, { value: value, writable: false, enumerable: false });
  }

  // A fresh copy of a JSON value (a default that a script may change).
  var copy = mark(function (value) { return JSON.parse(JSON.stringify(value)); }, "copy");

  // A script object passed to a host function travels as its reference (see vfs.js).
  var ref = mark(function (value) {
    var own = value !== null && typeof value === "object"
      && Object.prototype.hasOwnProperty.call(value, "_ref");
    return own ? value._ref : value;
  }, "ref");

  // Define on `proto` each method Python declares for `owner`: it calls the host function
  // "owner.Method" with receiver(this) first (what names the object on the Python side),
  // then the arguments; answer(result), when given, makes the return value.
  var methods = mark(function (proto, owner, receiver, answer) {
    (api.functions[owner] || []).forEach(function (n) {
      proto[n] = mark(function () {
        var args = [owner + "." + n, receiver(this)].concat(slice.call(arguments).map(ref));
        var r = host.apply(null, args);
        return answer ? answer(r) : r;
      }, n);
    });
  }, "methods");

  // A script object that refuses what it does not have: writing a property that is not
  // one of its own (a misspelt field, an option aft lacks) throws a TypeError instead of
  // being kept and ignored, and reading a name the original product documents but aft
  // does not implement (api.absent[owner]) throws a TypeError that says why. `also`
  // lists more names that may be written (the options that are checked when used).
  var own = Object.prototype.hasOwnProperty;
  var guard = mark(function (obj, owner, also) {
    var absent = api.absent[owner] || {};
    var check = mark(function (t, k) {
      if (typeof k !== "string" || own.call(t, k) || (also && also.indexOf(k) >= 0)) return;
      if (own.call(absent, k)) {
        throw new TypeError(owner + "." + k + " is not available in aft: " + absent[k]);
      }
      throw new TypeError(owner + " has no property " + JSON.stringify(k) +
        " (the SyncJS reference lists what it has)");
    }, "check");
    return new Proxy(obj, {
      get: mark(function (t, k, r) {
        if (typeof k === "string" && own.call(absent, k) && !own.call(t, k)) check(t, k);
        return Reflect.get(t, k, r);
      }, "get"),
      set: mark(function (t, k, v) { check(t, k); t[k] = v; return true; }, "set"),
      defineProperty: mark(function (t, k, d) {
        check(t, k);
        return Reflect.defineProperty(t, k, d);
      }, "defineProperty"),
    });
  }, "guard");

  // Watcher callbacks by watcher number (see watchers.js). Watcher threads never call JS:
  // Sleep and WaitForHaltSignal take their events from the host and run the callbacks here.
  var listeners = {};
  var listen = mark(function (number, watcher, fn) {
    listeners[number] = { watcher: watcher, fn: fn };
  }, "listen");
  var unlisten = mark(function (number) { delete listeners[number]; }, "unlisten");

  // Run callbacks until the halt signal or `until` (the host's clock; null: no end).
  var waitUntil = mark(function (until) {
    for (;;) {
      var next = host("nextEvent", until);
      if (next === null) return host("HaltSignalReceived");
      var l = listeners[next[0]];
      if (l) l.fn.call(l.watcher, next[1]);
    }
  }, "wait");

  Object.defineProperty(g, "__aft", {
    value: {
      api: api, host: host, define: define, mark: mark, text: text, copy: copy,
      methods: methods, listen: listen, unlisten: unlisten, guard: guard,
    },
  });

  // ---- job context ----------------------------------------------------------------
  var params = job.params;

  var param = mark(function (who, name) {
    if (typeof name !== "string") throw new TypeError(who + "(name): name must be a string");
    if (!Object.prototype.hasOwnProperty.call(params, name)) return "";
    var v = params[name];
    return typeof v === "string" ? v : JSON.stringify(v);
  }, "param");
  define("Param", function (name) { return param("Param", name); });
  // Params(name) is Param(name) (the original product's spelling); Params() with no
  // argument (or undefined) gives every parameter as an object.
  define("Params", function (name) {
    if (name === undefined) return JSON.parse(JSON.stringify(params));
    return param("Params", name);
  });
  define("JobID", function () { return job.jobId; });
  define("ScriptName", function () { return job.scriptName; });

  var Log = function () { host("log", "info", text(arguments)); };
  ["Debug", "Info", "Warn", "Error"].forEach(function (level) {
    Log[level] = mark(function () { host("log", level.toLowerCase(), text(arguments)); }, level);
  });
  define("Log", Log);
  g.console = {
    log: Log, debug: Log.Debug, info: Log.Info, warn: Log.Warn, error: Log.Error,
  };

  define("Exit", function (code) {
    host("Exit", code === undefined ? 0 : code);
    throw new AftExit();
  });
  Object.defineProperty(g, "HaltSignalReceived", {
    get: mark(function () { return host("HaltSignalReceived"); }, "HaltSignalReceived"),
  });
  define("Sleep", function (ms) { return waitUntil(host("Sleep", ms)); });
  define("WaitForHaltSignal", function () { return waitUntil(null); });

  // ---- constants and plain host functions (GetSecret, the local-file helpers...) -----
  // A constant refuses to be assigned (a TypeError in sloppy code too, never ignored).
  Object.keys(api.constants).forEach(function (k) {
    var value = api.constants[k];
    Object.defineProperty(g, k, {
      get: mark(function () { return value; }, k),
      set: mark(function () { throw new TypeError(k + " is a constant"); }, k),
      enumerable: false,
    });
  });
  api.functions[""].forEach(function (n) {
    define(n, function () { return host.apply(null, [n].concat(slice.call(arguments))); });
  });

  // ---- the other runtime files, compiled when a script first reads a name they define --
  // job.lazy: [file, the globals it defines, its source] (see aft/executor.py).
  job.lazy.forEach(function (file) {
    var names = file[1], loaded = false;
    var load = mark(function () {
      if (loaded) return;
      loaded = true;
      names.forEach(function (n) { delete g[n]; }); // its own define() makes them for good
      (0, eval)(file[2]);
    }, "load " + file[0]);
    names.forEach(function (n) {
      Object.defineProperty(g, n, {
        get: mark(function () { load(); return g[n]; }, n),
        configurable: true,
        enumerable: false,
      });
    });
  });
})(globalThis);
