/**
 * Test-only fault injection, in the isync tradition: MAILSHIFT_CRASH_AT="op:n:when" makes the process
 * kill itself with SIGKILL at the n-th call of `op` — before it starts, while it is in flight, or after
 * it returned — so the crash-resume tests can hit exact points (folder creation, mid-APPEND pipeline,
 * between APPEND and the ledger commit) on real servers. Inert unless the variable is set.
 */
import type { MailStore } from '../engine/ports.js';
import type { MigrationState } from '../engine/state-port.js';

type When = 'before' | 'during' | 'after';

interface CrashPlan {
  op: string;
  n: number;
  when: When;
}

function parsePlan(value: string | undefined): CrashPlan | null {
  if (!value) return null;
  const [op, n, when] = value.split(':');
  if (!op || !n) return null;
  return { op, n: Number(n), when: (when as When | undefined) ?? 'before' };
}

const counts = new Map<string, number>();

function die(): never {
  process.kill(process.pid, 'SIGKILL');
  // SIGKILL cannot be caught; this line only satisfies the type checker.
  throw new Error('unreachable');
}

function wrap<T extends object>(target: T, plan: CrashPlan): T {
  return new Proxy(target, {
    get(obj, prop, receiver) {
      const value = Reflect.get(obj, prop, receiver) as unknown;
      if (typeof value !== 'function' || prop !== plan.op) return typeof value === 'function' ? value.bind(obj) : value;
      return (...args: unknown[]) => {
        const n = (counts.get(plan.op) ?? 0) + 1;
        counts.set(plan.op, n);
        const hit = n === plan.n;
        if (hit && plan.when === 'before') die();
        const result = (value as (...a: unknown[]) => unknown).apply(obj, args);
        if (hit && plan.when === 'during') setTimeout(die, 3);
        if (hit && plan.when === 'after' && result instanceof Promise) return result.then((r) => { die(); return r; });
        return result;
      };
    },
  });
}

export function withCrashInjection<T extends MailStore | MigrationState>(target: T, env: NodeJS.ProcessEnv = process.env): T {
  const plan = parsePlan(env.MAILSHIFT_CRASH_AT);
  if (!plan) return target;
  return wrap(target, plan);
}
