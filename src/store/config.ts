/** Where the store keeps its data: PostgreSQL when a URL is given, otherwise a SQLite file. */
import { type Declarations, type Parse, text } from '../variables.js';

export interface StoreConfig {
  /** PostgreSQL when set; otherwise SQLite at `sqliteFile`. */
  databaseUrl?: string;
  sqliteFile: string;
}

const postgresUrl: Parse<string> = (raw) =>
  /^postgres(ql)?:\/\/.+/.test(raw) ? raw : { error: 'must be a postgres:// connection URL' };

export const STORE_VARIABLES: Declarations<StoreConfig> = {
  databaseUrl: {
    name: 'DATABASE_URL',
    description: 'PostgreSQL connection URL; set it to share one database between several instances',
    parse: postgresUrl,
    secret: true,
  },
  sqliteFile: {
    name: 'KAP_SQLITE_FILE',
    description: 'SQLite file used when DATABASE_URL is not set (created on first start)',
    default: './data/kap-bridge.db',
    parse: text,
  },
};
