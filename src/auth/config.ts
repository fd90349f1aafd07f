/**
 * How kap-bridge's callers authenticate (bearer JWTs from an identity provider, or static tokens
 * from a file), and how long the console keeps a person signed in.
 */
import type { PatientLinkMode } from '../patient-link.js';
import {
  boolean,
  type Declarations,
  integer,
  jwksLocation,
  list,
  oneOf,
  text,
  tokenUrl,
  url,
} from '../variables.js';
import { type InboundAuthConfig, readStaticTokens } from './authentication.js';

export interface AuthConfig extends InboundAuthConfig {
  /** The token endpoint where callers get their tokens, told to clients in the CapabilityStatement. */
  tokenUrl?: string;
  /** Static tokens accepted when NODE_ENV=production: there they must be asked for explicitly. */
  allowStatic: boolean;
  consoleIdleMinutes: number;
  /** The console's client at the identity provider (jwt mode): OpenID Connect sign-in when set. */
  consoleOidcClientId?: string;
  /** Its secret (client_secret_basic); unset: a public client, PKCE alone. */
  consoleOidcClientSecret?: string;
  /** Where the identity provider sends the browser back; unset: {publicBaseUrl}/console/oidc/callback. */
  consoleOidcRedirectUrl?: string;
  consoleOidcScope: string;
}

/** Asymmetric algorithms only: a shared-secret (HS*) or unsigned (`none`) token is never accepted. */
const JWT_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
];

export const AUTH_VARIABLES: Declarations<AuthConfig> = {
  mode: {
    name: 'KAP_AUTH_MODE',
    description:
      'How callers authenticate: jwt (bearer JWTs checked against KAP_AUTH_JWKS) or static (tokens listed in KAP_AUTH_STATIC_TOKENS_FILE)',
    default: 'jwt',
    parse: oneOf('jwt', 'static'),
  },
  jwks: {
    name: 'KAP_AUTH_JWKS',
    description: "jwt: the identity provider's keys, a JWKS file path or https URL",
    parse: jwksLocation,
  },
  issuer: { name: 'KAP_AUTH_ISSUER', description: 'jwt: the token issuer (iss) to accept', parse: text },
  audience: {
    name: 'KAP_AUTH_AUDIENCE',
    description: "jwt: the audience (aud) tokens must name, e.g. kap-bridge's public base URL",
    parse: text,
  },
  tokenUrl: {
    name: 'KAP_AUTH_TOKEN_URL',
    description:
      "The token endpoint where kap-bridge's callers get their tokens, told to clients in the CapabilityStatement's security",
    parse: tokenUrl,
  },
  algorithms: {
    name: 'KAP_AUTH_ALGORITHMS',
    description: 'jwt: signature algorithms accepted, comma-separated (asymmetric only)',
    default: 'RS256,RS384,ES256,ES384',
    parse: list(JWT_ALGORITHMS),
  },
  tenantClaim: {
    name: 'KAP_AUTH_TENANT_CLAIM',
    description: "jwt: the claim that names a therapist system's practice (tenant)",
    default: 'tenant',
    parse: text,
  },
  ehrClients: {
    name: 'KAP_AUTH_EHR_CLIENTS',
    description: "jwt: client ids (client_id, azp or sub) that are the prescriber's EHR, comma-separated",
    default: '',
    parse: list(),
  },
  operatorClients: {
    name: 'KAP_AUTH_OPERATOR_CLIENTS',
    description: 'jwt: client ids of operators (metrics, audit trail), comma-separated',
    default: '',
    parse: list(),
  },
  staticTokensFile: {
    name: 'KAP_AUTH_STATIC_TOKENS_FILE',
    description:
      'static: JSON file listing each token by its SHA-256 with its client, kind, practice and scopes',
    parse: text,
  },
  allowStatic: {
    name: 'KAP_AUTH_ALLOW_STATIC',
    description: 'Accept KAP_AUTH_MODE=static when NODE_ENV=production',
    default: 'false',
    parse: boolean,
  },
  consoleIdleMinutes: {
    name: 'KAP_CONSOLE_IDLE_MINUTES',
    description: 'The console signs a person out after this long without a request',
    default: '30',
    parse: integer(1, 24 * 60),
  },
  consoleOidcClientId: {
    name: 'KAP_CONSOLE_OIDC_CLIENT_ID',
    description:
      "jwt: the console's client id at the identity provider (KAP_AUTH_ISSUER); when set, people sign in to the console with OpenID Connect (authorization code with PKCE)",
    parse: text,
  },
  consoleOidcClientSecret: {
    name: 'KAP_CONSOLE_OIDC_CLIENT_SECRET',
    description:
      "jwt: the console client's secret, sent to the token endpoint with HTTP Basic; unset: a public client (PKCE alone)",
    secret: true,
    parse: text,
  },
  consoleOidcRedirectUrl: {
    name: 'KAP_CONSOLE_OIDC_REDIRECT_URL',
    description:
      'jwt: the redirect URI registered for the console client; unset: KAP_PUBLIC_BASE_URL followed by /console/oidc/callback',
    parse: url,
  },
  consoleOidcScope: {
    name: 'KAP_CONSOLE_OIDC_SCOPE',
    description:
      'jwt: the scopes the console asks the identity provider for (openid always among them), e.g. "openid user/*.cruds"',
    default: 'openid',
    parse: (raw) => {
      const scopes = raw.trim().split(/\s+/);
      if (!scopes.every((t) => /^[\x21\x23-\x5B\x5D-\x7E]+$/.test(t)))
        return { error: 'must be scopes separated by spaces, e.g. "openid user/*.cruds"' };
      return scopes.includes('openid') ? scopes.join(' ') : { error: 'must include openid' };
    },
  },
};

/**
 * What `serve` needs to authenticate its callers, one message per gap; `mrn` patient linking serves
 * one practice only, so a static tokens file naming several is refused with it.
 */
export function authProblems(
  auth: AuthConfig,
  patientLink: PatientLinkMode,
  env: Record<string, string | undefined>,
): string[] {
  if (auth.mode === 'static') {
    const problems: string[] = [];
    const practices = staticPractices(auth.staticTokensFile);
    if (patientLink === 'mrn' && practices.length > 1)
      problems.push(
        `KAP_PATIENT_LINK=mrn serves one practice, and KAP_AUTH_STATIC_TOKENS_FILE names ${practices.length} (${practices.join(', ')}): an MRN is not a key to another practice's patient. Use KAP_PATIENT_LINK=ehr-confirmed`,
      );
    if (!auth.staticTokensFile)
      problems.push('KAP_AUTH_STATIC_TOKENS_FILE must name the tokens file when KAP_AUTH_MODE=static');
    if (auth.consoleOidcClientId)
      problems.push(
        'KAP_CONSOLE_OIDC_CLIENT_ID is set, but KAP_AUTH_MODE is static: OpenID Connect sign-in needs KAP_AUTH_MODE=jwt and its identity provider',
      );
    if (env.NODE_ENV === 'production' && !auth.allowStatic)
      problems.push(
        'KAP_AUTH_MODE=static is refused when NODE_ENV=production: use jwt with an identity provider, or set KAP_AUTH_ALLOW_STATIC=true to accept static tokens knowingly',
      );
    return problems;
  }
  // A variable given but wrong is already named by its own check.
  return ['KAP_AUTH_JWKS', 'KAP_AUTH_ISSUER', 'KAP_AUTH_AUDIENCE']
    .filter((name) => !env[name])
    .map(
      (name) =>
        `${name} must be set when KAP_AUTH_MODE=jwt (or use KAP_AUTH_MODE=static for one practice without an identity provider)`,
    );
}

/** The practices the static tokens file names; none when it cannot be read (its own check says why). */
function staticPractices(file: string | undefined): string[] {
  if (!file) return [];
  try {
    return [...new Set(readStaticTokens(file).flatMap((t) => (t.tenant ? [t.tenant] : [])))].sort();
  } catch {
    return [];
  }
}
