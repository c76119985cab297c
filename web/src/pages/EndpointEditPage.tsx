import { useEffect, useState } from 'react';
import { api } from '../api.ts';
import { DiagnoseReportView } from '../components/DiagnoseReportView.tsx';
import { EndpointForm } from '../components/EndpointForm.tsx';
import { ErrorBox } from '../components/ErrorBox.tsx';
import { href, navigate } from '../router.ts';
import type { EndpointTestResult, EndpointView } from '../types.ts';

/** Create (name null) or edit an endpoint; shows the connection test the service ran. */
export function EndpointEditPage({ name }: { name?: string | null }) {
  const [existing, setExisting] = useState<EndpointView | null | undefined>(name ? undefined : null);
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState<{ endpoint: EndpointView; test: EndpointTestResult | null } | null>(null);

  useEffect(() => {
    if (!name) return;
    api.get<EndpointView>(`/api/endpoints/${encodeURIComponent(name)}`).then(setExisting, setError);
  }, [name]);

  return (
    <>
      <div className="breadcrumb"><a href={href('endpoints')}>Endpoints</a> ›</div>
      <div className="page-head"><h1>{name ? `Edit endpoint ${name}` : 'New migration endpoint'}</h1></div>
      <ErrorBox error={error} />
      {saved && (
        <div className="panel">
          <div className="alert ok" role="status"><strong>Endpoint {saved.endpoint.name} saved.</strong>{saved.test ? ' The connection test passed.' : ' It was saved without a connection test.'}</div>
          {saved.test && <DiagnoseReportView report={saved.test.report} title="Connection test" />}
          <div className="row">
            <a className="button primary" href={href('endpoints')}>Back to endpoints</a>
            <a className="button" href={href('new-batch')}>Create a migration batch</a>
          </div>
        </div>
      )}
      {!saved && existing !== undefined && (
        <div className="panel">
          <EndpointForm existing={existing} onSaved={(endpoint, test) => setSaved({ endpoint, test })} onCancel={() => navigate('endpoints')} />
        </div>
      )}
    </>
  );
}
