/**
 * Live events over a real HTTP connection (127.0.0.1, an ephemeral port): authentication by ticket
 * or token (EventSource cannot send headers), the snapshot, batch and user events as the store
 * changes (the runner's writes are simulated here), progress rates, removal, the per-batch filter,
 * heartbeats, and no password in the stream.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { openBatchContext } from '../src/app/batch-wiring.js';
import type { BatchContext } from '../src/app/batch-context.js';
import { createApiServer } from '../src/api/create-api-server.js';
import { adminAuthFromToken } from '../src/api/admin-token.js';

const TOKEN = 'events-test-token-0123456789';
const PASSWORD = 'Ev3nts-user-pw';
const ADMIN_PASSWORD = 'Ev3nts-admin-pw';
let ctx: BatchContext;
let app: FastifyInstance;
let base = '';

interface SseEvent { id: string | null; event: string; data: any }

class SseStream {
  text = '';
  events: SseEvent[] = [];
  status = 0;
  private req: http.ClientRequest | null = null;
  private waiters: Array<() => void> = [];

  static open(path: string, headers: Record<string, string> = {}): Promise<SseStream> {
    const s = new SseStream();
    return new Promise((resolve, reject) => {
      s.req = http.get(`${base}${path}`, { headers }, (res) => {
        s.status = res.statusCode ?? 0;
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => { s.text += chunk; s.parse(); });
        resolve(s);
      });
      s.req.on('error', reject);
    });
  }

  private parse(): void {
    const blocks = this.text.split('\n\n');
    const complete = blocks.slice(0, -1);
    this.events = [];
    for (const block of complete) {
      let id: string | null = null;
      let event = 'message';
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('id: ')) id = line.slice(4);
        else if (line.startsWith('event: ')) event = line.slice(7);
        else if (line.startsWith('data: ')) data.push(line.slice(6));
      }
      if (data.length) this.events.push({ id, event, data: JSON.parse(data.join('\n')) });
    }
    for (const w of this.waiters.splice(0)) w();
  }

  async waitFor(what: string, predicate: (e: SseEvent) => boolean, timeoutMs = 8000): Promise<SseEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.events.find(predicate);
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`no ${what} event; got:\n${this.text.slice(-3000)}`);
      await new Promise<void>((resolve) => { this.waiters.push(resolve); setTimeout(resolve, 100); });
    }
  }

  close(): void {
    this.req?.destroy();
  }
}

async function api(method: string, path: string, body?: unknown): Promise<any> {
  const res = await fetch(`${base}${path}`, {
    method, headers: { authorization: `Bearer ${TOKEN}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  assert.ok(res.status < 300, `${method} ${path}: ${res.status} ${text}`);
  return JSON.parse(text);
}

async function setUser(address: string, patch: Record<string, unknown>): Promise<void> {
  await ctx.db.updateTable('batch_users').set({ ...patch, updated_at: Date.now() }).where('email_address', '=', address).execute();
}

before(async () => {
  const work = mkdtempSync(join(tmpdir(), 'ms-api-events-'));
  ctx = await openBatchContext({ statePath: join(work, 'state.sqlite'), env: { MAILSHIFT_SECRET_KEY: 'c'.repeat(64) } });
  ({ app } = await createApiServer({ ctx, auth: adminAuthFromToken(TOKEN), webRoot: null, eventPollMs: 100, heartbeatMs: 300 }));
  const address = await app.listen({ host: '127.0.0.1', port: 0 });
  base = address;
  await api('POST', '/api/endpoints', { name: 'src', host: '127.0.0.1', port: 9, skipVerification: true });
  await api('POST', '/api/endpoints', { name: 'dst', host: '127.0.0.1', port: 9, skipVerification: true, admin: { user: 'admin', password: ADMIN_PASSWORD } });
  await api('POST', '/api/batches', { name: 'Wave1', source: 'src', target: 'dst', probeSource: false, csv: `EmailAddress,UserName,Password\r\nalice@x.example,alice,${PASSWORD}\r\nbob@x.example,bob,${PASSWORD}\r\n` });
});

after(async () => {
  await app.close();
  await ctx.close();
});

describe('GET /api/events', () => {
  it('refuses a connection without a valid ticket or token (401 JSON)', async () => {
    for (const path of ['/api/events', '/api/events?ticket=made-up', '/api/events?token=wrong-token-0123456789']) {
      const s = await SseStream.open(path);
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(s.status, 401, path);
      assert.equal(JSON.parse(s.text).code, 'API_UNAUTHORIZED');
      s.close();
    }
    const unknownBatch = await fetch(`${base}/api/events?batch=Nope`, { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(unknownBatch.status, 404);
    const unknownType = await fetch(`${base}/api/events?types=batch,progress`, { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(unknownType.status, 400);
    assert.equal(((await unknownType.json()) as { code: string }).code, 'API_VALIDATION');
  });

  it('streams the snapshot, batch and user changes, progress rates, heartbeats and removals', async () => {
    const { ticket } = await api('POST', '/api/events/ticket');
    const s = await SseStream.open(`/api/events?ticket=${encodeURIComponent(ticket)}`);
    assert.equal(s.status, 200);
    const byToken = await SseStream.open('/api/events', { authorization: `Bearer ${TOKEN}` });
    const listOnly = await SseStream.open(`/api/events?token=${TOKEN}&types=snapshot,batch,batch-removed`);
    let other: SseStream | null = null;
    try {
      const snapshot = await s.waitFor('snapshot', (e) => e.event === 'snapshot');
      assert.deepEqual(snapshot.data.batches.map((b: any) => b.name), ['Wave1']);
      assert.equal(snapshot.data.batches[0].counts.queued, 2);
      await byToken.waitFor('snapshot', (e) => e.event === 'snapshot');
      await api('POST', '/api/batches', { name: 'Other', source: 'src', target: 'dst', probeSource: false, csv: `EmailAddress,UserName,Password\r\ncarol@x.example,carol,${PASSWORD}\r\n` });
      other = await SseStream.open(`/api/events?token=${TOKEN}&batch=Other`);
      assert.deepEqual((await other.waitFor('snapshot', (e) => e.event === 'snapshot')).data.batches.map((b: any) => b.name), ['Other']);
      const created = await s.waitFor('new batch', (e) => e.event === 'batch' && e.data.batch.name === 'Other');
      assert.equal(created.data.previousStatus, null);

      // add-users: a user that waits in Queued is announced by the batch counts only; one that a
      // runner started and finished before the next poll still gets its user event (or a page that
      // listed it as Queued would never learn it finished).
      await api('POST', '/api/batches/Other/users', { csv: `EmailAddress,UserName,Password\r\ndave@x.example,dave,${PASSWORD}\r\nerin@x.example,erin,${PASSWORD}\r\n` });
      await setUser('dave@x.example', { status: 'Synced', last_sync_at: Date.now(), items_synced: 3 });
      const quick = await other.waitFor('user added and synced', (e) => e.event === 'user' && e.data.user.emailAddress === 'dave@x.example' && e.data.user.status === 'Synced');
      assert.ok(quick.data.previousStatus === null || quick.data.previousStatus === 'Queued', JSON.stringify(quick.data));
      await other.waitFor('batch counts after add-users', (e) => e.event === 'batch' && e.data.batch.counts.total === 3);

      await api('POST', '/api/batches/Wave1/start');
      const starting = await s.waitFor('batch status', (e) => e.event === 'batch' && e.data.batch.name === 'Wave1' && e.data.batch.status === 'Starting');
      assert.equal(starting.data.previousStatus, 'Created');

      // What the runner writes: claim (Syncing, leased), progress, done.
      await setUser('alice@x.example', { status: 'Syncing', lease_owner: 'test:1:x', lease_until: Date.now() + 60_000, sync_started_at: Date.now() });
      const syncing = await s.waitFor('user Syncing', (e) => e.event === 'user' && e.data.user.emailAddress === 'alice@x.example' && e.data.user.status === 'Syncing');
      assert.equal(syncing.data.batch, 'Wave1');
      assert.equal(syncing.data.previousStatus, 'Queued');
      assert.equal(syncing.data.user.running, true);
      await new Promise((r) => setTimeout(r, 250));
      await setUser('alice@x.example', { items_synced: 50, bytes_synced: 50_000 });
      const progress = await s.waitFor('progress', (e) => e.event === 'user' && e.data.user.itemsSynced === 50);
      assert.ok(progress.data.itemsPerSecond > 0, JSON.stringify(progress.data));
      assert.equal(progress.data.previousStatus, 'Syncing');
      await setUser('alice@x.example', { status: 'Synced', lease_owner: null, lease_until: null, last_sync_at: Date.now() });
      const done = await s.waitFor('user Synced', (e) => e.event === 'user' && e.data.user.emailAddress === 'alice@x.example' && e.data.user.status === 'Synced');
      assert.equal(done.data.previousStatus, 'Syncing');
      await s.waitFor('batch counts', (e) => e.event === 'batch' && e.data.batch.name === 'Wave1' && e.data.batch.counts.synced === 1);
      await byToken.waitFor('user Synced (token)', (e) => e.event === 'user' && e.data.user.emailAddress === 'alice@x.example' && e.data.user.status === 'Synced');

      await s.waitFor('heartbeat', () => /\n: heartbeat \d+\n/.test(s.text) || s.text.startsWith(': heartbeat'));
      const ids = s.events.map((e) => Number(e.id));
      assert.deepEqual(ids, [...ids].sort((a, b) => a - b), 'ids increase');

      await api('POST', '/api/batches/Wave1/stop');
      await api('DELETE', '/api/batches/Wave1');
      const removed = await s.waitFor('batch-removed', (e) => e.event === 'batch-removed');
      assert.equal(removed.data.name, 'Wave1');

      assert.ok(!other.events.some((e) => (e.event === 'batch' || e.event === 'user' || e.event === 'batch-removed') && JSON.stringify(e.data).includes('Wave1')), 'the filtered stream only sees its batch');
      assert.ok(!other.events.some((e) => e.event === 'user' && e.data.user.emailAddress !== 'dave@x.example'), 'no user event for users waiting in Queued');
      await listOnly.waitFor('batch-removed (types filter)', (e) => e.event === 'batch-removed');
      assert.ok(listOnly.events.some((e) => e.event === 'snapshot') && listOnly.events.some((e) => e.event === 'batch'));
      assert.ok(!listOnly.events.some((e) => e.event === 'user'), 'no user events with ?types=snapshot,batch,batch-removed');
      assert.ok(s.events.some((e) => e.event === 'user'), 'the unfiltered stream had user events');
      for (const stream of [s, byToken, other, listOnly]) {
        assert.ok(!stream.text.includes(PASSWORD) && !stream.text.includes(ADMIN_PASSWORD), 'no password in events');
      }
    } finally {
      s.close();
      byToken.close();
      listOnly.close();
      other?.close();
    }
  });

  it('ends open streams when the server closes', async () => {
    const s = await SseStream.open(`/api/events?token=${TOKEN}`);
    await s.waitFor('snapshot', (e) => e.event === 'snapshot');
    const t = Date.now();
    await app.close();
    assert.ok(Date.now() - t < 3000, 'close does not hang on the event stream');
    s.close();
  });
});
