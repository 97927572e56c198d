/**
 * Resolved configuration, as the rest of the program sees it after validation: the file's key names
 * (PascalCase, as damocles writes them), defaults filled in, zero-value rules applied, durations in
 * milliseconds (`<Key>Ms`), FIL amounts in attoFIL. Meanings and defaults of each key: `schema.ts`.
 *
 * The types are derived from the schema (`Resolved<...>` below), so a key added to, renamed in or
 * removed from the schema changes the type every consumer compiles against: the two cannot drift.
 * Only what the loader does after validation (load.ts: store paths resolved, deprecated keys merged)
 * is written out by hand here.
 */
import type { extProverSchema, FieldSpec, sectorManagerSchema, TableSpec } from "./schema.js";

/** The value validation produces for one field (validate.ts `validateField` / `defaultOf`). */
type FieldValue<F extends FieldSpec> = F extends { kind: "string" }
  ? string
  : F extends { kind: "optionalString" }
    ? string | undefined
    : F extends { kind: "bool" }
      ? boolean
      : F extends { kind: "uint" | "int"; zero: { kind: "unlimited" } }
        ? number | null
        : F extends { kind: "uint" | "int" | "float" | "duration" }
          ? number
          : F extends { kind: "fil" }
            ? bigint
            : F extends { kind: "stringArray" }
              ? string[]
              : F extends { kind: "uintArray" }
                ? number[]
                : F extends { kind: "stringMap" }
                  ? Record<string, string>
                  : F extends { kind: "table"; fields: infer T extends TableSpec }
                    ? Resolved<T>
                    : F extends { kind: "tableArray"; fields: infer T extends TableSpec }
                      ? Resolved<T>[]
                      : never;

/** Resolved name of a key (validate.ts `resolvedName`): durations become `<Key>Ms`. */
type ResolvedKey<K, F> = F extends { kind: "opaque" | "ignored" }
  ? never
  : F extends { kind: "duration" }
    ? `${K & string}Ms`
    : K;

/** A table as validation returns it; opaque and ignored keys are not in it. */
export type Resolved<T extends TableSpec> = {
  -readonly [K in keyof T as ResolvedKey<K, T[K]>]: FieldValue<T[K]>;
};

type SmRaw = Resolved<typeof sectorManagerSchema>;
type CommonRaw = SmRaw["Common"];
type MinerRaw = SmRaw["Miners"][number];

export type PersistStoreConfig = Omit<CommonRaw["PersistStores"][number], "Name" | "Path"> & {
  /** Instance name; the absolute Path when the file does not give one. */
  Name: string;
  /** Absolute path. */
  Path: string;
};

/** The deprecated Sender is merged into Senders and MaxFeeCap into GasFeeCap (attoFIL) by the loader. */
export type MinerPoStConfig = Omit<MinerRaw["PoSt"], "Sender" | "MaxFeeCap">;

export type MinerConfig = Omit<MinerRaw, "PoSt"> & { PoSt: MinerPoStConfig };

export type SectorManagerConfig = {
  Common: Omit<CommonRaw, "PersistStores" | "DB"> & {
    PersistStores: PersistStoreConfig[];
    /**
     * "badger" is mapped to "lmdb"; an empty BaseDir stays empty (= <home>/db). Postgres.DSN is trimmed
     * and checked, undefined when empty; with Driver "postgres" it is always set.
     */
    DB: Omit<CommonRaw["DB"], "Driver"> & { Driver: "lmdb" | "postgres" };
  };
  Miners: MinerConfig[];
};

type ExtProverBlockRaw = Resolved<typeof extProverSchema>["WdPost"][number];

export type ExtProverBlock = ExtProverBlockRaw & {
  /** 1-based line of the block's `[[WdPost]]` header, for messages. */
  line: number | undefined;
};

export interface ExtProverConfig {
  WdPost: ExtProverBlock[];
  WinPost: ExtProverBlock[];
}
