/**
 * The peer: mbsync (Debian isync 1.4.4) copying every folder 1:1 from source to target.
 *
 * Far = the source, Near = the target, `Sync Pull` (far -> near), `Create Near`, nothing is ever
 * expunged or removed, `CopyArrivalDate yes` keeps INTERNALDATE. Both stores use the same transport
 * as mailshift in the same run (implicit TLS with the test bed's CA, or plain on loopback).
 */
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface MbsyncEndpoint {
  host: string;
  port: number;
  user: string;
  password: string;
  tls: boolean;
  caFile: string;
}

function quote(value: string): string {
  return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

function account(name: string, e: MbsyncEndpoint): string {
  return [
    `IMAPAccount ${name}`,
    `Host ${e.host}`,
    `Port ${e.port}`,
    `User ${quote(e.user)}`,
    `Pass ${quote(e.password)}`,
    e.tls ? 'SSLType IMAPS' : 'SSLType None',
    ...(e.tls ? [`CertificateFile ${e.caFile}`] : []),
    // LOGIN over a plain loopback connection must be allowed explicitly.
    'AuthMechs LOGIN PLAIN',
    '',
    `IMAPStore ${name}-store`,
    `Account ${name}`,
    '',
  ].join('\n');
}

/** Writes the config (0600: it holds passwords) and the sync-state directory; returns the config path. */
export async function writeMbsyncConfig(dir: string, source: MbsyncEndpoint, target: MbsyncEndpoint, targetOnlyFolders: readonly string[] = []): Promise<string> {
  await mkdir(join(dir, 'state'), { recursive: true });
  const config = [
    account('source', source),
    account('target', target),
    'Channel migrate',
    'Far :source-store:',
    'Near :target-store:',
    // Patterns apply to both sides: folders only the target has (its own special folders) are left out.
    `Patterns * ${targetOnlyFolders.map((f) => `!${quote(f)}`).join(' ')}`.trimEnd(),
    'Create Near',
    'Remove None',
    'Expunge None',
    'Sync Pull',
    'CopyArrivalDate yes',
    `SyncState ${join(dir, 'state')}/`,
    '',
  ].join('\n');
  const path = join(dir, 'mbsyncrc');
  await writeFile(path, config, { mode: 0o600 });
  await chmod(path, 0o600);
  return path;
}
