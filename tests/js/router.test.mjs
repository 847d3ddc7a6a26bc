// The router's reading of the location hash (router.js).
import assert from "node:assert/strict";
import test from "node:test";

import { pageName, pageTitle, parseHash } from "../../aft/server/static/js/router.js";

const PAGES = { dashboard() {}, jobs() {}, scripts() {}, vfs() {} };

test("an empty hash is the dashboard", () => {
  for (const hash of ["", "#", "#/"]) {
    const { parts, query } = parseHash(hash);
    assert.deepEqual(parts, ["dashboard"]);
    assert.equal(query.toString(), "");
  }
});

test("the hash's path gives the page and its parts, decoded", () => {
  assert.deepEqual(parseHash("#/jobs").parts, ["jobs"]);
  assert.deepEqual(parseHash("#jobs").parts, ["jobs"]);
  assert.deepEqual(parseHash("#/scripts/nas%20sweep").parts, ["scripts", "nas sweep"]);
  assert.deepEqual(parseHash("#/vfs/a%2Fb").parts, ["vfs", "a/b"]);
  assert.deepEqual(parseHash("#/scripts//new/").parts, ["scripts", "new"]);
  assert.deepEqual(parseHash("#/scripts/%E2%80%9Cquoted%E2%80%9D").parts, ["scripts", "“quoted”"]);
});

test("the hash's query is read as URL parameters", () => {
  const { parts, query } = parseHash("#/jobs?status=failed&script=Nightly%20copy");
  assert.deepEqual(parts, ["jobs"]);
  assert.equal(query.get("status"), "failed");
  assert.equal(query.get("script"), "Nightly copy");
  assert.equal(query.get("cursor"), null);
});

test("the page is the first part when it names one (none: the dashboard), else not found", () => {
  assert.equal(pageName(["jobs", "j1"], PAGES), "jobs");
  assert.equal(pageName(["nowhere"], PAGES), null);
  assert.equal(pageName([], PAGES), "dashboard");
  assert.equal(pageName(["constructor"], PAGES), null);
  assert.equal(pageName(["__proto__"], PAGES), null);
});

test("a page's title is its navigation label, after the item it shows", () => {
  assert.equal(pageTitle("apikeys"), "API Keys · aft");
  assert.equal(pageTitle("vfs"), "VFS Library · aft");
  assert.equal(pageTitle("jobs", "Nightly backup"), "Nightly backup · Jobs · aft");
  assert.equal(pageTitle(null), "Not found · aft");
});
