// GetVFS, VirtualFS and the remote clients: thin faces over aft/syncjs/vfs_host.py.
// Each object holds an opaque handle; file bytes pass through JS only as the data of
// ReadFileAs* / WriteFileAs*.
(function (g) {
  "use strict";
  var aft = g.__aft, host = aft.host, mark = aft.mark, slice = Array.prototype.slice;

  var hidden = mark(function (obj, name, value) {
    Object.defineProperty(obj, name, { value: value, writable: true });
  }, "hidden");

  // Define each name on `proto` as the function `make(name)` returns.
  var methods = mark(function (proto, names, make) {
    names.forEach(function (n) { proto[n] = mark(make(n), n); });
  }, "methods");

  // ---- response objects -------------------------------------------------------------
  var FALLBACK = { Ok: false, ErrorMsg: "", Info: null, Size: 0, Data: null };
  var KEYS = { Ok: "ok", ErrorMsg: "error" };
  var Response = mark(function (r) { hidden(this, "_r", r); }, "Response");
  methods(Response.prototype, ["Ok", "ErrorMsg", "Info", "Infos", "Size", "Data"], function (n) {
    var key = KEYS[n] || n;
    return function () {
      if (key in this._r) return this._r[key];
      return n === "Infos" ? [] : FALLBACK[n];
    };
  });

  // ---- VirtualFS --------------------------------------------------------------------
  var wrap = mark(function (h) {
    var v = Object.create(VirtualFS.prototype);
    hidden(v, "_h", h);
    return v;
  }, "wrap");

  // new VirtualFS(name) or new VirtualFS(type, target, payload). A constructor cannot
  // give null: a library entry that is missing gives a VirtualFS whose calls all fail.
  function VirtualFS(nameOrType, target, payload) {
    if (arguments.length <= 1) return wrap(host("vfs.get", nameOrType));
    return wrap(host("vfs.new", nameOrType, target, payload === undefined ? null : payload));
  }
  aft.define("VirtualFS", VirtualFS);
  aft.define("GetVFS", function (name) {
    var h = host("vfs.get", name);
    return h === null ? null : wrap(h);
  });

  methods(VirtualFS.prototype, [
    "Stat", "Lstat", "ReadDir", "Mkdir", "MkdirAll", "Rmdir", "Rename", "Remove", "RemoveAll",
    "TreeSize", "Chmod", "Chtimes", "Truncate", "Symlink", "ReadFileAsText", "ReadFileAsHex",
    "ReadFileAsBytes", "WriteFileAsText", "WriteFileAsHex", "WriteFileAsBytes", "ImportFile",
    "ExportFile",
  ], function (n) {
    return function () {
      return new Response(host.apply(null, ["vfs.call", this._h, n].concat(slice.call(arguments))));
    };
  });
  methods(VirtualFS.prototype, ["CopyToVFS", "MoveToVFS"], function (n) {
    return function (srcPath, dstVfs, dstPath) {
      if (!(dstVfs instanceof VirtualFS)) {
        throw new TypeError(n + "(srcPath, dstVfs, dstPath): dstVfs must be a VirtualFS");
      }
      return new Response(host("vfs.call", this._h, n, srcPath, dstVfs._h, dstPath));
    };
  });

  // ---- remote clients -----------------------------------------------------------------
  // Connection fields and Options are plain properties; Python reads them at each call.
  var Client = mark(function (kind) {
    var init = host("client.new", kind);
    hidden(this, "_kind", kind);
    hidden(this, "_h", null);
    Object.assign(this, init.fields);
    this.Options = init.options;
  }, "Client");

  var fields = mark(function (client) {
    var f = {};
    Object.keys(client).forEach(mark(function (k) { if (k !== "Options") f[k] = client[k]; }, "field"));
    return f;
  }, "fields");

  Client.prototype.Configure = mark(function (url, payload) {
    var r = host("client.configure", this._kind, url, payload === undefined ? null : payload);
    Object.assign(this, r.fields);
    Object.assign(this.Options, r.options);
    return this;
  }, "Configure");
  Client.prototype.Connect = mark(function () {
    this._h = host("client.connect", this._kind, fields(this), this._h);
    return this._h !== null;
  }, "Connect");
  Client.prototype.Close = mark(function () {
    var ok = host("client.close", this._h);
    this._h = null;
    return ok;
  }, "Close");
  methods(Client.prototype, [
    "ListDir", "ListDirR", "ListFiles", "ListFilesR", "MakeDir", "RenDir", "DelDir", "DelTree",
    "DelFile", "RenFile", "Upload", "Download", "Stat",
  ], function (n) {
    return function () {
      var args = ["client.call", this._h, n, this.Options].concat(slice.call(arguments));
      return host.apply(null, args);
    };
  });

  var KINDS = {
    SftpClient: "SFTP", FtpsClient: "FTP", S3Client: "S3", AzureClient: "Azure", GCSClient: "GCP",
  };
  Object.keys(KINDS).forEach(function (name) {
    var C = function () { Client.call(this, KINDS[name]); };
    C.prototype = Object.create(Client.prototype, { constructor: { value: C } });
    aft.define(name, C);
  });
})(globalThis);
