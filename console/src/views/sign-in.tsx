import { useState } from "preact/hooks";
import { clientFor } from "../api.js";
import { errorText } from "../format.js";
import { ErrorNote } from "../ui.js";

/** Sign in with an API key: checked against the server (a credit read) before it is kept. */
export function SignIn({ onSignIn }: { onSignIn: (key: string) => void }) {
  const [key, setKey] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const submit = async (e: Event) => {
    e.preventDefault();
    const k = key.trim();
    if (!k) return setError("Enter an API key.");
    setBusy(true);
    setError(null);
    try {
      await clientFor(k).credits();
      onSignIn(k);
    } catch (err) {
      const msg = errorText(err);
      setError(msg === "You do not have access permissions" ? "That key was not accepted. Check it and try again." : msg);
    } finally {
      setBusy(false);
    }
  };

  return (
    <div class="signin">
      <form class="card signin-card" onSubmit={submit}>
        <h1>Sign in</h1>
        <p class="muted">Use an API key of your peel account. It stays in this browser tab only.</p>
        <label class="field">
          <span class="label">API key</span>
          <input
            type="password"
            name="apiKey"
            autocomplete="off"
            spellcheck={false}
            placeholder="peel_…"
            value={key}
            onInput={(e) => setKey((e.target as HTMLInputElement).value)}
          />
        </label>
        <ErrorNote error={error} />
        <button type="submit" class="btn btn-primary btn-block" disabled={busy}>
          {busy ? "Checking…" : "Sign in"}
        </button>
        <p class="muted small">
          No key yet? An operator makes one with <code>peel keys create --name you</code>.
        </p>
        <p class="small">
          <a href="#/operator">Operator mode</a>
        </p>
      </form>
    </div>
  );
}
