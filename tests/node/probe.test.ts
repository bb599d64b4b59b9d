// End-to-end: a client generated from a stack's own catalog, compiled by tsc and run by Node's
// test runner against the running edge (tests/test_codegen_node.py drives it).
import { test } from "node:test";
import assert from "node:assert/strict";
import { type Client, codegenProbe, codegenRefuse } from "../src/generated.js";

const client: Client = { baseUrl: process.env.BLOSSOM_EDGE_URL ?? "" };

test("a RETURNS TABLE call comes back typed, bigint and numeric exact", async () => {
  const result = await codegenProbe(client, { n: "9007199254740993" });
  assert.ok(result.ok, JSON.stringify(result));
  assert.equal(result.data.length, 1);
  const row = result.data[0];
  assert.ok(row);
  assert.equal(row.n_out, "9007199254740993");
  assert.equal(row.doubled, "22517998136852482.5");
  assert.equal(row.label, "x");
  assert.equal(row.small, 7);
});

test("a coded error comes back with its code and status", async () => {
  const result = await codegenRefuse(client, { why: "testing" });
  assert.ok(!result.ok);
  switch (result.error.code) {
    case "probe.refused":
      assert.equal(result.error.status, 403);
      assert.equal(result.error.message, "Refused.");
      break;
    default:
      assert.ok(false, `unexpected ${result.error.rawCode}`);
  }
});

test("an unreachable server is a client.network error, not an exception", async () => {
  const result = await codegenRefuse({ baseUrl: "http://127.0.0.1:1" }, { why: "x" });
  assert.ok(!result.ok);
  assert.equal(result.error.code, "client.network");
});
