/**
 * The connection to the node: Server-Sent Events from api/events, and polling api/dashboard every
 * 3 s when SSE fails or stalls (a proxy that buffers, an old browser). While polling, SSE is tried
 * again every 30 s. A token, when the node refuses anonymous reads, is kept in sessionStorage: it
 * goes as `Authorization: Bearer` on fetches and as `?token=` on the EventSource (which cannot set
 * headers). URLs are relative so the page also works behind a reverse proxy's path prefix.
 */
import type { DashboardState } from "./state.js";

const TOKEN_KEY = "vsm-dashboard-token";
const POLL_MS = 3000;
/** The node sends at least every 5 s; silence this long means the stream is stuck. */
const SSE_STALL_MS = 12_000;
const SSE_RETRY_POLLS = 10;
const FETCH_TIMEOUT_MS = 5000;

export type Mode = "connecting" | "live" | "polling" | "offline" | "unauthorized";

export function getToken(): string | null {
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null; // storage disabled: the token lives only as long as the page
  }
}

export function setToken(token: string | null): void {
  try {
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // storage disabled; nothing to keep
  }
}

export interface Handlers {
  state(s: DashboardState): void;
  mode(m: Mode, detail?: string): void;
}

class Unauthorized extends Error {}

export class Connection {
  private es: EventSource | null = null;
  private sseGotState = false;
  private lastEventAt = 0;
  private pollTimer: ReturnType<typeof setTimeout> | null = null;
  private polls = 0;
  private watchdog: ReturnType<typeof setInterval> | null = null;
  private stopped = true;
  /** Tokens given in the form before storage: kept here too in case sessionStorage is disabled. */
  private token: string | null = getToken();

  constructor(private readonly on: Handlers) {}

  start(token?: string | null): void {
    if (token !== undefined) {
      this.token = token;
      setToken(token);
    }
    this.stop();
    this.stopped = false;
    this.on.mode("connecting");
    this.watchdog = setInterval(() => this.checkStall(), 2000);
    // One fetch first: it tells a missing token (401) apart from a broken stream, which an
    // EventSource cannot, then SSE takes over.
    void this.fetchState()
      .then((s) => {
        if (this.stopped) return;
        this.on.state(s);
        this.openSse();
      })
      .catch((e: unknown) => this.failed(e));
  }

  stop(): void {
    this.stopped = true;
    this.closeSse();
    if (this.pollTimer) clearTimeout(this.pollTimer);
    this.pollTimer = null;
    if (this.watchdog) clearInterval(this.watchdog);
    this.watchdog = null;
  }

  private failed(e: unknown): void {
    if (this.stopped) return;
    if (e instanceof Unauthorized) {
      this.stop();
      this.on.mode("unauthorized", e.message);
      return;
    }
    this.on.mode("offline", e instanceof Error ? e.message : String(e));
    this.startPolling();
  }

  private async fetchState(): Promise<DashboardState> {
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), FETCH_TIMEOUT_MS);
    try {
      const headers: Record<string, string> = { Accept: "application/json" };
      if (this.token) headers.Authorization = `Bearer ${this.token}`;
      let res: Response;
      try {
        res = await fetch("api/dashboard", { headers, cache: "no-store", signal: ctl.signal });
      } catch (e) {
        throw new Error(
          ctl.signal.aborted
            ? `the node did not answer within ${FETCH_TIMEOUT_MS / 1000} s`
            : `the node is unreachable (${e instanceof Error ? e.message : String(e)})`,
        );
      }
      if (res.status === 401 || res.status === 403) {
        throw new Unauthorized(
          this.token
            ? "the node refused the token; paste a token with read permission"
            : "the node needs a token to show the dashboard",
        );
      }
      if (!res.ok) {
        let why = res.statusText;
        try {
          const body = (await res.json()) as { error?: string };
          if (body.error) why = body.error;
        } catch {
          // not JSON; the status text will do
        }
        throw new Error(`the node answered HTTP ${res.status}: ${why}`);
      }
      return (await res.json()) as DashboardState;
    } finally {
      clearTimeout(timer);
    }
  }

  private openSse(): void {
    if (this.stopped || this.es || typeof EventSource === "undefined") {
      if (typeof EventSource === "undefined") this.startPolling();
      return;
    }
    const url = this.token ? `api/events?token=${encodeURIComponent(this.token)}` : "api/events";
    const es = new EventSource(url);
    this.es = es;
    this.sseGotState = false;
    this.lastEventAt = Date.now();
    es.addEventListener("state", (ev) => {
      if (this.es !== es) return;
      let s: DashboardState;
      try {
        s = JSON.parse((ev as MessageEvent<string>).data) as DashboardState;
      } catch {
        return; // one bad event; the next one (≤ 5 s) replaces it
      }
      this.lastEventAt = Date.now();
      if (!this.sseGotState) {
        this.sseGotState = true;
        if (this.pollTimer) clearTimeout(this.pollTimer);
        this.pollTimer = null;
      }
      this.on.mode("live");
      this.on.state(s);
    });
    // Any error: fall back to polling at once rather than wait on the browser's own reconnect
    // loop, which would show nothing new meanwhile. Polling retries SSE later.
    es.addEventListener("error", () => {
      if (this.es !== es) return;
      this.closeSse();
      this.startPolling();
    });
  }

  private closeSse(): void {
    this.es?.close();
    this.es = null;
    this.sseGotState = false;
  }

  private checkStall(): void {
    if (this.es && Date.now() - this.lastEventAt > SSE_STALL_MS) {
      this.closeSse();
      this.startPolling();
    }
  }

  private startPolling(): void {
    if (this.stopped || this.pollTimer) return;
    this.polls = 0;
    const tick = async () => {
      if (this.stopped) return;
      try {
        const s = await this.fetchState();
        if (this.stopped || this.sseGotState) return;
        this.on.mode("polling");
        this.on.state(s);
        this.polls++;
        if ((this.polls === 1 || this.polls % SSE_RETRY_POLLS === 0) && !this.es) this.openSse();
      } catch (e) {
        if (e instanceof Unauthorized) return this.failed(e);
        this.on.mode("offline", e instanceof Error ? e.message : String(e));
      }
      if (!this.stopped && !this.sseGotState) this.pollTimer = setTimeout(tick, POLL_MS);
      else this.pollTimer = null;
    };
    this.pollTimer = setTimeout(tick, 0);
  }
}
