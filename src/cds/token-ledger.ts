/**
 * The CDS client JWTs accepted, by issuer and `jti`, kept in the store: every kap-bridge instance on
 * one database shares them, so a token is let in once whichever instance it reaches. A row lives
 * until its token could no longer be accepted anyway; expired rows are pruned.
 */
import type { Store } from '../store/store.js';
import { CDS_TABLES } from './migrations.js';

export interface TokenLedger {
  /**
   * Takes `key` for a token acceptable until `acceptableUntil` (epoch ms): true the first time,
   * false when it was taken before and has not expired (a replay). One statement decides, so two
   * instances taking the same key at once never both get true.
   */
  take(key: string, acceptableUntil: number): Promise<boolean>;
}

/** How often an instance deletes the expired rows. */
const PRUNE_EVERY_MS = 60_000;

export function storeTokenLedger(store: Store, now: () => number = Date.now): TokenLedger {
  let prunedAt = Number.NEGATIVE_INFINITY;
  return {
    async take(key, acceptableUntil) {
      const at = now();
      if (at - prunedAt >= PRUNE_EVERY_MS) {
        prunedAt = at;
        await store.transaction((tx) =>
          tx.tables(CDS_TABLES).run('DELETE FROM cds_token_ids WHERE expires_at < ?', [at]),
        );
      }
      // Inserted, or an expired row not pruned yet taken over: one row changed. A live row: none.
      const changed = await store.transaction((tx) =>
        tx.tables(CDS_TABLES).run(
          `INSERT INTO cds_token_ids (token_key, expires_at) VALUES (?, ?)
           ON CONFLICT (token_key) DO UPDATE SET expires_at = excluded.expires_at
           WHERE cds_token_ids.expires_at < ?`,
          [key, acceptableUntil, at],
        ),
      );
      return changed === 1;
    },
  };
}
