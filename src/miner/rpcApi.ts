/**
 * `Venus.ComputeProof(miner, sectorInfos, rand[, height, nwVersion]) → [{PoStProof, ProofBytes}]`:
 * the WinningPoSt of a `--miner` node, with the positional params of venus' gateway
 * `Gateway.ComputeProof` (what sophon-miner calls; see computeProof.ts for the sources).
 *
 * Permission `write`: computing a proof changes no state, but it costs seconds of CPU or GPU time, so
 * an anonymous reader (allowed by default) must not be able to trigger it. The gateway tags its
 * method `admin`; an admin token works here too, since admin includes write.
 */
import type { MethodTable } from "../rpc/method.js";
import { decodeComputeProofParams, poStProofsToWire } from "./computeProof.js";
import type { WinningPoSt } from "./winningPost.js";

export function winningPoStMethods(service: WinningPoSt): MethodTable {
  return {
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
