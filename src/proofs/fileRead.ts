/**
 * Small fs/promises helpers shared by the tree builder and the prover: exact positional reads with
 * short-read handling, opening and stat-ing with errors mapped to PROOF_* codes.
 */
import type { FileHandle } from "node:fs/promises";
import fs from "node:fs/promises";
import type { SmError } from "../util/errors.js";
import { fsProofError, PROOF_ERROR_CODES, proofError } from "./proofErrors.js";

/** Where a read happens, for error messages. */
export interface ReadContext {
  readonly sector: bigint | number | undefined;
  /** Path of the file, as given by the caller. */
  readonly file: string;
  /** What the file is: "sealed replica", "tree-r-last cache file", "p_aux". */
  readonly what: string;
}

/**
 * Fill `buf` from `position` of the open file. A file that ends early is a size problem
 * (PROOF_FILE_SIZE), an I/O failure is PROOF_UNREADABLE. `fh.read` may return fewer bytes than
 * asked for (pipes, network file systems), hence the loop.
 */
export async function readExactly(
  fh: FileHandle,
  buf: Uint8Array,
  position: number,
  ctx: ReadContext,
): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    let n: number;
    try {
      ({ bytesRead: n } = await fh.read(buf, done, buf.length - done, position + done));
    } catch (err) {
      throw fsProofError(err, ctx.sector, ctx.file, ctx.what);
    }
    if (n === 0) {
      throw proofError(
        PROOF_ERROR_CODES.fileSize,
        ctx.sector,
        `${ctx.what} ${ctx.file} ends at byte ${position + done}, but bytes ` +
          `[${position}, ${position + buf.length}) are needed`,
        { file: ctx.file },
      );
    }
    done += n;
  }
}

/** Open read-only, mapping ENOENT to PROOF_FILE_MISSING and other failures to PROOF_UNREADABLE. */
export async function openForRead(ctx: ReadContext): Promise<FileHandle> {
  try {
    return await fs.open(ctx.file, "r");
  } catch (err) {
    throw fsProofError(err, ctx.sector, ctx.file, ctx.what);
  }
}

/** Size of a regular file, or the PROOF_* error explaining why there is none. */
export async function fileSize(ctx: ReadContext): Promise<number> {
  let st: Awaited<ReturnType<typeof fs.stat>>;
  try {
    st = await fs.stat(ctx.file);
  } catch (err) {
    throw fsProofError(err, ctx.sector, ctx.file, ctx.what);
  }
  if (!st.isFile()) {
    throw proofError(
      PROOF_ERROR_CODES.unreadable,
      ctx.sector,
      `${ctx.what} ${ctx.file} is not a regular file`,
      {
        file: ctx.file,
      },
    );
  }
  return st.size;
}

/** PROOF_FILE_SIZE error with both sizes in the message. */
export function sizeError(ctx: ReadContext, actual: number, expected: number, why: string): SmError {
  return proofError(
    PROOF_ERROR_CODES.fileSize,
    ctx.sector,
    `${ctx.what} ${ctx.file} has ${actual} bytes, expected ${expected} (${why})`,
    { file: ctx.file, actual, expected },
  );
}
