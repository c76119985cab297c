/** What the API routes need: the batch context (store, secrets, endpoints), the endpoint service, the diagnose probe, the token. */
import type { BatchContext } from '../app/batch-context.js';
import type { EndpointService } from '../app/endpoint-service.js';
import type { DiagnoseOptions, DiagnoseReport } from '../diagnose/diagnose-types.js';
import type { AdminAuth } from './admin-token.js';

export interface ApiContext {
  ctx: BatchContext;
  endpoints: EndpointService;
  diagnose: (options: DiagnoseOptions) => Promise<DiagnoseReport>;
  auth: AdminAuth;
  /** Is a batch runner working on this store in this process? (shown by /api/info) */
  runnerActive: () => boolean;
  version: string;
  log: (line: string) => void;
}
