// The script source editor: CodeMirror 5 (shipped in static/vendor/codemirror, loaded on first
// use) with JavaScript highlighting, line numbers, the caret's place and Tab indenting.
import { clear, h } from "./dom.js";
import { nextId } from "./forms.js";

const VENDOR = "../vendor/codemirror/";

// The script line a message of the service points at ("line 3: SyntaxError: ..."), or null.
export function lineOf(message) {
  const found = /^line (\d+):/i.exec(message || "");
  return found ? Number(found[1]) : null;
}

// The status line's words for the caret at line and column (both from 1) of lines lines.
export function placeText(line, column, lines) {
  return [`Ln ${line}, Col ${column}`, "Esc, Tab: leave the editor", `${lines} line${lines === 1 ? "" : "s"}`];
}

let loaded = null;

// CodeMirror with its JavaScript mode, loaded once (its files are classic scripts that set
// globalThis.CodeMirror); its stylesheet and ours join the page's head.
export function loadCodeMirror() {
  if (!loaded) {
    loaded = (async () => {
      const url = (path) => new URL(path, import.meta.url).href;
      for (const sheet of [`${VENDOR}lib/codemirror.css`, "../code-editor.css"]) {
        document.head.append(h("link", { rel: "stylesheet", href: url(sheet) }));
      }
      await import(url(`${VENDOR}lib/codemirror.js`));
      await Promise.all([import(url(`${VENDOR}mode/javascript/javascript.js`)), import(url(`${VENDOR}addon/edit/matchbrackets.js`))]);
      return globalThis.CodeMirror;
    })();
  }
  return loaded;
}

// Tab indents (the selected lines, or two spaces at the caret); Shift-Tab takes it back.
const INDENT = {
  Tab: (cm) => (cm.somethingSelected() ? cm.indentSelection("add") : cm.execCommand("insertSoftTab")),
  "Shift-Tab": (cm) => cm.indentSelection("subtract"),
};
// Right after Esc, Tab and Shift-Tab are the browser's again (false: not handled), so the
// keyboard can leave the editor; any other key gives them back to indenting.
const LEAVE = { Tab: false, "Shift-Tab": false };

function leaveByKeyboard(cm) {
  cm.on("keydown", (_, event) => {
    if (event.key === "Escape") cm.setOption("extraKeys", LEAVE);
    else if (!["Tab", "Shift"].includes(event.key)) cm.setOption("extraKeys", INDENT);
  });
}

// The field (data-field=name) holding value: a textarea named name, which a CodeMirror editor
// replaces once loaded and keeps in step (each change also fires "input" on it). .input is
// what to focus; .ready resolves to the CodeMirror instance; .goToLine(n) selects line n,
// scrolls to it and marks its number until the next change.
export function codeEditor(name, value, label) {
  const id = nextId(name);
  const area = h("textarea", { name, id, spellcheck: "false", autocomplete: "off", autocapitalize: "off", wrap: "off", value, "aria-label": label });
  const status = h("div", { class: "code-status" });
  const box = h("div", { class: "code" }, area);
  const wrap = h("div", { class: "field", "data-field": name }, h("label", { htmlFor: id }, label), box, status);
  wrap.input = area;
  wrap.ready = loadCodeMirror().then((CodeMirror) => {
    const cm = CodeMirror((editor) => box.replaceChildren(editor, area), {
      value: area.value, mode: "javascript", lineNumbers: true, indentUnit: 2, tabSize: 2, matchBrackets: true,
      extraKeys: INDENT, screenReaderLabel: label,
    });
    leaveByKeyboard(cm);
    area.hidden = true;
    area.removeAttribute("id");
    const input = cm.getInputField();
    input.id = id;
    wrap.input = input;
    let marked = null;
    const show = () => {
      const { line, ch } = cm.getCursor();
      clear(status, placeText(line + 1, ch + 1, cm.lineCount()).map((text) => h("span", null, text)));
    };
    cm.on("cursorActivity", show);
    cm.on("change", () => {
      if (marked !== null) cm.removeLineClass(marked, "gutter", "marked");
      marked = null;
      area.value = cm.getValue();
      area.dispatchEvent(new Event("input", { bubbles: true }));
    });
    wrap.goToLine = (n) => {
      const line = Math.min(Math.max(n, 1), cm.lineCount()) - 1;
      if (marked !== null) cm.removeLineClass(marked, "gutter", "marked");
      marked = cm.addLineClass(line, "gutter", "marked");
      cm.focus();
      cm.setSelection({ line, ch: cm.getLine(line).length }, { line, ch: 0 });
      cm.scrollIntoView({ line, ch: 0 }, 60);
    };
    show();
    return cm;
  });
  wrap.goToLine = (n) => wrap.ready.then(() => wrap.goToLine(n));
  return wrap;
}
