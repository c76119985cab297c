/** Runs the real `mailshift` binary as a child process, as an admin would. */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { DovecotServer } from '../../src/testbed/index.js';

export const BIN = join(import.meta.dirname, '..', '..', 'bin', 'mailshift.js');

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function runCli(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  options: { killAfterMs?: number; timeoutMs?: number; /** Polled every 20 ms: SIGKILL once it says so. */ killWhen?: () => boolean } = {},
): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { ...process.env, MAILSHIFT_CRASH_AT: '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const killer = options.killAfterMs !== undefined ? setTimeout(() => child.kill('SIGKILL'), options.killAfterMs) : null;
    const watcher = options.killWhen ? setInterval(() => { if (options.killWhen!()) child.kill('SIGKILL'); }, 20) : null;
    const guard = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 240_000);
    child.on('exit', (code, signal) => {
      if (killer) clearTimeout(killer);
      if (watcher) clearInterval(watcher);
      clearTimeout(guard);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** Connection flags for a test-bed pair, over implicit TLS with the instances' CAs. */
export function connectionArgs(source: DovecotServer, sourceUser: string, target: DovecotServer, targetUser: string): string[] {
  return [
    '--source-host', '127.0.0.1', '--source-port', String(source.imapsPort), '--source-security', 'ssl', '--source-user', sourceUser, '--source-ca', source.caFile,
    '--target-host', '127.0.0.1', '--target-port', String(target.imapsPort), '--target-security', 'ssl', '--target-user', targetUser, '--target-ca', target.caFile,
  ];
}
