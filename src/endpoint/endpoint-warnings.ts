/**
 * Settings of an endpoint that weaken security, as warnings every report shows (endpoint show and
 * list, batch show, batch reports): the seeds' AcceptUntrustedCertificates and unencrypted IMAP.
 */
import type { Endpoint } from './endpoint-model.js';

export interface EndpointWarning {
  code: 'ENDPOINT_UNTRUSTED_CERTIFICATES_ACCEPTED' | 'ENDPOINT_UNENCRYPTED' | 'ENDPOINT_LEGACY_TLS' | 'ENDPOINT_CUSTOM_CIPHERS';
  message: string;
}

export function endpointWarnings(endpoint: Endpoint): EndpointWarning[] {
  const warnings: EndpointWarning[] = [];
  const where = `endpoint "${endpoint.name}" (${endpoint.host}:${endpoint.port})`;
  if (endpoint.security === 'none') {
    warnings.push({ code: 'ENDPOINT_UNENCRYPTED', message: `The ${where} uses security none: passwords and mail travel unencrypted.` });
  }
  if (endpoint.acceptUntrustedCertificates) {
    warnings.push({ code: 'ENDPOINT_UNTRUSTED_CERTIFICATES_ACCEPTED', message: `The ${where} accepts untrusted certificates: the server's identity is not verified, so a man in the middle could read the passwords and mail.` });
  }
  if (endpoint.tls.minVersion === 'TLSv1' || endpoint.tls.minVersion === 'TLSv1.1') {
    warnings.push({ code: 'ENDPOINT_LEGACY_TLS', message: `The ${where} allows ${endpoint.tls.minVersion}, a deprecated TLS version; remove the override after the cutover.` });
  }
  if (endpoint.tls.ciphers) {
    warnings.push({ code: 'ENDPOINT_CUSTOM_CIPHERS', message: `The ${where} uses a custom cipher list (${endpoint.tls.ciphers}).` });
  }
  return warnings;
}
