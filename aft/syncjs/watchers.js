// FsWatcher and RemoteWatcher: thin faces over aft/syncjs/watchers.py. Settings are plain
// properties (their defaults come from Python), sent with each call and read at Start();
// events reach the callback on the script thread, while the script waits in Sleep() or
// WaitForHaltSignal() (see runtime.js).
(function (g) {
  "use strict";
  var aft = g.__aft, api = aft.api, host = aft.host, mark = aft.mark;

  var init = mark(function (w, name, handle) {
    Object.defineProperty(w, "_h", { value: handle });
    Object.assign(w, aft.copy(api.defaults[name]));
  }, "init");
  var receiver = mark(function (w) { return { handle: w._h, state: Object.assign({}, w) }; },
    "receiver");

  function FsWatcher() {
    init(this, "FsWatcher", host("new FsWatcher"));
    return aft.guard(this, "FsWatcher");
  }
  function RemoteWatcher(vfsName) {
    init(this, "RemoteWatcher", host("new RemoteWatcher", vfsName));
    return aft.guard(this, "RemoteWatcher");
  }
  [FsWatcher, RemoteWatcher].forEach(function (C) {
    var name = C.name;
    aft.methods(C.prototype, "Watcher", receiver);
    C.prototype.Start = mark(function (callback) {
      if (typeof callback !== "function") {
        host("log", "warn", name + ".Start: no callback given, so nothing is watched");
        return false;
      }
      var started = host("Watcher.Start", receiver(this));
      if (started) aft.listen(this._h, this, callback);
      return started;
    }, "Start");
    C.prototype.Stop = mark(function () {
      aft.unlisten(this._h);
      return host("Watcher.Stop", receiver(this));
    }, "Stop");
    aft.define(name, C);
  });
})(globalThis);
