/** Server-side paging controls: "1–50 of 50,000", previous / next, page size. */
export function Pager(props: { offset: number; limit: number; total: number; onChange: (offset: number, limit: number) => void; label: string }) {
  const { offset, limit, total } = props;
  const first = total === 0 ? 0 : offset + 1;
  const last = Math.min(offset + limit, total);
  return (
    <nav className="pager" aria-label={props.label}>
      <span aria-live="polite">{first.toLocaleString('en-US')}–{last.toLocaleString('en-US')} of {total.toLocaleString('en-US')}</span>
      <button type="button" disabled={offset === 0} onClick={() => props.onChange(0, limit)} aria-label="First page">«</button>
      <button type="button" disabled={offset === 0} onClick={() => props.onChange(Math.max(0, offset - limit), limit)}>Previous</button>
      <button type="button" disabled={last >= total} onClick={() => props.onChange(offset + limit, limit)}>Next</button>
      <button type="button" disabled={last >= total} onClick={() => props.onChange(Math.max(0, Math.floor((total - 1) / limit) * limit), limit)} aria-label="Last page">»</button>
      <label className="small" htmlFor="pager-rows">Rows</label>
        <select id="pager-rows" value={limit} onChange={(e) => props.onChange(0, Number(e.target.value))}>
          {[25, 50, 100, 200].map((n) => <option key={n} value={n}>{n}</option>)}
        </select>
    </nav>
  );
}
