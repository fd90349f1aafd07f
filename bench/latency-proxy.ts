/**
 * A latency proxy on loopback for the benchmarks: an HTTP proxy in front of the EHR that adds a
 * fixed round trip to every request (half before it is forwarded, half before the answer is sent
 * back), as a remote EHR across a network would. Bodies pass through unchanged; `Location` and
 * links keep the EHR's origin, so kap-bridge's gateway is pointed at the proxy's URL with the same
 * path. Connections to the EHR are kept alive, as kap-bridge's own are.
 */
import { Agent, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface LatencyProxy {
  /** The proxy's base URL: the EHR's base URL with the proxy's origin. */
  url: string;
  /** Requests forwarded so far. */
  requests: number;
  close(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function startLatencyProxy(target: string, roundTripMs: number): Promise<LatencyProxy> {
  const upstream = new URL(target);
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const state = { requests: 0 };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      state.requests++;
      await sleep(roundTripMs / 2);
      const out = request(
        {
          host: upstream.hostname,
          port: upstream.port,
          method: req.method,
          path: req.url,
          // Plain bodies: the EHR's origin in them is rewritten to the proxy's.
          headers: { ...req.headers, host: upstream.host, 'accept-encoding': 'identity' },
          agent,
        },
        (answer) => {
          const body: Buffer[] = [];
          answer.on('data', (c: Buffer) => body.push(c));
          answer.on('end', async () => {
            await sleep(roundTripMs / 2);
            // The body is sent whole: a Location that names the EHR's origin is rewritten to ours.
            const headers = { ...answer.headers };
            if (typeof headers.location === 'string')
              headers.location = headers.location.replace(upstream.origin, `http://127.0.0.1:${port}`);
            delete headers['transfer-encoding'];
            const payload = Buffer.concat(body)
              .toString('utf8')
              .replaceAll(upstream.origin, `http://127.0.0.1:${port}`);
            headers['content-length'] = String(Buffer.byteLength(payload));
            res.writeHead(answer.statusCode ?? 502, headers);
            res.end(payload);
          });
        },
      );
      out.on('error', () => {
        res.writeHead(502);
        res.end();
      });
      out.end(Buffer.concat(chunks));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return Object.defineProperties(
    {
      url: `http://127.0.0.1:${port}${upstream.pathname.replace(/\/+$/, '')}`,
      close: () =>
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
          agent.destroy();
        }),
    },
    { requests: { get: () => state.requests, enumerable: true } },
  ) as LatencyProxy;
}
