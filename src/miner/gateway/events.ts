/**
 * The wire shapes of sophon-gateway's proof events, the way a venus-sector-manager node receives
 * WinningPoSt requests in a Venus deployment, decoded with the checks the Go side makes and the ones
 * it leaves to the prover.
 *
 * Read in (not guessed): ipfs-force-community/sophon-gateway a09e86b (2025-04-01)
 * `proofevent/proof_event.go`, `proofevent/proof_client.go`, `types/base_event.go`; filecoin-project/venus
 * 3e20c0d (2026-07-30) `venus-shared/types/gateway/{common,proof_event}.go`, `venus-shared/types/uuid.go`,
 * `venus-shared/api/gateway/v2/{proof_event.go,client_gen.go,method.md}`; damocles 4235a89
 * `damocles-manager/modules/miner/proof_event.go` (the client we replace).
 *
 *  - `Gateway.ListenProofEvent(ProofRegisterPolicy{MinerAddress})` (perm read) returns a go-jsonrpc
 *    channel of `RequestEvent`s for that miner. Its JSON is `{"Id": uuid, "Method": string,
 *    "Payload": []byte}`: Id is a venus `types.UUID`, marshalled as its canonical string; Payload is Go
 *    []byte, i.e. standard base64 of the event's own JSON (CreateTime and Result are `json:"-"`).
 *  - The first event of every channel is `InitConnect`, payload `ConnectedCompleted{ChannelId}`; it
 *    expects no response.
 *  - `ComputeProof`, payload `ComputeProofRequest{SectorInfos, Rand, Height, NWVersion}`: the same four
 *    values sophon-miner passed to `Gateway.ComputeProof`. The miner is not in the payload: it is the
 *    channel's (the gateway routes by the registered MinerAddress).
 *  - The answer is `Gateway.ResponseProofEvent(ResponseEvent{Id, Payload, Error})` (perm read): Payload
 *    is the JSON of `[]builtin.PoStProof` as bytes (base64 again), Error a string; the gateway turns a
 *    non-empty Error into the error of sophon-miner's call. The method returns nothing, and the
 *    gateway's go-jsonrpc fork (ipfs-force-community/go-jsonrpc v0.1.9, `result,omitempty`) answers it
 *    `{"jsonrpc":"2.0","id":N}` with no `result`. The gateway waits for an Id only while the channel
 *    it was sent on lives (`sendOnce` returns ErrCloseChannel when the channel's context ends, which
 *    go-jsonrpc does when the connection drops). Its request entry outlives that wait until
 *    RequestTimeout, so a late answer is taken without error by no one; an Id it never sent, or
 *    already answered or cleaned, is refused ("request id … not exit").
 *  - The API is venus' gateway v2 (`MajorVersion = 2`, so `/rpc/v2`), namespace `Gateway`, with the
 *    header `X-VENUS-API-NAMESPACE: gateway.IGateway`.
 */
import { InvalidParamsError } from "../../rpc/errors.js";
import { errorMessage, SmError } from "../../util/errors.js";
import { type ComputeProofRequest, decodeComputeProofParams, field } from "../computeProof.js";

export const LISTEN_METHOD = "Gateway.ListenProofEvent";
export const RESPONSE_METHOD = "Gateway.ResponseProofEvent";
/** venus-shared `api/gateway/v2/client_gen.go` APINamespace, sent as X-VENUS-API-NAMESPACE. */
export const GATEWAY_API_NAMESPACE = "gateway.IGateway";

/** The event methods this node knows; anything else is answered with an error. */
export type ProofEventMethod = "InitConnect" | "ComputeProof";

/** A proof event as it came off the channel: its id (if any could be read) and what is wrong with it. */
export type DecodedEvent =
  | { ok: true; id: string; method: string; payload: Uint8Array | null }
  | { ok: false; id: string | null; method: string | null; problem: string };

/** github.com/google/uuid's canonical form, which venus' UUID.MarshalJSON writes. */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Largest payload read, decoded: a ComputeProof payload of one sector is ~300 bytes. */
export const MAX_PAYLOAD_BYTES = 1 << 20;

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** Go []byte from JSON: null (a nil slice) or standard padded base64. */
function goBytes(v: unknown, what: string): Uint8Array | null {
  if (v === null || v === undefined) return null;
  if (typeof v !== "string") throw new Error(`${what} must be base64 (Go []byte), got ${typeof v}`);
  if (v.length > Math.ceil((MAX_PAYLOAD_BYTES * 4) / 3) + 4)
    throw new Error(`${what} is over ${MAX_PAYLOAD_BYTES} bytes`);
  if (!BASE64.test(v)) throw new Error(`${what} is not standard base64 with padding`);
  return new Uint8Array(Buffer.from(v, "base64"));
}

/** One value of the ListenProofEvent channel. Never throws: a bad event is still answered if it has an id. */
export function decodeRequestEvent(v: unknown): DecodedEvent {
  if (!isObject(v)) return { ok: false, id: null, method: null, problem: "the event is not a JSON object" };
  const rawId = field(v, "Id");
  const id = typeof rawId === "string" && UUID.test(rawId) ? rawId : null;
  const rawMethod = field(v, "Method");
  const method = typeof rawMethod === "string" ? rawMethod : null;
  if (id === null)
    return {
      ok: false,
      id: null,
      method,
      problem: `the event's Id ${rawId === undefined ? "is missing" : `${JSON.stringify(rawId)?.slice(0, 60)} is not a UUID`}`,
    };
  if (method === null) return { ok: false, id, method: null, problem: "the event has no Method string" };
  try {
    return { ok: true, id, method, payload: goBytes(field(v, "Payload"), "Payload") };
  } catch (e) {
    return { ok: false, id, method, problem: errorMessage(e) };
  }
}

/** A payload's JSON object, or an error naming the event. */
function payloadObject(payload: Uint8Array | null, method: string): Record<string, unknown> {
  if (payload === null || payload.length === 0) throw new Error(`the ${method} event has no payload`);
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(payload).toString("utf8"));
  } catch (e) {
    throw new Error(`the ${method} payload is not JSON (${errorMessage(e)})`);
  }
  if (!isObject(v)) throw new Error(`the ${method} payload is not a JSON object`);
  return v;
}

/** `InitConnect`'s `ConnectedCompleted{ChannelId}`: the gateway's id of this registration. */
export function decodeInitConnect(payload: Uint8Array | null): string {
  const o = payloadObject(payload, "InitConnect");
  const ch = field(o, "ChannelId");
  if (typeof ch !== "string" || !UUID.test(ch))
    throw new Error(`the InitConnect payload's ChannelId ${JSON.stringify(ch) ?? "(missing)"} is not a UUID`);
  return ch;
}

/**
 * `ComputeProof`'s `ComputeProofRequest` for the channel's miner, checked as Venus.ComputeProof
 * checks its params (exactly one challenged sector, 32 bytes of randomness, a sealed CID). A failure is
 * GATEWAY_EVENT_INVALID with the reason.
 */
export function decodeComputeProofEvent(payload: Uint8Array | null, miner: number): ComputeProofRequest {
  try {
    const o = payloadObject(payload, "ComputeProof");
    // Go's zero values: a missing Height or NWVersion is 0, as the gateway would have sent it.
    const height = field(o, "Height") ?? 0;
    const nv = field(o, "NWVersion") ?? 0;
    return decodeComputeProofParams([miner, field(o, "SectorInfos") ?? null, field(o, "Rand"), height, nv]);
  } catch (e) {
    const why =
      e instanceof InvalidParamsError ? e.message.replace(/^invalid params: /, "") : errorMessage(e);
    throw new SmError("GATEWAY_EVENT_INVALID", `the ComputeProof payload cannot be used: ${why}`, { miner });
  }
}

/** `ResponseEvent` JSON: Payload is the JSON of `result` as Go []byte, or null with an Error. */
export function responseEvent(
  id: string,
  answer: { result: unknown } | { error: string },
): { Id: string; Payload: string | null; Error: string } {
  if ("error" in answer) return { Id: id, Payload: null, Error: answer.error || "error" };
  return {
    Id: id,
    Payload: Buffer.from(JSON.stringify(answer.result), "utf8").toString("base64"),
    Error: "",
  };
}
