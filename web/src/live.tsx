/** Live updates from GET /api/events (SSE): a hook that keeps one stream open while a page is shown. */
import { useEffect, useRef, useState } from 'react';
import { subscribe, type ServerEvent } from './api.ts';

/** `types` limits the stream to those event types (`?types=`), e.g. the batch list needs no `user` events. */
export function useLiveEvents(batch: string | null, onEvent: (event: ServerEvent) => void, types?: string[]): boolean {
  const [connected, setConnected] = useState(false);
  const handler = useRef(onEvent);
  handler.current = onEvent;
  const typeList = types?.join(',') ?? '';
  useEffect(() => {
    const controller = new AbortController();
    subscribe('/api/events', { batch, types: typeList }, (e) => handler.current(e), setConnected, controller.signal);
    return () => controller.abort();
  }, [batch, typeList]);
  return connected;
}

export function LiveIndicator({ connected }: { connected: boolean }) {
  return (
    <span className={`live-dot${connected ? ' on' : ''}`} title={connected ? 'Receiving live updates' : 'Not connected: reconnecting'}>
      {connected ? 'Live' : 'Reconnecting…'}
    </span>
  );
}
