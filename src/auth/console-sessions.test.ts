import type { Principal } from './authentication.js';
import { ConsoleSessions } from './console-sessions.js';

const therapist: Principal = { client: 'therapy-a', kind: 'therapist', tenant: 'practice-a', scopes: [] };

describe('console sessions', () => {
  let now = 0;
  const sessions = () => new ConsoleSessions(30 * 60_000, () => now);
  beforeEach(() => {
    now = Date.parse('2026-03-02T09:00:00Z');
  });

  test('a session idle longer than the timeout is gone; each use starts the wait again', () => {
    const store = sessions();
    const { id } = store.open(therapist);
    now += 29 * 60_000;
    expect(store.get(id)?.principal).toBe(therapist);
    now += 29 * 60_000;
    expect(store.get(id)?.principal).toBe(therapist);
    now += 30 * 60_000 + 1;
    expect(store.get(id)).toBeUndefined();
    // Once gone, it stays gone.
    now -= 60 * 60_000;
    expect(store.get(id)).toBeUndefined();
  });

  test("an event stream's look does not count as use", () => {
    const store = sessions();
    const { id } = store.open(therapist);
    for (let i = 0; i < 31; i++) {
      now += 60_000;
      store.get(id, false);
    }
    expect(store.get(id)).toBeUndefined();
  });

  test('ids and CSRF tokens are fresh and unguessable; a closed session is gone', () => {
    const store = sessions();
    const a = store.open(therapist);
    const b = store.open(therapist);
    expect(new Set([a.id, b.id, a.csrf, b.csrf]).size).toBe(4);
    expect(a.id).toMatch(/^[A-Za-z0-9_-]{43}$/);
    store.close(a.id);
    expect(store.get(a.id)).toBeUndefined();
    expect(store.get(b.id)).toBeDefined();
  });

  test('a sign-in code works once, and not after it expires', () => {
    const store = sessions();
    const code = store.issueCode(therapist, 60_000);
    expect(store.redeem(code)).toBe(therapist);
    expect(store.redeem(code)).toBeUndefined();
    const late = store.issueCode(therapist, 60_000);
    now += 60_001;
    expect(store.redeem(late)).toBeUndefined();
  });
});
