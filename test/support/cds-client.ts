/**
 * A CDS Hooks client, as a prescriber's EHR is one: it signs a JWT for each call (ES384, its own
 * key, `aud` the URL called, a fresh `jti`), and either sends the prefetch the service asked for,
 * fetched from its FHIR server with the templates of the discovery answer, or sends none.
 */
import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, type JWTPayload, SignJWT } from 'jose';

// biome-ignore lint/suspicious/noExplicitAny: tests read answers field by field, as a client would
type Json = any;

export interface Answer {
  status: number;
  body: Json;
}

export type KeyPair = Awaited<ReturnType<typeof generateKeyPair>>;

export const CDS_ISSUER = 'https://ehr.kap-test.example';
export const CDS_KID = 'ehr-cds-1';

/** The EHR's signing key and the JWK Set it publishes. */
export async function cdsClientKeys(): Promise<{ keys: KeyPair; jwks: { keys: object[] } }> {
  const keys = await generateKeyPair('ES384');
  const jwk = { ...(await exportJWK(keys.publicKey)), kid: CDS_KID, alg: 'ES384', use: 'sig' };
  return { keys, jwks: { keys: [jwk] } };
}

export interface SignOptions {
  key?: KeyPair['privateKey'];
  issuer?: string;
  audience?: string;
  expiresIn?: number;
  jti?: string;
  header?: Record<string, unknown>;
  claims?: JWTPayload;
}

export class CdsClient {
  constructor(
    readonly serviceBase: string,
    private readonly key: KeyPair['privateKey'],
    /** The FHIR server prefetch is fetched from; none: no prefetch is sent. */
    readonly fhirServer?: string,
  ) {}

  /** A JWT for a call to `path`, as CDS Hooks asks; `options` change one thing at a time. */
  sign(path: string, options: SignOptions = {}): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ ...options.claims })
      .setProtectedHeader({ alg: 'ES384', typ: 'JWT', kid: CDS_KID, ...options.header })
      .setIssuer(options.issuer ?? CDS_ISSUER)
      .setAudience(options.audience ?? `${this.serviceBase}${path}`)
      .setIssuedAt(now)
      .setExpirationTime(now + (options.expiresIn ?? 300))
      .setJti(options.jti ?? randomUUID())
      .sign(options.key ?? this.key);
  }

  async send(method: string, path: string, body?: unknown, token?: string): Promise<Answer> {
    const res = await fetch(`${this.serviceBase}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token ?? (await this.sign(path))}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  }

  discover(): Promise<Answer> {
    return this.send('GET', '/cds-services');
  }

  /** The prefetch a service's templates ask for, as the FHIR server answers them. */
  async prefetchFor(templates: Record<string, string>, patientId: string): Promise<Record<string, Json>> {
    const prefetch: Record<string, Json> = {};
    for (const [key, template] of Object.entries(templates)) {
      const query = template.replaceAll('{{context.patientId}}', patientId);
      const res = await fetch(`${this.fhirServer}/${query}`, {
        headers: { accept: 'application/fhir+json', 'cache-control': 'no-cache' },
      });
      const bundle = (await res.json()) as Json;
      // "If the CDS Client has no data to populate a template prefetch key, ... a value of null."
      prefetch[key] = bundle.entry?.length ? bundle : null;
    }
    return prefetch;
  }

  /** Calls a service for a hook; with a FHIR server, the service's prefetch goes with it. */
  async call(serviceId: string, hook: string, context: Json, extra: Json = {}): Promise<Answer> {
    let prefetch: Record<string, Json> | undefined;
    if (this.fhirServer) {
      const services = (await this.discover()).body.services as Json[];
      const service = services.find((s) => s.id === serviceId);
      prefetch = await this.prefetchFor(service.prefetch, context.patientId);
    }
    return this.send('POST', `/cds-services/${serviceId}`, {
      hook,
      hookInstance: randomUUID(),
      context,
      ...(prefetch ? { prefetch } : {}),
      ...extra,
    });
  }
}
