import { useState } from 'react';

/**
 * The busy flag and error of a form's async action: the error is cleared when the action starts
 * and set when it throws (then `onError` sees it too); busy lasts until it settles either way.
 */
export function useAction() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  async function run(action: () => Promise<void>, onError?: (err: unknown) => void): Promise<void> {
    setBusy(true);
    setError(null);
    try {
      await action();
    } catch (err) {
      setError(err);
      onError?.(err);
    } finally {
      setBusy(false);
    }
  }
  return { busy, error, setError, run };
}
