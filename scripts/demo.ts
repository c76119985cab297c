/**
 * `npm run demo`: a real migration end to end on this machine. Starts a source Dovecot (Dovecot
 * folder names) and a target Dovecot (Exchange-style special-use folders), fills the source with
 * sample mail, runs `mailshift migrate` exactly as an admin would, then `mailshift verify --deep`.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fillMailbox, generateCorpus, startDovecot, stopAllDovecots } from '../src/testbed/index.js';

const messages = Number(process.env.DEMO_MESSAGES ?? 2000);
const user = 'alice@example.com';

function run(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(import.meta.dirname, '..', 'bin', 'mailshift.js'), ...args], { stdio: 'inherit', env: { ...process.env, ...env } });
    child.on('exit', (code) => resolve(code ?? 1));
  });
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'mailshift-demo-'));
  console.log('Starting a source and a target Dovecot on 127.0.0.1 …');
  const [source, target] = await Promise.all([
    startDovecot({ name: 'demo-src', folderStyle: 'dovecot', users: [{ user, password: 'source-secret' }] }),
    startDovecot({ name: 'demo-dst', folderStyle: 'exchange', users: [{ user, password: 'target-secret' }] }),
  ]);
  try {
    console.log(`  source: imaps://127.0.0.1:${source.imapsPort} (Sent, Trash, Junk, Drafts)`);
    console.log(`  target: imaps://127.0.0.1:${target.imapsPort} (Sent Items, Deleted Items, Junk Email, Drafts, Archive)`);
    console.log(`Filling the source with ${messages} sample messages in nested, non-ASCII folders, with flags and keywords …`);
    const corpus = generateCorpus({ messages, seed: 7, sizeMix: 'realistic' });
    await fillMailbox(source, { user, password: 'source-secret' }, corpus);
    const passwordFile = join(work, 'source-password');
    writeFileSync(passwordFile, 'source-secret\n', { mode: 0o600 });
    const common = [
      '--source-host', '127.0.0.1', '--source-port', String(source.imapsPort), '--source-security', 'ssl', '--source-user', user,
      '--source-password-file', passwordFile, '--source-ca', source.caFile,
      '--target-host', '127.0.0.1', '--target-port', String(target.imapsPort), '--target-security', 'ssl', '--target-user', user,
      '--target-ca', target.caFile,
    ];
    const env = { MAILSHIFT_TARGET_PASSWORD: 'target-secret' };
    console.log('\n$ mailshift migrate … (passwords from a file and the environment, never the command line)\n');
    const migrated = await run(['migrate', ...common, '--state', join(work, 'state.sqlite')], env);
    console.log('\n$ mailshift migrate … (second run: nothing left to copy)\n');
    const again = await run(['migrate', ...common, '--state', join(work, 'state.sqlite')], env);
    console.log('\n$ mailshift verify --deep … (independent byte-by-byte comparison)\n');
    const verified = await run(['verify', ...common, '--deep'], env);
    const ok = migrated === 0 && again === 0 && verified === 0;
    console.log(ok ? '\nDemo finished: every message is on the target exactly once.' : `\nDemo FAILED (exit codes ${migrated}, ${again}, ${verified}).`);
    process.exitCode = ok ? 0 : 1;
  } finally {
    await stopAllDovecots();
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
