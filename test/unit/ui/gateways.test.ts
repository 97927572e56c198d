/**
 * The dashboard's gateway rows (src/ui/gateways.ts) are the miner module's registrations as
 * `util miner gateways` shows them, minus what the page does not show (the gateway's channel id).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { GatewayRegistration } from "../../../src/miner/gateway/index.js";
import { type GatewayRow, gatewayViews } from "../../../src/ui/gateways.js";

test("a registration becomes the page's GatewayView, field by field", () => {
  const reg: GatewayRegistration = {
    gateway: "10.0.0.5:45132",
    miner: "f01000",
    connected: false,
    since: "2026-12-06T21:15:02.000Z",
    channelId: null,
    requests: 3,
    answered: 2,
    failed: 1,
    lastRequest: {
      id: "e26f1e5c-47f7-4561-a11d-18fab6e748af",
      method: "ComputeProof",
      at: "2026-12-06T21:14:00.000Z",
      result: "ok",
      ms: 410,
    },
    lastError: {
      at: "2026-12-06T21:15:02.000Z",
      message: "cannot reach gateway 10.0.0.5:45132: connection refused",
    },
  };
  // The miner's rows fit the view's input without a cast.
  const rows: readonly GatewayRow[] = [reg];
  assert.deepEqual(gatewayViews(rows), [
    {
      gateway: "10.0.0.5:45132",
      miner: "f01000",
      connected: false,
      since: "2026-12-06T21:15:02.000Z",
      requests: 3,
      answered: 2,
      failed: 1,
      lastRequest: { at: "2026-12-06T21:14:00.000Z", method: "ComputeProof", result: "ok", ms: 410 },
      lastError: {
        at: "2026-12-06T21:15:02.000Z",
        message: "cannot reach gateway 10.0.0.5:45132: connection refused",
      },
    },
  ]);
  assert.deepEqual(gatewayViews([{ ...reg, lastRequest: null, lastError: null }])[0]?.lastRequest, null);
});
