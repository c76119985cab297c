import { useEffect, useRef, useState, type FormEvent, type KeyboardEvent } from 'react';
import { api, ApiError } from '../api.ts';
import { DiagnoseReportView } from '../components/DiagnoseReportView.tsx';
import { EndpointForm } from '../components/EndpointForm.tsx';
import { ErrorBox } from '../components/ErrorBox.tsx';
import { navigate, href } from '../router.ts';
import type { BatchDetail, CsvProblem, EndpointTestResult, EndpointView } from '../types.ts';

const STEPS = ['Users (CSV)', 'Endpoints', 'Move configuration', 'Start the batch'] as const;
const NAME_RE = /^[A-Za-z0-9._-]{1,64}$/;
const EMAIL_RE = /^[^\s@,;]+@[^\s@,;]+\.[^\s@,;]+$/;

interface Validation { valid: boolean; users: number; errors: CsvProblem[] }

/** The new-batch wizard: CSV (validated by the service), endpoints, folders and limits, start options. */
export function NewBatchPage() {
  const [step, setStep] = useState(0);
  const [csv, setCsv] = useState<string | null>(null);
  const [fileName, setFileName] = useState('');
  const [validation, setValidation] = useState<Validation | null>(null);
  const [validating, setValidating] = useState(false);
  const [csvError, setCsvError] = useState<unknown>(null);
  const [endpoints, setEndpoints] = useState<EndpointView[]>([]);
  const [source, setSource] = useState('');
  const [target, setTarget] = useState('');
  const [creatingFor, setCreatingFor] = useState<'source' | 'target' | null>(null);
  const [lastCreated, setLastCreated] = useState<{ endpoint: EndpointView; test: EndpointTestResult | null } | null>(null);
  const [name, setName] = useState('');
  const [exclude, setExclude] = useState<string[]>([]);
  const [excludeInput, setExcludeInput] = useState('');
  const [since, setSince] = useState('');
  const [maxSizeMb, setMaxSizeMb] = useState('35');
  const [autoStart, setAutoStart] = useState(true);
  const [notify, setNotify] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [creating, setCreating] = useState(false);
  const [stepError, setStepError] = useState('');
  const headingRef = useRef<HTMLHeadingElement>(null);
  const fileRef = useRef<HTMLInputElement>(null);

  async function loadEndpoints() {
    try {
      setEndpoints((await api.get<{ endpoints: EndpointView[] }>('/api/endpoints')).endpoints);
    } catch (err) {
      setError(err);
    }
  }
  useEffect(() => { void loadEndpoints(); }, []);
  useEffect(() => { headingRef.current?.focus(); }, [step]);

  async function validate(text: string, targetName?: string): Promise<Validation | null> {
    setValidating(true);
    setCsvError(null);
    try {
      const v = await api.post<Validation>('/api/batches/validate', targetName ? { csv: text, target: targetName } : { csv: text });
      setValidation(v);
      return v;
    } catch (err) {
      setCsvError(err);
      setValidation(null);
      return null;
    } finally {
      setValidating(false);
    }
  }

  async function onFile(file: File | undefined) {
    if (!file) return;
    const text = await file.text();
    setCsv(text);
    setFileName(file.name);
    if (!name) setName(file.name.replace(/\.[^.]*$/, '').replace(/[^A-Za-z0-9._-]+/g, '-').slice(0, 64));
    await validate(text);
  }

  function addExclude(value: string) {
    const v = value.trim();
    if (v && !exclude.some((x) => x.toLowerCase() === v.toLowerCase())) setExclude([...exclude, v]);
    setExcludeInput('');
  }
  function onExcludeKey(e: KeyboardEvent<HTMLInputElement>) {
    if (e.key === 'Enter') {
      e.preventDefault();
      addExclude(excludeInput);
    }
  }

  const notifyList = notify.split(/[\s,;]+/).map((s) => s.trim()).filter(Boolean);
  const badNotify = notifyList.filter((a) => !EMAIL_RE.test(a));
  const maxSize = Number(maxSizeMb);

  async function next(e?: FormEvent) {
    e?.preventDefault();
    setStepError('');
    if (step === 0) {
      if (!csv) return setStepError('Choose the CSV file with the users to migrate.');
      const v = validation ?? (await validate(csv));
      if (!v?.valid) return setStepError('Fix the problems in the CSV file and choose it again.');
    }
    if (step === 1) {
      if (!source || !target) return setStepError('Choose a source endpoint and a target endpoint.');
      if (source.toLowerCase() === target.toLowerCase()) return setStepError('The source and the target must be different endpoints.');
      const v = await validate(csv!, target);
      if (!v?.valid) return setStepError('The CSV does not work with this target endpoint: see the problems below.');
    }
    if (step === 2) {
      if (!NAME_RE.test(name)) return setStepError('The batch name must be 1–64 letters, digits, ".", "_" or "-" (no spaces).');
      if (!Number.isFinite(maxSize) || maxSize <= 0) return setStepError('The maximum message size must be a positive number of MB.');
    }
    setStep((s) => Math.min(s + 1, STEPS.length - 1));
  }

  async function create(e: FormEvent) {
    e.preventDefault();
    setStepError('');
    if (badNotify.length) return setStepError(`Not an e-mail address: ${badNotify.join(', ')}`);
    setCreating(true);
    setError(null);
    try {
      const body: Record<string, unknown> = {
        name, csv, source, target,
        excludeFolders: exclude,
        maxMessageSize: Math.round(maxSize * 1024 * 1024),
        autoStart,
        notify: notifyList,
      };
      if (since) body.since = since;
      const r = await api.post<{ batch: BatchDetail; users: number; warnings: string[] }>('/api/batches', body);
      navigate('batch', r.batch.name);
    } catch (err) {
      if (err instanceof ApiError && err.code === 'API_CSV_INVALID') {
        const errors = ((err.body as { errors?: CsvProblem[] })?.errors) ?? [];
        setValidation({ valid: false, users: 0, errors });
        setStep(0);
      } else {
        setError(err);
      }
    } finally {
      setCreating(false);
    }
  }

  const gmailExcluded = exclude.some((x) => x.toLowerCase() === '[gmail]');

  return (
    <>
      <div className="breadcrumb"><a href={href('batches')}>Migration batches</a> ›</div>
      <div className="page-head"><h1>New migration batch</h1></div>
      <ol className="steps" aria-label="Steps">
        {STEPS.map((s, i) => (
          <li key={s} aria-current={i === step ? 'step' : undefined} className={i < step ? 'done' : undefined}>{s}</li>
        ))}
      </ol>
      <div className="panel">
        <h2 ref={headingRef} tabIndex={-1} style={{ marginTop: 0 }}>{STEPS[step]}</h2>

        {step === 0 && (
          <form onSubmit={next} noValidate>
            <p className="muted">
              A CSV file in Microsoft's format: <code>EmailAddress,UserName,Password</code>, optionally <code>UserRoot</code> and
              <code> TargetUserName,TargetPassword</code>; at most 50,000 rows. It is checked as a whole before anything is created.
            </p>
            <div className="field">
              <label htmlFor="csv-file">Migration file (CSV)</label>
              <input ref={fileRef} id="csv-file" type="file" accept=".csv,text/csv,text/plain" onChange={(e) => { void onFile(e.target.files?.[0]); e.target.value = ''; }} aria-describedby="csv-status" />
            </div>
            <div id="csv-status" aria-live="polite">
              {validating && <p className="muted">Checking {fileName}…</p>}
              {!validating && validation?.valid && (
                <div className="alert ok" data-testid="csv-ok"><strong>{fileName}: {validation.users.toLocaleString('en-US')} mailbox{validation.users === 1 ? '' : 'es'} to migrate.</strong>The file is valid.</div>
              )}
              {!validating && validation && !validation.valid && (
                <div className="alert error" role="alert" data-testid="csv-errors">
                  <strong>{fileName || 'The CSV file'} has {validation.errors.length} problem{validation.errors.length === 1 ? '' : 's'}. Nothing was created: fix the file and choose it again.</strong>
                  <ul className="csv-errors">
                    {validation.errors.map((p, i) => (
                      <li key={i}>
                        <span className="rowno">{p.row !== null ? `Row ${p.row}` : 'File'}</span> {p.message}
                        {p.remediation && <div className="small remediation">{p.remediation}</div>}
                      </li>
                    ))}
                  </ul>
                </div>
              )}
            </div>
            <ErrorBox error={csvError} />
            {stepError && <p className="field-error" role="alert">{stepError}</p>}
            <div className="wizard-nav">
              <a className="button" href={href('batches')}>Cancel</a>
              <button type="submit" className="primary" disabled={validating || !validation?.valid}>Next</button>
            </div>
          </form>
        )}

        {step === 1 && (
          // Not a <form>: the "new endpoint" form is shown inside, and forms cannot nest.
          <div>
            <div className="grid-2">
              <EndpointPicker label="Source endpoint (the old server)" id="source-endpoint" value={source} onChange={setSource} endpoints={endpoints} onCreate={() => setCreatingFor('source')} />
              <EndpointPicker label="Target endpoint (the new server)" id="target-endpoint" value={target} onChange={setTarget} endpoints={endpoints} onCreate={() => setCreatingFor('target')} />
            </div>
            {lastCreated && !creatingFor && (
              <div className="alert ok" role="status">
                <strong>Endpoint {lastCreated.endpoint.name} created.</strong>
                {lastCreated.test ? `Connection test: ${lastCreated.test.verdict.message}` : 'Saved without a connection test.'}
                {lastCreated.test && (
                  <details style={{ marginTop: '0.4rem' }}>
                    <summary>Show the test's steps</summary>
                    <DiagnoseReportView report={lastCreated.test.report} title={`Connection test of ${lastCreated.endpoint.name}`} />
                  </details>
                )}
              </div>
            )}
            {creatingFor && (
              <div className="panel" style={{ background: '#fafbfc' }}>
                <h3>New {creatingFor} endpoint</h3>
                <EndpointForm
                  existing={null}
                  compact
                  idPrefix={`new-${creatingFor}`}
                  onCancel={() => setCreatingFor(null)}
                  onSaved={(endpoint, test) => {
                    setLastCreated({ endpoint, test });
                    setEndpoints((list) => [...list.filter((x) => x.name !== endpoint.name), endpoint]);
                    if (creatingFor === 'source') setSource(endpoint.name);
                    else setTarget(endpoint.name);
                    setCreatingFor(null);
                    void loadEndpoints();
                  }}
                />
              </div>
            )}
            {validation && !validation.valid && (
              <div className="alert error" role="alert">
                <strong>The CSV does not work with the target endpoint {target}:</strong>
                <ul className="csv-errors">
                  {validation.errors.map((p, i) => <li key={i}><span className="rowno">{p.row !== null ? `Row ${p.row}` : 'File'}</span> {p.message}{p.remediation && <div className="small">{p.remediation}</div>}</li>)}
                </ul>
              </div>
            )}
            {stepError && <p className="field-error" role="alert">{stepError}</p>}
            <div className="wizard-nav">
              <button type="button" onClick={() => setStep(0)}>Back</button>
              <button type="button" className="primary" onClick={() => void next()} disabled={validating || creatingFor !== null}>Next</button>
            </div>
          </div>
        )}

        {step === 2 && (
          <form onSubmit={next} noValidate>
            <div className="form-grid">
              <div className="field">
                <label htmlFor="batch-name">Batch name</label>
                <input id="batch-name" type="text" value={name} onChange={(e) => setName(e.target.value)} required aria-invalid={name !== '' && !NAME_RE.test(name) ? true : undefined} />
                <span className="hint">No spaces or special characters, e.g. Wave1.</span>
              </div>
              <div className="field">
                <label htmlFor="since">Start date (optional)</label>
                <input id="since" type="date" value={since} onChange={(e) => setSince(e.target.value)} />
                <span className="hint">Only messages received on or after this date.</span>
              </div>
              <div className="field">
                <label htmlFor="max-size">Maximum message size (MB)</label>
                <input id="max-size" type="number" min={1} step="any" value={maxSizeMb} onChange={(e) => setMaxSizeMb(e.target.value)} />
                <span className="hint">Larger messages are skipped and listed in the report.</span>
              </div>
            </div>
            <div className="field">
              <label htmlFor="exclude-input">Excluded folders</label>
              <div className="row">
                <input id="exclude-input" type="text" value={excludeInput} onChange={(e) => setExcludeInput(e.target.value)} onKeyDown={onExcludeKey} placeholder="Junk, Shared/*, #DeletedItems#" style={{ minWidth: '18rem' }} aria-describedby="exclude-hint" />
                <button type="button" onClick={() => addExclude(excludeInput)} disabled={!excludeInput.trim()}>Add</button>
              </div>
              <span id="exclude-hint" className="hint">A name (its subfolders too), a glob (<code>*</code>, <code>?</code>) or a token: <code>#JunkEmail#</code>, <code>#DeletedItems#</code>, <code>#SentItems#</code>, <code>#Drafts#</code>. Case-insensitive.</span>
              {exclude.length > 0 && (
                <ul className="chips" aria-label="Excluded folders">
                  {exclude.map((x) => (
                    <li key={x}>{x}<button type="button" aria-label={`Remove ${x}`} onClick={() => setExclude(exclude.filter((y) => y !== x))}>×</button></li>
                  ))}
                </ul>
              )}
            </div>
            <div className={`alert ${gmailExcluded ? 'ok' : 'info'}`}>
              <strong>Migrating from Gmail or Google Workspace?</strong>
              Exclude the <code>[Gmail]</code> folder: Gmail shows every label as a folder, so a message with several labels would be copied once per label and
              the new mailbox could double in size (the "I'm seeing duplicate emails" problem). Consider removing labels before the migration.
              {!gmailExcluded && <div style={{ marginTop: '0.4rem' }}><button type="button" onClick={() => addExclude('[Gmail]')}>Exclude [Gmail]</button></div>}
            </div>
            {stepError && <p className="field-error" role="alert">{stepError}</p>}
            <div className="wizard-nav">
              <button type="button" onClick={() => setStep(1)}>Back</button>
              <button type="submit" className="primary">Next</button>
            </div>
          </form>
        )}

        {step === 3 && (
          <form onSubmit={create} noValidate>
            <div className="field">
              <label htmlFor="notify">Send a copy of the migration report to (optional)</label>
              <input id="notify" type="text" value={notify} onChange={(e) => setNotify(e.target.value)} placeholder="admin@contoso.com, helpdesk@contoso.com" aria-invalid={badNotify.length ? true : undefined} />
              <span className="hint">When the batch finishes, these addresses get "E-mail migration batch "{name}" has finished" with the CSV error report (needs MAILSHIFT_SMTP_URL on the service).</span>
              {badNotify.length > 0 && <span className="field-error">Not an e-mail address: {badNotify.join(', ')}</span>}
            </div>
            <div className="field inline">
              <input id="auto-start" type="checkbox" checked={autoStart} onChange={(e) => setAutoStart(e.target.checked)} />
              <label htmlFor="auto-start">Automatically start the batch</label>
            </div>
            <p className="hint muted small">Otherwise the batch stays Created until you start it from the batch list.</p>
            <h3>Summary</h3>
            <dl className="kv">
              <dt>Batch</dt><dd>{name}</dd>
              <dt>Users</dt><dd>{validation?.users ?? '?'} from {fileName}</dd>
              <dt>From → to</dt><dd>{source} → {target}</dd>
              <dt>Excluded folders</dt><dd>{exclude.length ? exclude.join(', ') : 'none'}</dd>
              <dt>Start date</dt><dd>{since || 'all mail'}</dd>
              <dt>Maximum message size</dt><dd>{maxSizeMb} MB</dd>
            </dl>
            <ErrorBox error={error} title="The batch was not created." />
            {stepError && <p className="field-error" role="alert">{stepError}</p>}
            <div className="wizard-nav">
              <button type="button" onClick={() => setStep(2)}>Back</button>
              <button type="submit" className="primary" disabled={creating}>{creating ? 'Creating…' : autoStart ? 'Create and start' : 'Create batch'}</button>
            </div>
          </form>
        )}
      </div>
    </>
  );
}

function EndpointPicker(props: { label: string; id: string; value: string; onChange: (v: string) => void; endpoints: EndpointView[]; onCreate: () => void }) {
  const chosen = props.endpoints.find((e) => e.name === props.value);
  return (
    <div className="field">
      <label htmlFor={props.id}>{props.label}</label>
      <div className="row">
        <select id={props.id} value={props.value} onChange={(e) => props.onChange(e.target.value)} style={{ minWidth: '14rem' }}>
          <option value="">Choose an endpoint…</option>
          {props.endpoints.map((e) => <option key={e.name} value={e.name}>{e.name} ({e.host}:{e.port})</option>)}
        </select>
        <button type="button" onClick={props.onCreate}>New endpoint…</button>
      </div>
      {chosen && (
        <span className="hint">
          {chosen.security === 'none' ? 'unencrypted' : chosen.security}{chosen.admin ? `, admin ${chosen.admin.user}` : ', users sign in with the CSV credentials'}
          {chosen.lastTest ? `, last test ${chosen.lastTest.ok ? 'passed' : `failed (${chosen.lastTest.code})`}` : ''}
          {chosen.warnings.map((w) => <span key={w.code} style={{ display: 'block', color: 'var(--warn)' }}>⚠ {w.message}</span>)}
        </span>
      )}
    </div>
  );
}
