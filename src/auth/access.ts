/**
 * Who may do what: each route declares the kinds of client it serves, the SMART scope it needs, and,
 * when its path names a patient, episode or session, that this object must belong to the caller's
 * practice. A foreign id is answered exactly like an unknown one (404), so it reveals nothing.
 */
import type { Encounter } from 'fhir/r4';
import { LRUCache } from 'lru-cache';
import { forbidden, notRegistered, OperationOutcomeError } from '../fhir/outcome.js';
import { identityContext } from '../fhir/reference-context.js';
import type { Store } from '../store/store.js';
import type { ClientKind, Principal } from './authentication.js';
import { type Interaction, permits, type ScopeContext, scopeText } from './scopes.js';

/** What a path's `:id` names, for the object-level check. */
export type Owner = 'patient' | 'episode' | 'session';

export interface Need {
  resourceType: string;
  interaction: Interaction;
}

/** The scope contexts each kind of client may use: a therapist system acts for a user or as itself. */
const CONTEXTS: Record<ClientKind, readonly ScopeContext[]> = {
  therapist: ['user', 'system'],
  ehr: ['system'],
  operator: ['system'],
};

/** A 403 that names what was missing (RFC 6750 insufficient_scope). */
export class ForbiddenError extends OperationOutcomeError {
  readonly challenge: string;
  constructor(message: string, scope?: string) {
    super(forbidden(message));
    this.challenge = `Bearer realm="kap-bridge", error="insufficient_scope"${scope ? `, scope="${scope}"` : ''}`;
  }
}

/** Throws unless `principal` is a client of one of `kinds` holding a scope for every need. */
export function authorize(principal: Principal, kinds: readonly ClientKind[], needs: readonly Need[]): void {
  if (!kinds.includes(principal.kind)) {
    throw new ForbiddenError(
      `This route serves ${kinds.join(' or ')} clients; ${principal.client} is not one.`,
    );
  }
  if (principal.kind === 'therapist' && !principal.tenant) {
    throw new ForbiddenError('The token names no practice (tenant); a therapist system acts for one.');
  }
  const contexts = CONTEXTS[principal.kind];
  for (const need of needs) {
    if (!permits(principal.scopes, contexts, need.resourceType, need.interaction)) {
      const wanted = scopeText(contexts, need.resourceType, need.interaction);
      throw new ForbiddenError(`This needs the scope ${wanted}.`, wanted);
    }
  }
}

/** Whether the practice has a patient, an episode or a session (its own Encounter, of its course) with this id. */
async function exists(store: Store, owner: Owner, id: string, tenant: string): Promise<boolean> {
  if (owner === 'patient') return (await store.getPatient(id, tenant)) !== undefined;
  if (owner === 'episode') return (await store.getEpisode(id, tenant)) !== undefined;
  // The EHR's Encounters (another practice's delivered sessions among them) are no one's session here.
  const stored = await store.getOwn('Encounter', id, tenant);
  const episodeId = identityContext.idOf(
    'EpisodeOfCare',
    (stored?.resource as Encounter | undefined)?.episodeOfCare?.[0]?.reference,
  );
  return episodeId !== undefined && (await store.getEpisode(episodeId, tenant)) !== undefined;
}

/**
 * The object-level check: each practice has its own id space, so a path's id names the caller's
 * practice's object or nothing; another practice's object with the same id is not looked at, and an
 * id only another practice uses answers 404 exactly like an unknown one, before anything else about
 * the request (its body) is looked at, so no answer tells them apart.
 *
 * An object never stops existing once it does (nor does a session's episode change), so what was
 * found is remembered: one lookup per object, not per request, and still right when several
 * instances share the database. Unknown ids are not remembered; they may be registered later.
 */
export function ownerCheck(store: Store, limit = 50_000) {
  // The least recently used entry makes room, as in the record cache (src/record.ts).
  const known = new LRUCache<string, true>({ max: limit });
  return async (principal: Principal, owner: Owner, id: string): Promise<void> => {
    const tenant = principal.tenant;
    if (tenant === undefined) throw new OperationOutcomeError(notRegistered(owner, id));
    const key = JSON.stringify([tenant, owner, id]);
    if (known.get(key)) return;
    if (!(await exists(store, owner, id, tenant))) throw new OperationOutcomeError(notRegistered(owner, id));
    known.set(key, true);
  };
}
