// GetVFS, VirtualFS and the remote clients: thin faces over aft/syncjs/vfs_host.py. Each
// object holds an opaque handle; file bytes pass through JS only as the data of
// ReadFileAs* / WriteFileAs*. Their methods are the ones Python declares (see runtime.js).
(function (g) {
  "use strict";
  var aft = g.__aft, api = aft.api, host = aft.host, mark = aft.mark;

  var hidden = mark(function (obj, name, value) {
    Object.defineProperty(obj, name, { value: value, writable: true });
  }, "hidden");

  // ---- response objects: one method per key of api.response ---------------------------
  var Response = mark(function (r) {
    hidden(this, "_r", r);
    return aft.guard(this, "VirtualFS response");
  }, "Response");
  Object.keys(api.response).forEach(function (n) {
    Response.prototype[n] = mark(function () {
      return n in this._r ? this._r[n] : aft.copy(api.response[n]);
    }, n);
  });

  // ---- VirtualFS --------------------------------------------------------------------
  var wrap = mark(function (h) {
    var v = Object.create(VirtualFS.prototype);
    hidden(v, "_h", h);
    hidden(v, "_ref", { "class": "VirtualFS", handle: h }); // when passed to a host function
    return aft.guard(v, "VirtualFS");
  }, "wrap");

  // new VirtualFS(name) or new VirtualFS(type, target, payload). A constructor cannot
  // give null: a library entry that is missing gives a VirtualFS whose calls all fail.
  function VirtualFS(nameOrType, target, payload) {
    if (arguments.length <= 1) return wrap(host("GetVFS", nameOrType));
    return wrap(host("new VirtualFS", nameOrType, target, payload));
  }
  aft.define("VirtualFS", VirtualFS);
  aft.define("GetVFS", function (name) {
    var h = host("GetVFS", name);
    return h === null ? null : wrap(h);
  });
  aft.methods(VirtualFS.prototype, "VirtualFS", function (v) { return v._h; }, function (r) {
    return new Response(r);
  });

  // ---- remote clients -----------------------------------------------------------------
  // Connection fields and Options are plain properties, sent with each call (the state).
  // Options take the names the original product documents; one aft does not honour is
  // refused when a transfer uses it (see aft/syncjs/transfer_policy.py).
  var Client = mark(function (name) {
    hidden(this, "_h", host("new Client", name));
    Object.assign(this, aft.copy(api.defaults[name]));
    this.Options = aft.guard(aft.copy(api.defaults.Options), name + ".Options", api.optionNames);
  }, "Client");
  var receiver = mark(function (c) { return { handle: c._h, state: Object.assign({}, c) }; },
    "receiver");
  aft.methods(Client.prototype, "Client", receiver);
  Client.prototype.Configure = mark(function (url, payload) {
    var r = host("Client.Configure", receiver(this), url, payload);
    Object.assign(this, r.fields);
    Object.assign(this.Options, r.options);
    return this;
  }, "Configure");

  api.clients.forEach(function (name) {
    var C = function () {
      Client.call(this, name);
      return aft.guard(this, name);
    };
    C.prototype = Object.create(Client.prototype, { constructor: { value: C } });
    aft.define(name, C);
  });
})(globalThis);
