/**
 * A small stand-in for the EHR on loopback, for what a real HAPI cannot be made to do on demand:
 * be down, come back, and say what it was asked. Up, it answers a read with a bare resource of the
 * type and id asked, searches with an empty searchset, and echoes creates and updates with an id
 * and a version; down, every request gets a 503.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ID, RESOURCE_TYPE } from '../../src/fhir/ids.js';

export interface FakeEhr {
  baseUrl: string;
  /** Whether requests are answered (true) or refused with 503. */
  up: boolean;
  /** Every request received: method, path and headers. */
  requests: { method: string; path: string; headers: IncomingHttpHeaders }[];
  close(): Promise<void>;
}

export async function startFakeEhr(options: { up?: boolean } = {}): Promise<FakeEhr> {
  const fake = { up: options.up ?? true, requests: [] as FakeEhr['requests'] };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      fake.requests.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers });
      const send = (status: number, body: object) => {
        res.writeHead(status, { 'content-type': 'application/fhir+json' });
        res.end(JSON.stringify(body));
      };
      if (!fake.up) {
        send(503, {
          resourceType: 'OperationOutcome',
          issue: [{ severity: 'error', code: 'transient', diagnostics: 'down for maintenance' }],
        });
        return;
      }
      const read = new RegExp(`^/fhir/(${RESOURCE_TYPE})/(${ID})$`).exec(req.url ?? '');
      if (req.method === 'GET' && read) {
        send(200, {
          resourceType: read[1],
          id: read[2],
          meta: { versionId: '1', lastUpdated: new Date().toISOString() },
        });
        return;
      }
      if (req.method === 'GET') {
        send(200, { resourceType: 'Bundle', type: 'searchset', total: 0, entry: [] });
        return;
      }
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as { id?: string };
      send(req.method === 'POST' ? 201 : 200, {
        ...body,
        id: body.id ?? randomUUID(),
        meta: { versionId: '1', lastUpdated: new Date().toISOString() },
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(fake, {
    baseUrl: `http://127.0.0.1:${port}/fhir`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  });
}
