// The VFS Library page: the named places to move files between, to test, edit or delete.
import { api, enc } from "../api.js";
import { badge, button, card, emptyState, loading, pageHead, table, when } from "../blocks.js";
import { toast } from "../dialogs.js";
import { clear, h } from "../dom.js";
import { lastTest, rememberTest } from "../vfs-tests.js";
import { deleteVfs, vfsEditor } from "./vfs-editor.js";

export async function vfsPage(main, parts, query, ctx) {
  if (parts[0] === "new") return vfsEditor(main, null, ctx);
  if (parts[0]) return vfsEditor(main, parts[0], ctx);
  const body = h("div", null, loading());
  main.append(pageHead("VFS Library", "Named places to move files between. Credentials are encrypted at rest and never shown again.",
    button("Add VFS", { href: "#/vfs/new", kind: "primary", icon: "plus", need: "admin" })), card(null, null, body));
  const { vfs } = await api("GET", "/v1/vfs");
  if (!ctx.alive()) return;
  const render = () => clear(body, table([
    { label: "Name", primary: true, cell: (p) => h("a", { href: `#/vfs/${enc(p.name)}`, class: "cell-main" }, p.name) },
    { label: "Type", cell: (p) => badge(p.type, "plain plain") },
    { label: "Target", cell: (p) => h("div", { class: "mono truncate", title: p.target }, p.target) },
    { label: "Changed", cell: (p) => when(p.updated) },
    { label: "Last test", cell: (p) => testCell(lastTest(p.name)) },
    { label: "Actions", class: "actions-cell", cell: (p) => h("div", { class: "actions" },
      button("Test", { small: true, need: "admin", aria: `Test ${p.name}`, onclick: (e) => testSaved(p.name, e.currentTarget, render) }),
      button("Edit", { small: true, href: `#/vfs/${enc(p.name)}` }),
      button("Delete", { small: true, kind: "danger", need: "admin", aria: `Delete ${p.name}`, onclick: () => deleteVfs(p.name) })) },
  ], vfs, emptyState("The library is empty", h("span", null, "Add a disk folder, an SFTP or FTP server, or a bucket with ", h("a", { href: "#/vfs/new" }, "Add VFS"), "."))));
  render();
}

// A profile's last test in this browser: its outcome and when, its message on hover.
function testCell(test) {
  if (!test) return h("span", { class: "faint" }, "not tested here");
  return h("div", { title: test.message }, badge(test.ok ? "works" : "failed", test.ok ? "succeeded" : "failed"), " ", when(test.time),
    test.ok ? null : h("div", { class: "cell-sub" }, test.message));
}

async function testSaved(name, btn, render) {
  btn.disabled = true;
  btn.classList.add("busy");
  try {
    const answer = await api("POST", `/v1/vfs/${enc(name)}/test`);
    rememberTest(name, true, answer.message);
    toast(`${name}: ${answer.message}`);
  } catch (error) {
    if (error.status && error.status < 500) rememberTest(name, false, error.message);
    toast(`${name}: ${error.message}`, "error");
  } finally {
    btn.disabled = false;
    btn.classList.remove("busy");
  }
  render();
}
