/** Tells screen readers that a connection test runs, and how it ended. */
export function TestAnnouncement({ busy, outcome }: { busy: boolean; outcome: { ok: boolean; verdict: { message: string } } | null }) {
  const text = busy ? 'Testing the connection' : outcome ? (outcome.ok ? 'The connection test passed' : `The connection test failed: ${outcome.verdict.message}`) : '';
  return <div aria-live="polite" className="visually-hidden">{text}</div>;
}
