// Type-level tests: compiled by `tsc --noEmit` (the "typescript" stage of `just test`), never run.
// They use the golden client generated from tests/fixtures/codegen/schema.sql, which has every case.
import {
  type Client,
  type GetOrgErrorCode,
  type OrgId,
  type UserId,
  addMember,
  getOrg,
  isOrgId,
  isUserId,
  listMembers,
  orgStats,
  ping,
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

export function exhaustive(code: GetOrgErrorCode | "client.network" | "client.unexpected"): number {
  switch (code) {
    case "auth.csrf":
    case "auth.not_signed_in":
      return 401;
    case "org.not_found":
      return 404;
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
  switch (result.error.code) {
    case "auth.csrf":
    case "auth.not_signed_in":
      return 401;
    case "client.network":
    case "client.unexpected":
      return 0;
    default:
      // @ts-expect-error "org.not_found" is not handled, so the code is not `never` here
      return unreachable(result.error.code);
  }
}
