/**
 * The page's copy of the dashboard's data types (ui/src/state.ts: the browser build cannot import
 * node sources) must stay the node's (src/ui/types.ts). The check is the type check of `npm test`:
 * if the two drift apart, `ok` below no longer compiles.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { DashboardState as Node } from "../../../src/ui/types.js";
import type { DashboardState as Page } from "../../../ui/src/state.js";

// Exact equality (an optional field added on one side only counts too), not mutual assignability.
type Same<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;

test("the page's DashboardState is the node's", () => {
  const ok: Same<Node, Page> = true;
  assert.equal(ok, true);
});
