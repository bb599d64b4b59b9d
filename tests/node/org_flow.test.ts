// End-to-end: the committed client (clients/typescript/src/generated.ts) against the running
// stack. People sign up and sign in through the edge's /auth routes with plain fetch; every
// organization call goes through the generated functions, with the session cookie sent in the
// client's headers. tests/test_codegen_node.py drives it and serves the test mailbox.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  type Client,
  type Organization,
  type UserId,
  acceptInvitation,
  createOrganization,
  getOrganization,
  inviteMember,
  isInvitationId,
  isMembershipId,
  isOrgId,
  isUserId,
  listMembers,
  listOrganizations,
  me,
  updateOrganization,
} from "../src/generated.js";

const EDGE = process.env.BLOSSOM_EDGE_URL ?? "";
const MAILBOX = process.env.BLOSSOM_MAILBOX_URL ?? "";
const PASSWORD = "correct horse battery staple";

interface Person {
  email: string;
  id: UserId;
  /** A client signed in as this person: their session cookie in every call's headers. */
  client: Client;
}

function newEmail(who: string): string {
  return `${who}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}@example.com`;
}

async function postAuth(path: string, body: object, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${EDGE}${path}`, {
    method: "POST",
    headers: { ...headers, "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
}

/** The `name=value` of the session cookie the answer sets (beside it: the device cookie). */
function sessionCookie(response: Response): string {
  const cookies = response.headers
    .getSetCookie()
    .map((header) => header.split(";", 1)[0] ?? "")
    .filter((pair) => /^blossom_session=.+$/.test(pair));
  assert.equal(cookies.length, 1, `one session cookie expected: ${JSON.stringify(response.headers.getSetCookie())}`);
  return cookies[0] ?? "";
}

/** Signs up through /auth/signup, then signs in through /auth/login (a fresh session). */
async function signUpAndIn(who: string): Promise<Person> {
  const email = newEmail(who);
  const signup = await postAuth("/auth/signup", { email, password: PASSWORD, display_name: who });
  assert.equal(signup.status, 201, await signup.clone().text());
  const signedUp = (await signup.json()) as { user: { id: unknown } };
  const id = signedUp.user.id;
  assert.ok(isUserId(id), `a user id: ${String(id)}`);

  const login = await postAuth("/auth/login", { email, password: PASSWORD });
  assert.equal(login.status, 200, await login.clone().text());
  const client: Client = { baseUrl: EDGE, headers: { Cookie: sessionCookie(login) } };

  const self = await me(client);
  assert.ok(self.ok, JSON.stringify(self));
  assert.equal(self.data.id, id);
  return { email, id, client };
}

/** The newest invitation mailed to `email` (the outbox, served by the test mailbox). */
async function invitationMail(email: string): Promise<{ token: string; org_id: string; role: string }> {
  const query = new URLSearchParams({ to: email, topic: "mail.org_invitation" });
  const response = await fetch(`${MAILBOX}/messages?${query}`);
  assert.equal(response.status, 200);
  const mails = (await response.json()) as Array<{ token?: unknown; org_id?: unknown; role?: unknown }>;
  const newest = mails[0];
  assert.ok(newest, `no invitation mailed to ${email}`);
  const { token, org_id, role } = newest;
  assert.ok(typeof token === "string" && token.length > 0, "the mail carries the token");
  assert.ok(typeof org_id === "string" && typeof role === "string");
  return { token, org_id, role };
}

/** Owner creates an organization and invites member, who accepts the mailed invitation. */
async function organizationWithMember(): Promise<{ owner: Person; member: Person; org: Organization }> {
  const [owner, member] = await Promise.all([signUpAndIn("owner"), signUpAndIn("member")]);

  const created = await createOrganization(owner.client, { name: `Acme ${Date.now()}` });
  assert.ok(created.ok, JSON.stringify(created));
  const org = created.data;
  assert.ok(isOrgId(org.id), `an org id: ${String(org.id)}`);
  assert.equal(org.role, "owner");
  assert.equal(org.member_count, 1);

  const invited = await inviteMember(owner.client, { org_id: org.id, email: member.email, role: "member" });
  assert.ok(invited.ok, JSON.stringify(invited));
  assert.ok(isInvitationId(invited.data.id));
  assert.equal(invited.data.org_id, org.id);
  assert.equal(invited.data.email, member.email);
  assert.equal(invited.data.role, "member");
  assert.equal(invited.data.invited_by, owner.id);
  assert.equal("token" in invited.data, false, "the token is never in the answer, only in the mail");

  const mail = await invitationMail(member.email);
  assert.equal(mail.org_id, org.id);
  assert.equal(mail.role, "member");

  const accepted = await acceptInvitation(member.client, { token: mail.token });
  assert.ok(accepted.ok, JSON.stringify(accepted));
  assert.equal(accepted.data.id, org.id);
  assert.equal(accepted.data.role, "member");
  assert.equal(accepted.data.member_count, 2);
  return { owner, member, org };
}

function unexpected(code: never, raw: string): never {
  throw new Error(`unexpected error code ${String(code)} (${raw})`);
}

test("sign up and in through the edge, then create, invite, accept and list", async () => {
  const { owner, member, org } = await organizationWithMember();

  const members = await listMembers(owner.client, { org_id: org.id });
  assert.ok(members.ok, JSON.stringify(members));
  const byUser = new Map(members.data.map((row) => [row.user_id, row]));
  assert.equal(members.data.length, 2);
  assert.equal(byUser.get(owner.id)?.role, "owner");
  assert.equal(byUser.get(member.id)?.role, "member");
  assert.equal(byUser.get(member.id)?.email, member.email);
  assert.equal(byUser.get(member.id)?.display_name, "member");
  for (const row of members.data) {
    assert.ok(isMembershipId(row.membership_id));
    assert.ok(isUserId(row.user_id));
    assert.ok(typeof row.joined_at === "string" && !Number.isNaN(Date.parse(row.joined_at)));
  }

  const memberSees = await listMembers(member.client, { org_id: org.id });
  assert.ok(memberSees.ok, JSON.stringify(memberSees));
  assert.deepEqual(
    memberSees.data.map((row) => row.user_id).sort(),
    members.data.map((row) => row.user_id).sort(),
  );

  const ownerOrgs = await listOrganizations(owner.client);
  const memberOrgs = await listOrganizations(member.client);
  assert.ok(ownerOrgs.ok && memberOrgs.ok);
  assert.deepEqual(
    ownerOrgs.data.map((o) => [o.id, o.role, o.member_count]),
    [[org.id, "owner", 2]],
  );
  assert.deepEqual(
    memberOrgs.data.map((o) => [o.id, o.role, o.member_count]),
    [[org.id, "member", 2]],
  );
});

test("a member's owner-or-admin call fails with a typed org.forbidden and changes nothing", async () => {
  const { member, org } = await organizationWithMember();

  const renamed = await updateOrganization(member.client, { org_id: org.id, name: "Taken over" });
  assert.ok(!renamed.ok, JSON.stringify(renamed));
  switch (renamed.error.code) {
    case "org.forbidden":
      assert.equal(renamed.error.status, 403);
      assert.equal(renamed.error.rawCode, "org.forbidden");
      break;
    case "auth.csrf":
    case "auth.not_signed_in":
    case "org.invalid_name":
    case "org.not_found":
    case "client.network":
    case "client.unexpected":
      assert.ok(false, `expected org.forbidden, got ${renamed.error.rawCode}: ${renamed.error.message}`);
      break;
    default:
      unexpected(renamed.error.code, renamed.error.rawCode);
  }

  const invited = await inviteMember(member.client, { org_id: org.id, email: newEmail("friend"), role: "member" });
  assert.ok(!invited.ok, JSON.stringify(invited));
  assert.equal(invited.error.code, "org.forbidden");
  assert.equal(invited.error.status, 403);

  const unchanged = await getOrganization(member.client, { org_id: org.id });
  assert.ok(unchanged.ok, JSON.stringify(unchanged));
  assert.equal(unchanged.data.name, org.name);
});

test("without a session, or after logging out, a call fails with auth.not_signed_in", async () => {
  const anonymous = await listOrganizations({ baseUrl: EDGE });
  assert.ok(!anonymous.ok, JSON.stringify(anonymous));
  assert.equal(anonymous.error.code, "auth.not_signed_in");
  assert.equal(anonymous.error.status, 401);

  const person = await signUpAndIn("leaver");
  const logout = await postAuth("/auth/logout", {}, person.client.headers);
  assert.equal(logout.status, 204);
  const after = await createOrganization(person.client, { name: "Too late" });
  assert.ok(!after.ok, JSON.stringify(after));
  switch (after.error.code) {
    case "auth.not_signed_in":
      assert.equal(after.error.status, 401);
      break;
    case "auth.csrf":
    case "org.invalid_name":
    case "org.rate_limited":
    case "org.slug_taken":
    case "client.network":
    case "client.unexpected":
      assert.ok(false, `expected auth.not_signed_in, got ${after.error.rawCode}`);
      break;
    default:
      unexpected(after.error.code, after.error.rawCode);
  }
});
