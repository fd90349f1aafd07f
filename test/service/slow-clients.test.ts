/**
 * Slow clients are cut off when the configured limits say, on raw sockets: a connection that sends
 * no complete request line and headers within KAP_HEADERS_TIMEOUT_MS, and a request whose body is
 * still arriving after KAP_REQUEST_TIMEOUT_MS, are answered 408 and closed within a second or so.
 */
import { connect, type Socket } from 'node:net';
import type { Service } from '../../src/service.js';
import { bearer } from '../support/auth.js';
import { startTestService } from '../support/service.js';

const HEADERS_MS = 1000;
const REQUEST_MS = 2000;
/** How late after its limit a connection may be closed. */
const SLACK_MS = 1500;
/** The test gives up on a connection after this long, so a missed limit fails quickly. */
const GIVE_UP_MS = REQUEST_MS + SLACK_MS + 1000;

let service: Service;

beforeAll(async () => {
  service = await startTestService({
    KAP_HEADERS_TIMEOUT_MS: String(HEADERS_MS),
    KAP_REQUEST_TIMEOUT_MS: String(REQUEST_MS),
  });
});
afterAll(() => service.close());

/**
 * Opens a connection, lets `send` write to it, and tells when the server closed it and what it
 * answered; `send` gets a way to write again and again until then.
 */
function slowClient(send: (socket: Socket, every: (ms: number, text: string) => void) => void) {
  const { port } = new URL(service.url);
  return new Promise<{ ms: number; answer: string }>((resolve) => {
    const socket = connect(Number(port), '127.0.0.1');
    const timers: NodeJS.Timeout[] = [];
    const started = performance.now();
    let answer = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      answer += d;
    });
    socket.on('error', () => undefined); // a reset closes it too
    socket.on('close', () => {
      for (const t of timers) clearInterval(t);
      resolve({ ms: performance.now() - started, answer });
    });
    timers.push(setTimeout(() => socket.destroy(), GIVE_UP_MS));
    const every = (ms: number, text: string) =>
      timers.push(setInterval(() => socket.writable && socket.write(text), ms));
    socket.on('connect', () => send(socket, every));
  });
}

const expect408Within = (closed: { ms: number; answer: string }, limitMs: number) => {
  expect(closed.ms).toBeGreaterThanOrEqual(limitMs - 50);
  expect(closed.ms).toBeLessThan(limitMs + SLACK_MS);
  expect(closed.answer).toMatch(/^HTTP\/1\.1 408 /);
  expect(closed.answer).toContain('"resourceType":"OperationOutcome"');
};

test('a connection that sends nothing is closed once the headers limit has passed', async () => {
  expect408Within(await slowClient(() => undefined), HEADERS_MS);
});

test('headers trickled a line at a time are cut off at the headers limit', async () => {
  const closed = await slowClient((socket, every) => {
    socket.write('GET /healthz HTTP/1.1\r\nHost: kap\r\n');
    every(200, 'X-Slow: still coming\r\n');
  });
  expect408Within(closed, HEADERS_MS);
});

test('a body trickled a byte at a time is cut off at the request limit', async () => {
  const closed = await slowClient((socket, every) => {
    socket.write(
      'POST /fhir HTTP/1.1\r\nHost: kap\r\nContent-Type: application/fhir+json\r\n' +
        `Authorization: ${bearer('ehr').authorization}\r\nContent-Length: 10000\r\n\r\n`,
    );
    every(200, ' ');
  });
  expect408Within(closed, REQUEST_MS);
});
