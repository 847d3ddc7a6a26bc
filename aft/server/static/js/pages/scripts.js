// The Scripts page: the stored scripts, to run, edit, clone or delete; #/scripts/NAME edits one.
import { api, enc } from "../api.js";
import { button, card, emptyState, loading, pageHead, table, when } from "../blocks.js";
import { clear, h } from "../dom.js";
import { go } from "../router.js";
import { lastRunCell } from "./jobs.js";
import { cloneDialog, deleteScript, runDialog } from "./script-actions.js";
import { scriptEditor } from "./script-editor.js";

export async function scriptsPage(main, parts, query, ctx) {
  if (parts[0] === "new") return scriptEditor(main, null, ctx);
  if (parts[0]) return scriptEditor(main, parts[0], ctx, Number(query.get("line")) || null);
  const body = h("div", null, loading());
  main.append(pageHead("Scripts", "SyncJS scripts stored in this instance, to run now, on a schedule or through the API.",
    button("New script", { href: "#/scripts/new", kind: "primary", icon: "plus", need: "admin" })), card(null, null, body));
  const { scripts } = await api("GET", "/v1/scripts");
  if (!ctx.alive()) return;
  clear(body, table([
    { label: "Name", primary: true, cell: (s) => h("div", null, h("a", { href: `#/scripts/${enc(s.name)}`, class: "cell-main" }, s.name),
      h("div", { class: "cell-sub mono" }, s.group && s.group !== "default" ? `${s.id} · group ${s.group}` : s.id)) },
    { label: "Retries", cell: (s) => s.retries ? `${s.retries} × after ${s.retryBackoff} s` : "none" },
    { label: "Last run", cell: (s) => lastRunCell(api("GET", `/v1/jobs?script=${enc(s.name)}&limit=1`).then((p) => p.jobs[0] || null)) },
    { label: "Changed", cell: (s) => when(s.updated) },
    { label: "Actions", class: "actions-cell", cell: (s) => h("div", { class: "actions" },
      button("Run", { small: true, kind: "primary", icon: "play", need: "run", aria: `Run ${s.name}`, onclick: () => runDialog(s.name) }),
      button("Edit", { small: true, href: `#/scripts/${enc(s.name)}` }),
      button("Clone", { small: true, need: "admin", aria: `Clone ${s.name}`, onclick: () => cloneDialog(s.name) }),
      button("Delete", { small: true, kind: "danger", need: "admin", aria: `Delete ${s.name}`, onclick: () => deleteScript(s.name, () => go("#/scripts")) })) },
  ], scripts, emptyState("No scripts yet", h("span", null, "Write one with ", h("a", { href: "#/scripts/new" }, "New script"), "."))));
}
