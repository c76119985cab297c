/** Public API of the diagnose probe (used by `mailshift diagnose` and, later, `endpoint test`). */
export { runDiagnose, DEFAULT_TIMEOUT_MS, MEASURED_RATE_MSGS_PER_S, MEASURED_RATE_BYTES_PER_S, type DiagnoseDeps } from './diagnose-probe.ts';
export { DIAGNOSE_CODES, verdict, exitCodeForVerdict, formatElapsed, type DiagnoseCode, type DiagnoseVerdict } from './diagnose-codes.ts';
export * from './diagnose-types.ts';
export { formatReport } from './report-format.ts';
