/** Small pieces both apps use: the page frame, a form field, a status line. No inline styles (the CSP forbids them). */
import { type ReactNode, useEffect, useState } from "react";

/** The current path; changes on back/forward and on `navigate`. */
export function usePath(): string {
  const [path, setPath] = useState(location.pathname);
  useEffect(() => {
    const update = () => setPath(location.pathname);
    window.addEventListener("popstate", update);
    return () => window.removeEventListener("popstate", update);
  }, []);
  return path;
}

export function Frame(props: { title: string; site: string; nav?: ReactNode; children: ReactNode }) {
  return (
    <div className="frame">
      <header className="top">
        <span className="brand">
          Opta <span className="site">{props.site}</span>
        </span>
        {props.nav ? <nav className="nav">{props.nav}</nav> : null}
      </header>
      <main className="content">
        <h1>{props.title}</h1>
        {props.children}
      </main>
    </div>
  );
}

export function Field(props: {
  label: string;
  name: string;
  type?: string;
  value: string;
  onChange: (value: string) => void;
  autoComplete?: string;
  required?: boolean;
  minLength?: number;
}) {
  return (
    <label className="field">
      <span>{props.label}</span>
      <input
        name={props.name}
        type={props.type ?? "text"}
        value={props.value}
        autoComplete={props.autoComplete}
        required={props.required}
        minLength={props.minLength}
        onChange={(event) => props.onChange(event.target.value)}
      />
    </label>
  );
}

/** One line that says what happened: `error` in red, else muted. */
export function Status(props: { text: string; error?: boolean }) {
  if (!props.text) return null;
  return (
    <p className={props.error ? "status error" : "status"} role={props.error ? "alert" : "status"}>
      {props.text}
    </p>
  );
}

export function Section(props: { title: string; children: ReactNode; danger?: boolean }) {
  return (
    <section className={props.danger ? "card danger" : "card"}>
      <h2>{props.title}</h2>
      {props.children}
    </section>
  );
}
