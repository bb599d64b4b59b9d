// The committed client's runtime against answers no healthy server sends on purpose, made by a
// `fetch` of the test's own (no server): what each becomes in the client's error shape.
// tests/test_codegen_node.py drives it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { type IncomingHttpHeaders, createServer } from "node:http";
import { type Client, authLogout, listOrganizations, me } from "../src/generated.js";

/** A client whose every call is answered by `answer`. */
function answering(answer: () => Response): Client {
  return { baseUrl: "http://blossom.invalid", fetch: async () => answer() };
}

/** A 200 JSON answer whose connection drops after the first bytes of its body. */
function cutOff(): Response {
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(new TextEncoder().encode('{"id": "usr_01jd8x'));
      controller.error(new TypeError("terminated"));
    },
  });
  return new Response(body, { status: 200, headers: { "Content-Type": "application/json" } });
}

test("an answer cut off mid-body is client.network, with the status and headers that came", async () => {
  const result = await me(answering(cutOff));
  assert.ok(!result.ok);
  assert.equal(result.error.code, "client.network");
  assert.equal(result.error.rawCode, "client.network");
  assert.equal(result.error.status, 200);
  assert.equal(result.error.headers["content-type"], "application/json");
});

test("an answer that came whole but is not JSON stays client.unexpected", async () => {
  const html = () => new Response("<!doctype html><p>a dev server's page</p>", { status: 200 });
  const result = await me(answering(html));
  assert.ok(!result.ok);
  assert.equal(result.error.code, "client.unexpected");
  assert.equal(result.error.status, 200);
});

test("a baseUrl written with a trailing slash (as new URL(x).href gives it) calls /rpc, not //rpc", async () => {
  const asked: string[] = [];
  const client: Client = {
    baseUrl: "http://blossom.invalid/",
    fetch: async (input) => {
      asked.push(String(input));
      return new Response(JSON.stringify({ id: "usr_x" }), { status: 200, headers: { "Content-Type": "application/json" } });
    },
  };
  await me(client);
  assert.deepEqual(asked, ["http://blossom.invalid/rpc/me"]);
});

test("an empty or null answer to a call that returns a value is client.unexpected, not data: null", async () => {
  // A proxy's 204, or a 200 with nothing in it: no answer of ours, whose rows and lists are
  // never null. A call that returns nothing (a void function, logout) still succeeds so.
  const answers = [
    () => new Response(null, { status: 204 }),
    () => new Response("", { status: 200 }),
    () => new Response("null", { status: 200, headers: { "Content-Type": "application/json" } }),
  ];
  for (const answer of answers) {
    const profile = await me(answering(answer));
    assert.ok(!profile.ok, JSON.stringify(profile));
    assert.equal(profile.error.code, "client.unexpected");
    assert.equal(profile.error.status, answer().status);
    const organizations = await listOrganizations(answering(answer));
    assert.ok(!organizations.ok, JSON.stringify(organizations));
    assert.equal(organizations.error.code, "client.unexpected");
  }
  const loggedOut = await authLogout(answering(() => new Response(null, { status: 204 })));
  assert.deepEqual(loggedOut, { ok: true, data: null });
});

test("a redirect is not followed: the session header never reaches the place it names", async () => {
  // Node's fetch carries a custom header (X-Blossom-Session, the session of a client without
  // cookies) to another origin a 307 names; the edge never redirects, a proxy in front may.
  const seen: IncomingHttpHeaders[] = [];
  const elsewhere = createServer((request, response) => {
    seen.push(request.headers);
    response.writeHead(200, { "Content-Type": "application/json" });
    response.end('{"id": "usr_x"}');
  });
  const redirecting = createServer((_request, response) => {
    response.writeHead(307, { Location: `http://127.0.0.1:${elsewhere.address().port}/rpc/me` });
    response.end();
  });
  await new Promise<void>((resolve) => elsewhere.listen(0, "127.0.0.1", resolve));
  await new Promise<void>((resolve) => redirecting.listen(0, "127.0.0.1", resolve));
  try {
    const client: Client = {
      baseUrl: `http://127.0.0.1:${redirecting.address().port}`,
      headers: { "X-Blossom-Session": "a-session-token" },
    };
    const result = await me(client);
    assert.ok(!result.ok, JSON.stringify(result));
    assert.equal(result.error.code, "client.unexpected");
    assert.equal(result.error.status, 307);
    assert.deepEqual(seen, []);
  } finally {
    redirecting.close();
    elsewhere.close();
  }
});
