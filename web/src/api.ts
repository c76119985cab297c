/**
 * The dashboard's only way to the service: the REST API of `mailshift serve` (docs/api.md), with the
 * admin token from session storage as a Bearer token. A 401 forgets the token and sends the admin
 * back to the token page. Errors arrive as {code, message, remediation} (the error catalog).
 */

const TOKEN_KEY = 'mailshift.adminToken';

export function getToken(): string | null {
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

export function setToken(token: string | null): void {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
  for (const listener of tokenListeners) listener(token);
}

const tokenListeners = new Set<(token: string | null) => void>();
export function onTokenChange(listener: (token: string | null) => void): () => void {
  tokenListeners.add(listener);
  return () => tokenListeners.delete(listener);
}

/** An error the API reported (or a network failure, code NETWORK). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly remediation: string | null,
    readonly body: unknown,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

function apiBase(): string {
  // The dashboard is served by the API itself; `?api=http://host:port` points a dev build elsewhere.
  const fromQuery = new URLSearchParams(location.search).get('api');
  return fromQuery ? fromQuery.replace(/\/$/, '') : '';
}

function authHeaders(extra?: Record<string, string>): Record<string, string> {
  const token = getToken();
  return { ...(token ? { authorization: `Bearer ${token}` } : {}), ...extra };
}

async function toApiError(response: Response): Promise<ApiError> {
  let body: unknown = null;
  const text = await response.text().catch(() => '');
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = text;
  }
  const b = (body && typeof body === 'object' ? body : {}) as { code?: string; message?: string; remediation?: string; error?: string };
  const message = b.message ?? (typeof body === 'string' && body ? body : `${response.status} ${response.statusText}`);
  return new ApiError(response.status, b.code ?? `HTTP_${response.status}`, message, b.remediation ?? null, body);
}

function handleUnauthorized(status: number): void {
  if (status === 401) setToken(null);
}

export interface RequestOptions {
  query?: Record<string, string | number | boolean | null | undefined>;
  body?: unknown;
  signal?: AbortSignal;
  /** Raw body (e.g. CSV text) with its content type, instead of JSON. */
  raw?: { contentType: string; data: string | Blob };
}

export function buildUrl(path: string, query?: RequestOptions['query']): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {})) {
    if (v !== undefined && v !== null && v !== '') params.set(k, String(v));
  }
  const qs = params.toString();
  return `${apiBase()}${path}${qs ? `?${qs}` : ''}`;
}

export async function request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
  const headers: Record<string, string> = authHeaders({ accept: 'application/json' });
  let body: BodyInit | undefined;
  if (options.raw) {
    headers['content-type'] = options.raw.contentType;
    body = options.raw.data;
  } else if (options.body !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(options.body);
  }
  let response: Response;
  try {
    response = await fetch(buildUrl(path, options.query), { method, headers, body, signal: options.signal ?? null });
  } catch (err) {
    if ((err as Error).name === 'AbortError') throw err;
    throw new ApiError(0, 'NETWORK', 'The mailshift service cannot be reached. Is `mailshift serve` running?', 'Start it with `mailshift serve`, then reload this page.', null);
  }
  if (!response.ok) {
    handleUnauthorized(response.status);
    throw await toApiError(response);
  }
  if (response.status === 204) return undefined as T;
  const type = response.headers.get('content-type') ?? '';
  if (type.includes('application/json')) return (await response.json()) as T;
  return (await response.text()) as unknown as T;
}

export const api = {
  get: <T>(path: string, query?: RequestOptions['query'], signal?: AbortSignal) => request<T>('GET', path, { query, ...(signal ? { signal } : {}) }),
  post: <T>(path: string, body?: unknown) => request<T>('POST', path, { body: body ?? {} }),
  put: <T>(path: string, body?: unknown) => request<T>('PUT', path, { body: body ?? {} }),
  patch: <T>(path: string, body?: unknown) => request<T>('PATCH', path, { body: body ?? {} }),
  del: <T>(path: string) => request<T>('DELETE', path),
};

/** Checks a token against GET /api/info without storing it; throws the API's error (API_UNAUTHORIZED…). */
export async function checkToken(token: string): Promise<void> {
  let response: Response;
  try {
    response = await fetch(buildUrl('/api/info'), { headers: { authorization: `Bearer ${token}`, accept: 'application/json' } });
  } catch {
    throw new ApiError(0, 'NETWORK', 'The mailshift service cannot be reached. Is `mailshift serve` running?', null, null);
  }
  if (!response.ok) throw await toApiError(response);
}

/** Fetches a file with the token and hands it to the browser as a download. */
export async function download(path: string, query: RequestOptions['query'], fallbackName: string): Promise<void> {
  const response = await fetch(buildUrl(path, query), { headers: authHeaders() });
  if (!response.ok) {
    handleUnauthorized(response.status);
    throw await toApiError(response);
  }
  const blob = await response.blob();
  const disposition = response.headers.get('content-disposition') ?? '';
  const match = /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(disposition);
  const name = match?.[1] ? decodeURIComponent(match[1]) : fallbackName;
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export interface ServerEvent {
  event: string;
  data: unknown;
  id: string | null;
}

/**
 * Server-Sent Events over fetch (EventSource cannot send the Authorization header). Reconnects with
 * a growing delay and Last-Event-ID until the signal aborts; reports connection state changes.
 */
export function subscribe(
  path: string,
  query: RequestOptions['query'],
  onEvent: (event: ServerEvent) => void,
  onState: (connected: boolean) => void,
  signal: AbortSignal,
): void {
  let lastId: string | null = null;
  let delay = 1000;
  const run = async (): Promise<void> => {
    while (!signal.aborted) {
      try {
        const headers = authHeaders({ accept: 'text/event-stream' });
        if (lastId) headers['last-event-id'] = lastId;
        const response = await fetch(buildUrl(path, query), { headers, signal, cache: 'no-store' });
        if (!response.ok || !response.body) {
          handleUnauthorized(response.status);
          if (response.status === 401 || response.status === 404) return;
          throw new Error(`events: HTTP ${response.status}`);
        }
        onState(true);
        delay = 1000;
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let cut: number;
          while ((cut = buffer.search(/\r?\n\r?\n/)) >= 0) {
            const block = buffer.slice(0, cut);
            buffer = buffer.slice(cut).replace(/^\r?\n\r?\n/, '');
            let event = 'message';
            let id: string | null = null;
            const data: string[] = [];
            for (const line of block.split(/\r?\n/)) {
              if (line.startsWith(':')) continue;
              const colon = line.indexOf(':');
              const field = colon < 0 ? line : line.slice(0, colon);
              const val = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
              if (field === 'event') event = val;
              else if (field === 'data') data.push(val);
              else if (field === 'id') id = val;
            }
            if (id !== null) lastId = id;
            if (data.length === 0) continue;
            const text = data.join('\n');
            let parsed: unknown = text;
            try {
              parsed = JSON.parse(text);
            } catch {
              /* keep text */
            }
            onEvent({ event, data: parsed, id });
          }
        }
      } catch (err) {
        if (signal.aborted) return;
        void err;
      }
      onState(false);
      if (signal.aborted) return;
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 15_000);
    }
  };
  void run();
}
