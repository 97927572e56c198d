/** ext-prover.cfg → child specs: RequestTimeout defaults per stage, and its range checked with file:line:key. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parseExtProverConfig } from "../../../src/config/load.js";
import { renderExtProverDefault } from "../../../src/config/render.js";
import { specsFromConfig } from "../../../src/prover/ext/specs.js";
import { SmError } from "../../../src/util/errors.js";

describe("ext-prover.cfg RequestTimeout", () => {
  test("defaults: 15 min for WdPost, 2 min for WinPost; the default file documents it", () => {
    const cfg = parseExtProverConfig("ext-prover.cfg", "[[WdPost]]\n[[WinPost]]\n").config;
    assert.equal(specsFromConfig(cfg, "window_post")[0]?.requestTimeoutMs, 15 * 60_000);
    assert.equal(specsFromConfig(cfg, "winning_post")[0]?.requestTimeoutMs, 2 * 60_000);
    const def = renderExtProverDefault();
    assert.match(def, /#RequestTimeout = "15m0s"/);
    assert.match(def, /1s to 24h0m0s \(WinPost default: 2m0s\)/);
    const parsed = parseExtProverConfig("ext-prover.cfg", def).config;
    assert.equal(specsFromConfig(parsed, "window_post")[0]?.requestTimeoutMs, 15 * 60_000);
  });

  test("a set value is used; out of range is refused with file:line:key and the range", () => {
    const cfg = parseExtProverConfig(
      "ext-prover.cfg",
      '[[WdPost]]\nRequestTimeout = "40m"\n\n[[WinPost]]\nRequestTimeout = "90s"\n',
    ).config;
    assert.equal(specsFromConfig(cfg, "window_post")[0]?.requestTimeoutMs, 40 * 60_000);
    assert.equal(specsFromConfig(cfg, "winning_post")[0]?.requestTimeoutMs, 90_000);
    for (const [v, shown] of [
      ['"0s"', "0s"],
      ['"500ms"', "500ms"],
      ['"600h"', "600h0m0s"],
      ['"99999999999h"', "99999999999h0m0s"],
    ]) {
      const c = parseExtProverConfig(
        "ext-prover.cfg",
        `[[WdPost]]\n[[WdPost]]\nConcurrent = 2\nRequestTimeout = ${v}\n`,
      ).config;
      assert.throws(
        () => specsFromConfig(c, "window_post"),
        (e: unknown) =>
          e instanceof SmError &&
          e.message.startsWith(
            `ext-prover.cfg:2: WdPost[1].RequestTimeout: ${shown} is out of range; write a duration from 1s to 24h0m0s`,
          ),
        v,
      );
    }
  });
});
