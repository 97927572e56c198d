/**
 * Worker thread entry of fileCheckThread.ts: checks batches of sectors' files with synchronous stats.
 * Request `{ id, items: [sealedFile, cacheDir, expected sector size or 0][] }`; answer `{ id, results }`
 * with one `{ sectorSize, notes }` (notes always empty: t_aux is not looked at) or reason text per item.
 */
import { parentPort } from "node:worker_threads";
import { shapeBySize } from "../proofs/sectorShapes.js";
import { checkSectorFilesSync } from "./fileCheck.js";

if (!parentPort) throw new Error("file check worker started outside a worker thread");
const port = parentPort;

port.on("message", (req: { id: number; items: [string, string, number][] }) => {
  const results = req.items.map(([sealed, cache, size]) => {
    // Without notes: the checks before proving, the thread's only caller, drop them.
    const r = checkSectorFilesSync(sealed, cache, size > 0 ? shapeBySize(size) : undefined, { notes: false });
    return typeof r === "string" ? r : { sectorSize: r.shape.sectorSize, notes: r.notes };
  });
  port.postMessage({ id: req.id, results });
});
