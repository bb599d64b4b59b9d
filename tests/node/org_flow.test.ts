// End-to-end: the committed client (clients/typescript/src/generated.ts) against the running
// stack, as a Node program uses it. People sign up and sign in through the client's /auth
// functions; Node's fetch keeps no cookies, so each person's client has a fetch that does (a
// cookie jar, as README.md shows). tests/test_codegen_node.py drives it and serves the test mailbox.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  type Client,
  type Organization,
  type UserId,
  acceptInvitation,
  authLogin,
  authLogout,
  authSession,
  authSignup,
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

/** A fetch that keeps the cookies the answers set, and sends them back: a browser's jar, for Node. */
function cookieJar(): { fetch: typeof fetch; cookies: Map<string, string> } {
  const cookies = new Map<string, string>();
  const jarFetch: typeof fetch = async (input, init) => {
    const headers = new Headers(init?.headers);
    if (cookies.size > 0) headers.set("Cookie", [...cookies].map(([name, value]) => `${name}=${value}`).join("; "));
    const response = await fetch(input, { ...init, headers });
    for (const header of response.headers.getSetCookie()) {
      const [pair = ""] = header.split(";", 1);
      const at = pair.indexOf("=");
      const name = pair.slice(0, at);
      const value = pair.slice(at + 1);
      if (value === "" || /;\s*Max-Age=0\b/i.test(header)) cookies.delete(name);
      else cookies.set(name, value);
    }
    return response;
  };
  return { fetch: jarFetch, cookies };
}

/** Signs up through /auth/signup, then signs in again through /auth/login (a fresh session). */
async function signUpAndIn(who: string): Promise<Person> {
  const email = newEmail(who);
  const jar = cookieJar();
  const client: Client = { baseUrl: EDGE, fetch: jar.fetch };
  const signup = await authSignup(client, { email, password: PASSWORD, display_name: who });
  assert.ok(signup.ok, JSON.stringify(signup));
  const id = signup.data.user.id;
  assert.ok(isUserId(id), `a user id: ${String(id)}`);
  assert.equal(signup.data.user.email_verified, false);
  const first = jar.cookies.get("blossom_session");

  const login = await authLogin(client, { email, password: PASSWORD });
  assert.ok(login.ok, JSON.stringify(login));
  assert.equal(login.data.user.id, id);
  assert.notEqual(jar.cookies.get("blossom_session"), first, "a login issues a new session");

  const session = await authSession(client);
  assert.ok(session.ok, JSON.stringify(session));
  assert.equal(session.data.user.id, id);
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
  assert.equal(renamed.error.code, "org.forbidden", `${renamed.error.rawCode}: ${renamed.error.message}`);
  assert.equal(renamed.error.status, 403);

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
  const logout = await authLogout(person.client);
  assert.ok(logout.ok, JSON.stringify(logout));
  assert.equal(logout.data, null);
  const after = await createOrganization(person.client, { name: "Too late" });
  assert.ok(!after.ok, JSON.stringify(after));
  switch (after.error.code) {
    case "auth.not_signed_in":
      assert.equal(after.error.status, 401);
      break;
    default:
      assert.ok(false, `expected auth.not_signed_in, got ${after.error.rawCode}`);
  }
  const session = await authSession(person.client);
  assert.ok(!session.ok);
  assert.equal(session.error.code, "auth.not_signed_in");
});

test("a wrong password is a typed auth.invalid_credentials from the client's authLogin", async () => {
  const person = await signUpAndIn("forgetful");
  const wrong = await authLogin({ baseUrl: EDGE }, { email: person.email, password: "not the password at all" });
  assert.ok(!wrong.ok);
  assert.equal(wrong.error.code, "auth.invalid_credentials");
  assert.equal(wrong.error.status, 401);
});
