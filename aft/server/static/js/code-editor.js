// The script source editor: a textarea with line numbers, the caret's place, Tab indenting.
import { clear, h } from "./dom.js";
import { nextId } from "./forms.js";

// The caret's line and column in text (both from 1), and how many lines text has.
export function caretPlace(text, caret) {
  const before = text.slice(0, caret).split("\n");
  return { line: before.length, column: before[before.length - 1].length + 1, lines: text.split("\n").length };
}

// Where line (from 1) of text starts and ends, as offsets; the last line when text is shorter.
export function lineRange(text, line) {
  const lines = text.split("\n");
  const index = Math.min(Math.max(line, 1), lines.length) - 1;
  const start = lines.slice(0, index).reduce((sum, l) => sum + l.length + 1, 0);
  return [start, start + lines[index].length];
}

// The script line a message of the service points at ("line 3: SyntaxError: ..."), or null.
export function lineOf(message) {
  const found = /^line (\d+):/i.exec(message || "");
  return found ? Number(found[1]) : null;
}

// The field (data-field=name, .input the textarea) holding value; .goToLine(n) selects line
// n, scrolls to it and marks its number.
export function codeEditor(name, value, label) {
  const gutter = h("pre", { class: "gutter", "aria-hidden": "true" });
  const area = h("textarea", { name, id: nextId(name), spellcheck: "false", autocomplete: "off", autocapitalize: "off", wrap: "off", value, "aria-label": label });
  const status = h("div", { class: "code-status" });
  let marked = null;
  const numbers = () => {
    const { line, column, lines } = caretPlace(area.value, area.selectionStart);
    clear(gutter, Array.from({ length: lines }, (_, i) => i + 1 === marked ? h("mark", null, `${i + 1}\n`) : `${i + 1}\n`));
    clear(status, h("span", null, `Ln ${line}, Col ${column}`), h("span", null, `${lines} line${lines === 1 ? "" : "s"}`));
  };
  area.addEventListener("input", numbers);
  area.addEventListener("click", numbers);
  area.addEventListener("keyup", numbers);
  area.addEventListener("scroll", () => { gutter.scrollTop = area.scrollTop; });
  area.addEventListener("keydown", (event) => {
    if (event.key === "Tab" && !event.shiftKey && !event.ctrlKey && !event.metaKey) {
      event.preventDefault();
      area.setRangeText("  ", area.selectionStart, area.selectionEnd, "end");
      area.dispatchEvent(new Event("input"));
    }
  });
  numbers();
  const wrap = h("div", { class: "field", "data-field": name }, h("label", { htmlFor: area.id }, label), h("div", { class: "code" }, gutter, area), status);
  wrap.input = area;
  wrap.goToLine = (line) => {
    const [start, end] = lineRange(area.value, line);
    marked = caretPlace(area.value, start).line;
    area.focus();
    area.setSelectionRange(start, end);
    const height = parseFloat(getComputedStyle(area).lineHeight) || 20;
    area.scrollTop = Math.max(0, (marked - 3) * height);
    numbers();
    gutter.scrollTop = area.scrollTop;
  };
  area.addEventListener("input", () => {
    if (marked === null) return;
    marked = null;
    numbers();
  });
  return wrap;
}
