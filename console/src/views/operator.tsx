import { useEffect, useState } from "preact/hooks";
import { MODEL_INFO } from "../../../src/client/index.js";
import { admin, session } from "../api.js";
import { credits, dateTime, errorText } from "../format.js";
import { Empty, ErrorNote, PageHead, Spinner } from "../ui.js";

/**
 * Operator mode: the admin API (/admin/v1) behind PEEL_ADMIN_TOKEN — accounts and their credits
 * and keys, maintenance and model/feature switches, callback deliveries with replay.
 */
export function Operator({ tab }: { tab: string }) {
  const [token, setToken] = useState(session.adminToken);
  if (!token) {
    return (
      <TokenForm
        onToken={(t) => {
          session.adminToken = t;
          setToken(t);
        }}
      />
    );
  }
  const leave = () => {
    session.adminToken = null;
    setToken(null);
  };
  const tabs = [
    ["accounts", "Accounts"],
    ["switches", "Switches"],
    ["deliveries", "Deliveries"],
  ];
  return (
    <div>
      <PageHead title="Operator">
        <button type="button" class="btn btn-ghost btn-small" onClick={leave}>
          Leave operator mode
        </button>
      </PageHead>
      <nav class="tabs" aria-label="Operator">
        {tabs.map(([id, label]) => (
          <a
            key={id}
            href={`#/operator/${id}`}
            class={tab === id ? "tab active" : "tab"}
            aria-current={tab === id ? "page" : undefined}
          >
            {label}
          </a>
        ))}
      </nav>
      {tab === "switches" ? (
        <Switches token={token} />
      ) : tab === "deliveries" ? (
        <Deliveries token={token} />
      ) : (
        <Accounts token={token} />
      )}
    </div>
  );
}

function TokenForm({ onToken }: { onToken: (t: string) => void }) {
  const [value, setValue] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await admin(value.trim(), "GET", "/switches");
      onToken(value.trim());
    } catch (err) {
      const status = (err as { status?: number }).status;
      setError(status === 401 ? "That token was not accepted (or the admin API is off: PEEL_ADMIN_TOKEN)." : errorText(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="signin">
      <form class="card signin-card" onSubmit={submit}>
        <h1>Operator mode</h1>
        <p class="muted">The admin token (PEEL_ADMIN_TOKEN) of this server. It stays in this browser tab only.</p>
        <label class="field">
          <span class="label">Admin token</span>
          <input
            type="password"
            autocomplete="off"
            value={value}
            onInput={(e) => setValue((e.target as HTMLInputElement).value)}
          />
        </label>
        <ErrorNote error={error} />
        <button type="submit" class="btn btn-primary btn-block" disabled={busy || !value.trim()}>
          Open operator mode
        </button>
        <p class="small">
          <a href="#/playground">Back to the console</a>
        </p>
      </form>
    </div>
  );
}

interface Account {
  id: string;
  name: string;
  unmetered: boolean;
  maxRunning: number | null;
  createdAt: number;
  disabled: boolean;
}

function Accounts({ token }: { token: string }) {
  const [list, setList] = useState<Account[] | null>(null);
  const [open, setOpen] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [name, setName] = useState("");
  const [grant, setGrant] = useState("1000");
  const load = () =>
    admin<Account[]>(token, "GET", "/accounts").then(
      (a) => setList([...a].sort((x, y) => y.createdAt - x.createdAt)),
      (e) => setError(errorText(e)),
    );
  useEffect(() => {
    load();
  }, [token]);
  const create = async (e: Event) => {
    e.preventDefault();
    try {
      const a = await admin<Account>(token, "POST", "/accounts", { name: name.trim(), credits: Number(grant) || 0 });
      setName("");
      await load();
      setOpen(a.id);
    } catch (err) {
      setError(errorText(err));
    }
  };
  return (
    <div>
      <form class="card inline-form" onSubmit={create}>
        <label class="field">
          <span class="label">New account</span>
          <input placeholder="Name" value={name} onInput={(e) => setName((e.target as HTMLInputElement).value)} />
        </label>
        <label class="field narrow">
          <span class="label">Credits</span>
          <input inputMode="numeric" value={grant} onInput={(e) => setGrant((e.target as HTMLInputElement).value)} />
        </label>
        <button type="submit" class="btn btn-primary" disabled={!name.trim()}>
          Create
        </button>
      </form>
      <ErrorNote error={error} />
      {list === null ? (
        <Spinner />
      ) : list.length === 0 ? (
        <Empty title="No accounts yet" />
      ) : (
        <ul class="rows">
          {list.map((a) => (
            <li key={a.id} class="row-item">
              <button
                type="button"
                class="row-head"
                aria-expanded={open === a.id}
                onClick={() => setOpen(open === a.id ? null : a.id)}
              >
                <span class="row-title">{a.name}</span>
                <span class="mono muted small">{a.id}</span>
                {a.disabled ? <span class="badge badge-fail">disabled</span> : null}
                {a.unmetered ? <span class="badge badge-queuing">unmetered</span> : null}
                <span class="muted small row-end">{dateTime(a.createdAt)}</span>
              </button>
              {open === a.id ? <AccountPanel token={token} account={a} onChanged={load} /> : null}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

function AccountPanel({ token, account, onChanged }: { token: string; account: Account; onChanged: () => void }) {
  const [balance, setBalance] = useState<number | null>(null);
  const [amount, setAmount] = useState("");
  const [note, setNote] = useState("");
  const [newKey, setNewKey] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const refresh = () =>
    admin<{ balance: number }>(token, "GET", `/accounts/${account.id}`).then(
      (a) => setBalance(a.balance),
      (e) => setError(errorText(e)),
    );
  useEffect(() => {
    refresh();
  }, [account.id]);
  const act = (fn: () => Promise<unknown>) => async (e?: Event) => {
    e?.preventDefault();
    setError(null);
    try {
      await fn();
    } catch (err) {
      setError(errorText(err));
    }
  };
  const doGrant = act(async () => {
    const n = Number(amount);
    if (!Number.isFinite(n) || n === 0) throw new Error("Enter an amount (negative to debit).");
    const r = await admin<{ balance: number }>(token, "POST", `/accounts/${account.id}/credits`, {
      amount: n,
      note: note || null,
    });
    setBalance(r.balance);
    setAmount("");
    setNote("");
  });
  const toggle = act(async () => {
    await admin(token, "PATCH", `/accounts/${account.id}`, { disabled: !account.disabled });
    onChanged();
  });
  const makeKey = act(async () => {
    const r = await admin<{ key: string }>(token, "POST", "/keys", { name: "console", accountId: account.id });
    setNewKey(r.key);
  });
  return (
    <div class="row-panel">
      <p>
        Balance: <strong>{balance === null ? "…" : account.unmetered ? "unmetered" : credits(balance)}</strong>
      </p>
      <form class="inline-form" onSubmit={doGrant}>
        <label class="field narrow">
          <span class="label">Grant credits</span>
          <input inputMode="numeric" value={amount} onInput={(e) => setAmount((e.target as HTMLInputElement).value)} />
        </label>
        <label class="field">
          <span class="label">Note</span>
          <input value={note} onInput={(e) => setNote((e.target as HTMLInputElement).value)} />
        </label>
        <button type="submit" class="btn">
          Grant
        </button>
      </form>
      <div class="button-row">
        <button type="button" class="btn" onClick={() => makeKey()}>
          New API key
        </button>
        <button type="button" class={account.disabled ? "btn" : "btn btn-danger"} onClick={() => toggle()}>
          {account.disabled ? "Enable account" : "Disable account"}
        </button>
      </div>
      {newKey ? (
        <p class="note">
          New key (shown once): <code class="mono select-all">{newKey}</code>
        </p>
      ) : null}
      <ErrorNote error={error} />
    </div>
  );
}

const FEATURES = ["feature:4K", "feature:image_input", "feature:uploads"];

function Switches({ token }: { token: string }) {
  const [sw, setSw] = useState<{ maintenance: boolean; disabledModels: string[] } | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    admin<typeof sw>(token, "GET", "/switches").then(setSw, (e) => setError(errorText(e)));
  }, [token]);
  const put = async (path: string, body: unknown) => {
    setError(null);
    try {
      setSw(await admin<typeof sw>(token, "PUT", path, body));
    } catch (err) {
      setError(errorText(err));
    }
  };
  if (!sw) return error ? <ErrorNote error={error} /> : <Spinner />;
  const off = new Set(sw.disabledModels);
  return (
    <div class="switches">
      <ErrorNote error={error} />
      <section class="card">
        <Toggle
          label="Maintenance mode"
          hint="New tasks are refused (455); reads, running tasks and callbacks go on."
          on={sw.maintenance}
          onChange={(on) => put("/maintenance", { on })}
        />
      </section>
      <h2>Models</h2>
      <section class="card">
        {Object.keys(MODEL_INFO).map((m) => (
          <Toggle key={m} label={m} on={!off.has(m)} onChange={(on) => put(`/models/${m}`, { enabled: on })} />
        ))}
      </section>
      <h2>Features</h2>
      <section class="card">
        {FEATURES.map((f) => (
          <Toggle
            key={f}
            label={f.slice("feature:".length)}
            on={!off.has(f)}
            onChange={(on) => put(`/models/${f}`, { enabled: on })}
          />
        ))}
      </section>
    </div>
  );
}

function Toggle({ label, hint, on, onChange }: { label: string; hint?: string; on: boolean; onChange: (on: boolean) => void }) {
  return (
    <label class="toggle">
      <span class="toggle-text">
        <span class="toggle-label">{label}</span>
        {hint ? <span class="muted small">{hint}</span> : null}
      </span>
      <input
        type="checkbox"
        role="switch"
        class="switch"
        aria-checked={on}
        checked={on}
        onChange={(e) => onChange((e.target as HTMLInputElement).checked)}
      />
    </label>
  );
}

interface Delivery {
  id: string;
  taskId: string | null;
  accountId: string;
  url: string;
  state: string;
  attemptCount: number;
  createdAt: number;
  lastStatus: number | null;
  lastError: string | null;
}

function Deliveries({ token }: { token: string }) {
  const [state, setState] = useState("");
  const [list, setList] = useState<Delivery[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const load = () =>
    admin<Delivery[]>(token, "GET", `/deliveries?limit=100${state ? `&state=${state}` : ""}`).then(setList, (e) =>
      setError(errorText(e)),
    );
  useEffect(() => {
    setList(null);
    load();
  }, [token, state]);
  const replay = async (id: string | null) => {
    setError(null);
    try {
      const r = id
        ? await admin<{ replayed: number }>(token, "POST", `/deliveries/${id}/replay`)
        : await admin<{ replayed: number }>(token, "POST", "/deliveries/replay-failed", { since: Date.now() - 86_400_000 });
      setNotice(`${r.replayed} ${r.replayed === 1 ? "delivery" : "deliveries"} queued again.`);
      load();
    } catch (err) {
      setError(errorText(err));
    }
  };
  return (
    <div>
      <div class="toolbar">
        <label class="field inline">
          <span class="label">State</span>
          <select value={state} onChange={(e) => setState((e.target as HTMLSelectElement).value)}>
            <option value="">All</option>
            {["pending", "delivered", "failed", "stopped"].map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <button type="button" class="btn btn-small" onClick={() => replay(null)}>
          Replay failed (last 24 h)
        </button>
      </div>
      {notice ? <p class="note">{notice}</p> : null}
      <ErrorNote error={error} />
      {list === null ? (
        <Spinner />
      ) : list.length === 0 ? (
        <Empty title="No deliveries" />
      ) : (
        <table class="table">
          <thead>
            <tr>
              <th>Created</th>
              <th>State</th>
              <th>URL</th>
              <th>Last result</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {list.map((d) => (
              <tr key={d.id}>
                <td data-label="Created">{dateTime(d.createdAt)}</td>
                <td data-label="State">
                  <span class={`badge badge-${d.state === "delivered" ? "success" : d.state === "pending" ? "queuing" : "fail"}`}>
                    {d.state}
                  </span>{" "}
                  <span class="muted small">×{d.attemptCount}</span>
                </td>
                <td data-label="URL" class="mono small ellipsis">
                  {d.url}
                </td>
                <td data-label="Last result" class="small">
                  {d.lastStatus !== null ? `HTTP ${d.lastStatus}` : (d.lastError ?? "—")}
                </td>
                <td>
                  {d.state !== "pending" ? (
                    <button type="button" class="btn btn-small" onClick={() => replay(d.id)}>
                      Replay
                    </button>
                  ) : null}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
