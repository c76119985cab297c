/**
 * The diagnose probe and the endpoint test phrase their hints for the command line ("pass --user").
 * Through the API (the dashboard, any client) those flags mean nothing, so the verdicts, step
 * summaries and notes of a test result or a diagnose report are reworded here, in a copy; the CLI
 * keeps its own wording. Only known phrases change; codes and every other field stay as they are.
 */
import type { EndpointTestResult } from '../app/endpoint-service.js';
import type { DiagnoseReport } from '../diagnose/diagnose-types.js';

type Rewording = readonly [cli: string, api: string];

const COMMON: readonly Rewording[] = [
  ['no --user given', 'no user given'],
  ['Pass --user to check what a migration can use.', 'Give a user to check what a migration can use.'],
  ['give a mailbox (--mailbox ADDRESS) to test', 'give a mailbox to test'],
  ['(--accept-untrusted-certificates)', '(acceptUntrustedCertificates)'],
];

/** An endpoint test: a mailbox (admin on its behalf) or a user with a password. */
const FOR_ENDPOINT_TEST: readonly Rewording[] = [
  ['(no login was tried: pass --user to test credentials)', '(no login was tried: give a mailbox or user to test sign-in)'],
  ...COMMON,
];

/** POST /api/diagnose: the request has user and password. */
const FOR_DIAGNOSE: readonly Rewording[] = [
  ['(no login was tried: pass --user to test credentials)', '(no login was tried: give a user and password to test sign-in)'],
  ...COMMON,
];

function reword<T>(value: T, table: readonly Rewording[]): T {
  if (typeof value === 'string') {
    let s: string = value;
    for (const [cli, api] of table) if (s.includes(cli)) s = s.split(cli).join(api);
    return s as T;
  }
  if (Array.isArray(value)) return value.map((v: unknown) => reword(v, table)) as T;
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, reword(v, table)])) as T;
  }
  return value;
}

export function apiDiagnoseReport(report: DiagnoseReport, table: readonly Rewording[] = FOR_DIAGNOSE): DiagnoseReport {
  const steps = report.steps.map((s) => ({
    ...s, summary: reword(s.summary, table),
    notes: s.notes.map((n) => ({ ...n, message: reword(n.message, table) })),
    ...(s.verdict ? { verdict: reword(s.verdict, table) } : {}),
  }));
  return { ...report, verdict: reword(report.verdict, table), steps };
}

export function apiTestResult(result: EndpointTestResult): EndpointTestResult {
  return {
    ...result,
    verdict: reword(result.verdict, FOR_ENDPOINT_TEST),
    ...(result.untrustedCertificateAccepted ? { untrustedCertificateAccepted: reword(result.untrustedCertificateAccepted, FOR_ENDPOINT_TEST) } : {}),
    warnings: result.warnings.map((w) => ({ ...w, message: reword(w.message, FOR_ENDPOINT_TEST) })),
    notes: reword(result.notes, FOR_ENDPOINT_TEST),
    report: apiDiagnoseReport(result.report, FOR_ENDPOINT_TEST),
  };
}
