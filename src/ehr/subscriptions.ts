/**
 * REST-hook Subscriptions in the EHR, one per kept resource type, pointing at kap-bridge's /fhir
 * with the shared secret as a header. Registering again finds and reuses what is there, so start-up
 * and `kap-bridge subscribe` can run any number of times.
 */
import type { Subscription } from 'fhir/r4';
import type { EhrGateway } from './gateway.js';

export const SECRET_HEADER = 'X-Kap-Subscription-Secret';

export interface SubscriptionPlan {
  /** kap-bridge's FHIR endpoint as the EHR reaches it, e.g. https://kap.example.org/fhir. */
  endpoint: string;
  secret: string;
  types: readonly string[];
}

export interface Registered {
  type: string;
  id: string;
  status: Subscription['status'];
  action: 'created' | 'reused' | 'updated';
}

const REASON = 'kap-bridge: keep the KAP record aligned with the prescriber EHR';

export function subscriptionFor(type: string, plan: SubscriptionPlan): Subscription {
  return {
    resourceType: 'Subscription',
    status: 'requested',
    reason: REASON,
    criteria: `${type}?`,
    channel: {
      type: 'rest-hook',
      endpoint: plan.endpoint,
      payload: 'application/fhir+json',
      header: [`${SECRET_HEADER}: ${plan.secret}`],
    },
  };
}

export async function registerSubscriptions(ehr: EhrGateway, plan: SubscriptionPlan): Promise<Registered[]> {
  const existing: Subscription[] = [];
  for await (const s of ehr.search<Subscription>('Subscription', { url: plan.endpoint, type: 'rest-hook' }))
    existing.push(s);
  const registered: Registered[] = [];
  for (const type of plan.types) {
    const wanted = subscriptionFor(type, plan);
    const found = existing.find(
      (s) => s.criteria === wanted.criteria && s.channel.endpoint === plan.endpoint,
    );
    if (found?.id && found.status !== 'off' && found.status !== 'error' && sameHeaders(found, wanted)) {
      registered.push({ type, id: found.id, status: found.status, action: 'reused' });
      continue;
    }
    if (found?.id) {
      const updated = await ehr.update({ ...wanted, id: found.id });
      registered.push({ type, id: updated.id, status: updated.status, action: 'updated' });
      continue;
    }
    const created = await ehr.create(wanted);
    registered.push({ type, id: created.id!, status: created.status, action: 'created' });
  }
  return registered;
}

const sameHeaders = (a: Subscription, b: Subscription): boolean =>
  JSON.stringify(a.channel.header ?? []) === JSON.stringify(b.channel.header ?? []);
