/**
 * The approval page of `opta account login` (RFC 8628): the signed-in user sees which client asks,
 * from which host (the name the CLI sent and the address the request came from), and approves or
 * denies the code. Looking the code up claims it for this user; only they can then decide it.
 */
import { type FormEvent, useEffect, useState } from "react";
import { call, reason, type User } from "../../shared/api.js";
import { Field, Frame, Status } from "../../shared/ui.js";

const CLIENTS: Record<string, string> = { "opta-cli": "The Opta CLI" };

interface Request {
  clientId: string;
  hostname: string | null;
  ip: string | null;
}

type View =
  | { kind: "enter" }
  | { kind: "loading" }
  | { kind: "review"; request: Request }
  | { kind: "done"; text: string }
  | { kind: "failed"; text: string };

export function DevicePage(props: { user: User }) {
  const userCode = new URLSearchParams(location.search).get("user_code")?.trim().toUpperCase() ?? "";
  const [view, setView] = useState<View>(userCode ? { kind: "loading" } : { kind: "enter" });
  const [entered, setEntered] = useState("");

  useEffect(() => {
    if (!userCode) return;
    let stale = false;
    void (async () => {
      const code = await call<{ status?: string; client_id?: string; error?: string }>(
        `/api/auth/device?user_code=${encodeURIComponent(userCode)}`,
      );
      if (stale) return;
      if (!code.ok) {
        return setView({
          kind: "failed",
          text:
            code.body.error === "expired_token"
              ? "This code has expired; run `opta account login` again."
              : "No such code; check what your terminal shows.",
        });
      }
      if (code.body.status !== "pending")
        return setView({ kind: "failed", text: `This code was already ${code.body.status}.` });
      const asking = await call<Partial<Request>>(
        `/api/account/device-request?user_code=${encodeURIComponent(userCode)}`,
      );
      if (stale) return;
      setView({
        kind: "review",
        request: {
          clientId: code.body.client_id ?? asking.body.clientId ?? "unknown",
          hostname: asking.ok ? (asking.body.hostname ?? null) : null,
          ip: asking.ok ? (asking.body.ip ?? null) : null,
        },
      });
    })();
    return () => {
      stale = true;
    };
  }, [userCode]);

  const decide = async (action: "approve" | "deny") => {
    const answer = await call(`/api/auth/device/${action}`, { json: { userCode } });
    if (!answer.ok) return setView({ kind: "failed", text: `That did not work: ${reason(answer)}` });
    setView({
      kind: "done",
      text:
        action === "approve"
          ? "Approved. You can close this page; the terminal is signed in."
          : "Denied. The terminal gets no access.",
    });
  };
  const enter = (event: FormEvent) => {
    event.preventDefault();
    location.assign(`/device?user_code=${encodeURIComponent(entered.trim().toUpperCase())}`);
  };

  return (
    <Frame title="Approve a sign-in" site="accounts">
      {view.kind === "enter" ? (
        <form className="narrow" onSubmit={enter}>
          <Field
            label="Code shown by `opta account login`"
            name="user_code"
            value={entered}
            onChange={setEntered}
            required
          />
          <button type="submit">Continue</button>
        </form>
      ) : null}
      {view.kind === "loading" ? <p className="muted">Looking the code up…</p> : null}
      {view.kind === "review" ? (
        <section className="card" id="review">
          <p>
            <strong id="client">{CLIENTS[view.request.clientId] ?? `A client named "${view.request.clientId}"`}</strong>{" "}
            {view.request.hostname ? (
              <>
                on <strong id="host">{view.request.hostname}</strong>
              </>
            ) : (
              "on a host that did not give its name"
            )}
            {view.request.ip ? <span className="muted"> (from {view.request.ip})</span> : null} asks to sign in to your
            account <strong id="user">{props.user.email}</strong>.
          </p>
          <p>
            Code: <code className="code">{userCode}</code>. Approve only if it is the code your terminal shows and you
            started that login.
          </p>
          <div className="row">
            <button className="primary" type="button" onClick={() => void decide("approve")}>
              Approve
            </button>
            <button type="button" onClick={() => void decide("deny")}>
              Deny
            </button>
          </div>
        </section>
      ) : null}
      {view.kind === "done" ? <Status text={view.text} /> : null}
      {view.kind === "failed" ? <Status text={view.text} error /> : null}
    </Frame>
  );
}
