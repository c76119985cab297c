/**
 * What one connection costs the machine: TCP, TLS, greeting, CAPABILITY, LOGIN and LOGOUT through
 * mailshift's own store (src/imap), over 24 connections, 4 at a time. CPU is counted for the whole
 * machine (/proc/stat: both Dovecots, their login processes, the kernel, this process) and for this
 * process alone. A migration with the default 3 folder workers opens 12 connections; mbsync opens 2.
 */
import { openMailStore } from '../../src/imap/imapflow-mail-store.js';
import type { ConnectionSettings } from '../../src/domain/mail-types.js';
import type { Endpoint } from './ceiling.js';
import { machineBusySeconds } from './machine-cpu.js';

export interface ConnectionCost {
  connections: number;
  wallMsEach: number;
  machineCpuMsEach: number;
  ownCpuMsEach: number;
}

const CONNECTIONS = 24;
const AT_ONCE = 4;
export async function connectionCost(e: Endpoint): Promise<ConnectionCost> {
  const settings: ConnectionSettings = {
    host: e.host, port: e.port, security: e.tls ? 'ssl' : 'none', user: e.user, password: e.password,
    ...(e.tls ? { ca: e.caPem } : {}),
  };
  const once = async (): Promise<void> => {
    const store = await openMailStore(settings, { side: 'source' });
    await store.close();
  };
  // The first connection builds the shared TLS context (the root store): a once-per-process cost.
  await once();
  const busy0 = machineBusySeconds();
  const own0 = process.cpuUsage();
  const started = performance.now();
  for (let done = 0; done < CONNECTIONS; done += AT_ONCE) await Promise.all(Array.from({ length: AT_ONCE }, once));
  const wallMs = performance.now() - started;
  const own = process.cpuUsage(own0);
  return {
    connections: CONNECTIONS,
    wallMsEach: wallMs / CONNECTIONS,
    machineCpuMsEach: ((machineBusySeconds() - busy0) * 1000) / CONNECTIONS,
    ownCpuMsEach: (own.user + own.system) / 1000 / CONNECTIONS,
  };
}
