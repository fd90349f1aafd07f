/**
 * An HTTP proxy in front of the HAPI sandbox that a suite turns on and off, to hold back or break
 * kap-bridge's deliveries to the EHR (the outbox fault tests, the medicine session's alerts).
 */
import { createServer, request, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { sandboxBaseUrl } from './sandbox.js';

/**
 * An HTTP proxy in front of HAPI that the test turns on and off: `down` stops listening (connection
 * refused), `flaky` resets every other request before HAPI sees it and cuts the connection of the
 * others once HAPI has answered (the write is kept, its answer lost), `hold` keeps HAPI's answers to
 * transaction Bundles after the first `passBeforeHold` (the write is kept, the caller waits), `up`
 * passes everything.
 */
export class EhrProxy {
  mode: 'up' | 'down' | 'flaky' | 'hold' = 'up';
  passBeforeHold = 0;
  readonly seen = { refused: 0, answerLost: 0, held: 0, transactions: 0 };
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private readonly held: ServerResponse[] = [];
  private port = 0;
  private flakyTurn = 0;
  private readonly target = new URL(sandboxBaseUrl());

  constructor() {
    this.server = createServer((req, res) => {
      const transaction = req.method === 'POST' && req.url?.replace(/\/$/, '') === this.target.pathname;
      if (transaction) this.seen.transactions++;
      const flaky = this.mode === 'flaky' ? this.flakyTurn++ % 2 : -1;
      if (flaky === 0) {
        this.seen.refused++;
        req.socket.destroy();
        return;
      }
      const upstream = request(
        {
          host: this.target.hostname,
          port: this.target.port,
          method: req.method,
          path: req.url,
          headers: req.headers,
        },
        (answer) => {
          if (flaky === 1) {
            this.seen.answerLost++;
            answer.resume();
            req.socket.destroy();
          } else if (transaction && this.mode === 'hold' && this.passBeforeHold-- <= 0) {
            this.seen.held++;
            answer.resume();
            this.held.push(res);
          } else {
            res.writeHead(answer.statusCode ?? 502, answer.headers);
            answer.pipe(res);
          }
        },
      );
      upstream.on('error', () => req.socket.destroy());
      req.pipe(upstream);
    });
    this.server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}${this.target.pathname}`;
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(this.port, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  /** Stops listening and drops every open connection: the EHR is gone. */
  async down(): Promise<void> {
    this.mode = 'down';
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  async up(): Promise<void> {
    if (!this.server.listening) await this.listen();
    this.mode = 'up';
  }

  /** Drops the answers held back, and their connections. */
  dropHeld(): void {
    for (const res of this.held.splice(0)) res.socket?.destroy();
  }

  async close(): Promise<void> {
    this.dropHeld();
    if (!this.server.listening) return;
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
