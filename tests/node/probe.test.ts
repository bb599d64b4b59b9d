// End-to-end: a client generated from a stack's own catalog, compiled by tsc and run by Node's
// test runner against the running edge (tests/test_codegen_node.py drives it).
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  BlossomError,
  type Client,
  codegenBigMatrix,
  codegenDoubled,
  codegenFloat,
  codegenFloats,
  codegenLoseConnection,
  codegenMarks,
  codegenMatrix,
  codegenOid,
  codegenProto,
  codegenProbe,
  codegenRefuse,
  codegenSeries,
  codegenSlow,
  orThrow,
} from "../src/generated.js";

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

test("a call sends the function's arguments alone, not whatever else its object holds", async () => {
  // An object of a wider type is a valid argument in TypeScript (a form's state, a row spread
  // with an extra field); the edge refuses any name the function does not take.
  const wider = { n: "9007199254740993", label: "y", checked: true };
  const result = await codegenProbe(client, wider);
  assert.ok(result.ok, JSON.stringify(result));
  assert.deepEqual(
    result.data.map((row) => [row.n_out, row.label]),
    [["9007199254740993", "y"]],
  );
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

test("one OUT argument, and RETURNS TABLE of one column, come back as the rows PostgREST sends", async () => {
  const doubled = await codegenDoubled(client, { n: "4503599627370497.5" });
  assert.ok(doubled.ok, JSON.stringify(doubled));
  assert.deepEqual(doubled.data, { doubled: "9007199254740995.0" });
  const series = await codegenSeries(client, { n: 2 });
  assert.ok(series.ok, JSON.stringify(series));
  assert.deepEqual(series.data, [{ x: "9007199254740993" }, { x: "18014398509481986" }]);
});

test("a numeric NaN or infinity comes back as Postgres writes it, a string like its digits", async () => {
  // to_json quotes what is no JSON number; the type is string, so "NaN" is as good an answer as
  // "12.5" (the client held the call a mismatch, client.unexpected, for a row the server holds).
  for (const n of ["NaN", "Infinity", "-Infinity"]) {
    const doubled = await codegenDoubled(client, { n });
    assert.ok(doubled.ok, JSON.stringify(doubled));
    assert.deepEqual(doubled.data, { doubled: n });
  }
});

test("no decoder's mark reaches the data, whatever the answer holds", async () => {
  const marks = await codegenMarks(client, { n: "12" });
  assert.ok(marks.ok, JSON.stringify(marks));
  assert.deepEqual(marks.data, [{ raw: { n: 12, s: "\u0000n12", t: "\u0000s", "\u0000k": 1 }, big: "12" }]);
  const seen = JSON.stringify(marks.data);
  assert.equal(seen, '[{"raw":{"n":12,"s":"\\u0000n12","t":"\\u0000s","\\u0000k":1},"big":"12"}]');
});

test("an aborted call is client.aborted, not a network error; options add headers", async () => {
  const controller = new AbortController();
  const pending = codegenSlow(client, { seconds: 5 }, { signal: controller.signal, headers: { "X-Probe": "1" } });
  setTimeout(() => controller.abort(), 50);
  const result = await pending;
  assert.ok(!result.ok);
  assert.equal(result.error.code, "client.aborted");
  assert.equal(result.error.status, 0);
});

test("errors carry the answer's headers; orThrow throws a BlossomError", async () => {
  const refused = await codegenRefuse(client, { why: "headers" });
  assert.ok(!refused.ok);
  assert.equal(typeof refused.error.headers["content-type"], "string");
  await assert.rejects(orThrow(codegenRefuse(client, { why: "throw" })), (error: unknown) => {
    assert.ok(error instanceof BlossomError);
    assert.equal(error.error.code, "probe.refused");
    assert.equal(error.error.status, 403);
    return true;
  });
  assert.deepEqual(await orThrow(codegenDoubled(client, { n: "1" })), { doubled: "2" });
});

test("the edge's own refusal on /rpc is a typed code, not client.unexpected", async () => {
  const huge = "x".repeat(1024 * 1024 + 1);
  const result = await codegenProbe(client, { n: "1", label: huge });
  assert.ok(!result.ok);
  assert.equal(result.error.code, "edge.body_too_large");
  assert.equal(result.error.status, 413);
});

test("a database outage is a typed, retryable edge.database_unavailable, not client.unexpected", async () => {
  const result = await codegenLoseConnection(client);
  assert.ok(!result.ok);
  switch (result.error.code) {
    case "edge.database_unavailable":
      assert.equal(result.error.status, 503);
      assert.equal(result.error.headers["retry-after"], "1");
      break;
    default:
      assert.ok(false, `${result.error.code} (${result.error.rawCode}, ${result.error.status})`);
  }
});

test("floats that JSON cannot write (NaN, Infinity) go and come back as themselves", async () => {
  for (const x of [1.5, -0.25, Infinity, -Infinity]) {
    assert.deepEqual(await orThrow(codegenFloat(client, { x })), x);
    assert.deepEqual(await orThrow(codegenFloats(client, { x })), [{ x, y: x }]);
  }
  assert.ok(Number.isNaN(await orThrow(codegenFloat(client, { x: NaN }))));
  const [row] = await orThrow(codegenFloats(client, { x: NaN }));
  assert.ok(row !== undefined && Number.isNaN(row.x) && Number.isNaN(row.y));
});

test("an array answered with two dimensions keeps every digit, and is typed so when a tag says it", async () => {
  const big = "9007199254740993";
  const tagged = await codegenBigMatrix(client, { n: big });
  assert.ok(tagged.ok, JSON.stringify(tagged));
  const rows: (string | null)[][] | null = tagged.data;
  assert.deepEqual(rows, [[big, big], [big, null]]);
  // Untagged, its type says one dimension (Postgres keeps none in the type); the data is exact.
  const untagged = await codegenMatrix(client, { n: big, x: Number.NaN });
  assert.ok(untagged.ok, JSON.stringify(untagged));
  assert.deepEqual(untagged.data as unknown, [{ big: [[big, big], [big, null]], xs: [[Number.NaN], [Number.NaN]] }]);
});

test("an oid comes back as the string PostgREST answers, as it is typed", async () => {
  const result = await codegenOid(client, { o: "4294967295" });
  assert.ok(result.ok, JSON.stringify(result));
  const row = result.data[0];
  assert.ok(row);
  const answered: { o: string | null; os: (string | null)[] | null } = row;
  assert.deepEqual(answered, { o: "4294967295", os: ["4294967295"] });
});

test("a column named __proto__ is decoded as its type says, an own field of the row", async () => {
  const result = await codegenProto(client, { n: "9007199254740993" });
  assert.ok(result.ok, JSON.stringify(result));
  const row = result.data[0];
  assert.ok(row);
  // An object literal's `__proto__:` sets the prototype: the decoder had no such field, and read
  // the column as plain JSON, a number that lost its last digit.
  assert.equal(Object.getOwnPropertyDescriptor(row, "__proto__")?.value, "9007199254740993");
  const missing = await codegenProto(
    {
      baseUrl: "http://blossom.invalid",
      fetch: async () => new Response('[{"label": "x"}]', { status: 200 }),
    },
    { n: "1" },
  );
  assert.ok(!missing.ok, JSON.stringify(missing));
  assert.equal(missing.error.message, "$[0].__proto__: missing");
});

test("an answer of another shape is client.unexpected, checked in the pass that keeps every digit", async () => {
  const answering = (body: string): Client => ({
    baseUrl: "http://blossom.invalid",
    fetch: async () => new Response(body, { status: 200, headers: { "Content-Type": "application/json" } }),
  });
  const cases: [Promise<{ ok: boolean; error?: { code: string; message: string } }>, string][] = [
    [codegenSeries(answering('[{"x": 1}, {"x": "2"}]'), { n: 2 }), '$[1].x: expected an exact number, got "2"'],
    [codegenBigMatrix(answering('[[1, 2], [3, "4"]]'), { n: "1" }), '$[1][1]: expected an exact number, got "4"'],
    [codegenFloats(answering('[{"x": "NaN", "y": "Inf"}]'), { x: 1 }), '$[0].y: expected a number, got "Inf"'],
    [codegenDoubled(answering("null"), { n: "1" }), "$: expected an object, got null"],
    [codegenDoubled(answering(""), { n: "1" }), "$: expected an object, got null (an empty answer)"],
  ];
  for (const [call, message] of cases) {
    const result = await call;
    assert.ok(!result.ok, JSON.stringify(result));
    assert.equal(result.error?.code, "client.unexpected");
    assert.equal(result.error?.message, message);
  }
  // What the type admits passes: a null where it says so, numbers exact inside a json value too.
  const exact = await codegenMarks(answering('[{"raw": {"n": 12345678901234567890}, "big": null, "new": 1.5}]'), { n: "1" });
  assert.deepEqual(exact, { ok: true, data: [{ raw: { n: 12345678901234567890 }, big: null, new: 1.5 }] });
});
