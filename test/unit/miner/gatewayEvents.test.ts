/**
 * sophon-gateway's proof-event payloads (src/miner/gateway/events.ts) against the JSON the Go side
 * writes. Sources of the copied JSON:
 *  - venus 3e20c0d `venus-shared/api/gateway/v2/method.md`: the documented examples of
 *    `ListenProofEvent` (a RequestEvent), `ResponseProofEvent` (a ResponseEvent) and `ComputeProof`
 *    (its params, the same four values a ComputeProofRequest payload carries, and its PoStProof result);
 *  - sophon-gateway a09e86b `proofevent/proof_event_test.go` ("send unmarshal": the payload bytes
 *    {1,3,5,1,3}, which the Go client refuses with "invalid character") and `proof_event.go` (InitConnect's
 *    payload is `json.Marshal(ConnectedCompleted{ChannelId})`).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { poStProofsToWire } from "../../../src/miner/computeProof.js";
import {
  decodeComputeProofEvent,
  decodeInitConnect,
  decodeRequestEvent,
  responseEvent,
} from "../../../src/miner/gateway/events.js";
import { sealedCid } from "../../../src/proofs/commCid.js";
import { SmError } from "../../../src/util/errors.js";

/** method.md, ListenProofEvent "Response". */
const DOC_REQUEST_EVENT = JSON.parse(`{
  "Id": "e26f1e5c-47f7-4561-a11d-18fab6e748af",
  "Method": "string value",
  "Payload": "Ynl0ZSBhcnJheQ=="
}`);
/** method.md, ResponseProofEvent "Inputs"[0]. */
const DOC_RESPONSE_EVENT = JSON.parse(`{
  "Id": "e26f1e5c-47f7-4561-a11d-18fab6e748af",
  "Payload": "Ynl0ZSBhcnJheQ==",
  "Error": "string value"
}`);
/** method.md, ComputeProof "Inputs" (miner, sectorInfos, rand, height, nwVersion) and "Response". */
const DOC_COMPUTE_PROOF_INPUTS = JSON.parse(`[
  "f01234",
  [
    {
      "SealProof": 8,
      "SectorNumber": 9,
      "SectorKey": {
        "/": "bafy2bzacea3wsdh6y3a36tb3skempjoxqpuyompjbmfeyf34fi3uy6uue42v4"
      },
      "SealedCID": {
        "/": "bafy2bzacea3wsdh6y3a36tb3skempjoxqpuyompjbmfeyf34fi3uy6uue42v4"
      }
    }
  ],
  "Bw==",
  10101,
  27
]`);
const DOC_COMPUTE_PROOF_RESPONSE = JSON.parse(`[
  {
    "PoStProof": 8,
    "ProofBytes": "Ynl0ZSBhcnJheQ=="
  }
]`);

const bytes = (s: string) => new Uint8Array(Buffer.from(s, "utf8"));
/** A ComputeProofRequest payload as the gateway marshals it (field order of the Go struct). */
const payload = (o: unknown) => new Uint8Array(Buffer.from(JSON.stringify(o), "utf8"));
const RAND = Buffer.from(Uint8Array.from({ length: 32 }, (_, i) => 200 - i)).toString("base64");
const COMM_R = Uint8Array.from({ length: 32 }, (_, i) => i + 1);

function invalid(f: () => unknown, re: RegExp) {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof SmError, String(e));
    assert.equal(e.code, "GATEWAY_EVENT_INVALID");
    assert.match(e.message, re);
    return true;
  });
}

describe("sophon-gateway proof events", () => {
  test("a RequestEvent as documented: Id, Method, Payload as Go []byte (base64)", () => {
    const ev = decodeRequestEvent(DOC_REQUEST_EVENT);
    assert.ok(ev.ok);
    assert.equal(ev.id, "e26f1e5c-47f7-4561-a11d-18fab6e748af");
    assert.equal(ev.method, "string value");
    assert.equal(Buffer.from(ev.payload ?? []).toString("utf8"), "byte array");
    // Go's encoding/json matches keys case-insensitively; a nil []byte is null.
    const lower = decodeRequestEvent({ id: DOC_REQUEST_EVENT.Id, method: "InitConnect", payload: null });
    assert.deepEqual(lower, { ok: true, id: DOC_REQUEST_EVENT.Id, method: "InitConnect", payload: null });
  });

  test("events that cannot be answered or read say why, and keep the Id when there is one", () => {
    assert.deepEqual(decodeRequestEvent([1, 2]), {
      ok: false,
      id: null,
      method: null,
      problem: "the event is not a JSON object",
    });
    const noId = decodeRequestEvent({ Method: "ComputeProof", Payload: null });
    assert.equal(noId.ok, false);
    assert.equal(noId.id, null);
    assert.match(!noId.ok ? noId.problem : "", /Id is missing/);
    const badId = decodeRequestEvent({ Id: "not-a-uuid", Method: "ComputeProof" });
    assert.match(!badId.ok ? badId.problem : "", /"not-a-uuid" is not a UUID/);
    const badPayload = decodeRequestEvent({
      Id: DOC_REQUEST_EVENT.Id,
      Method: "ComputeProof",
      Payload: "%%%",
    });
    assert.equal(badPayload.ok, false);
    assert.equal(badPayload.id, DOC_REQUEST_EVENT.Id, "still answerable");
    assert.match(!badPayload.ok ? badPayload.problem : "", /Payload is not standard base64/);
    const noMethod = decodeRequestEvent({ Id: DOC_REQUEST_EVENT.Id, Method: 7 });
    assert.match(!noMethod.ok ? noMethod.problem : "", /no Method string/);
  });

  test("InitConnect's ConnectedCompleted gives the channel id", () => {
    const id = "5b0ab4a2-1df4-4b3c-9a59-0f6a3bd1c8e1";
    assert.equal(decodeInitConnect(bytes(`{"ChannelId":"${id}"}`)), id);
    assert.throws(() => decodeInitConnect(bytes(`{"ChannelId":"x"}`)), /ChannelId "x" is not a UUID/);
    assert.throws(() => decodeInitConnect(null), /InitConnect event has no payload/);
  });

  test("ComputeProof: the documented values are refused with the reason (not a sealed CID, 1-byte rand)", () => {
    const [, infos, rand, height, nv] = DOC_COMPUTE_PROOF_INPUTS;
    const doc = { SectorInfos: infos, Rand: rand, Height: height, NWVersion: nv };
    invalid(
      () => decodeComputeProofEvent(payload(doc), 1234),
      /^the ComputeProof payload cannot be used: .*SealedCID bafy2bzacea3wsdh6y3a36tb3skempjoxqpuyompjbmfeyf34fi3uy6uue42v4: codec 0x71 .* is not a sealed commitment/,
    );
    const sealed = { "/": sealedCid(COMM_R) };
    const fixedCid = { ...doc, SectorInfos: [{ ...infos[0], SectorKey: null, SealedCID: sealed }] };
    invalid(
      () => decodeComputeProofEvent(payload(fixedCid), 1234),
      /rand is 1 bytes; chain randomness is 32 bytes/,
    );
  });

  test("ComputeProof: a payload of one challenged sector decodes for the channel's miner", () => {
    const sealed = { "/": sealedCid(COMM_R) };
    const p = payload({
      SectorInfos: [{ SealProof: 8, SectorNumber: 9, SectorKey: null, SealedCID: sealed }],
      Rand: RAND,
      Height: 10101,
      NWVersion: 27,
    });
    const r = decodeComputeProofEvent(p, 1234);
    assert.equal(r.miner, 1234, "the miner is the channel's: the payload has none");
    assert.equal(r.height, 10101);
    assert.equal(r.networkVersion, 27);
    assert.equal(r.postProof, 3, "StackedDrgWinning32GiBV1 for seal proof 8");
    assert.equal(r.sectors[0]?.sectorNumber, 9);
    assert.deepEqual(r.sectors[0]?.commR, COMM_R);
    assert.deepEqual(Buffer.from(r.randomness).toString("base64"), RAND);
    // Go zero values: Height and NWVersion omitted are 0.
    const bare = decodeComputeProofEvent(
      payload({ SectorInfos: [{ SealProof: 8, SectorNumber: 9, SealedCID: sealed }], Rand: RAND }),
      1,
    );
    assert.equal(bare.height, 0);
    assert.equal(bare.networkVersion, 0);
  });

  test("ComputeProof payloads the Go client refuses are refused here too", () => {
    // sophon-gateway's "send unmarshal" test sends these bytes; Go says "invalid character".
    invalid(() => decodeComputeProofEvent(Uint8Array.of(1, 3, 5, 1, 3), 1000), /payload is not JSON/);
    invalid(() => decodeComputeProofEvent(null, 1000), /the ComputeProof event has no payload/);
    invalid(() => decodeComputeProofEvent(payload([]), 1000), /payload is not a JSON object/);
    invalid(() => decodeComputeProofEvent(payload({ Rand: RAND }), 1000), /sectorInfos must be an array/);
    invalid(
      () => decodeComputeProofEvent(payload({ SectorInfos: [], Rand: RAND }), 1000),
      /sectorInfos is empty/,
    );
  });

  test("a ResponseEvent has the documented keys; a proof answer's Payload is the JSON of []PoStProof as bytes", () => {
    const proofs = poStProofsToWire([{ postProof: 8, proofBytes: bytes("byte array") }]);
    assert.deepEqual(proofs, DOC_COMPUTE_PROOF_RESPONSE);
    const ok = responseEvent(DOC_RESPONSE_EVENT.Id, { result: proofs });
    assert.deepEqual(Object.keys(ok), Object.keys(DOC_RESPONSE_EVENT));
    assert.equal(ok.Error, "");
    assert.deepEqual(
      JSON.parse(Buffer.from(ok.Payload ?? "", "base64").toString("utf8")),
      DOC_COMPUTE_PROOF_RESPONSE,
    );
    const err = responseEvent(DOC_RESPONSE_EVENT.Id, { error: "string value" });
    assert.deepEqual(err, { ...DOC_RESPONSE_EVENT, Payload: null });
  });
});
