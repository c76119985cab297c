/** Passwords come from the environment, a file, or a hidden prompt: never from argv (visible in ps). */
import { readFileSync } from 'node:fs';
import { MailshiftError } from '../domain/errors.js';

export function readPasswordFile(path: string): string {
  try {
    // Only the first line: editors add a trailing newline that is not part of the password.
    return readFileSync(path, 'utf8').split(/\r?\n/)[0] ?? '';
  } catch (err) {
    throw new MailshiftError('USAGE_FILE_UNREADABLE', { path, reason: (err as NodeJS.ErrnoException).code ?? String(err) });
  }
}

export async function promptHidden(question: string): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(question);
  return await new Promise<string>((resolve, reject) => {
    let value = '';
    stdin.setRawMode?.(true);
    stdin.resume();
    stdin.setEncoding('utf8');
    const onData = (chunk: string): void => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') {
          cleanup();
          process.stderr.write('\n');
          resolve(value);
          return;
        }
        if (ch === '\u0003') {
          cleanup();
          reject(new MailshiftError('USAGE_INVALID_OPTION', { detail: 'Interrupted.' }));
          return;
        }
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1); else value += ch;
      }
    };
    const cleanup = (): void => {
      stdin.off('data', onData);
      stdin.setRawMode?.(false);
      stdin.pause();
    };
    stdin.on('data', onData);
  });
}

export async function resolvePassword(side: 'source' | 'target', user: string, file: string | undefined, env: NodeJS.ProcessEnv): Promise<string> {
  if (file) return readPasswordFile(file);
  const fromEnv = env[`MAILSHIFT_${side.toUpperCase()}_PASSWORD`];
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  if (process.stdin.isTTY && process.stderr.isTTY) return promptHidden(`Password for ${side} account ${user}: `);
  throw new MailshiftError('USAGE_PASSWORD_MISSING', { side, user });
}
