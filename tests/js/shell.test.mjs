// The navigation, the theme order and the code editor's status line (shell.js, theme-switch.js,
// code-editor.js).
import assert from "node:assert/strict";
import test from "node:test";

import { lineOf, placeText } from "../../aft/server/static/js/code-editor.js";
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

test("the status line names the caret's place and the count of lines", () => {
  assert.deepEqual(placeText(1, 1, 1), ["Ln 1, Col 1", "Esc, Tab: leave the editor", "1 line"]);
  assert.deepEqual(placeText(3, 12, 40), ["Ln 3, Col 12", "Esc, Tab: leave the editor", "40 lines"]);
});

test("the line a message of the service points at", () => {
  assert.equal(lineOf("line 2: SyntaxError: unexpected token in expression: ';'"), 2);
  assert.equal(lineOf("Line 12: x"), 12);
  assert.equal(lineOf("a name exists: line 2"), null);
  assert.equal(lineOf(undefined), null);
});
