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
    for (const [v, why] of [
      ['"0s"', 'must be at least "1s", got "0s"'],
      ['"500ms"', 'must be at least "1s", got "500ms"'],
      ['"600h"', 'must be at most "24h0m0s", got "600h"'],
      ['"99999999999h"', 'must be at most "24h0m0s", got "99999999999h"'],
    ]) {
      // Refused when the file is read, with the key's own line, before any child starts.
      assert.throws(
        () =>
          parseExtProverConfig(
            "ext-prover.cfg",
            `[[WdPost]]\n[[WdPost]]\nConcurrent = 2\nRequestTimeout = ${v}\n`,
          ),
        (e: unknown) =>
          e instanceof SmError &&
          e.message.includes(
            `ext-prover.cfg:4: WdPost[1].RequestTimeout: ${why} (allowed: "1s" to "24h0m0s")`,
          ),
        v,
      );
    }
    // A config built in code (not read from a file) is still checked when children are made from it.
    const built = parseExtProverConfig("ext-prover.cfg", "[[WdPost]]\n").config;
    const block = built.WdPost[0];
    assert.ok(block);
    block.RequestTimeoutMs = 0;
    assert.throws(
      () => specsFromConfig(built, "window_post"),
      (e: unknown) =>
        e instanceof SmError &&
        /WdPost\[0\]\.RequestTimeout: 0s is out of range; write a duration from 1s/.test(e.message),
    );
  });
});
