/**
 * SMART App Launch v2 scopes (https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html):
 * `context/ResourceType.permissions`, e.g. `system/MedicationRequest.cu` or `user/*.rs`. The v1 forms
 * `.read`, `.write` and `.*` are read as `rs`, `cud` and `cruds`. Pure: a scope list in, a yes or no out.
 */

/** c create, r read, u update, d delete, s search. */
export type Interaction = 'c' | 'r' | 'u' | 'd' | 's';
export type ScopeContext = 'patient' | 'user' | 'system';

export interface Scope {
  context: ScopeContext;
  /** A resource type, or `*` for all. */
  resourceType: string;
  interactions: ReadonlySet<Interaction>;
}

const V1: Record<string, string> = { read: 'rs', write: 'cud', '*': 'cruds' };
const SCOPE = /^(patient|user|system)\/(\*|[A-Z][A-Za-z]{1,63})\.([a-z*]+)(\?.*)?$/;

/** The resource scopes in a token's `scope` claim; anything else (openid, launch, ...) is ignored. */
export function parseScopes(claim: string | readonly string[] | undefined): Scope[] {
  const words = typeof claim === 'string' ? claim.split(/\s+/) : (claim ?? []);
  const scopes: Scope[] = [];
  for (const word of words) {
    const m = SCOPE.exec(word);
    // A query-narrowed scope (`?category=...`) grants less than the whole type; kap-bridge does not
    // narrow by query, so it grants nothing rather than everything.
    if (!m || m[4] !== undefined) continue;
    const permissions = V1[m[3]!] ?? m[3]!;
    // v2 permissions are a subset of "cruds" in that order.
    if (!/^c?r?u?d?s?$/.test(permissions) || permissions === '') continue;
    scopes.push({
      context: m[1] as ScopeContext,
      resourceType: m[2]!,
      interactions: new Set(permissions.split('') as Interaction[]),
    });
  }
  return scopes;
}

export const scopeText = (
  contexts: readonly ScopeContext[],
  resourceType: string,
  interaction: Interaction,
) => `${contexts.join('|')}/${resourceType}.${interaction}`;

/** True when one of `scopes`, in one of `contexts`, allows `interaction` on `resourceType`. */
export function permits(
  scopes: readonly Scope[],
  contexts: readonly ScopeContext[],
  resourceType: string,
  interaction: Interaction,
): boolean {
  return scopes.some(
    (s) =>
      contexts.includes(s.context) &&
      (s.resourceType === '*' || s.resourceType === resourceType) &&
      s.interactions.has(interaction),
  );
}
