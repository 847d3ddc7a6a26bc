// FsWatcher and RemoteWatcher: thin faces over aft/syncjs/watchers.py. Settings are plain
// properties, read by Python at Start(); events reach the callback on the script thread,
// while the script waits in Sleep() or WaitForHaltSignal() (see runtime.js).
(function (g) {
  "use strict";
  var aft = g.__aft, host = aft.host, mark = aft.mark;

  var hidden = mark(function (obj, name, value) {
    Object.defineProperty(obj, name, { value: value, writable: true });
  }, "hidden");

  var SETTINGS = [
    "InclusionFilter", "ExclusionFilter", "DelayBySeconds", "NotifyCreate", "NotifyWrite",
    "NotifyRemove", "NotifyRename", "NotifyChmod", "PollSeconds",
  ];

  var init = mark(function (w, kind, vfsName) {
    hidden(w, "_kind", kind);
    hidden(w, "_vfs", vfsName);
    hidden(w, "_dirs", []);
    hidden(w, "_n", null);
    w.InclusionFilter = [];
    w.ExclusionFilter = [];
    w.DelayBySeconds = 0;
    w.NotifyCreate = true;
    w.NotifyWrite = true;
    w.NotifyRemove = true;
    w.NotifyRename = true;
    w.NotifyChmod = true;
  }, "init");

  var Watcher = {
    WatchDir: function (path, recursive) {
      var what = this.constructor.name.replace(/^aft:/, "") + ".WatchDir(path, recursive): ";
      if (typeof path !== "string") throw new TypeError(what + "path must be a string");
      if (recursive === undefined) recursive = false;
      if (typeof recursive !== "boolean") throw new TypeError(what + "recursive must be a boolean");
      this._dirs.push([path, recursive]);
    },
    Start: function (callback) {
      var what = this.constructor.name.replace(/^aft:/, "");
      if (typeof callback !== "function") {
        host("log", "warn", what + ".Start: no callback given, so nothing is watched");
        return false;
      }
      if (this._n !== null) {
        host("log", "warn", what + ".Start: already started");
        return false;
      }
      var config = { dirs: this._dirs.slice() }, self = this;
      SETTINGS.forEach(mark(function (k) { if (k in self) config[k] = self[k]; }, "setting"));
      var n = host("watch.start", this._kind, this._vfs, config);
      if (n === null) return false;
      this._n = n;
      aft.listen(n, this, callback);
      return true;
    },
    Stop: function () {
      if (this._n === null) return false;
      aft.unlisten(this._n);
      var n = this._n;
      this._n = null;
      return host("watch.stop", n);
    },
  };

  function FsWatcher() { init(this, "fs", null); }
  function RemoteWatcher(vfsName) {
    if (typeof vfsName !== "string") {
      throw new TypeError("new RemoteWatcher(vfsName): vfsName must be a string");
    }
    init(this, "remote", vfsName);
    this.PollSeconds = 30;
  }
  [FsWatcher, RemoteWatcher].forEach(function (C) {
    Object.keys(Watcher).forEach(function (m) {
      C.prototype[m] = mark(Watcher[m], m);
    });
    aft.define(C.name, C);
  });
})(globalThis);
