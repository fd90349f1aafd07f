/**
 * The console's sign-in: a person signs in once with a token (static mode) or through the identity
 * provider (jwt mode), and the browser then holds only a random session id in an HttpOnly cookie.
 * The session, kept here on the server, carries the principal the token stood for, a CSRF token the
 * page must send with every write, and when it was last used: idle longer than the timeout and it is
 * gone. One-time sign-in codes (the link printed at first start) are exchanged here for a session.
 *
 * Sessions live in this process's memory: a restart signs everyone out, and with several instances
 * the proxy in front must keep a browser on one of them.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { Principal } from './authentication.js';

export interface ConsoleSession {
  id: string;
  principal: Principal;
  /** Sent back by the page in X-CSRF-Token on every write. */
  csrf: string;
  lastUsed: number;
}

export const SESSION_COOKIE = 'kap-console';
/** The cookie's name when it is marked Secure (behind https): the browser then also pins it to this host. */
export const SECURE_SESSION_COOKIE = '__Host-kap-console';
export const CSRF_HEADER = 'x-csrf-token';

const secret = (): string => randomBytes(32).toString('base64url');

export const sameText = (given: string, expected: string): boolean => {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
};

export class ConsoleSessions {
  private readonly sessions = new Map<string, ConsoleSession>();
  /** One-time sign-in codes, each for a principal, valid until used or until `expiresAt`. */
  private readonly codes = new Map<string, { principal: Principal; expiresAt: number }>();

  constructor(
    readonly idleMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  open(principal: Principal): ConsoleSession {
    this.sweep();
    const session = { id: secret(), principal, csrf: secret(), lastUsed: this.now() };
    this.sessions.set(session.id, session);
    return session;
  }

  /** The live session with this id; `touch` counts the request as use (an event stream's tick does not). */
  get(id: string, touch = true): ConsoleSession | undefined {
    const session = this.sessions.get(id);
    if (!session) return undefined;
    if (this.now() - session.lastUsed > this.idleMs) {
      this.sessions.delete(id);
      return undefined;
    }
    if (touch) session.lastUsed = this.now();
    return session;
  }

  close(id: string): void {
    this.sessions.delete(id);
  }

  /** A code that signs `principal` in once, within `validMs`. */
  issueCode(principal: Principal, validMs: number): string {
    const code = secret();
    this.codes.set(code, { principal, expiresAt: this.now() + validMs });
    return code;
  }

  /** The principal of a code, which is then spent; undefined when unknown, spent or expired. */
  redeem(code: string): Principal | undefined {
    const found = this.codes.get(code);
    this.codes.delete(code);
    return found && found.expiresAt >= this.now() ? found.principal : undefined;
  }

  private sweep(): void {
    const now = this.now();
    for (const [id, s] of this.sessions) if (now - s.lastUsed > this.idleMs) this.sessions.delete(id);
    for (const [code, c] of this.codes) if (c.expiresAt < now) this.codes.delete(code);
  }
}
