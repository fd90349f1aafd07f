/** The HAPI FHIR server this test run talks to: started by the jest global set-up, or KAP_FHIR_BASE_URL. */
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import type { Subscription } from 'fhir/r4';
import { EhrGateway } from '../../src/ehr/gateway.js';

export function sandboxBaseUrl(): string {
  const url = process.env.KAP_FHIR_BASE_URL;
  if (!url) {
    throw new Error(
      'No HAPI FHIR server: run the tests with `npm test` (it starts the sandbox; needs JDK 17+ and Maven) ' +
        'or set KAP_FHIR_BASE_URL to a running server, e.g. http://127.0.0.1:8080/fhir from docker-compose.',
    );
  }
  return url;
}

export const sandboxGateway = (): EhrGateway =>
  new EhrGateway({ baseUrl: sandboxBaseUrl(), timeoutMs: 60_000 });

/** A port free on loopback now, for a kap-bridge the EHR must reach at a known address. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

/** Suites share one server: each makes its own identifiers instead of resetting data. */
export const uniqueId = (prefix: string): string => `${prefix}-${randomUUID().slice(0, 8)}`;

/**
 * The one polling helper of the suites: polls every `intervalMs` until `check` returns a value
 * (neither undefined nor false) or the time is up.
 */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined | false>,
  timeoutMs = 30_000,
  intervalMs = 250,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > until) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** The Subscriptions in HAPI that deliver to `endpoint` (a kap-bridge's `/fhir`). */
export async function subscriptionsTo(ehr: EhrGateway, endpoint: string): Promise<Subscription[]> {
  const found: Subscription[] = [];
  for await (const s of ehr.search<Subscription>('Subscription', { url: endpoint })) found.push(s);
  return found;
}

/** Waits until HAPI has activated the Subscriptions kap-bridge registered for `endpoint`. */
export const subscriptionsActive = (ehr: EhrGateway, endpoint: string): Promise<Subscription[]> =>
  eventually(
    'kap-bridge subscriptions to become active in HAPI',
    async () => {
      const subs = await subscriptionsTo(ehr, endpoint);
      return subs.length > 0 && subs.every((s) => s.status === 'active') ? subs : undefined;
    },
    60_000,
  );

/** Leaves no Subscription pointing at a port nobody will listen on (HAPI would keep retrying it). */
export async function subscriptionsOff(ehr: EhrGateway, endpoint: string): Promise<void> {
  for (const s of await subscriptionsTo(ehr, endpoint)) await ehr.update({ ...s, id: s.id!, status: 'off' });
}
