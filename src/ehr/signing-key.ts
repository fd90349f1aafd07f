/**
 * kap-bridge's private key for SMART Backend Services: read from a PKCS#8 PEM or a JWK file, and
 * matched to the one signing algorithm it can serve. Synchronous, so that the configuration check
 * at start can name a bad key before anything runs.
 */
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { SigningAlg } from './config.js';

export interface PrivateKeyFile {
  key: KeyObject;
  /** The JWK's own `kid` and `alg`, when the file is a JWK that has them. */
  kid?: string;
  alg?: string;
}

export type KeyFileProblem = 'missing' | 'unreadable' | 'encrypted' | 'public' | 'not-a-key';

/** Why a key file cannot be used; the message names the file, never its content. */
export class KeyFileError extends Error {
  constructor(
    readonly problem: KeyFileProblem,
    message: string,
  ) {
    super(message);
    this.name = 'KeyFileError';
  }
}

export function readPrivateKey(file: string): PrivateKeyFile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new KeyFileError('missing', `${file} does not exist`);
    throw new KeyFileError('unreadable', `${file} cannot be read (${code ?? 'unknown error'})`);
  }
  return text.trimStart().startsWith('{') ? fromJwk(text, file) : fromPem(text, file);
}

function fromPem(text: string, file: string): PrivateKeyFile {
  if (/-----BEGIN (PUBLIC KEY|RSA PUBLIC KEY|CERTIFICATE)-----/.test(text))
    throw new KeyFileError('public', `${file} holds a public key or certificate, not the private key`);
  try {
    return { key: createPrivateKey(text) };
  } catch (e) {
    throw keyError(e, file);
  }
}

function fromJwk(text: string, file: string): PrivateKeyFile {
  let jwk: Record<string, unknown>;
  try {
    const parsed = JSON.parse(text) as { keys?: unknown[] };
    // A JWK Set of one key is accepted as that key; with several, which one signs would be a guess.
    jwk = (Array.isArray(parsed.keys) && parsed.keys.length === 1 ? parsed.keys[0] : parsed) as Record<
      string,
      unknown
    >;
  } catch {
    throw notAKey(file);
  }
  if (typeof jwk !== 'object' || jwk === null || typeof jwk.kty !== 'string') throw notAKey(file);
  if (jwk.d === undefined)
    throw new KeyFileError('public', `${file} holds a public JWK (no "d"), not the private key`);
  try {
    return {
      key: createPrivateKey({ key: jwk as never, format: 'jwk' }),
      ...(typeof jwk.kid === 'string' ? { kid: jwk.kid } : {}),
      ...(typeof jwk.alg === 'string' ? { alg: jwk.alg } : {}),
    };
  } catch (e) {
    throw keyError(e, file);
  }
}

function keyError(e: unknown, file: string): KeyFileError {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ERR_MISSING_PASSPHRASE')
    return new KeyFileError('encrypted', `${file} holds an encrypted key; kap-bridge needs it unencrypted`);
  return notAKey(file);
}

const notAKey = (file: string) =>
  new KeyFileError(
    'not-a-key',
    `${file} holds no private key kap-bridge can read (expected a PKCS#8 PEM, "-----BEGIN PRIVATE KEY-----", or a private JWK as JSON)`,
  );

/** The algorithm this key signs with, or undefined when it fits neither (wrong curve, short RSA, other type). */
export function algorithmFor(key: KeyObject): SigningAlg | undefined {
  const details = key.asymmetricKeyDetails;
  if (key.asymmetricKeyType === 'rsa' && (details?.modulusLength ?? 0) >= 2048) return 'RS384';
  if (key.asymmetricKeyType === 'ec' && details?.namedCurve === 'secp384r1') return 'ES384';
  return undefined;
}

/** "an RSA 3072-bit key", "an EC P-256 key": for messages about a key that does not fit. */
export function describeKey(key: KeyObject): string {
  const details = key.asymmetricKeyDetails;
  if (key.asymmetricKeyType === 'rsa') return `an RSA ${details?.modulusLength ?? '?'}-bit key`;
  if (key.asymmetricKeyType === 'ec') {
    const curve = details?.namedCurve;
    const name = { prime256v1: 'P-256', secp384r1: 'P-384', secp521r1: 'P-521' }[curve ?? ''] ?? curve;
    return `an EC ${name} key`;
  }
  return `an ${key.asymmetricKeyType ?? 'unknown'} key`;
}
