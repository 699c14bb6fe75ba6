// The approval page of `opta account login` (RFC 8628): a signed-in user sees which client asks
// and approves or denies the code. A file, not inline script, so the accounts CSP stays strict.
const CLIENTS = { "opta-cli": "The Opta CLI" };
const $ = (id) => document.getElementById(id);
const say = (text) => {
  $("message").textContent = text;
};

async function json(path, init) {
  const answer = await fetch(path, { credentials: "same-origin", headers: { accept: "application/json" }, ...init });
  let body = {};
  try {
    body = await answer.json();
  } catch {
    body = {};
  }
  return { ok: answer.ok, status: answer.status, body: body ?? {} };
}

async function decide(action, userCode) {
  $("approve").disabled = true;
  $("deny").disabled = true;
  const answer = await json(`/api/auth/device/${action}`, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json" },
    body: JSON.stringify({ userCode }),
  });
  if (answer.ok) {
    $("review").hidden = true;
    say(
      action === "approve"
        ? "Approved. You can close this page; the terminal is signed in."
        : "Denied. The terminal gets no access.",
    );
  } else say(`That did not work: ${answer.body.error_description ?? answer.body.message ?? answer.status}`);
}

async function main() {
  const userCode = new URLSearchParams(location.search).get("user_code")?.trim().toUpperCase();
  if (!userCode) {
    $("enter").hidden = false;
    return;
  }
  const session = await json("/api/auth/get-session");
  if (!session.body?.user) {
    // Back here after signing in; a path on this site only, never another origin.
    location.assign(`/sign-in?redirect=${encodeURIComponent(location.pathname + location.search)}`);
    return;
  }
  // Looking the code up while signed in claims it for this user; only then can it be approved.
  const code = await json(`/api/auth/device?user_code=${encodeURIComponent(userCode)}`);
  if (!code.ok) {
    say(
      code.body.error === "expired_token"
        ? "This code has expired; run `opta account login` again."
        : "No such code; check what your terminal shows.",
    );
    $("enter").hidden = false;
    return;
  }
  if (code.body.status !== "pending") {
    say(`This code was already ${code.body.status}.`);
    return;
  }
  $("client").textContent = CLIENTS[code.body.client_id] ?? `A client named "${code.body.client_id}"`;
  $("user").textContent = session.body.user.email;
  $("code").textContent = userCode;
  $("review").hidden = false;
  $("approve").addEventListener("click", () => decide("approve", userCode));
  $("deny").addEventListener("click", () => decide("deny", userCode));
}

main().catch((error) => say(`The page failed: ${error.message}`));
