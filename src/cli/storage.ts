/** Opening the gateway's storage (database + limit counters) from the resolved config, for `serve`, `keys` and `usage`. */
import type { ServeConfig } from "../config.js";
import { openCounters } from "../limits/open-counters.js";
import type { Counters } from "../limits/types.js";
import { openStore } from "../store/open-store.js";
import type { Store } from "../store/types.js";

export async function openGatewayStorage(config: ServeConfig): Promise<{ store: Store; counters: Counters }> {
  const store = await openStore({ databaseUrl: config.databaseUrl, sqlitePath: config.dbPath, sqliteSync: config.sqliteSync });
  try {
    const counters = await openCounters({ redisUrl: config.redisUrl, prefix: config.redisPrefix });
    return { store, counters };
  } catch (err) {
    await store.close();
    throw err;
  }
}
