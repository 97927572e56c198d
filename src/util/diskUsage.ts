/**
 * Disk space really used by a set of files and directories, as `du` counts it: allocated blocks
 * (st_blocks × 512, so a sparse file counts only what it holds), each inode once however many hard
 * links name it, directories included. Used to report what `devnet seal --sparse` cost.
 */
import fs from "node:fs/promises";
import path from "node:path";
import { mapLimit } from "./concurrency.js";
import { sysCode } from "./errors.js";

export interface DiskUsage {
  /** Bytes in allocated blocks, each inode counted once. */
  readonly bytes: number;
  /** Distinct inodes seen. */
  readonly inodes: number;
  /** Names seen (files, links and directories). */
  readonly names: number;
  /** Sum of the apparent sizes of the names (what `ls -l` adds up to). */
  readonly apparentBytes: number;
}

/** Walk `roots` (files or directories; a missing one is skipped) without following symbolic links. */
export async function diskUsage(roots: readonly string[], concurrency = 32): Promise<DiskUsage> {
  const seen = new Set<string>();
  let bytes = 0;
  let names = 0;
  let apparentBytes = 0;
  const visit = async (p: string): Promise<void> => {
    let st: Awaited<ReturnType<typeof fs.lstat>>;
    try {
      st = await fs.lstat(p);
    } catch (e) {
      if (sysCode(e) === "ENOENT") return;
      throw e;
    }
    names++;
    apparentBytes += st.size;
    const key = `${st.dev}:${st.ino}`;
    if (!seen.has(key)) {
      seen.add(key);
      bytes += st.blocks * 512;
    }
    if (st.isDirectory()) {
      const entries = await fs.readdir(p);
      await mapLimit(entries, concurrency, (e) => visit(path.join(p, e)));
    }
  };
  await mapLimit(roots, concurrency, visit);
  return { bytes, inodes: seen.size, names, apparentBytes };
}
