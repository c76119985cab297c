import { useState, type FormEvent } from 'react';
import { checkToken, setToken } from '../api.ts';
import { ErrorBox } from '../components/ErrorBox.tsx';
import { useAction } from '../use-action.ts';

/** Asks for the admin token, checks it against the API, keeps it in session storage. */
export function TokenPage({ expired }: { expired: boolean }) {
  const [value, setValue] = useState('');
  const { busy, error, run } = useAction();

  async function submit(e: FormEvent) {
    e.preventDefault();
    const token = value.trim();
    if (!token) return;
    await run(async () => {
      await checkToken(token);
      setToken(token);
    });
  }

  return (
    <main id="main" className="token-page">
      <div className="panel">
        <h1>Sign in to mailshift</h1>
        {expired && <div className="alert warn" role="status">Your session ended or the token was refused. Enter the admin token again.</div>}
        <p className="muted">
          Enter the admin token of this service. <code>mailshift serve</code> prints it once when it first starts;
          it is also the value of <code>MAILSHIFT_ADMIN_TOKEN</code> when that is set. The token is kept in this
          browser tab only (session storage) and is forgotten when the tab closes.
        </p>
        <form onSubmit={submit}>
          <div className="field">
            <label htmlFor="token">Admin token</label>
            <input id="token" type="password" autoComplete="off" spellCheck={false} value={value} onChange={(e) => setValue(e.target.value)} required autoFocus aria-invalid={error ? true : undefined} aria-describedby={error ? 'token-error' : undefined} />
          </div>
          <div id="token-error"><ErrorBox error={error} /></div>
          <button type="submit" className="primary" disabled={busy || !value.trim()}>{busy ? 'Checking…' : 'Continue'}</button>
        </form>
      </div>
    </main>
  );
}
