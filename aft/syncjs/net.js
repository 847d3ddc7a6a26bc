// HttpCli: a thin face over aft/syncjs/net_host.py. The request is built here, in a
// hidden plain object (its defaults come from Python) that Do() sends as its receiver.
// SendMail and the PGP helpers are plain host functions (see runtime.js).
(function (g) {
  "use strict";
  var aft = g.__aft, mark = aft.mark;

  var hidden = mark(function (obj, name, value) {
    Object.defineProperty(obj, name, { value: value, writable: true });
  }, "hidden");
  var expect = mark(function (value, type, what) {
    if (typeof value !== type) throw new TypeError(what + " must be a " + type);
  }, "expect");
  var method = mark(function (proto, name, fn) { proto[name] = mark(fn, name); }, "method");

  // ---- the response -------------------------------------------------------------------
  function HttpResponse(r) {
    hidden(this, "_r", r);
    return aft.guard(this, "HttpRes");
  }
  method(HttpResponse.prototype, "IsValid", function () { return this._r.valid; });
  method(HttpResponse.prototype, "Ok", function () {
    return this._r.valid && this._r.status >= 200 && this._r.status <= 299;
  });
  method(HttpResponse.prototype, "StatusCode", function () { return this._r.status; });
  method(HttpResponse.prototype, "BodyAsString", function () { return this._r.body; });
  method(HttpResponse.prototype, "ErrorMsg", function () { return this._r.error; });
  // The value of header `name` (any case); repeated headers joined by ", "; "" if absent.
  method(HttpResponse.prototype, "Header", function (name) {
    expect(name, "string", "Header(name): name");
    var want = name.toLowerCase();
    return this._r.headers.filter(function (h) { return h[0].toLowerCase() === want; })
      .map(function (h) { return h[1]; }).join(", ");
  });
  // Every header as an object keyed by lower-case name (extension).
  method(HttpResponse.prototype, "Headers", function () {
    var all = {};
    this._r.headers.forEach(function (h) {
      var k = h[0].toLowerCase();
      all[k] = k in all ? all[k] + ", " + h[1] : h[1];
    });
    return all;
  });

  // ---- the request ----------------------------------------------------------------------
  // HttpCli() without `new` gives a new one too (the original product's samples use both).
  function HttpCli() {
    if (!(this instanceof HttpCli)) return new HttpCli();
    hidden(this, "_q", aft.copy(aft.api.defaults.HttpCli));
    return aft.guard(this, "HttpCli");
  }
  var proto = HttpCli.prototype;
  method(proto, "Url", function (url) {
    expect(url, "string", "HttpCli.Url(url): url");
    this._q.url = url;
    return this;
  });
  method(proto, "Timeout", function (seconds) {
    expect(seconds, "number", "HttpCli.Timeout(seconds): seconds");
    this._q.timeout = seconds;
    return this;
  });
  // Sets a request header, replacing one of the same name (any case).
  method(proto, "Header", function (name, value) {
    expect(name, "string", "HttpCli.Header(name, value): name");
    expect(value, "string", "HttpCli.Header(name, value): value");
    var lower = name.toLowerCase();
    this._q.headers = this._q.headers.filter(function (h) { return h[0].toLowerCase() !== lower; });
    this._q.headers.push([name, value]);
    return this;
  });
  // Sets "Authorization: Bearer <token>" (the token is masked in the job log).
  method(proto, "Bearer", function (token) {
    expect(token, "string", "HttpCli.Bearer(token): token");
    return this.Header("Authorization", "Bearer " + token);
  });
  method(proto, "ReqBody", function (body) {
    expect(body, "string", "HttpCli.ReqBody(body): body");
    this._q.body = body;
    return this;
  });
  method(proto, "InsecureSkipVerify", function (skip) {
    expect(skip, "boolean", "HttpCli.InsecureSkipVerify(skip): skip");
    this._q.insecure = skip;
    return this;
  });
  aft.methods(proto, "HttpCli", function (c) { return c._q; }, function (r) {
    return new HttpResponse(r);
  });
  // Post, Put and Patch take an optional body (a string, or an object sent as JSON) that
  // replaces ReqBody; Get, Delete and Head take none, so one given to them is refused.
  ["Post", "Put", "Patch"].forEach(function (name) {
    method(proto, name, function (body) {
      if (arguments.length > 1) {
        throw new TypeError("HttpCli." + name + "(body): too many arguments (" + arguments.length + ")");
      }
      if (body !== undefined && body !== null) {
        if (typeof body === "object") {
          this._q.body = JSON.stringify(body);
          var typed = this._q.headers.some(function (h) {
            return h[0].toLowerCase() === "content-type";
          });
          if (!typed) this.Header("Content-Type", "application/json");
        } else {
          expect(body, "string", "HttpCli." + name + "(body): body");
          this._q.body = body;
        }
      }
      return this.Do(name.toUpperCase());
    });
  });
  ["Get", "Delete", "Head"].forEach(function (name) {
    method(proto, name, function () {
      if (arguments.length) {
        throw new TypeError("HttpCli." + name + "() takes no body: set it with ReqBody(body)");
      }
      return this.Do(name.toUpperCase());
    });
  });
  aft.define("HttpCli", HttpCli);
})(globalThis);
