import { useEffect, useState } from 'react';
import { getToken, onTokenChange, setToken } from './api.ts';
import { href, useRoute } from './router.ts';
import { TokenPage } from './pages/TokenPage.tsx';
import { BatchesPage } from './pages/BatchesPage.tsx';
import { NewBatchPage } from './pages/NewBatchPage.tsx';
import { BatchDetailsPage } from './pages/BatchDetailsPage.tsx';
import { EndpointsPage } from './pages/EndpointsPage.tsx';
import { EndpointEditPage } from './pages/EndpointEditPage.tsx';
import { DiagnosePage } from './pages/DiagnosePage.tsx';
import { ServerDiagnosePage } from './pages/ServerDiagnosePage.tsx';

export function App() {
  const [token, setTokenState] = useState(getToken);
  const [expired, setExpired] = useState(false);
  const route = useRoute();

  useEffect(() => onTokenChange((t) => {
    setTokenState((previous) => {
      if (previous && !t) setExpired(true);
      if (t) setExpired(false);
      return t;
    });
  }), []);

  useEffect(() => {
    const titles: Record<string, string> = { batches: 'Migration batches', 'new-batch': 'New migration batch', endpoints: 'Migration endpoints', diagnose: 'Diagnose a server' };
    document.title = `${token ? titles[route[0] ?? 'batches'] ?? (route[0] === 'batch' ? `Batch ${route[1] ?? ''}` : 'mailshift') : 'Sign in'} — mailshift`;
  }, [route, token]);

  if (!token) return <TokenPage expired={expired} />;

  const section = route[0] ?? 'batches';
  let page;
  if (section === 'batches' || section === '') page = <BatchesPage />;
  else if (section === 'new-batch') page = <NewBatchPage />;
  else if (section === 'batch' && route[1]) page = <BatchDetailsPage name={route[1]} />;
  else if (section === 'endpoints' && route[1] === 'new') page = <EndpointEditPage name={null} />;
  else if (section === 'endpoints' && route[1] && route[2] === 'edit') page = <EndpointEditPage name={route[1]} />;
  else if (section === 'endpoints' && route[1] && route[2] === 'diagnose') page = <DiagnosePage name={route[1]} />;
  else if (section === 'endpoints') page = <EndpointsPage />;
  else if (section === 'diagnose') page = <ServerDiagnosePage />;
  else page = <p>Page not found. <a href={href('batches')}>Go to the migration batches.</a></p>;

  const current = section === 'batch' || section === 'new-batch' ? 'batches' : section;
  return (
    <>
      <a className="skip-link" href="#main" onClick={(e) => { e.preventDefault(); document.getElementById('main')?.focus(); }}>Skip to content</a>
      <header className="app-header">
        <a className="brand" href={href('batches')}>mailshift <span>Migration</span></a>
        <nav className="app-nav" aria-label="Main">
          <a href={href('batches')} aria-current={current === 'batches' ? 'page' : undefined}>Migration batches</a>
          <a href={href('endpoints')} aria-current={current === 'endpoints' ? 'page' : undefined}>Endpoints</a>
          <a href={href('diagnose')} aria-current={current === 'diagnose' ? 'page' : undefined}>Diagnose</a>
        </nav>
        <div className="header-right">
          <button type="button" onClick={() => { setToken(null); setExpired(false); }}>Sign out</button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>{page}</main>
    </>
  );
}
