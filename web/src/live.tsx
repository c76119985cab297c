/** Live updates from GET /api/events (SSE): a hook that keeps one stream open while a page is shown. */
import { useEffect, useRef, useState } from 'react';
import { subscribe, type ServerEvent } from './api.ts';

export function useLiveEvents(batch: string | null, onEvent: (event: ServerEvent) => void): boolean {
  const [connected, setConnected] = useState(false);
  const handler = useRef(onEvent);
  handler.current = onEvent;
  useEffect(() => {
    const controller = new AbortController();
    subscribe('/api/events', batch ? { batch } : {}, (e) => handler.current(e), setConnected, controller.signal);
    return () => controller.abort();
  }, [batch]);
  return connected;
}

export function LiveIndicator({ connected }: { connected: boolean }) {
  return (
    <span className={`live-dot${connected ? ' on' : ''}`} title={connected ? 'Receiving live updates' : 'Not connected: reconnecting'}>
      {connected ? 'Live' : 'Reconnecting…'}
    </span>
  );
}
