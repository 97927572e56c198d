/**
 * Shared by the chain/lotus tests: endpoints of a FakeLotus, fast client timings, recorded handlers
 * and an SmError matcher.
 */
import assert from "node:assert/strict";
import { parseApiEndpoint } from "../../../../src/chain/lotus/endpoint.js";
import { SmError } from "../../../../src/util/errors.js";
import type { FakeLotus, Handler } from "./fakeLotus.js";
import * as R from "./recordings.js";

export const TOKEN = "chain-token";
export const TSK = ["bafy2bzacea3wsdh6y3a36tb3skempjoxqpuyompjbmfeyf34fi3uy6uue42v4"];
export const RAND32 = Buffer.alloc(32, 7).toString("base64");
export const FAST = {
  timeoutMs: 2000,
  connectTimeoutMs: 1000,
  backoffMinMs: 20,
  backoffMaxMs: 100,
  pingIntervalMs: 0,
};

export function endpoint(
  fake: FakeLotus,
  token: string | null = TOKEN,
  path: "/rpc/v0" | "/rpc/v1" = "/rpc/v1",
) {
  const raw = token === null ? fake.multiaddr : `${token}:${fake.multiaddr}`;
  return parseApiEndpoint(raw, { key: "Common.API.Chain", path });
}

export function isCode(code: string, ...patterns: RegExp[]) {
  return (e: unknown): boolean => {
    assert.ok(e instanceof SmError, `expected SmError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    for (const p of patterns) assert.match(e.message, p);
    return true;
  };
}

/** Handlers answering every read with its recording; `over` replaces some. */
export function recorded(over: Record<string, Handler> = {}): Record<string, Handler> {
  return {
    "Filecoin.StateNetworkName": () => R.STATE_NETWORK_NAME,
    "Filecoin.ChainHead": () => R.CHAIN_HEAD,
    "Filecoin.StateNetworkVersion": () => R.STATE_NETWORK_VERSION,
    "Filecoin.StateMinerInfo": () => R.STATE_MINER_INFO,
    "Filecoin.StateMinerProvingDeadline": () => R.STATE_MINER_PROVING_DEADLINE,
    "Filecoin.StateMinerPartitions": () => R.STATE_MINER_PARTITIONS,
    "Filecoin.StateMinerDeadlines": () => R.STATE_MINER_DEADLINES,
    "Filecoin.StateMinerSectors": () => R.STATE_MINER_SECTORS,
    "Filecoin.StateSectorGetInfo": () => R.STATE_SECTOR_GET_INFO,
    "Filecoin.StateGetRandomnessFromBeacon": () => RAND32,
    "Filecoin.StateGetRandomnessFromTickets": () => RAND32,
    "Filecoin.StateGetActor": () => R.STATE_GET_ACTOR,
    "Filecoin.StateLookupID": () => R.STATE_LOOKUP_ID,
    "Filecoin.MpoolPushMessage": () => R.MPOOL_PUSH_MESSAGE,
    "Filecoin.StateWaitMsg": () => R.STATE_WAIT_MSG,
    ...over,
  };
}
