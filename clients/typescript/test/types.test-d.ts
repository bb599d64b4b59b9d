// Type-level tests: compiled by `tsc --noEmit` (the "typescript" stage of `just test`), never run.
// They use the golden client generated from tests/fixtures/codegen/schema.sql, which has every case.
import {
  type ApiClient,
  type ApiResult,
  type Client,
  type CountsRow,
  type DoubleItRow,
  type GetOrgErrorCode,
  type OrgId,
  type OrgRole,
  type Result,
  type RpcCommonErrorCode,
  type UserId,
  addMember,
  addNote,
  apiDelete,
  authLogin,
  authLogout,
  call,
  counts,
  doubleIt,
  getOrg,
  isOrgId,
  isUserId,
  listMembers,
  orThrow,
  orgRoleValues,
  orgStats,
  ping,
  refuseDynamically,
  refuseUnqualified,
  renameOrg,
  location,
} from "../../../tests/fixtures/codegen/expected/generated";

declare const client: Client;
declare const userId: UserId;
declare const orgId: OrgId;

export async function brandedIds(): Promise<void> {
  await addMember(client, { org_id: orgId, user_id: userId });
  // @ts-expect-error an OrgId is not a UserId
  await addMember(client, { org_id: orgId, user_id: orgId });
  // @ts-expect-error a plain string is not an OrgId
  await getOrg(client, { org_id: "org_0123" });
  const raw: string = "usr_01jd8x0000000000000000000a";
  if (isUserId(raw)) await addMember(client, { org_id: orgId, user_id: raw });
  // @ts-expect-error a guard for one kind does not make another
  if (isOrgId(raw)) await addMember(client, { org_id: orgId, user_id: raw });
}

export async function requiredArguments(): Promise<void> {
  // @ts-expect-error user_id is required
  await addMember(client, { org_id: orgId });
  // @ts-expect-error a STRICT function's argument is not nullable
  await getOrg(client, { org_id: null });
  await listMembers(client, { org_id: orgId }); // role has a default: optional
  await ping(client);
}

export async function resultsAndNullability(): Promise<void> {
  const org = await getOrg(client, { org_id: orgId });
  if (org.ok) {
    const name: string = org.data.name; // NOT NULL column
    // @ts-expect-error a nullable column may be null
    const plan: string = org.data.plan;
    const seats: string = org.data.seats; // bigint arrives as an exact string
    void name, plan, seats;
  }
  const stats = await orgStats(client, { org_id: orgId });
  if (stats.ok) {
    for (const row of stats.data) {
      const revenue: string | null = row.revenue;
      void revenue;
    }
  }
}

function unreachable(code: never): never {
  throw new Error(`unhandled error code ${String(code)}`);
}

function isCommon(code: string): code is RpcCommonErrorCode {
  return code === "auth.csrf" || code.startsWith("edge.");
}

export function exhaustive(code: GetOrgErrorCode | "client.aborted" | "client.network" | "client.unexpected"): number {
  if (isCommon(code)) return 0;
  switch (code) {
    case "auth.not_signed_in":
      return 401;
    case "org.not_found":
      return 404;
    case "client.aborted":
    case "client.network":
    case "client.unexpected":
      return 0;
    default:
      return unreachable(code);
  }
}

export async function notExhaustive(): Promise<number> {
  const result = await getOrg(client, { org_id: orgId });
  if (result.ok) return 200;
  const code = result.error.code;
  if (isCommon(code)) return 0;
  switch (code) {
    case "auth.not_signed_in":
      return 401;
    case "client.aborted":
    case "client.network":
    case "client.unexpected":
      return 0;
    default:
      // @ts-expect-error "org.not_found" is not handled, so the code is not `never` here
      return unreachable(code);
  }
}

// Issue 14, item 1: one output column is a row, as PostgREST answers it.
export async function oneOutputColumn(): Promise<void> {
  const doubled = await doubleIt(client, { n: "3" });
  if (doubled.ok) {
    const row: DoubleItRow = doubled.data;
    const value: string | null = row.doubled;
    // @ts-expect-error the answer is {doubled}, not the bare value
    const bare: string | null = doubled.data;
    void value, bare;
  }
  const rows = await counts(client, { n: 2 });
  if (rows.ok) {
    const first: CountsRow | undefined = rows.data[0];
    // @ts-expect-error RETURNS TABLE (x) gives rows of {x}
    const bare: (string | null)[] = rows.data;
    void first, bare;
  }
}

// Item 2: trigger codes, unqualified helper calls, declared codes and the edge's codes are in the unions.
export async function completeUnions(): Promise<void> {
  const note = await addNote(client, { body: "" });
  if (!note.ok && note.error.code === "note.empty") void note;
  const unqualified = await refuseUnqualified(client);
  if (!unqualified.ok && unqualified.error.code === "probe.unqualified") void unqualified;
  const dynamic = await refuseDynamically(client, { code: "probe.dynamic" });
  if (!dynamic.ok && dynamic.error.code === "probe.dynamic") void dynamic;
  const proxied = await ping(client);
  if (!proxied.ok && (proxied.error.code === "edge.body_too_large" || proxied.error.code === "edge.upstream_busy")) {
    const retryAfter: string | undefined = proxied.error.headers["retry-after"];
    void retryAfter;
  }
  // @ts-expect-error a code no one raises is not in the union
  if (!proxied.ok && proxied.error.code === "edge.made_up") void proxied;
}

// Item 4: reserved words and the runtime's own names.
export async function names(): Promise<void> {
  const deleted = await apiDelete(client, { org_id: orgId });
  if (deleted.ok) {
    const result: ApiResult = deleted.data;
    const from: number | null = result.from;
    void from;
  }
  const called = await call(client, { n: 1 });
  if (called.ok) {
    const who: ApiClient = called.data;
    void who;
  }
  // the runtime's Client is not merged with api.client: it needs no `name`
  const plain: Client = { baseUrl: "" };
  void plain;
}

// Item 6: arguments as exact as results.
export async function exactArguments(): Promise<void> {
  await renameOrg(client, { org_id: orgId, name: "Acme", role: "admin" });
  // @ts-expect-error a user ID where an org ID goes
  await renameOrg(client, { org_id: userId, name: "Acme" });
  // @ts-expect-error a plain string is not an org ID
  await renameOrg(client, { org_id: "org_x", name: "Acme" });
  // @ts-expect-error the name is required and not null
  await renameOrg(client, { org_id: orgId, name: null });
  // @ts-expect-error a role is one of the enum's labels
  await renameOrg(client, { org_id: orgId, name: "Acme", role: "king" });
  await renameOrg(client, { org_id: orgId, name: "Acme", note: null }); // @arg note text?
  const roles: readonly OrgRole[] = orgRoleValues;
  void roles;
}

// Item 7: a result type given by hand.
export async function overridden(): Promise<void> {
  const where = await location(client);
  if (where.ok) {
    const text: string = where.data;
    void text;
  }
}

// The edge's routes, per-call options and the throwing variant.
export async function edgeRoutesAndOptions(signal: AbortSignal): Promise<void> {
  const signedIn = await authLogin(client, { email: "a@b.c" as never, password: "x" }, { signal });
  if (signedIn.ok) {
    const id: UserId = signedIn.data.user.id;
    void id;
  } else if (signedIn.error.code === "auth.invalid_credentials" || signedIn.error.code === "client.aborted") {
    void signedIn.error.status;
  }
  // @ts-expect-error the body's fields are required
  await authLogin(client, { password: "x" });
  await authLogout(client, { headers: { "X-Request-Id": "r1" } });
  const org = await orThrow(getOrg(client, { org_id: orgId }));
  const name: string = org.name;
  const result: Result<null, never> = { ok: true, data: null };
  const nothing: null = await orThrow(result);
  void name, nothing;
}
