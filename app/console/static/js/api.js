// The console's session and its calls to Jifen's own GraphQL API. The session lives in an
// HttpOnly cookie the page cannot read; the CSRF token that must go with it is kept here, in
// memory (a reload asks GET /console/session for it again). docs/CONSOLE.md, "Sessions".
import { LiveClient, socketUrl } from "/widgets/live.js";

export const session = { name: null, role: null, csrf: null, live: null };

export class ApiError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

function remember(body) {
  session.name = body.name;
  session.role = body.role;
  session.csrf = body.csrfToken;
}

export async function restore() {
  const response = await fetch("/console/session", { credentials: "same-origin" });
  if (!response.ok) return false;
  remember(await response.json());
  return true;
}

export async function signIn(name, password) {
  const response = await fetch("/console/session", {
    method: "POST",
    credentials: "same-origin",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ name, password }),
  });
  const body = await response.json();
  if (!response.ok) throw new ApiError(body.error.code, body.error.message);
  remember(body);
}

export async function signOut() {
  if (session.live) session.live.close();
  await fetch("/console/session", {
    method: "DELETE",
    credentials: "same-origin",
    headers: { "x-csrf-token": session.csrf || "" },
  });
  Object.assign(session, { name: null, role: null, csrf: null, live: null });
}

export function mayWrite() {
  return session.role === "admin" || session.role === "operator";
}

export async function gql(query, variables = {}) {
  const response = await fetch("/graphql", {
    method: "POST",
    credentials: "same-origin",
    headers: { "content-type": "application/json", "x-csrf-token": session.csrf || "" },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  if (response.status === 401) throw new ApiError("UNAUTHENTICATED", body.errors[0].message);
  if (body.errors) {
    const first = body.errors[0];
    throw new ApiError(first.extensions?.code || "ERROR", first.message);
  }
  return body.data;
}

export function live(onStatus) {
  if (!session.live) {
    session.live = new LiveClient(socketUrl(), { csrfToken: session.csrf }, { onStatus });
  }
  return session.live;
}
