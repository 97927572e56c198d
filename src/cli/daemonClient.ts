/**
 * Talking to the daemon that holds a home: its address from `<home>/api`, its admin token from
 * `<home>/token`.
 */
import { lockHolder, readApiFile, readToken } from "../daemon/home.js";
import { RpcClient } from "../rpc/client.js";
import { SmError } from "../util/errors.js";

/** A client for the running daemon of `home`, or undefined when no daemon holds it. */
export async function daemonClient(home: string): Promise<RpcClient | undefined> {
  const holder = await lockHolder(home);
  const api = await readApiFile(home);
  if (!holder && !api) return undefined;
  if (!api) {
    throw new SmError(
      "DAEMON_NOT_READY",
      `home ${home} is held by pid ${holder?.pid} (${holder?.purpose}) but it has no API address yet; wait for it to start, or for the other command to finish`,
    );
  }
  return new RpcClient({
    url: `http://${api}/rpc/v0`,
    token: await readToken(home),
    peerName: `the daemon at ${api}`,
    timeoutMs: 60_000,
  });
}

export async function requireDaemon(
  home: string,
  what = "daemon",
  start = `vsm --home ${home} daemon run`,
): Promise<RpcClient> {
  const c = await daemonClient(home);
  if (!c) {
    throw new SmError(
      "DAEMON_NOT_RUNNING",
      `no ${what} is running for home ${home}; start it with \`${start}\` (or pass the right --home)`,
    );
  }
  return c;
}
