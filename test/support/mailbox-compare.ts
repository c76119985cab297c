/** Independent checks on what is on a server, from readMailbox (which shares no code with mailshift). */
import type { MailboxMessage } from '../../src/testbed/index.js';

export function fingerprint(m: { raw: Buffer; flags: string[]; internalDate: number }): string {
  return `${m.raw.toString('base64')}|${[...m.flags].filter((f) => f !== '\\Recent').sort().join(',')}|${Math.floor(m.internalDate / 1000)}`;
}

/** folder → sorted fingerprints; `rename` maps a source folder to where it should land on the target. */
export function byFolder(messages: readonly MailboxMessage[], rename: (folder: string) => string = (f) => f): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const m of messages) {
    const folder = rename(m.folder);
    const list = out.get(folder) ?? [];
    list.push(fingerprint(m));
    out.set(folder, list);
  }
  for (const list of out.values()) list.sort();
  return out;
}

export const SOURCE_TO_EXCHANGE: Record<string, string> = { Sent: 'Sent Items', Trash: 'Deleted Items', Junk: 'Junk Email' };
export const toExchange = (folder: string): string => {
  const top = folder.split('/')[0]!;
  const mapped = SOURCE_TO_EXCHANGE[top];
  return mapped ? [mapped, ...folder.split('/').slice(1)].join('/') : folder;
};
