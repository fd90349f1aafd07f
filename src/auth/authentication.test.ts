import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AuthenticationError,
  createAuthenticator,
  type InboundAuthConfig,
  readStaticTokens,
} from './authentication.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'kap-auth-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const file = (name: string, content: unknown) => {
  const path = join(dir, name);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
};
const sha = (t: string) => createHash('sha256').update(t).digest('hex');
const base: InboundAuthConfig = {
  mode: 'static',
  algorithms: [],
  tenantClaim: 'tenant',
  ehrClients: [],
  operatorClients: [],
};

test('static tokens are known by their SHA-256 only, with their client, kind, practice and scopes', async () => {
  const tokens = file('ok.json', {
    tokens: [
      {
        sha256: sha('secret-a'),
        client: 'therapy-a',
        kind: 'therapist',
        tenant: 'practice-a',
        scope: 'user/*.rs',
      },
      { sha256: sha('secret-ehr'), client: 'ehr', kind: 'ehr', scope: 'system/*.cu' },
    ],
  });
  const authenticate = createAuthenticator({ ...base, staticTokensFile: tokens });
  const a = await authenticate('Bearer secret-a');
  expect(a).toMatchObject({ client: 'therapy-a', kind: 'therapist', tenant: 'practice-a' });
  expect(a.scopes).toHaveLength(1);
  expect((await authenticate('bearer secret-ehr')).kind).toBe('ehr');
  for (const header of [undefined, 'Bearer secret-b', 'Basic c2VjcmV0LWE=', 'Bearer', 'Bearer a b']) {
    await expect(authenticate(header)).rejects.toBeInstanceOf(AuthenticationError);
  }
});

test.each([
  ['not json', '{tokens', /cannot be read as JSON/],
  ['no list', { tokens: [] }, /has no "tokens" list/],
  [
    'a plain token',
    { tokens: [{ token: 'x', client: 'c', kind: 'ehr', scope: '' }] },
    /tokens\[0\]\.sha256 is not 64 hex digits/,
  ],
  [
    'an unknown kind',
    { tokens: [{ sha256: sha('x'), client: 'c', kind: 'admin', scope: '' }] },
    /kind must be one of ehr, therapist, operator/,
  ],
  [
    'a therapist without practice',
    { tokens: [{ sha256: sha('x'), client: 'c', kind: 'therapist', scope: '' }] },
    /needs its practice in "tenant"/,
  ],
])('a tokens file with %s is refused, naming the file and the fix', (_what, content, message) => {
  const path = file('bad.json', content);
  expect(() => readStaticTokens(path)).toThrow(message);
  expect(() => readStaticTokens(path)).toThrow(path);
});
