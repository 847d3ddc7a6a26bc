// The VFS form's logic from a type's schema (vfs-form.js); the schema is shaped as
// GET /v1/vfs/types serves it (tests/test_console_js.py feeds in the real ones too).
import assert from "node:assert/strict";
import test from "node:test";

import { FieldErrors } from "../../aft/server/static/js/errors.js";
import {
  acceptedTarget, addressProblems, filledIn, formValues, guessVfsField, saveCall, splitAdvanced, startValue, testCall, vfsFieldOptions,
} from "../../aft/server/static/js/vfs-form.js";

const FIELD = { name: "", label: "", part: "query", kind: "text", required: false, default: "", initial: "", help: "", placeholder: "", choices: [], secret: false, advanced: false, about: "", action: "" };
const f = (props) => ({ ...FIELD, ...props });

const SFTP = {
  type: "SFTP",
  target: [
    f({ name: "host", label: "Host", part: "host", kind: "host", required: true, placeholder: "sftp.example.com" }),
    f({ name: "port", label: "Port", part: "port", kind: "port", initial: "22" }),
    f({ name: "path", label: "Base folder", part: "path", kind: "path", default: "/", initial: "/" }),
    f({ name: "hostKeySHA256", label: "Host key (SHA-256)", about: "host key|fingerprint|hostKey", action: "hostkey" }),
    f({ name: "hostKeyMD5", label: "Host key (MD5)", advanced: true }),
    f({ name: "compress", label: "Compress", kind: "flag", default: "false", initial: "false", advanced: true }),
  ],
  payload: [
    f({ name: "password", label: "Password", secret: true, about: "password|authentication" }),
    f({ name: "privateKey", label: "Private key", kind: "multiline", secret: true }),
  ],
};

test("each kind of field gets its control", () => {
  assert.deepEqual(vfsFieldOptions(f({ name: "host", label: "Host", kind: "host", required: true, help: "Its name", placeholder: "sftp.example.com" }), "h"), {
    name: "host", label: "Host", hint: "Its name", placeholder: "sftp.example.com", value: "h", optional: false, mono: false,
  });
  const choice = vfsFieldOptions(f({ name: "tls", kind: "choice", choices: [["explicit", "Explicit"], ["implicit", "Implicit"]] }), "implicit");
  assert.equal(choice.type, "select");
  assert.deepEqual(choice.options, [["explicit", "Explicit"], ["implicit", "Implicit"]]);
  const flag = vfsFieldOptions(f({ name: "passive", kind: "flag" }), "true");
  assert.equal(flag.type, "checkbox");
  assert.equal(flag.value, true);
  assert.equal(flag.optional, false);
  assert.equal(vfsFieldOptions(f({ name: "passive", kind: "flag" }), "false").value, false);
  const json = vfsFieldOptions(f({ name: "credentials", kind: "json", secret: true }), "");
  assert.equal(json.type, "textarea");
  assert.equal(json.rows, 4);
  assert.equal(json.mono, true);
  const secret = vfsFieldOptions(f({ name: "password", secret: true }), "");
  assert.equal(secret.type, "password");
  assert.equal(secret.autocomplete, "new-password");
  assert.equal(vfsFieldOptions(f({ name: "port", kind: "port" }), "22").inputmode, "numeric");
  assert.equal(vfsFieldOptions(f({ name: "path", kind: "path" }), "/").mono, true);
  assert.equal(vfsFieldOptions(f({ name: "x" }), "").placeholder, null);
  assert.equal(vfsFieldOptions(f({ name: "x" }), "").optional, true);
});

test("extra options win over the schema's", () => {
  const options = vfsFieldOptions(f({ name: "password", secret: true, placeholder: "hunter2" }), "", { placeholder: "unchanged" });
  assert.equal(options.placeholder, "unchanged");
  const withAddon = vfsFieldOptions(SFTP.target[3], "", { addon: "Fetch" });
  assert.equal(withAddon.addon, "Fetch");
});

test("a field starts with the profile's value, else the schema's initial one", () => {
  const port = SFTP.target[1];
  assert.equal(startValue(port, null, "SFTP"), "22");
  const profile = { type: "SFTP", fields: { port: "2222", path: "" } };
  assert.equal(startValue(port, profile, "SFTP"), "2222");
  assert.equal(startValue(SFTP.target[2], profile, "SFTP"), "");  // saved empty stays empty
  assert.equal(startValue(port, profile, "FTP"), "22");  // another type starts afresh
  assert.equal(startValue(port, { type: "SFTP", fields: null }, "SFTP"), "22");  // unreadable target
});

test("advanced fields are set apart, in order", () => {
  const { basic, more } = splitAdvanced(SFTP.target);
  assert.deepEqual(basic.map((x) => x.name), ["host", "port", "path", "hostKeySHA256"]);
  assert.deepEqual(more.map((x) => x.name), ["hostKeyMD5", "compress"]);
});

test("the form's values are strings; a checkbox says true or false", () => {
  const elements = {
    host: { type: "text", value: "sftp.example.com" },
    port: { type: "text", value: "" },
    compress: { type: "checkbox", checked: true, value: "on" },
  };
  assert.deepEqual(formValues(SFTP.target, (name) => elements[name] || null), {
    host: "sftp.example.com", port: "", path: "", hostKeySHA256: "", hostKeyMD5: "", compress: "true",
  });
});

test("only filled-in credentials are sent", () => {
  assert.deepEqual(filledIn({ password: "", privateKey: "KEY" }), { privateKey: "KEY" });
  assert.deepEqual(filledIn({ password: "" }), {});
});

test("the target is accepted only when nothing is wrong", () => {
  assert.equal(acceptedTarget({ target: "sftp://u@h/", errors: {} }, {}), "sftp://u@h/");
  assert.throws(() => acceptedTarget({ target: "sftp://h/", errors: { user: "User is required" } }, { name: "Enter a name" }),
    (error) => error instanceof FieldErrors && JSON.stringify(error.problems) === JSON.stringify({ name: "Enter a name", user: "User is required" }));
});

test("a new profile is tested as typed", () => {
  const call = testCall({ profile: null, type: "SFTP", target: "sftp://u@h/", fields: {}, payload: { password: "p" } });
  assert.deepEqual(call, ["POST", "/v1/vfs/test", { type: "SFTP", target: "sftp://u@h/", payload: { password: "p" } }]);
});

test("a saved profile without new credentials tests with the stored ones, a changed target too", () => {
  const profile = { name: "Off site/1", type: "SFTP", target: "sftp://u@h/", fields: { host: "h", user: "u" } };
  assert.deepEqual(testCall({ profile, type: "SFTP", target: "sftp://u@h/", fields: { host: "x" }, payload: {} }),
    ["POST", "/v1/vfs/Off%20site%2F1/test", undefined]);
  assert.deepEqual(testCall({ profile, type: "SFTP", target: "sftp://u@h:22/", fields: { host: "h", user: "u" }, payload: {} })[1],
    "/v1/vfs/Off%20site%2F1/test");
  assert.deepEqual(testCall({ profile, type: "SFTP", target: "sftp://u@other/", fields: { host: "other", user: "u" }, payload: {} }),
    ["POST", "/v1/vfs/Off%20site%2F1/test", { target: "sftp://u@other/" }]);
  assert.equal(testCall({ profile, type: "SFTP", target: "sftp://u@other/", fields: {}, payload: { password: "p" } })[1], "/v1/vfs/test");
});

test("a changed profile of a type without credentials is tested as typed", () => {
  const profile = { name: "Out", type: "Disk", target: "/srv/out", fields: { root: "/srv/out" } };
  assert.deepEqual(testCall({ profile, type: "Disk", target: "/srv/new", fields: { root: "/srv/new" }, payload: {}, credentials: false }),
    ["POST", "/v1/vfs/test", { type: "Disk", target: "/srv/new", payload: {} }]);
});

test("saving: a new profile is posted; a stored one keeps its credentials unless new ones are typed", () => {
  assert.deepEqual(saveCall({ profile: null, name: " Backups ", type: "Disk", target: "file:///srv", payload: {} }),
    ["POST", "/v1/vfs", { name: "Backups", type: "Disk", target: "file:///srv", payload: {} }]);
  const profile = { name: "Off site", type: "SFTP" };
  assert.deepEqual(saveCall({ profile, name: "Off site", type: "SFTP", target: "sftp://u@h/", payload: {} }),
    ["PUT", "/v1/vfs/Off%20site", { type: "SFTP", target: "sftp://u@h/" }]);
  assert.deepEqual(saveCall({ profile, name: "Off site", type: "SFTP", target: "sftp://u@h/", payload: { password: "p" } })[2],
    { type: "SFTP", target: "sftp://u@h/", payload: { password: "p" } });
});

test("a message goes to the field its schema says it is about, first", () => {
  assert.equal(guessVfsField(SFTP, "the server presents another HOST KEY"), "hostKeySHA256");
  assert.equal(guessVfsField(SFTP, "authentication failed for user u"), "password");
});

test("else to the form's part the message names, or to the form's top", () => {
  assert.equal(guessVfsField(SFTP, "the credentials are not valid"), "_payload");
  assert.equal(guessVfsField(SFTP, "a VFS named Backups exists"), "name");
  assert.equal(guessVfsField(SFTP, "unknown type Gopher"), "type");
  assert.equal(guessVfsField(SFTP, "cannot connect to h:22"), "_target");
  assert.equal(guessVfsField(SFTP, "this looks like an FTP URL"), "_target");
  assert.equal(guessVfsField(SFTP, "something broke"), null);
});

test("a host key is fetched only once the host and port are right", () => {
  const errors = { host: "Host is a name or address", hostKeySHA256: "must pin", path: "absolute" };
  assert.deepEqual(addressProblems(SFTP, errors), { host: "Host is a name or address" });
  assert.deepEqual(addressProblems(SFTP, { port: "Port is a number" }), { port: "Port is a number" });
  assert.deepEqual(addressProblems(SFTP, { hostKeySHA256: "must pin" }), {});
});
