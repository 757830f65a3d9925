import { useEffect, useMemo, useState } from "preact/hooks";
import type { PeelClient } from "../../src/client/index.js";
import { clientFor, session } from "./api.js";
import { credits } from "./format.js";
import { type Route, useRoute } from "./route.js";
import { Credits } from "./views/credits.js";
import { History } from "./views/history.js";
import { Operator } from "./views/operator.js";
import { Playground } from "./views/playground.js";
import { SignIn } from "./views/sign-in.js";
import { TaskDetail } from "./views/task-detail.js";

const NAV: { hash: string; label: string; active: (r: Route) => boolean }[] = [
  { hash: "#/playground", label: "Playground", active: (r) => r.view === "playground" },
  { hash: "#/history", label: "History", active: (r) => r.view === "history" || r.view === "task" },
  { hash: "#/credits", label: "Credits", active: (r) => r.view === "credits" },
  { hash: "#/operator", label: "Operator", active: (r) => r.view === "operator" },
];

export function App() {
  const route = useRoute();
  const [apiKey, setApiKey] = useState(session.apiKey);
  const client = useMemo(() => (apiKey ? clientFor(apiKey) : null), [apiKey]);
  const [balance, setBalance] = useState<number | null>(null);
  const refreshBalance = useMemo(
    () => () => {
      client?.credits().then(setBalance, () => setBalance(null));
    },
    [client],
  );
  useEffect(refreshBalance, [refreshBalance]);

  const signOut = () => {
    session.apiKey = null;
    setApiKey(null);
    setBalance(null);
  };
  const signedIn = (key: string) => {
    session.apiKey = key;
    setApiKey(key);
  };

  // Operator mode has its own credential (the admin token): it works without an API key.
  const needsKey = route.view !== "operator";
  return (
    <div class="shell">
      <header class="top">
        <a class="brand" href="#/playground" aria-label="peel console home">
          <span class="brand-mark" aria-hidden="true">
            p
          </span>
          <span class="brand-name">peel</span>
          <span class="brand-sub">console</span>
        </a>
        {client || !needsKey ? (
          <nav class="nav" aria-label="Main">
            {NAV.map((n) => (
              <a
                key={n.hash}
                href={n.hash}
                class={n.active(route) ? "nav-item active" : "nav-item"}
                aria-current={n.active(route) ? "page" : undefined}
              >
                {n.label}
              </a>
            ))}
          </nav>
        ) : null}
        {client ? (
          <div class="account">
            {balance !== null ? (
              <a class="balance" href="#/credits" title="Available credits">
                {credits(balance)} <span class="muted">credits</span>
              </a>
            ) : null}
            <button type="button" class="btn btn-ghost btn-small" onClick={signOut}>
              Sign out
            </button>
          </div>
        ) : null}
      </header>
      <main class="main">{body(route, client, signedIn, refreshBalance)}</main>
    </div>
  );
}

function body(route: Route, client: PeelClient | null, signedIn: (k: string) => void, refreshBalance: () => void) {
  if (route.view === "operator") return <Operator tab={route.tab} />;
  if (!client) return <SignIn onSignIn={signedIn} />;
  switch (route.view) {
    case "history":
      return <History client={client} />;
    case "task":
      return <TaskDetail client={client} id={route.id} />;
    case "credits":
      return <Credits client={client} />;
    default:
      return <Playground client={client} onSettled={refreshBalance} />;
  }
}
