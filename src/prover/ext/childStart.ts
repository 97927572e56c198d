/**
 * What an ext-prover child needs before its process runs, and what to tell the operator when it
 * cannot be started: the environment marker, its TMPDIR, and a hint for each spawn failure.
 */
import fs from "node:fs/promises";
import { errorMessage, SmError, sysCode } from "../../util/errors.js";

/**
 * Set in every child's environment: our own processor then leaves its ready line to us (we log it
 * with the block), so each child's ready is logged once.
 */
export const SUPERVISED_ENV = "VSM_EXT_PROVER_SUPERVISED";

/** Why a child could not be started, with what to check (it is retried with backoff). */
export function spawnFailure(e: unknown, bin: string): string {
  const code = sysCode(e);
  const hint =
    code === "ENOENT"
      ? `${bin} does not exist; check Bin in ext-prover.cfg, or finish the upgrade that removed it: it is tried again until it is there`
      : code === "EACCES"
        ? `${bin} may not be run: it must be an executable file (chmod +x), in directories the daemon's user may enter`
        : code === "ETXTBSY"
          ? `${bin} is being written (an upgrade in progress?)`
          : code === "ENOTDIR"
            ? `a part of ${bin} is not a directory; check Bin in ext-prover.cfg`
            : code === "ENOEXEC"
              ? `${bin} is not a program this system can run`
              : code === "EMFILE" || code === "ENFILE"
                ? "the daemon has too many files open"
                : undefined;
  return `could not be started: ${errorMessage(e)}${hint ? ` (${hint})` : ""}`;
}

/**
 * The block's TMPDIR (the proving library's GPU lock and scratch files live there) is created, mode
 * 0700, before the child starts, so a fresh machine or a tmpfs emptied by a reboot does not fail the
 * child's first proof. A TMPDIR that cannot be made is a start failure, retried like any other.
 */
export async function makeTmpDir(dir: string | undefined): Promise<void> {
  if (dir === undefined || dir === "") return;
  try {
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    const st = await fs.stat(dir);
    if (!st.isDirectory()) throw new Error(`${dir} is not a directory`);
  } catch (e) {
    throw new SmError(
      "EXT_PROVER_NOT_READY",
      `could not be started: TMPDIR ${dir} (Envs) cannot be created: ${errorMessage(e)}; fix Envs.TMPDIR in ext-prover.cfg or the permissions of its parent directory`,
    );
  }
}
