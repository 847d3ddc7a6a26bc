// Every module under static/js loads in Node (nothing touches the page when imported), and
// every import is relative, without a query, so a page loads one copy of each module.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import test from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";

const STATIC = fileURLToPath(new URL("../../aft/server/static/", import.meta.url));

function scripts(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? scripts(join(dir, entry.name)) : entry.name.endsWith(".js") ? [join(dir, entry.name)] : []);
}

const MODULES = scripts(join(STATIC, "js"));
const IMPORT = /^\s*(?:import|export)\b[^"'`;]*?\bfrom\s*["']([^"']+)["']|^\s*import\s*["']([^"']+)["']/gm;

test("there are modules to check", () => {
  assert.ok(MODULES.length >= 10, MODULES.join(", "));
});

test("Node has no page, so an import that touches one fails", () => {
  assert.equal(typeof document, "undefined");
  assert.equal(typeof window, "undefined");
});

for (const file of MODULES) {
  const name = relative(STATIC, file);

  test(`${name} imports without a page`, async () => {
    await import(pathToFileURL(file).href);
  });

  test(`${name} imports other modules by relative path only`, () => {
    for (const match of readFileSync(file, "utf8").matchAll(IMPORT)) {
      const specifier = match[1] || match[2];
      assert.match(specifier, /^\.\.?\/[^?#]*\.js$/, `${name}: import "${specifier}"`);
      assert.notEqual(join(file, "..", specifier), join(STATIC, "app.js"), `${name} imports the entry module`);
    }
  });
}
