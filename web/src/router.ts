/** Hash routing (#/batches, #/batches/NAME, #/new-batch, #/endpoints…): works from any static path. */
import { useEffect, useState } from 'react';

export function currentRoute(): string[] {
  const hash = location.hash.replace(/^#\/?/, '');
  return hash.split('/').filter(Boolean).map((p) => decodeURIComponent(p));
}

export function href(...parts: string[]): string {
  return `#/${parts.map((p) => encodeURIComponent(p)).join('/')}`;
}

export function navigate(...parts: string[]): void {
  location.hash = href(...parts);
}

export function useRoute(): string[] {
  const [route, setRoute] = useState(currentRoute);
  useEffect(() => {
    const update = () => setRoute(currentRoute());
    window.addEventListener('hashchange', update);
    return () => window.removeEventListener('hashchange', update);
  }, []);
  return route;
}
