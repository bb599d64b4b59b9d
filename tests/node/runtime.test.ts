// The committed client's runtime against answers no healthy server sends on purpose, made by a
// `fetch` of the test's own (no server): what each becomes in the client's error shape.
// tests/test_codegen_node.py drives it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { type IncomingHttpHeaders, createServer } from "node:http";
import {
  type Client,
  type OrgId,
  authLogout,
  authSession,
  getAiUsage,
  listMembers,
  listOrganizations,
  me,
} from "../src/generated.js";

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

/** A 200 JSON answer of `body`, as a proxy's or an older server's during a deploy may send. */
function json200(body: unknown): () => Response {
  return () => new Response(JSON.stringify(body), { status: 200, headers: { "Content-Type": "application/json" } });
}

const member = {
  membership_id: "mem_01jd8x0000000000000000000a",
  user_id: "usr_01jd8x0000000000000000000a",
  email: "a@example.com",
  display_name: "A",
  role: "owner",
  joined_at: "2024-11-20T10:00:00+00:00",
};
const profile = {
  id: "usr_01jd8x0000000000000000000a",
  email: "a@example.com",
  display_name: "A",
  created_at: "2024-11-20T10:00:00+00:00",
  email_verified: true,
};
const orgId = "org_01jd8x0000000000000000000a" as OrgId;
const usage = { org_id: orgId, month_start: "2024-11-01", quota_tokens: 100, used_tokens: 0, reserved_tokens: 0 };
Object.assign(usage, { calls: 0, cached_calls: 0, failed_calls: 0 });

test("a 200 whose JSON is not the call's type is client.unexpected, naming where it differs", async () => {
  const wrongRole = await listMembers(answering(json200([member, member, member, { ...member, role: 7 }])), { org_id: orgId });
  assert.ok(!wrongRole.ok, JSON.stringify(wrongRole));
  assert.equal(wrongRole.error.code, "client.unexpected");
  assert.equal(wrongRole.error.status, 200);
  assert.equal(wrongRole.error.message, '$[3].role: expected one of "owner" | "admin" | "member", got 7');
  const cases: [() => Promise<{ ok: boolean; error?: { code: string; message: string } }>, string][] = [
    [() => me(answering(json200({ ...profile, email_verified: undefined }))), "$.email_verified: missing"],
    [() => me(answering(json200({ ...profile, display_name: null }))), "$.display_name: expected a string, got null"],
    [() => me(answering(json200([profile]))), "$: expected an object, got an array"],
    [() => listOrganizations(answering(json200({ items: [] }))), "$: expected an array, got an object"],
    [
      () => getAiUsage(answering(json200({ ...usage, quota_tokens: "100" })), { org_id: orgId }),
      '$.quota_tokens: expected a number, got "100"',
    ],
    [() => authSession(answering(json200({ user: profile }))), "$.session: missing"],
  ];
  for (const [call, message] of cases) {
    const result = await call();
    assert.ok(!result.ok, JSON.stringify(result));
    assert.equal(result.error?.code, "client.unexpected");
    assert.equal(result.error?.message, message);
  }
});

test("what the type admits passes: extra fields of a newer server, nulls where typed so", async () => {
  const result = await listMembers(answering(json200([{ ...member, since_version: 2 }])), { org_id: orgId });
  assert.ok(result.ok, JSON.stringify(result));
  assert.deepEqual(result.data, [{ ...member, since_version: 2 }]);
});

test("a per-call header replaces the client's of the same name in any case, and Accept stays JSON", async () => {
  // Header names are one in any case: two spellings in a fetch's headers are sent as one header
  // with both values ("old, new"), which no session token or media type is.
  const sent: Headers[] = [];
  const client: Client = {
    baseUrl: "http://blossom.invalid",
    headers: { "x-blossom-session": "old-token", accept: "text/csv" },
    fetch: async (_input, init) => {
      sent.push(new Headers(init?.headers));
      return json200(profile)();
    },
  };
  const result = await me(client, { headers: { "X-Blossom-Session": "new-token", "content-type": "text/plain" } });
  assert.ok(result.ok, JSON.stringify(result));
  assert.equal(sent[0]?.get("x-blossom-session"), "new-token");
  assert.equal(sent[0]?.get("accept"), "application/json");
  assert.equal(sent[0]?.get("content-type"), "application/json");
});
