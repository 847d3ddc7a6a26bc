// The SyncJS runtime: the bridge to Python host functions, the job context,
// the global constants and the local-file helpers. Evaluated before every script.
(function (g) {
  "use strict";
  var callPython = g.call_python;
  delete g.call_python; // scripts reach the host only through the functions below
  var slice = Array.prototype.slice;

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

  // Host functions whose JS face is a plain call with the same arguments.
  function passThrough(names) {
    names.forEach(function (n) {
      define(n, function () { return host.apply(null, [n].concat(slice.call(arguments))); });
    });
  }

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
      var next = host("next_event", until);
      if (next === null) return host("halted");
      var l = listeners[next[0]];
      if (l) l.fn.call(l.watcher, next[1]);
    }
  }, "wait");

  Object.defineProperty(g, "__aft", {
    value: {
      host: host, define: define, mark: mark, text: text, listen: listen, unlisten: unlisten,
    },
  });

  // ---- job context ----------------------------------------------------------------
  var job = g.dukpy;
  delete g.dukpy;
  var params = job.params;

  define("Param", function (name) {
    if (typeof name !== "string") throw new TypeError("Param(name): name must be a string");
    if (!Object.prototype.hasOwnProperty.call(params, name)) return "";
    var v = params[name];
    return typeof v === "string" ? v : JSON.stringify(v);
  });
  define("Params", function () { return JSON.parse(JSON.stringify(params)); });
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
    get: mark(function () { return host("halted"); }, "HaltSignalReceived"),
  });
  define("Sleep", function (ms) { return waitUntil(host("deadline", ms)); });
  define("WaitForHaltSignal", function () { return waitUntil(null); });
  passThrough(["GetSecret"]);

  // ---- constants --------------------------------------------------------------------
  var constants = {
    LIST_ALL: 0, LIST_FILES: 1, LIST_DIRS: 2,
    NeverOverwrite: 0, AlwaysOverwrite: 1, OverwriteIfDiffSize: 2, OverwriteIfNewer: 3,
    TLS_MODE_NONE: "none", TLS_MODE_EXPLICIT: "explicit", TLS_MODE_IMPLICIT: "implicit",
    EVT_CREATE: "CREATE", EVT_WRITE: "WRITE", EVT_REMOVE: "REMOVE", EVT_RENAME: "RENAME",
    EVT_CHMOD: "CHMOD",
    VfsTypeDisk: "Disk", VfsTypeSFTP: "SFTP", VfsTypeFTP: "FTP", VfsTypeS3: "S3",
    VfsTypeAzure: "Azure", VfsTypeGCS: "GCP",
    SortByName: "name", SortByNameDirsFirst: "namedf", SortBySize: "size", SortByTime: "time",
    SortAsc: "asc", SortDesc: "desc",
    FromStart: 0, FromCurrent: 1, FromEnd: 2,
  };
  Object.keys(constants).forEach(function (k) { define(k, constants[k]); });

  // ---- local-file helpers -------------------------------------------------------------
  passThrough([
    "FileExists", "DirExists", "ReadTextFile", "WriteTextFile", "CopyFile", "MoveFile",
    "DelFile", "ListLocal", "Zip", "Unzip", "Exec",
  ]);
})(globalThis);
