/**
 * `Venus.ComputeProof(miner, sectorInfos, rand[, height, nwVersion]) → [{PoStProof, ProofBytes}]`:
 * the WinningPoSt of a `--miner` node, with the positional params of venus' gateway
 * `Gateway.ComputeProof` (what sophon-miner calls; see computeProof.ts for the sources).
 *
 * Permission `write`: computing a proof changes no state, but it costs seconds of CPU or GPU time, so
 * an anonymous reader (allowed by default) must not be able to trigger it. The gateway tags its
 * method `admin`; an admin token works here too, since admin includes write.
 */
import { arity, type MethodTable } from "../rpc/method.js";
import { decodeComputeProofParams, poStProofsToWire } from "./computeProof.js";
import type { GatewayRegistration } from "./gateway/index.js";
import type { WinningPoSt } from "./winningPost.js";

export function winningPoStMethods(service: WinningPoSt, gateways: () => GatewayRegistration[]): MethodTable {
  return {
    "Venus.MinerGateways": {
      perm: "read",
      doc: "() → per sophon-gateway and miner: {gateway, miner, connected, since, channelId, requests, answered, failed, lastRequest, lastError} (`util miner gateways`)",
      async handler(params) {
        arity(params, 0);
        return gateways();
      },
    },
    "Venus.ComputeProof": {
      perm: "write",
      doc: "(miner, [ExtendedSectorInfo], rand[, height, nwVersion]) → [{PoStProof, ProofBytes}]: the WinningPoSt of the challenged sector",
      async handler(params, ctx) {
        const req = decodeComputeProofParams(params);
        return poStProofsToWire(await service.compute(req, { signal: ctx.signal }));
      },
    },
  };
}
