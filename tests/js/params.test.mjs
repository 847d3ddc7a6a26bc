// Job params typed as JSON (params.js).
import assert from "node:assert/strict";
import test from "node:test";

import { FieldErrors } from "../../aft/server/static/js/errors.js";
import { paramNames, paramsText, parseParams } from "../../aft/server/static/js/params.js";

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
