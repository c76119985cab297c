/** Messages per second over time, drawn as inline SVG from the progress samples received live. */
export interface ThroughputSample { t: number; rate: number }

export function ThroughputChart({ samples, maxWindowMs = 10 * 60_000 }: { samples: ThroughputSample[]; maxWindowMs?: number }) {
  const W = 640, H = 180, L = 44, R = 10, T = 10, B = 26;
  const now = samples.length ? samples[samples.length - 1]!.t : Date.now();
  // The window grows with the data seen: from 1 minute up to maxWindowMs.
  const first = samples.find((s) => s.t >= now - maxWindowMs)?.t ?? now;
  const windowMs = Math.min(maxWindowMs, Math.max(60_000, Math.ceil((now - first) / 60_000) * 60_000));
  const start = now - windowMs;
  const visible = samples.filter((s) => s.t >= start);
  const max = Math.max(1, ...visible.map((s) => s.rate));
  const niceMax = niceCeil(max);
  const x = (t: number) => L + ((t - start) / windowMs) * (W - L - R);
  const y = (v: number) => T + (1 - v / niceMax) * (H - T - B);
  const points = visible.map((s) => `${x(s.t).toFixed(1)},${y(s.rate).toFixed(1)}`);
  const latest = visible[visible.length - 1];
  const avg = visible.length ? visible.reduce((a, s) => a + s.rate, 0) / visible.length : 0;
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => niceMax * f);
  const minutes = windowMs / 60_000;
  return (
    <figure style={{ margin: 0 }}>
      <svg className="chart" viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`Throughput over the last ${minutes} minute${minutes === 1 ? '' : 's'}: ${latest ? latest.rate.toFixed(1) : 0} messages per second now, ${avg.toFixed(1)} on average`}>
        {ticks.map((v) => (
          <g key={v}>
            <line className="grid" x1={L} x2={W - R} y1={y(v)} y2={y(v)} />
            <text className="axis-label" x={L - 6} y={y(v) + 4} textAnchor="end">{formatTick(v)}</text>
          </g>
        ))}
        {[0, 0.5, 1].map((f) => (
          <text key={f} className="axis-label" x={L + f * (W - L - R)} y={H - 6} textAnchor={f === 0 ? 'start' : f === 1 ? 'end' : 'middle'}>
            {f === 1 ? 'now' : minutes <= 2 ? `−${Math.round(minutes * 60 * (1 - f))} s` : `−${Math.round(minutes * (1 - f))} min`}
          </text>
        ))}
        {points.length > 1 && (
          <>
            <polygon className="area" points={`${x(visible[0]!.t).toFixed(1)},${y(0)} ${points.join(' ')} ${x(visible[visible.length - 1]!.t).toFixed(1)},${y(0)}`} />
            <polyline className="line" points={points.join(' ')} />
          </>
        )}
        {points.length <= 1 && <text className="axis-label" x={W / 2} y={H / 2} textAnchor="middle">Waiting for progress from running mailboxes…</text>}
      </svg>
      <figcaption className="small muted">msg/s, whole batch · now {latest ? latest.rate.toFixed(1) : '0'} · average {avg.toFixed(1)} · peak {visible.length ? Math.max(...visible.map((s) => s.rate)).toFixed(1) : '0'}</figcaption>
    </figure>
  );
}

function niceCeil(v: number): number {
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function formatTick(v: number): string {
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(0) : v.toFixed(1);
}
