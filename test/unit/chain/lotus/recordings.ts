/**
 * Recorded Lotus / venus-messager JSON answers, copied verbatim from the projects' generated API
 * references (the docgen examples every method carries):
 *  - LOTUS_DOC: filecoin-project/lotus `documentation/en/api-methods-v1-stable.md` at commit b835fab70
 *    (build version v1.36.2-dev; the file was called `api-v1-unstable-methods.md` before lotus #13264);
 *  - VENUS_MESSAGER_DOC: filecoin-project/venus `venus-shared/api/messager/method.md` at commit
 *    3e20c0d41 (v1.20.0-32-g3e20c0d41).
 * Where the generator printed a placeholder that a real node never sends, the test that uses it says
 * so and changes only that field.
 */

/** LOTUS_DOC ### Version, Response */
export const VERSION = {
  Version: "string value",
  APIVersion: 131840,
  BlockDelay: 42,
  Agent: "string value",
} as const;

/** LOTUS_DOC ### GasEstimateGasLimit, Response */
export const GAS_ESTIMATE_GAS_LIMIT = 9;

/** LOTUS_DOC ### GasEstimateGasPremium, Response */
export const GAS_ESTIMATE_GAS_PREMIUM = "0";

/** LOTUS_DOC ### ChainHead, Response (### ChainGetTipSet documents the same TipSet example) */
export const CHAIN_HEAD = {
  Cids: [
    {
      "/": "bafy2bzacedo7hjsumaajt6sbor42qycvjyk6goqe4oi4o4ddsjxkdeqrqf42c",
    },
  ],
  Blocks: [
    {
      Miner: "f01938223",
      Ticket: {
        VRFProof:
          "rIPyBy+F827Szc5oN/6ylCmpzxfAWr7aI5F4YJrN4pLSyknkcJI3ivsCo2KKjQVZFRnFyEus1maD5LdzQpnFRKMla4138qEuML+Ne/fsgOMrUEAeL34ceVwJd+Mt4Jrz",
      },
      ElectionProof: {
        WinCount: 1,
        VRFProof:
          "sN51JqjZNf+xWxwoo+wlMH1bpXI9T3wUIrla6FpwTxU4jC1z+ab5NFU/B2ZdDITTE+u8qaiibtLkld5lhNcOEOUqwKNyJ4nwFo5vAhWqvOTNdOiZmxsKpWG0NZUoXb/+",
      },
      BeaconEntries: [
        {
          Round: 17133822,
          Data: "tH4q8euIaP9/QRJt8ALfkBvttSmQ/DOAt8+37wGGV5f8kkhzEFrHhskitNnPS70j",
        },
        {
          Round: 17133832,
          Data: "uQD5cEn8U69+sPjpccT8Bm0jVrnXLScf2jBkLJNHvAHLA6tPsZDREzpBIckpVvPy",
        },
      ],
      WinPoStProof: [
        {
          PoStProof: 3,
          ProofBytes:
            "qOPLMhMui8qm/rE2y/UceyBDv5JvRCH5Fc5Ul+kuN190XDcMme5eKURUCmE2sN1HoQ2dMZX+xNZY351dbG93H/tUr6wuNhkvmemi2Xi62YvqU36/kJh+K2YBiW7h/4LXCUTP/6XAOONOPl+j9GqS7RQxruPLfIyehvzVC0C8dB8+SVWtAnRKRPUUOPJvyHKejlrCyzWXOz/I7JG2/qEGLD0xwazBVwML1vVvuE5NzXeOoQGlnB2PwSRb5Cn8FH8Q",
        },
      ],
      Parents: [
        {
          "/": "bafy2bzaceba2kdmysmi5ieugzvv5np7f2lobayzpvtk777du74n7jq6xhynda",
        },
        {
          "/": "bafy2bzacecrye24tkqrvvddcf62gfi4z4o33z2tdedbpaalordozaxfrz2jyi",
        },
        {
          "/": "bafy2bzaceab5mrohjvnp3mz7mo33ky7qqlmssrs7veqmjrgouafxyhnd5dy66",
        },
      ],
      ParentWeight: "116013147118",
      Height: 4863283,
      ParentStateRoot: {
        "/": "bafy2bzaceajxzsvzuq3ddzxfrs2jlaxsooqmgdy5uxbqujnjy3y56iumzzy7u",
      },
      ParentMessageReceipts: {
        "/": "bafy2bzacecfcx2ykqucyv3gkyrcy3upwrvdraz3ktfg7phkqysefdwsggglac",
      },
      Messages: {
        "/": "bafy2bzacebzofmh6migvc4v6qsme6vuxlhi6pv2ocy4apyic3uihjqm7dum3u",
      },
      BLSAggregate: {
        Type: 2,
        Data: "krFATGA0OBu/kFwtXsThVtKCkppnU7045uTURCeiOeJttxuXfx3wqJrLkCytnJFWFLVC+tiVWI4BxC3wqc9r6eAlNr9dEBx+3KwML/RFG/b5grmknLpGWn7g1EB/2T4y",
      },
      Timestamp: 1744204890,
      BlockSig: {
        Type: 2,
        Data: "pWiUr+M8xxTxLED7GuU586gSfZCaHyLbLj0uS0HhKYRtHuyG47fIrfIT/04OCmQvEXBD8pFraWbMc3tnFrSsM1mIBJ5M38UPUfXDSspo+QGdouo2kll2X+VNKY3ajb1K",
      },
      ForkSignaling: 0,
      ParentBaseFee: "20592036",
    },
  ],
  Height: 4863283,
} as const;

/** LOTUS_DOC ### ChainNotify, Response (one channel value): Type is the docgen placeholder "string value" */
export const CHAIN_NOTIFY_VALUE = [
  {
    Type: "string value",
    Val: {
      Cids: [
        {
          "/": "bafy2bzacedo7hjsumaajt6sbor42qycvjyk6goqe4oi4o4ddsjxkdeqrqf42c",
        },
      ],
      Blocks: [
        {
          Miner: "f01938223",
          Ticket: {
            VRFProof:
              "rIPyBy+F827Szc5oN/6ylCmpzxfAWr7aI5F4YJrN4pLSyknkcJI3ivsCo2KKjQVZFRnFyEus1maD5LdzQpnFRKMla4138qEuML+Ne/fsgOMrUEAeL34ceVwJd+Mt4Jrz",
          },
          ElectionProof: {
            WinCount: 1,
            VRFProof:
              "sN51JqjZNf+xWxwoo+wlMH1bpXI9T3wUIrla6FpwTxU4jC1z+ab5NFU/B2ZdDITTE+u8qaiibtLkld5lhNcOEOUqwKNyJ4nwFo5vAhWqvOTNdOiZmxsKpWG0NZUoXb/+",
          },
          BeaconEntries: [
            {
              Round: 17133822,
              Data: "tH4q8euIaP9/QRJt8ALfkBvttSmQ/DOAt8+37wGGV5f8kkhzEFrHhskitNnPS70j",
            },
            {
              Round: 17133832,
              Data: "uQD5cEn8U69+sPjpccT8Bm0jVrnXLScf2jBkLJNHvAHLA6tPsZDREzpBIckpVvPy",
            },
          ],
          WinPoStProof: [
            {
              PoStProof: 3,
              ProofBytes:
                "qOPLMhMui8qm/rE2y/UceyBDv5JvRCH5Fc5Ul+kuN190XDcMme5eKURUCmE2sN1HoQ2dMZX+xNZY351dbG93H/tUr6wuNhkvmemi2Xi62YvqU36/kJh+K2YBiW7h/4LXCUTP/6XAOONOPl+j9GqS7RQxruPLfIyehvzVC0C8dB8+SVWtAnRKRPUUOPJvyHKejlrCyzWXOz/I7JG2/qEGLD0xwazBVwML1vVvuE5NzXeOoQGlnB2PwSRb5Cn8FH8Q",
            },
          ],
          Parents: [
            {
              "/": "bafy2bzaceba2kdmysmi5ieugzvv5np7f2lobayzpvtk777du74n7jq6xhynda",
            },
            {
              "/": "bafy2bzacecrye24tkqrvvddcf62gfi4z4o33z2tdedbpaalordozaxfrz2jyi",
            },
            {
              "/": "bafy2bzaceab5mrohjvnp3mz7mo33ky7qqlmssrs7veqmjrgouafxyhnd5dy66",
            },
          ],
          ParentWeight: "116013147118",
          Height: 4863283,
          ParentStateRoot: {
            "/": "bafy2bzaceajxzsvzuq3ddzxfrs2jlaxsooqmgdy5uxbqujnjy3y56iumzzy7u",
          },
          ParentMessageReceipts: {
            "/": "bafy2bzacecfcx2ykqucyv3gkyrcy3upwrvdraz3ktfg7phkqysefdwsggglac",
          },
          Messages: {
            "/": "bafy2bzacebzofmh6migvc4v6qsme6vuxlhi6pv2ocy4apyic3uihjqm7dum3u",
          },
          BLSAggregate: {
            Type: 2,
            Data: "krFATGA0OBu/kFwtXsThVtKCkppnU7045uTURCeiOeJttxuXfx3wqJrLkCytnJFWFLVC+tiVWI4BxC3wqc9r6eAlNr9dEBx+3KwML/RFG/b5grmknLpGWn7g1EB/2T4y",
          },
          Timestamp: 1744204890,
          BlockSig: {
            Type: 2,
            Data: "pWiUr+M8xxTxLED7GuU586gSfZCaHyLbLj0uS0HhKYRtHuyG47fIrfIT/04OCmQvEXBD8pFraWbMc3tnFrSsM1mIBJ5M38UPUfXDSspo+QGdouo2kll2X+VNKY3ajb1K",
          },
          ForkSignaling: 0,
          ParentBaseFee: "20592036",
        },
      ],
      Height: 4863283,
    },
  },
] as const;

/** LOTUS_DOC ### StateNetworkName, Response */
export const STATE_NETWORK_NAME = "lotus" as const;

/** LOTUS_DOC ### StateNetworkVersion, Response */
export const STATE_NETWORK_VERSION = 29 as const;

/** LOTUS_DOC ### StateMinerInfo, Response */
export const STATE_MINER_INFO = {
  Owner: "f01234",
  Worker: "f01234",
  NewWorker: "f01234",
  ControlAddresses: ["f01234"],
  WorkerChangeEpoch: 10101,
  PeerId: "12D3KooWGzxzKZYveHXtpG6AsrUJBcWxHBFS2HsEoGTxrMLvKXtf",
  Multiaddrs: ["Ynl0ZSBhcnJheQ=="],
  WindowPoStProofType: 8,
  SectorSize: 34359738368,
  WindowPoStPartitionSectors: 42,
  ConsensusFaultElapsed: 10101,
  PendingOwnerAddress: "f01234",
  Beneficiary: "f01234",
  BeneficiaryTerm: {
    Quota: "0",
    UsedQuota: "0",
    Expiration: 10101,
  },
  PendingBeneficiaryTerm: {
    NewBeneficiary: "f01234",
    NewQuota: "0",
    NewExpiration: 10101,
    ApprovedByBeneficiary: true,
    ApprovedByNominee: true,
  },
} as const;

/** LOTUS_DOC ### StateMinerProvingDeadline, Response */
export const STATE_MINER_PROVING_DEADLINE = {
  CurrentEpoch: 10101,
  PeriodStart: 10101,
  Index: 42,
  Open: 10101,
  Close: 10101,
  Challenge: 10101,
  FaultCutoff: 10101,
  WPoStPeriodDeadlines: 42,
  WPoStProvingPeriod: 10101,
  WPoStChallengeWindow: 10101,
  WPoStChallengeLookback: 10101,
  FaultDeclarationCutoff: 10101,
} as const;

/** LOTUS_DOC ### StateMinerPartitions, Response */
export const STATE_MINER_PARTITIONS = [
  {
    AllSectors: [5, 1],
    FaultySectors: [5, 1],
    RecoveringSectors: [5, 1],
    LiveSectors: [5, 1],
    ActiveSectors: [5, 1],
  },
] as const;

/** LOTUS_DOC ### StateMinerDeadlines, Response */
export const STATE_MINER_DEADLINES = [
  {
    PostSubmissions: [5, 1],
    DisputableProofCount: 42,
    DailyFee: "0",
  },
] as const;

/** LOTUS_DOC ### StateMinerSectors, Response */
export const STATE_MINER_SECTORS = [
  {
    SectorNumber: 9,
    SealProof: 8,
    SealedCID: {
      "/": "bafy2bzacea3wsdh6y3a36tb3skempjoxqpuyompjbmfeyf34fi3uy6uue42v4",
    },
    Activation: 10101,
    Expiration: 10101,
    DealWeight: "0",
    VerifiedDealWeight: "0",
    InitialPledge: "0",
    ExpectedDayReward: "0",
    ExpectedStoragePledge: "0",
    PowerBaseEpoch: 10101,
    ReplacedDayReward: "0",
    SectorKeyCID: {
      "/": "bafy2bzacea3wsdh6y3a36tb3skempjoxqpuyompjbmfeyf34fi3uy6uue42v4",
    },
    Flags: 0,
    DailyFee: "0",
  },
] as const;

/** LOTUS_DOC ### StateSectorGetInfo, Response */
export const STATE_SECTOR_GET_INFO = {
  SectorNumber: 9,
  SealProof: 8,
  SealedCID: {
    "/": "bafy2bzacea3wsdh6y3a36tb3skempjoxqpuyompjbmfeyf34fi3uy6uue42v4",
  },
  Activation: 10101,
  Expiration: 10101,
  DealWeight: "0",
  VerifiedDealWeight: "0",
  InitialPledge: "0",
  ExpectedDayReward: "0",
  ExpectedStoragePledge: "0",
  PowerBaseEpoch: 10101,
  ReplacedDayReward: "0",
  SectorKeyCID: {
    "/": "bafy2bzacea3wsdh6y3a36tb3skempjoxqpuyompjbmfeyf34fi3uy6uue42v4",
  },
  Flags: 0,
  DailyFee: "0",
} as const;

/** LOTUS_DOC ### StateGetRandomnessFromBeacon / FromTickets, Response: a 1-byte docgen placeholder; real randomness is 32 bytes */
export const STATE_GET_RANDOMNESS = "Bw==" as const;

/** LOTUS_DOC ### StateGetActor, Response */
export const STATE_GET_ACTOR = {
  Code: {
    "/": "bafy2bzacea3wsdh6y3a36tb3skempjoxqpuyompjbmfeyf34fi3uy6uue42v4",
  },
  Head: {
    "/": "bafy2bzacea3wsdh6y3a36tb3skempjoxqpuyompjbmfeyf34fi3uy6uue42v4",
  },
  Nonce: 42,
  Balance: "0",
  DelegatedAddress: "f01234",
} as const;

/** LOTUS_DOC ### StateLookupID, Response */
export const STATE_LOOKUP_ID = "f01234" as const;

/** LOTUS_DOC ### MpoolPushMessage, Response (a SignedMessage) */
export const MPOOL_PUSH_MESSAGE = {
  Message: {
    Version: 42,
    To: "f01234",
    From: "f01234",
    Nonce: 42,
    Value: "0",
    GasLimit: 9,
    GasFeeCap: "0",
    GasPremium: "0",
    Method: 1,
    Params: "Ynl0ZSBhcnJheQ==",
    CID: {
      "/": "bafy2bzacebbpdegvr3i4cosewthysg5xkxpqfn2wfcz6mv2hmoktwbdxkax4s",
    },
  },
  Signature: {
    Type: 2,
    Data: "Ynl0ZSBhcnJheQ==",
  },
  CID: {
    "/": "bafy2bzacebbpdegvr3i4cosewthysg5xkxpqfn2wfcz6mv2hmoktwbdxkax4s",
  },
} as const;

/** LOTUS_DOC ### StateWaitMsg, Response (a MsgLookup) */
export const STATE_WAIT_MSG = {
  Message: {
    "/": "bafy2bzacea3wsdh6y3a36tb3skempjoxqpuyompjbmfeyf34fi3uy6uue42v4",
  },
  Receipt: {
    ExitCode: 0,
    Return: "Ynl0ZSBhcnJheQ==",
    GasUsed: 9,
    EventsRoot: {
      "/": "bafy2bzacea3wsdh6y3a36tb3skempjoxqpuyompjbmfeyf34fi3uy6uue42v4",
    },
  },
  ReturnDec: {},
  TipSet: [
    {
      "/": "bafy2bzacea3wsdh6y3a36tb3skempjoxqpuyompjbmfeyf34fi3uy6uue42v4",
    },
    {
      "/": "bafy2bzacebp3shtrn43k7g3unredz7fxn4gj533d3o43tqn2p2ipxxhrvchve",
    },
  ],
  Height: 10101,
} as const;

/** VENUS_MESSAGER_DOC ### PushMessageWithId, Response */
export const MESSAGER_PUSH_MESSAGE_WITH_ID = "string value" as const;

/** VENUS_MESSAGER_DOC ### WaitMessage, Response: State 1 (UnFillMsg) is a docgen placeholder; WaitMessage returns in state 3, 4 or 5 */
export const MESSAGER_WAIT_MESSAGE = {
  ID: "e26f1e5c-47f7-4561-a11d-18fab6e748af",
  UnsignedCid: {
    "/": "bafy2bzacea3wsdh6y3a36tb3skempjoxqpuyompjbmfeyf34fi3uy6uue42v4",
  },
  SignedCid: {
    "/": "bafy2bzacea3wsdh6y3a36tb3skempjoxqpuyompjbmfeyf34fi3uy6uue42v4",
  },
  Version: 42,
  To: "f01234",
  From: "f01234",
  Nonce: 42,
  Value: "0",
  GasLimit: 9,
  GasFeeCap: "0",
  GasPremium: "0",
  Method: 1,
  Params: "Ynl0ZSBhcnJheQ==",
  Signature: {
    Type: 2,
    Data: "Ynl0ZSBhcnJheQ==",
  },
  Height: 100,
  Confidence: 10,
  Receipt: {
    ExitCode: 0,
    Return: "Ynl0ZSBhcnJheQ==",
    GasUsed: 9,
    EventsRoot: {
      "/": "bafy2bzacea3wsdh6y3a36tb3skempjoxqpuyompjbmfeyf34fi3uy6uue42v4",
    },
  },
  TipSetKey: [
    {
      "/": "bafy2bzacea3wsdh6y3a36tb3skempjoxqpuyompjbmfeyf34fi3uy6uue42v4",
    },
    {
      "/": "bafy2bzacebp3shtrn43k7g3unredz7fxn4gj533d3o43tqn2p2ipxxhrvchve",
    },
  ],
  Meta: {
    expireEpoch: 10101,
    gasOverEstimation: 12.3,
    maxFee: "0",
    gasOverPremium: 12.3,
  },
  WalletName: "test",
  State: 1,
  ErrorMsg: "",
  CreatedAt: "0001-01-01T00:00:00Z",
  UpdatedAt: "0001-01-01T00:00:00Z",
} as const;
