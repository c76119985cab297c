import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ByteBudget } from '../src/engine/byte-budget.js';

test('holders never exceed the capacity; releases wake waiters in order; oversize requests run alone', async () => {
  const budget = new ByteBudget(100);
  let held = 0;
  let peak = 0;
  const order: string[] = [];
  const job = async (name: string, bytes: number, ms: number): Promise<void> => {
    const release = await budget.acquire(bytes);
    held += Math.min(bytes, 100);
    peak = Math.max(peak, held);
    order.push(name);
    await new Promise((r) => setTimeout(r, ms));
    held -= Math.min(bytes, 100);
    release();
    release();
  };
  await Promise.all([job('a', 60, 20), job('b', 60, 5), job('huge', 500, 5), job('c', 10, 5)]);
  assert.ok(peak <= 100, `peak ${peak}`);
  assert.deepEqual(order, ['a', 'b', 'huge', 'c'], 'first come, first served; a small request does not overtake a waiting big one');
});

test('an aborted waiter gives up its place', async () => {
  const budget = new ByteBudget(10);
  const first = await budget.acquire(10);
  const controller = new AbortController();
  const waiting = budget.acquire(5, controller.signal);
  controller.abort(new Error('stop'));
  await assert.rejects(waiting, /stop/);
  first();
  const again = await budget.acquire(10);
  again();
});

test('a wait that ends leaves no listener on the signal (a long run waits thousands of times on one)', async () => {
  const budget = new ByteBudget(10);
  const controller = new AbortController();
  let listeners = 0;
  const signal = controller.signal;
  const add = signal.addEventListener.bind(signal);
  const remove = signal.removeEventListener.bind(signal);
  signal.addEventListener = ((...args: Parameters<typeof add>) => { listeners++; add(...args); }) as typeof signal.addEventListener;
  signal.removeEventListener = ((...args: Parameters<typeof remove>) => { listeners--; remove(...args); }) as typeof signal.removeEventListener;
  for (let i = 0; i < 50; i++) {
    const held = await budget.acquire(10, signal);
    const waiting = budget.acquire(10, signal);
    held();
    (await waiting)();
  }
  assert.equal(listeners, 0);
});
