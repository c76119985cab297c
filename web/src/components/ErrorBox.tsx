import type { ReactNode } from 'react';
import { ApiError } from '../api.ts';

/** An error with the catalog's message, what to do, and its code. */
export function ErrorBox({ error, title }: { error: unknown; title?: ReactNode }) {
  if (!error) return null;
  const e = error instanceof ApiError ? error : null;
  const message = e ? e.message : error instanceof Error ? error.message : String(error);
  return (
    <div className="alert error" role="alert">
      {title && <strong>{title}</strong>}
      <div>{message}</div>
      {e?.remediation && <div className="remediation"><b>What to do:</b> {e.remediation}</div>}
      {e && e.code !== 'NETWORK' && <div className="error-code">{e.code}</div>}
    </div>
  );
}
