/**
 * A small TCP delay proxy for the benchmark: listens on 127.0.0.1, forwards every connection to
 * 127.0.0.1:<targetPort>, and delivers each chunk `oneWayMs` after it arrived, in both directions.
 * With oneWayMs = RTT/2 a client sees the given round-trip time on top of loopback, so WAN
 * conditions are reproducible on one machine. It is byte-transparent (TLS passes through).
 *
 * With `mbitPerSecond`, each direction of the proxy is also a link of that bandwidth shared by all its
 * connections (a site's uplink): a chunk is delivered once the link has carried it, plus the delay.
 *
 * Bounded: each direction holds at most MAX_QUEUED_BYTES in its delay queue (the reading side is
 * paused above that, so TCP back-pressure reaches the sender), and the proxy closes itself after
 * `maxLifetimeMs` even if nobody calls close(). Its timers are unref'd: it never keeps a process alive.
 */
import net from 'node:net';

const HOST = '127.0.0.1';
const MAX_QUEUED_BYTES = 8 * 1024 * 1024;

export interface DelayProxy {
  readonly port: number;
  /** Bytes forwarded, both directions. */
  readonly bytes: number;
  close(): Promise<void>;
}

interface Pending { at: number; chunk: Buffer }

/** One direction of a bandwidth-limited link: when a chunk handed to it now has been carried. */
class Link {
  private busyUntil = 0;
  constructor(private readonly bytesPerMs: number) {}
  get limited(): boolean {
    return Number.isFinite(this.bytesPerMs);
  }

  carried(bytes: number, now: number): number {
    if (!Number.isFinite(this.bytesPerMs)) return now;
    this.busyUntil = Math.max(now, this.busyUntil) + bytes / this.bytesPerMs;
    return this.busyUntil;
  }
}

/** One direction: from -> to, delayed. */
function pipeDelayed(from: net.Socket, to: net.Socket, oneWayMs: number, count: (n: number) => void, link: Link): void {
  const queue: Pending[] = [];
  let queued = 0;
  let timer: NodeJS.Timeout | null = null;
  let ended = false;

  const flush = (): void => {
    timer = null;
    const now = performance.now();
    while (queue.length > 0 && queue[0]!.at <= now + 0.5) {
      const { chunk } = queue.shift()!;
      queued -= chunk.length;
      count(chunk.length);
      if (!to.destroyed) to.write(chunk);
    }
    if (queued <= MAX_QUEUED_BYTES / 2 && from.isPaused() && !from.destroyed) from.resume();
    if (queue.length > 0) schedule();
    else if (ended && !to.destroyed) to.end();
  };
  const schedule = (): void => {
    if (timer || queue.length === 0) return;
    timer = setTimeout(flush, Math.max(0, queue[0]!.at - performance.now()));
    timer.unref();
  };

  const direct = oneWayMs <= 0 && !link.limited;
  from.on('data', (chunk: Buffer) => {
    if (direct) {
      count(chunk.length);
      if (!to.destroyed && !to.write(chunk)) from.pause();
      return;
    }
    queue.push({ at: link.carried(chunk.length, performance.now()) + oneWayMs, chunk });
    queued += chunk.length;
    if (queued > MAX_QUEUED_BYTES) from.pause();
    schedule();
  });
  if (direct) to.on('drain', () => from.resume());
  from.on('end', () => {
    ended = true;
    if (queue.length === 0 && !to.destroyed) to.end();
  });
}

export function startDelayProxy(targetPort: number, oneWayMs: number, options: { mbitPerSecond?: number; maxLifetimeMs?: number } = {}): Promise<DelayProxy> {
  const maxLifetimeMs = options.maxLifetimeMs ?? 3 * 60 * 60 * 1000;
  const bytesPerMs = options.mbitPerSecond ? options.mbitPerSecond * 1e6 / 8 / 1000 : Number.POSITIVE_INFINITY;
  const up = new Link(bytesPerMs);
  const down = new Link(bytesPerMs);
  const sockets = new Set<net.Socket>();
  let bytes = 0;
  const count = (n: number): void => { bytes += n; };
  const server = net.createServer((client) => {
    const upstream = net.connect({ host: HOST, port: targetPort });
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    sockets.add(client);
    sockets.add(upstream);
    const kill = (): void => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', kill);
    upstream.on('error', kill);
    // A half-close is forwarded (after the delay) by pipeDelayed; a full close of both ends cleans up.
    client.on('close', () => { if (upstream.writableEnded || upstream.destroyed) kill(); });
    upstream.on('close', () => { if (client.writableEnded || client.destroyed) kill(); });
    pipeDelayed(client, upstream, oneWayMs, count, up);
    pipeDelayed(upstream, client, oneWayMs, count, down);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, HOST, () => {
      const port = (server.address() as net.AddressInfo).port;
      let closing: Promise<void> | null = null;
      const close = (): Promise<void> => {
        closing ??= new Promise<void>((done) => {
          clearTimeout(lifetime);
          for (const s of sockets) s.destroy();
          sockets.clear();
          server.close(() => done());
        });
        return closing;
      };
      const lifetime = setTimeout(() => void close(), maxLifetimeMs);
      lifetime.unref();
      server.unref();
      resolve({ port, get bytes() { return bytes; }, close });
    });
  });
}
