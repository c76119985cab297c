/** Turning failures into one clear message, its remedy and an exit code — never a stack trace. */
import { EXIT_CODES, exitCodeFor, isMailshiftError } from '../domain/errors.js';

export function reportFailure(err: unknown, json: boolean): number {
  const code = exitCodeFor(err);
  if (isMailshiftError(err)) {
    if (json) process.stdout.write(`${JSON.stringify({ status: 'failed', error: err.toJSON() }, null, 2)}\n`);
    else process.stderr.write(`mailshift: ${err.message}\n  What to do: ${err.remediation}\n  (${err.code})\n`);
  } else {
    const message = err instanceof Error ? err.message : String(err);
    if (json) process.stdout.write(`${JSON.stringify({ status: 'failed', error: { code: 'INTERNAL', message } }, null, 2)}\n`);
    else process.stderr.write(`mailshift: unexpected error: ${message}\n  Run again with MAILSHIFT_DEBUG=1 for details; the migration resumes where it stopped.\n`);
    if (process.env.MAILSHIFT_DEBUG && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
  }
  return code === EXIT_CODES.success ? EXIT_CODES.internal : code;
}
