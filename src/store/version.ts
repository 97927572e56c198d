/**
 * Store layout version: written on first open, checked on every open. A newer layout than this build
 * understands is refused rather than silently misread (Helia's datastore-version idea).
 */
import { SmError } from "../util/errors.js";
import type { KVStore } from "./interface.js";
import { Bucket, stringKey } from "./keys.js";

export const STORE_VERSION = 1;
const VERSION_KEY = stringKey(Bucket.Meta, "version");

export async function checkVersion(store: KVStore, where: string): Promise<void> {
  await store.transaction((tx) => {
    const raw = tx.get(VERSION_KEY);
    if (raw === undefined) {
      tx.put(VERSION_KEY, new TextEncoder().encode(String(STORE_VERSION)));
      return;
    }
    const v = Number(new TextDecoder().decode(raw));
    if (!Number.isInteger(v) || v < 1) {
      throw new SmError(
        "STORE_VERSION_INVALID",
        `metadata store ${where} has an unreadable version marker; it is not a store of this program`,
      );
    }
    if (v > STORE_VERSION) {
      throw new SmError(
        "STORE_VERSION_MISMATCH",
        `metadata store ${where} has layout version ${v}, newer than this build understands (${STORE_VERSION}); upgrade venus-sector-manager`,
      );
    }
  });
}
