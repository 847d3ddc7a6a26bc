// The navigation, the theme order and the code editor's caret (shell.js, theme-switch.js,
// code-editor.js).
import assert from "node:assert/strict";
import test from "node:test";

import { caretPlace, lineOf, lineRange } from "../../aft/server/static/js/code-editor.js";
import { ICON_NAMES } from "../../aft/server/static/js/icons.js";
import { NAV } from "../../aft/server/static/js/shell.js";
import { nextTheme, THEMES } from "../../aft/server/static/js/theme-switch.js";

test("every page in the navigation has its icon", () => {
  for (const [path] of NAV) assert.ok(ICON_NAMES.includes(path), path);
});

test("the theme button goes system, light, dark and round again", () => {
  assert.deepEqual(THEMES.map(nextTheme), ["light", "dark", "system"]);
  assert.equal(nextTheme("unknown"), "system");
});

test("the caret's line and column count from 1", () => {
  const text = "var a = 1;\nLog(a);\n";
  assert.deepEqual(caretPlace(text, 0), { line: 1, column: 1, lines: 3 });
  assert.deepEqual(caretPlace(text, 4), { line: 1, column: 5, lines: 3 });
  assert.deepEqual(caretPlace(text, 11), { line: 2, column: 1, lines: 3 });
  assert.deepEqual(caretPlace(text, text.length), { line: 3, column: 1, lines: 3 });
  assert.deepEqual(caretPlace("", 0), { line: 1, column: 1, lines: 1 });
});

test("the editor finds a line to mark, and the line a message points at", () => {
  const text = "var a;\nvar bb = ;\nLog(a);";
  assert.deepEqual(lineRange(text, 1), [0, 6]);
  assert.deepEqual(lineRange(text, 2), [7, 17]);
  assert.deepEqual(lineRange(text, 9), [18, 25]);  // past the end: the last line
  assert.equal(lineOf("line 2: SyntaxError: unexpected token in expression: ';'"), 2);
  assert.equal(lineOf("Line 12: x"), 12);
  assert.equal(lineOf("a name exists: line 2"), null);
  assert.equal(lineOf(undefined), null);
});
