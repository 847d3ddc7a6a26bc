// Job params typed as JSON (params.js).
import assert from "node:assert/strict";
import test from "node:test";

import { FieldErrors } from "../../aft/server/static/js/errors.js";
import { fieldNames, fieldsParams, fieldText, paramNames, paramsText, parseParams } from "../../aft/server/static/js/params.js";

const problem = (text) => {
  try {
    parseParams(text);
  } catch (error) {
    assert.ok(error instanceof FieldErrors);
    return error.problems.params;
  }
  assert.fail(`no problem with ${text}`);
};

test("no text is no params", () => {
  assert.deepEqual(parseParams(""), {});
  assert.deepEqual(parseParams("  \n"), {});
});

test("a flat object of plain values", () => {
  assert.deepEqual(parseParams('{"who": "world", "n": 3, "on": true, "none": null}'), { who: "world", n: 3, on: true, none: null });
});

test("lone backslashes are kept as typed (Windows paths)", () => {
  assert.deepEqual(parseParams('{"destination": "D:\\Archive\\2026"}'), { destination: "D:\\Archive\\2026" });
  assert.deepEqual(parseParams('{"share": "\\\\nas\\backup"}'), { share: "\\nas\\backup" });
});

test("JSON's own escapes still mean what they say", () => {
  assert.deepEqual(parseParams('{"q": "say \\"hi\\"", "e": "caf\\u00e9", "s": "a\\/b"}'), { q: 'say "hi"', e: "café", s: "a/b" });
});

test("what is not a flat JSON object is a problem of the params field", () => {
  assert.match(problem("{who: 1}"), /^Params are not valid JSON: /);
  assert.equal(problem("[1, 2]"), 'Params must be a JSON object, like {"name": "value"}');
  assert.equal(problem("null"), 'Params must be a JSON object, like {"name": "value"}');
  assert.equal(problem('"text"'), 'Params must be a JSON object, like {"name": "value"}');
  assert.equal(problem('{"a": {"b": 1}}'), 'Params must be flat: "a" holds an object or array');
  assert.equal(problem('{"a": [1]}'), 'Params must be flat: "a" holds an object or array');
});

test("the params a script reads are found in its source, once each, in order", () => {
  const source = 'var d = Param("destination");\nvar w = Params(\'who\') + Param( "destination" );\nParams();\nParam(name);\nmyParam("no");';
  assert.deepEqual(paramNames(source), ["destination", "who"]);
  assert.deepEqual(paramNames('Log("x")'), []);
});

test("a past job's params are shown again as JSON, none as empty", () => {
  assert.equal(paramsText({}), "");
  assert.equal(paramsText(null), "");
  assert.equal(paramsText({ who: "world" }), '{\n  "who": "world"\n}');
});

test("the fields are the params the script reads, then a past job's others", () => {
  assert.deepEqual(fieldNames(["a", "b"], {}), ["a", "b"]);
  assert.deepEqual(fieldNames(["a", "b"], { c: 1, b: "x" }), ["a", "b", "c"]);
  assert.deepEqual(fieldNames([], null), []);
});

test("a field shows what Param gives the script", () => {
  assert.equal(fieldText("D:\\Archive"), "D:\\Archive");
  assert.equal(fieldText(3), "3");
  assert.equal(fieldText(true), "true");
  assert.equal(fieldText(null), "null");
});

test("fields become params: empty ones left out, untouched typed values kept", () => {
  assert.deepEqual(fieldsParams({ a: "x", b: "" }), { a: "x" });
  assert.deepEqual(fieldsParams({ n: "3", on: "true", none: "null" }, { n: 3, on: true, none: null }), { n: 3, on: true, none: null });
  assert.deepEqual(fieldsParams({ n: "4" }, { n: 3 }), { n: "4" });
  assert.deepEqual(fieldsParams({ s: "3" }, { s: "3" }), { s: "3" });
});

test("params survive fields and back: JSON -> fields -> JSON", () => {
  const params = { who: "world", n: 3, path: "D:\\Archive\\2026" };
  const texts = Object.fromEntries(fieldNames(["who"], params).map((name) => [name, fieldText(params[name])]));
  assert.deepEqual(fieldsParams(texts, params), params);
  assert.deepEqual(parseParams(paramsText(fieldsParams(texts, params))), params);
});
