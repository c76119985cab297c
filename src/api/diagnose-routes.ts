/** POST /api/diagnose: the DNS → TCP → TLS → IMAP → login probe against any server, as `mailshift diagnose` runs it. */
import type { FastifyInstance } from 'fastify';
import type { DiagnoseOptions } from '../diagnose/diagnose-types.js';
import type { ApiContext } from './api-context.js';
import { apiDiagnoseReport } from './api-wording.js';
import * as S from './schemas.js';

interface DiagnoseBody {
  host: string; port?: number; security?: 'ssl' | 'starttls' | 'none';
  user?: string; password?: string; authzid?: string;
  caPem?: string; minTlsVersion?: 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3'; ciphers?: string; servername?: string;
  timeoutMs?: number; skipSize?: boolean;
}

export function registerDiagnoseRoutes(app: FastifyInstance, api: ApiContext): void {
  app.post('/api/diagnose', {
    schema: {
      summary: 'Probe a server step by step (DNS, TCP, TLS with the certificate chain, IMAP capabilities, login) with a verdict',
      description: 'Answers 200 whether the probe passed or not (see ok, failedStep and verdict). The password is used for the login step only and never returned.',
      tags: ['diagnose'], body: S.DiagnoseRequest, response: { 200: S.DiagnoseReport, ...S.errors(400) },
    },
  }, async (req) => {
    const b = req.body as DiagnoseBody;
    const security = b.security ?? 'ssl';
    const options: DiagnoseOptions = {
      host: b.host.trim(),
      port: b.port ?? (security === 'ssl' ? 993 : 143),
      security,
      skipSize: b.skipSize ?? true,
      ...(b.user !== undefined ? { user: b.user } : {}),
      ...(b.password !== undefined ? { password: b.password } : {}),
      ...(b.authzid !== undefined ? { authzid: b.authzid } : {}),
      ...(b.caPem ? { ca: b.caPem } : {}),
      ...(b.minTlsVersion ? { minTlsVersion: b.minTlsVersion } : {}),
      ...(b.ciphers ? { ciphers: b.ciphers } : {}),
      ...(b.servername ? { servername: b.servername } : {}),
      ...(b.timeoutMs ? { timeoutMs: b.timeoutMs } : {}),
    };
    return apiDiagnoseReport(await api.diagnose(options));
  });
}
