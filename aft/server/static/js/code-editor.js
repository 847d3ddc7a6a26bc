// The script source editor: a textarea with line numbers, the caret's place, Tab indenting.
import { clear, h } from "./dom.js";
import { nextId } from "./forms.js";

// The caret's line and column in text (both from 1), and how many lines text has.
export function caretPlace(text, caret) {
  const before = text.slice(0, caret).split("\n");
  return { line: before.length, column: before[before.length - 1].length + 1, lines: text.split("\n").length };
}

// The field (data-field=name, .input the textarea) holding value.
export function codeEditor(name, value, label) {
  const gutter = h("pre", { class: "gutter", "aria-hidden": "true" });
  const area = h("textarea", { name, id: nextId(name), spellcheck: "false", autocomplete: "off", autocapitalize: "off", wrap: "off", value, "aria-label": label });
  const status = h("div", { class: "code-status" });
  const numbers = () => {
    const { line, column, lines } = caretPlace(area.value, area.selectionStart);
    gutter.textContent = Array.from({ length: lines }, (_, i) => i + 1).join("\n") + "\n";
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
  return wrap;
}
