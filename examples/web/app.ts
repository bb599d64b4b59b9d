// The example web app: plain TypeScript, the generated client and the DOM, nothing else. Served
// on the edge's own origin (/demo/), it calls "" (the page's origin); served elsewhere, it calls
// the edge named by ?api=http://host:port, which must allow this page's origin
// (BLOSSOM_ALLOWED_ORIGINS: CORS with credentials). The session lives in an HttpOnly cookie the
// browser keeps; this code never sees it.
import {
  type Client,
  type OrgId,
  acceptInvitation,
  authLogin,
  authLogout,
  authSession,
  authSignup,
  createOrganization,
  inviteMember,
  listMembers,
  listOrganizations,
  orgRoleValues,
} from "@blossom/client";

const client: Client = { baseUrl: new URLSearchParams(location.search).get("api") ?? "" };

function element<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (found === null) throw new Error(`#${id} is missing from the page`);
  return found as T;
}

function field(form: HTMLFormElement, name: string): string {
  const value = new FormData(form).get(name);
  return typeof value === "string" ? value : "";
}

function say(text: string): void {
  element("status").textContent = text;
}

/** Shows the error's code and message; false, for a form's handler to return: the form keeps
 * what was typed, for the next try. */
function failed(error: { code: string; message: string }): false {
  say(`${error.code}: ${error.message}`);
  return false;
}

function item(text: string): HTMLLIElement {
  const li = document.createElement("li");
  li.textContent = text;
  return li;
}

let currentOrg: OrgId | null = null;

async function showOrganization(id: OrgId, name: string): Promise<void> {
  currentOrg = id;
  element("org-name").textContent = name;
  element("org").hidden = false;
  const members = await listMembers(client, { org_id: id });
  if (!members.ok) {
    failed(members.error);
    return;
  }
  element("members").replaceChildren(
    ...members.data.map((member) => item(`${member.display_name} <${member.email}>: ${member.role}`)),
  );
}

async function showOrganizations(): Promise<void> {
  const orgs = await listOrganizations(client);
  if (!orgs.ok) {
    failed(orgs.error);
    return;
  }
  element("orgs").replaceChildren(
    ...orgs.data.map((org) => {
      const li = item(`${org.name} (${org.role}, ${org.member_count} members) `);
      const open = document.createElement("button");
      open.type = "button";
      open.textContent = "Open";
      open.addEventListener("click", () => void showOrganization(org.id, org.name));
      li.append(open);
      return li;
    }),
  );
}

async function refresh(): Promise<void> {
  const session = await authSession(client);
  const signedIn = session.ok;
  element("signed-out").hidden = signedIn;
  element("signed-in").hidden = !signedIn;
  element("org").hidden = true;
  currentOrg = null;
  if (!session.ok) return;
  element("who").textContent = `${session.data.user.display_name} <${session.data.user.email}>`;
  await showOrganizations();
}

/** `handle` answers whether the form's work is done: only then is the form emptied. */
function onSubmit(id: string, handle: (form: HTMLFormElement) => Promise<boolean>): void {
  const form = element<HTMLFormElement>(id);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    say("");
    void handle(form).then((done) => {
      if (done) form.reset();
    });
  });
}

onSubmit("signup", async (form) => {
  const email = field(form, "email");
  const result = await authSignup(client, { email, password: field(form, "password"), display_name: field(form, "display_name") });
  if (!result.ok) return failed(result.error);
  await refresh();
  return true;
});

onSubmit("login", async (form) => {
  const result = await authLogin(client, { email: field(form, "email"), password: field(form, "password") });
  if (!result.ok) return failed(result.error);
  await refresh();
  return true;
});

onSubmit("create-org", async (form) => {
  const created = await createOrganization(client, { name: field(form, "name") });
  if (!created.ok) return failed(created.error);
  await showOrganizations();
  await showOrganization(created.data.id, created.data.name);
  return true;
});

onSubmit("invite", async (form) => {
  const role = orgRoleValues.find((value) => value === field(form, "role"));
  if (currentOrg === null || role === undefined) return false;
  const invited = await inviteMember(client, { org_id: currentOrg, email: field(form, "email"), role });
  if (!invited.ok) return failed(invited.error);
  say(`Invited ${invited.data.email} as ${invited.data.role}.`);
  return true;
});

onSubmit("accept", async (form) => {
  const accepted = await acceptInvitation(client, { token: field(form, "token").trim() });
  if (!accepted.ok) return failed(accepted.error);
  await showOrganizations();
  await showOrganization(accepted.data.id, accepted.data.name);
  return true;
});

element("logout").addEventListener("click", () => {
  void authLogout(client).then(async (result) => {
    if (result.ok) await refresh();
    else failed(result.error);
  });
});

element<HTMLFormElement>("invite")
  .querySelector("select")
  ?.replaceChildren(...orgRoleValues.map((role) => new Option(role, role, role === "member", role === "member")));

void refresh();
