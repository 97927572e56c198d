/**
 * Resolved configuration, as the rest of the program sees it after validation: the file's key names
 * (PascalCase, as damocles writes them), defaults filled in, zero-value rules applied, durations in
 * milliseconds, FIL amounts in attoFIL. Meanings and defaults of each key: `schema.ts`.
 */

export interface PersistStoreConfig {
  /** Instance name; the absolute Path when the file does not give one. */
  Name: string;
  /** Absolute path. */
  Path: string;
  ReadOnly: boolean;
  Strict: boolean;
  Weight: number;
  AllowMiners: number[];
  DenyMiners: number[];
  Meta: Record<string, string>;
}

export interface MinerPoStConfig {
  Enabled: boolean;
  Senders: string[];
  StrictCheck: boolean;
  Parallel: boolean;
  GasOverEstimation: number;
  GasOverPremium: number;
  /** attoFIL */
  GasFeeCap: bigint;
  Confidence: number;
  SubmitConfidence: number;
  ChallengeConfidence: number;
  /** null = unlimited */
  MaxRecoverSectorLimit: number | null;
  /** null = network maximum */
  MaxPartitionsPerPoStMessage: number | null;
  /** null = all partitions in one message */
  MaxPartitionsPerRecoveryMessage: number | null;
}

export interface MinerConfig {
  Actor: number;
  PoSt: MinerPoStConfig;
  Proof: { Enabled: boolean };
}

export interface SectorManagerConfig {
  Common: {
    API: {
      Gateway: string[];
      Chain: string;
      Messager: string;
      Market: string;
      Token: string;
      ChainEventIntervalMs: number;
    };
    RPC: { AnonymousRead: boolean };
    PersistStores: PersistStoreConfig[];
    Proving: {
      /** null = unlimited */
      ParallelCheckLimit: number | null;
      SingleCheckTimeoutMs: number;
      PartitionCheckTimeoutMs: number;
    };
    DB: { Driver: "lmdb"; LMDB: { BaseDir: string } };
  };
  Miners: MinerConfig[];
}

export interface ExtProverBlock {
  /** Undefined: this program's own processor command for the stage. */
  Bin: string | undefined;
  Args: string[];
  Envs: Record<string, string>;
  Concurrent: number;
  Weight: number;
  ReadyTimeoutSecs: number;
  /** RequestTimeout in milliseconds. */
  RequestTimeoutMs: number;
  /** 1-based line of the block's `[[WdPost]]` header, for messages. */
  line: number | undefined;
}

export interface ExtProverConfig {
  WdPost: ExtProverBlock[];
  WinPost: ExtProverBlock[];
}
