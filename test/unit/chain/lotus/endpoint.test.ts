/**
 * API endpoint strings as damocles / Lotus configs write them (multiaddr, TOKEN:multiaddr, URLs) and
 * the [Common.API] fallbacks (damocles dep/sealer_constructor.go: Chain/Messager → Gateway[0]).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { type ApiPath, parseApiEndpoint, resolveApiEndpoints } from "../../../../src/chain/lotus/endpoint.js";
import { SmError } from "../../../../src/util/errors.js";

const JWT = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJBbGxvdyI6WyJyZWFkIl19.c2lnbmF0dXJl";

describe("parseApiEndpoint", () => {
  const good: [string, ApiPath, string, string, string | null][] = [
    [
      "/ip4/127.0.0.1/tcp/1234",
      "/rpc/v1",
      "http://127.0.0.1:1234/rpc/v1",
      "ws://127.0.0.1:1234/rpc/v1",
      null,
    ],
    [
      "/ip4/127.0.0.1/tcp/1234/",
      "/rpc/v1",
      "http://127.0.0.1:1234/rpc/v1",
      "ws://127.0.0.1:1234/rpc/v1",
      null,
    ],
    [
      "/ip4/10.0.0.2/tcp/1234/http",
      "/rpc/v0",
      "http://10.0.0.2:1234/rpc/v0",
      "ws://10.0.0.2:1234/rpc/v0",
      null,
    ],
    [
      "/ip4/10.0.0.2/tcp/443/https",
      "/rpc/v1",
      "https://10.0.0.2:443/rpc/v1",
      "wss://10.0.0.2:443/rpc/v1",
      null,
    ],
    ["/ip4/10.0.0.2/tcp/80/ws", "/rpc/v1", "http://10.0.0.2:80/rpc/v1", "ws://10.0.0.2:80/rpc/v1", null],
    ["/ip6/::1/tcp/1234", "/rpc/v1", "http://[::1]:1234/rpc/v1", "ws://[::1]:1234/rpc/v1", null],
    [
      "/dns/node.example.com/tcp/443/wss",
      "/rpc/v1",
      "https://node.example.com:443/rpc/v1",
      "wss://node.example.com:443/rpc/v1",
      null,
    ],
    [
      "/dns4/gw.local/tcp/45132",
      "/rpc/v0",
      "http://gw.local:45132/rpc/v0",
      "ws://gw.local:45132/rpc/v0",
      null,
    ],
    [
      "/dns6/gw.local/tcp/1/tls/http",
      "/rpc/v1",
      "https://gw.local:1/rpc/v1",
      "wss://gw.local:1/rpc/v1",
      null,
    ],
    ["/ip4/1.2.3.4/tcp/5/version/v0", "/rpc/v1", "http://1.2.3.4:5/rpc/v0", "ws://1.2.3.4:5/rpc/v0", null],
    [
      `${JWT}:/ip4/127.0.0.1/tcp/1234/http`,
      "/rpc/v1",
      "http://127.0.0.1:1234/rpc/v1",
      "ws://127.0.0.1:1234/rpc/v1",
      JWT,
    ],
    ["http://127.0.0.1:1234", "/rpc/v1", "http://127.0.0.1:1234/rpc/v1", "ws://127.0.0.1:1234/rpc/v1", null],
    [
      "https://api.node.glif.io/",
      "/rpc/v1",
      "https://api.node.glif.io/rpc/v1",
      "wss://api.node.glif.io/rpc/v1",
      null,
    ],
    [
      "ws://127.0.0.1:1234/rpc/v1",
      "/rpc/v1",
      "http://127.0.0.1:1234/rpc/v1",
      "ws://127.0.0.1:1234/rpc/v1",
      null,
    ],
    ["wss://h:9/custom/path", "/rpc/v0", "https://h:9/custom/path", "wss://h:9/custom/path", null],
    [
      `${JWT}:http://127.0.0.1:1234`,
      "/rpc/v0",
      "http://127.0.0.1:1234/rpc/v0",
      "ws://127.0.0.1:1234/rpc/v0",
      JWT,
    ],
  ];
  for (const [raw, path, httpUrl, wsUrl, token] of good) {
    test(`accepts ${raw.replace(JWT, "<jwt>")}`, () => {
      const e = parseApiEndpoint(raw, { key: "Common.API.Chain", path });
      assert.deepEqual(e, { httpUrl, wsUrl, token, key: "Common.API.Chain" });
    });
  }

  test("Common.API.Token applies only when the entry carries no token", () => {
    const plain = parseApiEndpoint("/ip4/127.0.0.1/tcp/1", {
      key: "k",
      path: "/rpc/v1",
      defaultToken: "common",
    });
    assert.equal(plain.token, "common");
    const own = parseApiEndpoint("mine:/ip4/127.0.0.1/tcp/1", {
      key: "k",
      path: "/rpc/v1",
      defaultToken: "common",
    });
    assert.equal(own.token, "mine");
    const none = parseApiEndpoint("/ip4/127.0.0.1/tcp/1", { key: "k", path: "/rpc/v1", defaultToken: "  " });
    assert.equal(none.token, null);
  });

  const bad: [string, RegExp][] = [
    ["", /it is empty/],
    ["127.0.0.1:1234", /expected a multiaddr/],
    ["/ip4/300.1.1.1/tcp/1234", /not an IPv4 address/],
    ["/ip4/127.0.0.1", /missing \/tcp\/<port>/],
    ["/ip4/127.0.0.1/udp/1234", /must be followed by \/tcp\/<port>/],
    ["/ip4/127.0.0.1/tcp/0", /not a TCP port/],
    ["/ip4/127.0.0.1/tcp/70000", /not a TCP port/],
    ["/ip4/127.0.0.1/tcp/12a", /not a TCP port/],
    ["/ip6/not-ip6/tcp/1", /not an IPv6 address/],
    ["/unix/tmp/sock", /must start with \/ip4/],
    ["/dns/bad host/tcp/1", /not a host name/],
    ["/ip4/127.0.0.1/tcp/1/http/ws", /unsupported or repeated/],
    ["/ip4/127.0.0.1/tcp/1/p2p/Qm", /unsupported or repeated/],
    ["/ip4/127.0.0.1/tcp/1/version/1", /must be v<number>/],
    [":/ip4/127.0.0.1/tcp/1", /token before ':' is empty/],
    ["secret-token:garbage", /expected a multiaddr/],
    ["http://user:pw@host:1", /credentials in the URL/],
    ["ftp://host:1", /unsupported URL scheme "ftp"/],
  ];
  for (const [raw, why] of bad) {
    test(`rejects ${JSON.stringify(raw)}`, () => {
      assert.throws(
        () => parseApiEndpoint(raw, { key: "Common.API.Messager", path: "/rpc/v0" }),
        (e: unknown) => {
          assert.ok(e instanceof SmError);
          assert.equal(e.code, "CHAIN_ENDPOINT_INVALID");
          assert.match(e.message, /^Common\.API\.Messager: /);
          assert.match(e.message, why);
          assert.match(e.message, /Accepted forms: \/ip4\/127\.0\.0\.1\/tcp\/1234/);
          return true;
        },
      );
    });
  }

  test("a token is never echoed in an error", () => {
    for (const raw of [`${JWT}:/ip4/999.0.0.1/tcp/1`, `${JWT}:nonsense`, JWT]) {
      assert.throws(
        () => parseApiEndpoint(raw, { key: "Common.API.Chain", path: "/rpc/v1" }),
        (e: unknown) =>
          e instanceof SmError && !e.message.includes(JWT) && !e.message.includes("c2lnbmF0dXJl"),
      );
    }
  });
});

describe("resolveApiEndpoints", () => {
  const api = (o: Partial<{ Gateway: string[]; Chain: string; Messager: string; Token: string }>) => ({
    Gateway: [],
    Chain: "",
    Messager: "",
    Token: "",
    ...o,
  });

  test("Chain and Messager fall back to Gateway[0] with Common.API.Token", () => {
    const r = resolveApiEndpoints(
      api({ Gateway: ["/ip4/10.0.0.1/tcp/45132", "/ip4/10.0.0.2/tcp/1"], Token: "t" }),
    );
    assert.equal(r.chain.wsUrl, "ws://10.0.0.1:45132/rpc/v1");
    assert.equal(r.chain.key, "Common.API.Gateway[0]");
    assert.equal(r.chain.token, "t");
    assert.equal(r.messager?.httpUrl, "http://10.0.0.1:45132/rpc/v0");
    assert.equal(r.messager?.token, "t");
  });

  test("explicit Chain/Messager win; their own tokens win over Token", () => {
    const r = resolveApiEndpoints(
      api({
        Gateway: ["/ip4/10.0.0.1/tcp/45132"],
        Chain: "chaintok:/ip4/10.0.0.9/tcp/1234",
        Messager: "/dns/messager/tcp/39812",
        Token: "common",
      }),
    );
    assert.deepEqual(
      [r.chain.httpUrl, r.chain.token, r.chain.key],
      ["http://10.0.0.9:1234/rpc/v1", "chaintok", "Common.API.Chain"],
    );
    assert.deepEqual([r.messager?.wsUrl, r.messager?.token], ["ws://messager:39812/rpc/v0", "common"]);
  });

  test("no Gateway and no Messager: messages go through the chain node", () => {
    const r = resolveApiEndpoints(api({ Chain: "/ip4/127.0.0.1/tcp/1234" }));
    assert.equal(r.messager, null);
  });

  test("nothing configured: CHAIN_ENDPOINT_INVALID naming Common.API.Chain", () => {
    assert.throws(
      () => resolveApiEndpoints(api({ Messager: "/ip4/127.0.0.1/tcp/1" })),
      (e: unknown) =>
        e instanceof SmError && e.code === "CHAIN_ENDPOINT_INVALID" && /Common\.API\.Chain/.test(e.message),
    );
  });

  test("a bad Gateway entry is reported under its key", () => {
    assert.throws(
      () => resolveApiEndpoints(api({ Gateway: ["/ip4/1.2.3/tcp/1"] })),
      (e: unknown) => e instanceof SmError && /^Common\.API\.Gateway\[0\]: /.test(e.message),
    );
  });
});

describe("the chain endpoint speaks v1 only", () => {
  const api = (Chain: string, Gateway: string[] = []) => ({ Gateway, Chain, Messager: "", Token: "" });
  const refused: [string, string, string][] = [
    [
      "/ip4/10.0.0.9/tcp/1234/http/version/v0",
      "Common.API.Chain",
      '"/ip4/10.0.0.9/tcp/1234/http/version/v1"',
    ],
    [
      `${JWT}:/ip4/10.0.0.9/tcp/1234/version/v0`,
      "Common.API.Chain",
      '"<token>:/ip4/10.0.0.9/tcp/1234/version/v1"',
    ],
    ["http://10.0.0.9:1234/rpc/v0", "Common.API.Chain", '"http://10.0.0.9:1234/rpc/v1"'],
    ["wss://node.example.com/rpc/v0/", "Common.API.Chain", '"wss://node.example.com/rpc/v1"'],
    ["http://10.0.0.9:1234/rpc/v2", "Common.API.Chain", '"http://10.0.0.9:1234/rpc/v1"'],
    // Behind a reverse proxy's path prefix: the version is the path's last segments.
    ["https://h/lotus/rpc/v0", "Common.API.Chain", '"https://h/lotus/rpc/v1"'],
    ["http://10.0.0.9:8080/a/b/rpc/v0/?x=1", "Common.API.Chain", '"http://10.0.0.9:8080/a/b/rpc/v1?x=1"'],
  ];
  for (const [raw, key, fix] of refused) {
    test(`refuses ${raw.replace(JWT, "<jwt>")} with the v1 form`, () => {
      assert.throws(
        () => resolveApiEndpoints(api(raw)),
        (e: unknown) => {
          assert.ok(e instanceof SmError);
          assert.equal(e.code, "CHAIN_ENDPOINT_INVALID");
          assert.match(e.message, new RegExp(`^${key.replace(/\./g, "\\.")}: `));
          assert.match(e.message, /speaks v1 only/);
          assert.match(e.message, /StateWaitMsg takes 4 params on v1, 2 on v0/);
          assert.ok(e.message.endsWith(`Use the v1 form: ${fix}`), e.message);
          assert.ok(!e.message.includes(JWT), "the token is never shown");
          return true;
        },
      );
    });
  }

  test("a Gateway entry saying v0 is refused as the chain's fallback, under its own key", () => {
    assert.throws(
      () => resolveApiEndpoints(api("", ["/ip4/10.0.0.1/tcp/45132/version/v0"])),
      /^SmError: Common\.API\.Gateway\[0\]: .* names the Lotus API v0/,
    );
  });

  test("v1 forms, custom paths and the messager's v0 path are accepted", () => {
    for (const raw of [
      "/ip4/10.0.0.9/tcp/1234/version/v1",
      "http://h:1/rpc/v1",
      "https://gw.example.com/proxy",
      "https://h/lotus/rpc/v1",
      "https://h/lotus/rpc/v1/",
      "https://h/rpc/v0x/api",
    ])
      assert.doesNotThrow(() => resolveApiEndpoints(api(raw)), raw);
    const r = resolveApiEndpoints({ ...api("/ip4/10.0.0.9/tcp/1234"), Messager: "http://m:39812/rpc/v0" });
    assert.equal(r.messager?.httpUrl, "http://m:39812/rpc/v0");
  });
});
