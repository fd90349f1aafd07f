/**
 * CORS on the CDS Hooks endpoints, which CDS Hooks 2.0 asks a service to support for CDS clients
 * running in a browser. A request whose `Origin` is one of the configured origins is answered with
 * `Access-Control-Allow-Origin` naming it; its preflight is answered 204 with the methods and
 * headers the endpoints take, before (and without) any token check, as browsers send none with it.
 * Any other origin gets no CORS header, so its page never reads the answer, and its preflight is
 * refused (403). No cookie is ever allowed along: the CDS client's JWT is its credential.
 */
import type { NextFunction, Request, Response } from 'express';
import { forbidden, noContent, OperationOutcomeError, statusOf } from '../fhir/outcome.js';

export const CORS_METHODS = 'GET, POST';
export const CORS_HEADERS = 'Authorization, Content-Type';
/** What a page may read of an answer besides the CORS-safelisted headers. */
const EXPOSED = 'WWW-Authenticate, Retry-After, X-Request-Id';
/** How long a browser may reuse a preflight's answer, in seconds. */
const MAX_AGE = '600';

export function corsFor(allowed: readonly string[]) {
  const origins = new Set(allowed);
  return (req: Request, res: Response, next: NextFunction): void => {
    // The answer depends on the Origin asked from: a cache keeps one per origin.
    res.vary('Origin');
    const origin = req.headers.origin;
    const known = origin !== undefined && origins.has(origin);
    if (known) {
      res.setHeader('Access-Control-Allow-Origin', origin);
      res.setHeader('Access-Control-Expose-Headers', EXPOSED);
    }
    if (req.method !== 'OPTIONS') {
      next();
      return;
    }
    if (!known) {
      next(
        new OperationOutcomeError(
          forbidden(
            'The Origin of this page may not call the CDS Services from a browser (KAP_CDS_CORS_ORIGINS).',
          ),
        ),
      );
      return;
    }
    res.setHeader('Access-Control-Allow-Methods', CORS_METHODS);
    res.setHeader('Access-Control-Allow-Headers', CORS_HEADERS);
    res.setHeader('Access-Control-Max-Age', MAX_AGE);
    res.status(statusOf(noContent())).end();
  };
}
