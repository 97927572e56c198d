//! bincode-check: is src/proofs/bincode.ts byte-compatible with the real bincode 1.3.3 applied to
//! the types rust-filecoin-proofs-api hands vanilla proofs over in?
//!
//! rust-fil-proofs itself cannot be built here, so the types are re-declared below, mirroring the
//! field names, order, types and serde attributes of rust-fil-proofs at commit
//! 87348a749d80447d00c595af834a8ed73c09e4d9 (filecoin-proofs 19.1.0; the files cited are
//! unchanged since tag filecoin-proofs-v19.0.0, the version rust-filecoin-proofs-api 19.0.0 uses).
//! Only the hasher is fixed: every PoSt tree uses `DefaultTreeHasher = PoseidonHasher`
//! (filecoin-proofs/src/constants.rs), so `H::Domain` is `PoseidonDomain` throughout.
//!
//! Usage:
//!   bincode-check write <dir>    write deterministic blobs (`<shape>--rust-*.bin`) and their
//!                                field dumps (`.dump`) for the TypeScript side to read
//!   bincode-check verify <dir>   for every `<shape>--*.bin` with its `.dump`: deserialize,
//!                                re-serialize and compare bytes, compare the field dump,
//!                                check that truncated prefixes and an unknown variant are
//!                                rejected; one PASS/FAIL line per blob; exit 1 on any FAIL.
//!
//! The `.dump` text names every value by its Rust field path, so a field-order slip between two
//! fields of the same size (root/leaf, comm_c/comm_r_last), which a byte round trip alone cannot
//! see, shows up as a value mismatch.

use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::marker::PhantomData;
use std::path::Path;
use std::{env, fs, process};

// ---------------------------------------------------------------------------------------------
// Arity markers (generic_array::typenum U0/U2/U8 in rust-fil-proofs). They only ever appear in
// `PhantomData`, so they carry no bytes; they are kept so the declarations read like the originals.

#[derive(Debug, Clone, Copy, Default)]
pub struct U0;
#[derive(Debug, Clone, Copy, Default)]
pub struct U2;
#[derive(Debug, Clone, Copy, Default)]
pub struct U8;

/// Tree shapes of filecoin-proofs/src/constants.rs: `SectorShapeBase = LCTree<_, U8, U0, U0>`
/// (2 KiB, 8 MiB, 512 MiB), `SectorShapeSub2 = LCTree<_, U8, U2, U0>` (4 KiB, 16 MiB, 1 GiB),
/// `SectorShapeSub8 = LCTree<_, U8, U8, U0>` (16 KiB, 32 GiB), `SectorShapeTop2 =
/// LCTree<_, U8, U8, U2>` (32 KiB, 64 GiB). Plays the roles of both `MerkleTreeTrait` and its
/// `::Proof: MerkleProofTrait` here.
pub trait Shape: std::fmt::Debug + Clone {
    type Base: std::fmt::Debug + Clone + Default;
    type Sub: std::fmt::Debug + Clone + Default;
    type Top: std::fmt::Debug + Clone + Default;
}
#[derive(Debug, Clone)]
pub struct SectorShapeBase;
#[derive(Debug, Clone)]
pub struct SectorShapeSub2;
#[derive(Debug, Clone)]
pub struct SectorShapeSub8;
#[derive(Debug, Clone)]
pub struct SectorShapeTop2;
impl Shape for SectorShapeBase {
    type Base = U8;
    type Sub = U0;
    type Top = U0;
}
impl Shape for SectorShapeSub2 {
    type Base = U8;
    type Sub = U2;
    type Top = U0;
}
impl Shape for SectorShapeSub8 {
    type Base = U8;
    type Sub = U8;
    type Top = U0;
}
impl Shape for SectorShapeTop2 {
    type Base = U8;
    type Sub = U8;
    type Top = U2;
}

// ---------------------------------------------------------------------------------------------
// The mirrored declarations.

/// storage-proofs-core/src/sector.rs: `#[derive(.., Serialize, Deserialize)] pub struct SectorId(u64);`
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct SectorId(u64);

/// filecoin-hashers/src/poseidon.rs:
/// `#[derive(Default, Copy, Clone, Debug, Serialize, Deserialize)] pub struct
/// PoseidonDomain(<Fr as PrimeField>::Repr);` with `use blstrs::Scalar as Fr;`, and blstrs 0.7.1
/// (rust-fil-proofs' Cargo.lock) src/scalar.rs: `impl PrimeField for Scalar { type Repr = [u8; 32]; .. }`.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct PoseidonDomain([u8; 32]);

/// `<PoseidonHasher as Hasher>::Domain`.
pub type Domain = PoseidonDomain;

/// storage-proofs-core/src/merkle/proof.rs: `pub struct InclusionPath<H, Arity> { path: Vec<PathElement<H, Arity>> }`
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(bound = "")]
pub struct InclusionPath<Arity> {
    path: Vec<PathElement<Arity>>,
}

/// storage-proofs-core/src/merkle/proof.rs:
/// `pub struct PathElement<H, Arity> { hashes: Vec<H::Domain>, index: usize, #[serde(skip)] _arity: PhantomData<Arity> }`
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(bound = "")]
pub struct PathElement<Arity> {
    hashes: Vec<Domain>,
    index: usize,
    #[serde(skip)]
    _arity: PhantomData<Arity>,
}

/// storage-proofs-core/src/merkle/proof.rs:
/// `pub struct MerkleProof<H, BaseArity, SubTreeArity = U0, TopTreeArity = U0> { data: ProofData<..> }`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(bound = "")]
pub struct MerkleProof<BaseArity, SubTreeArity = U0, TopTreeArity = U0> {
    data: ProofData<BaseArity, SubTreeArity, TopTreeArity>,
}

/// storage-proofs-core/src/merkle/proof.rs: `enum ProofData<H, BaseArity, SubTreeArity, TopTreeArity>
/// { Single(SingleProof<H, BaseArity>), Sub(SubProof<H, BaseArity, SubTreeArity>), Top(TopProof<..>) }`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(bound = "")]
enum ProofData<BaseArity, SubTreeArity, TopTreeArity> {
    Single(SingleProof<BaseArity>),
    Sub(SubProof<BaseArity, SubTreeArity>),
    Top(TopProof<BaseArity, SubTreeArity, TopTreeArity>),
}

/// storage-proofs-core/src/merkle/proof.rs: `struct SingleProof<H, Arity> { root, leaf, path: InclusionPath<H, Arity> }`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(bound = "")]
struct SingleProof<Arity> {
    root: Domain,
    leaf: Domain,
    path: InclusionPath<Arity>,
}

/// storage-proofs-core/src/merkle/proof.rs:
/// `struct SubProof<H, BaseArity, SubTreeArity> { base_proof, sub_proof, root, leaf }`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(bound = "")]
struct SubProof<BaseArity, SubTreeArity> {
    base_proof: InclusionPath<BaseArity>,
    sub_proof: InclusionPath<SubTreeArity>,
    root: Domain,
    leaf: Domain,
}

/// storage-proofs-core/src/merkle/proof.rs:
/// `struct TopProof<H, BaseArity, SubTreeArity, TopTreeArity> { base_proof, sub_proof, top_proof, root, leaf }`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(bound = "")]
struct TopProof<BaseArity, SubTreeArity, TopTreeArity> {
    base_proof: InclusionPath<BaseArity>,
    sub_proof: InclusionPath<SubTreeArity>,
    top_proof: InclusionPath<TopTreeArity>,
    root: Domain,
    leaf: Domain,
}

/// storage-proofs-post/src/fallback/vanilla.rs: `pub struct SectorProof<Proof: MerkleProofTrait> {
/// inclusion_proofs: Vec<MerkleProof<Proof::Hasher, Proof::Arity, Proof::SubTreeArity,
/// Proof::TopTreeArity>>, comm_c: Domain, comm_r_last: Domain }`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(bound = "")]
pub struct SectorProof<P: Shape> {
    inclusion_proofs: Vec<MerkleProof<P::Base, P::Sub, P::Top>>,
    comm_c: Domain,
    comm_r_last: Domain,
}

/// storage-proofs-post/src/fallback/vanilla.rs: `pub struct Proof<P: MerkleProofTrait> { sectors: Vec<SectorProof<P>> }`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(bound = "")]
pub struct Proof<P: Shape> {
    sectors: Vec<SectorProof<P>>,
}

/// filecoin-proofs/src/types/mod.rs: `pub struct FallbackPoStSectorProof<Tree> { sector_id: SectorId,
/// comm_r: <Tree::Hasher as Hasher>::Domain, vanilla_proof: VanillaProof<Tree> }` with
/// `pub type VanillaProof<Tree> = fallback::Proof<<Tree as MerkleTreeTrait>::Proof>;`
/// rust-filecoin-proofs-api src/post.rs serializes it with `bincode::serialize` and reads it back
/// with `bincode::deserialize`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(bound = "")]
pub struct FallbackPoStSectorProof<Tree: Shape> {
    sector_id: SectorId,
    comm_r: Domain,
    vanilla_proof: Proof<Tree>,
}

// ---------------------------------------------------------------------------------------------
// Field dump (same format as dumpFallbackPoStSectorProof in scripts/bincode-rust-check.ts).

fn hex(d: &Domain) -> String {
    let mut s = String::with_capacity(64);
    for b in d.0.iter() {
        write!(s, "{:02x}", b).unwrap();
    }
    s
}

fn dump_path<A>(out: &mut String, at: &str, p: &InclusionPath<A>) {
    writeln!(out, "{}.path.len {}", at, p.path.len()).unwrap();
    for (i, e) in p.path.iter().enumerate() {
        let hs: Vec<String> = e.hashes.iter().map(hex).collect();
        writeln!(
            out,
            "{}.path[{}].hashes {} {}",
            at,
            i,
            e.hashes.len(),
            hs.join(" ")
        )
        .unwrap();
        writeln!(out, "{}.path[{}].index {}", at, i, e.index).unwrap();
    }
}

fn dump<T: Shape>(v: &FallbackPoStSectorProof<T>) -> String {
    let mut out = String::new();
    writeln!(out, "sector_id {}", v.sector_id.0).unwrap();
    writeln!(out, "comm_r {}", hex(&v.comm_r)).unwrap();
    writeln!(
        out,
        "vanilla_proof.sectors.len {}",
        v.vanilla_proof.sectors.len()
    )
    .unwrap();
    for (s, sec) in v.vanilla_proof.sectors.iter().enumerate() {
        let at = format!("vanilla_proof.sectors[{}]", s);
        writeln!(
            out,
            "{}.inclusion_proofs.len {}",
            at,
            sec.inclusion_proofs.len()
        )
        .unwrap();
        for (i, p) in sec.inclusion_proofs.iter().enumerate() {
            let at = format!("{}.inclusion_proofs[{}].data", at, i);
            match &p.data {
                ProofData::Single(x) => {
                    writeln!(out, "{} Single", at).unwrap();
                    writeln!(out, "{}.root {}", at, hex(&x.root)).unwrap();
                    writeln!(out, "{}.leaf {}", at, hex(&x.leaf)).unwrap();
                    dump_path(&mut out, &format!("{}.path", at), &x.path);
                }
                ProofData::Sub(x) => {
                    writeln!(out, "{} Sub", at).unwrap();
                    writeln!(out, "{}.root {}", at, hex(&x.root)).unwrap();
                    writeln!(out, "{}.leaf {}", at, hex(&x.leaf)).unwrap();
                    dump_path(&mut out, &format!("{}.base_proof", at), &x.base_proof);
                    dump_path(&mut out, &format!("{}.sub_proof", at), &x.sub_proof);
                }
                ProofData::Top(x) => {
                    writeln!(out, "{} Top", at).unwrap();
                    writeln!(out, "{}.root {}", at, hex(&x.root)).unwrap();
                    writeln!(out, "{}.leaf {}", at, hex(&x.leaf)).unwrap();
                    dump_path(&mut out, &format!("{}.base_proof", at), &x.base_proof);
                    dump_path(&mut out, &format!("{}.sub_proof", at), &x.sub_proof);
                    dump_path(&mut out, &format!("{}.top_proof", at), &x.top_proof);
                }
            }
        }
        writeln!(out, "{}.comm_c {}", at, hex(&sec.comm_c)).unwrap();
        writeln!(out, "{}.comm_r_last {}", at, hex(&sec.comm_r_last)).unwrap();
    }
    out
}

/// "sector_id=9 sectors=1 [10 × Sub(base 9, sub 1)]": variants and path lengths, runs collapsed.
fn summary<T: Shape>(v: &FallbackPoStSectorProof<T>) -> String {
    let mut parts = Vec::new();
    for sec in &v.vanilla_proof.sectors {
        let mut runs: Vec<(String, usize)> = Vec::new();
        for p in &sec.inclusion_proofs {
            let d = match &p.data {
                ProofData::Single(x) => format!("Single(path {})", x.path.path.len()),
                ProofData::Sub(x) => format!(
                    "Sub(base {}, sub {})",
                    x.base_proof.path.len(),
                    x.sub_proof.path.len()
                ),
                ProofData::Top(x) => format!(
                    "Top(base {}, sub {}, top {})",
                    x.base_proof.path.len(),
                    x.sub_proof.path.len(),
                    x.top_proof.path.len()
                ),
            };
            match runs.last_mut() {
                Some((last, n)) if *last == d => *n += 1,
                _ => runs.push((d, 1)),
            }
        }
        let runs: Vec<String> = runs
            .into_iter()
            .map(|(d, n)| if n == 1 { d } else { format!("{} × {}", n, d) })
            .collect();
        parts.push(format!(
            "{} proof{}: {}",
            sec.inclusion_proofs.len(),
            if sec.inclusion_proofs.len() == 1 {
                ""
            } else {
                "s"
            },
            if runs.is_empty() {
                "-".to_string()
            } else {
                runs.join(", ")
            }
        ));
    }
    format!(
        "sector_id={} sectors={} [{}]",
        v.sector_id.0,
        v.vanilla_proof.sectors.len(),
        parts.join("; ")
    )
}

/// Prefix lengths tried by the truncation check; scripts/bincode-rust-check.ts uses the same list.
fn cut_points(len: usize) -> Vec<usize> {
    if len <= 2048 {
        return (0..len).collect();
    }
    let mut v: Vec<usize> = (0..2048).map(|i| i * len / 2048).collect();
    v.extend([len - 33, len - 32, len - 1]);
    v.sort_unstable();
    v.dedup();
    v
}

// ---------------------------------------------------------------------------------------------
// verify

fn verify_blob<T: Shape>(bytes: &[u8], expected_dump: &str) -> Result<String, String> {
    let v: FallbackPoStSectorProof<T> =
        bincode::deserialize(bytes).map_err(|e| format!("bincode::deserialize failed: {}", e))?;
    let again = bincode::serialize(&v).map_err(|e| format!("bincode::serialize failed: {}", e))?;
    if again != bytes {
        let at = again
            .iter()
            .zip(bytes)
            .position(|(a, b)| a != b)
            .unwrap_or(again.len().min(bytes.len()));
        return Err(format!(
            "re-serialized bytes differ: {} bytes vs {} read, first difference at offset {}",
            again.len(),
            bytes.len(),
            at
        ));
    }
    let d = dump(&v);
    if d != expected_dump {
        let (n, (ours, theirs)) = d
            .lines()
            .chain(std::iter::repeat("<end>"))
            .zip(expected_dump.lines().chain(std::iter::repeat("<end>")))
            .enumerate()
            .find(|(_, (a, b))| a != b)
            .unwrap();
        return Err(format!(
            "field dump differs at line {}:\n    rust:       {}\n    typescript: {}",
            n + 1,
            ours,
            theirs
        ));
    }
    let cuts = cut_points(bytes.len());
    for &c in &cuts {
        if bincode::deserialize::<FallbackPoStSectorProof<T>>(&bytes[..c]).is_ok() {
            return Err(format!(
                "a {}-byte prefix (of {}) deserialized",
                c,
                bytes.len()
            ));
        }
    }
    // An unknown ProofData variant index (3) in the first inclusion proof must be rejected. It
    // sits after sector_id, comm_r, the sectors length, the sectors before (whole) and the
    // inclusion_proofs length.
    let mut tag_note = String::new();
    let mut at = 8 + 32 + 8;
    let mut tag_at = None;
    for s in &v.vanilla_proof.sectors {
        if !s.inclusion_proofs.is_empty() {
            tag_at = Some(at + 8);
            break;
        }
        at += bincode::serialized_size(s).map_err(|e| e.to_string())? as usize;
    }
    if let Some(t) = tag_at {
        let mut bad = bytes.to_vec();
        bad[t..t + 4].copy_from_slice(&3u32.to_le_bytes());
        if bincode::deserialize::<FallbackPoStSectorProof<T>>(&bad).is_ok() {
            return Err("ProofData variant index 3 was accepted".to_string());
        }
        tag_note = format!(", variant 3 at offset {} rejected", t);
    }
    // bincode::deserialize allows trailing bytes (bincode.ts rejects them unless asked not to).
    let mut longer = bytes.to_vec();
    longer.push(0);
    let trailing = match bincode::deserialize::<FallbackPoStSectorProof<T>>(&longer) {
        Ok(_) => "a trailing byte is accepted",
        Err(_) => "a trailing byte is rejected",
    };
    Ok(format!(
        "{}; {} bytes, re-serialized identically, {} dump lines equal; {} truncated prefixes rejected{}; {}",
        summary(&v),
        bytes.len(),
        d.lines().count(),
        cuts.len(),
        tag_note,
        trailing
    ))
}

fn verify_dir(dir: &Path) -> i32 {
    let mut names: Vec<String> = match fs::read_dir(dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".bin"))
            .collect(),
        Err(e) => {
            eprintln!("bincode-check: cannot read {}: {}", dir.display(), e);
            return 2;
        }
    };
    names.sort();
    if names.is_empty() {
        eprintln!("bincode-check: no .bin blobs in {}", dir.display());
        return 2;
    }
    let mut failed = 0;
    for name in &names {
        let stem = name.trim_end_matches(".bin");
        let shape = stem.split("--").next().unwrap_or("");
        let res = fs::read(dir.join(name))
            .map_err(|e| format!("read: {}", e))
            .and_then(|bytes| {
                let d = fs::read_to_string(dir.join(format!("{}.dump", stem)))
                    .map_err(|e| format!("read {}.dump: {}", stem, e))?;
                match shape {
                    "2KiB" | "8MiB" | "512MiB" => verify_blob::<SectorShapeBase>(&bytes, &d),
                    "4KiB" | "16MiB" | "1GiB" => verify_blob::<SectorShapeSub2>(&bytes, &d),
                    "16KiB" | "32GiB" => verify_blob::<SectorShapeSub8>(&bytes, &d),
                    "32KiB" | "64GiB" => verify_blob::<SectorShapeTop2>(&bytes, &d),
                    _ => Err(format!(
                        "unknown shape prefix {:?} (want <shape>--<name>.bin)",
                        shape
                    )),
                }
            });
        match res {
            Ok(msg) => println!("PASS {}: {}", name, msg),
            Err(msg) => {
                failed += 1;
                println!("FAIL {}: {}", name, msg);
            }
        }
    }
    println!("rust: {} passed, {} failed", names.len() - failed, failed);
    if failed > 0 {
        1
    } else {
        0
    }
}

// ---------------------------------------------------------------------------------------------
// write

/// splitmix64: deterministic values, the same on every machine.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn domain(&mut self) -> Domain {
        let mut d = [0u8; 32];
        for c in d.chunks_mut(8) {
            c.copy_from_slice(&self.next().to_le_bytes());
        }
        PoseidonDomain(d)
    }
}

/// An inclusion path of `len` elements; element i has `hashes(i)` siblings and index `index(i)`.
fn path<A>(
    r: &mut Rng,
    len: usize,
    hashes: impl Fn(usize) -> usize,
    index: impl Fn(usize) -> usize,
) -> InclusionPath<A> {
    InclusionPath {
        path: (0..len)
            .map(|i| PathElement {
                hashes: (0..hashes(i)).map(|_| r.domain()).collect(),
                index: index(i),
                _arity: PhantomData,
            })
            .collect(),
    }
}

fn single<T: Shape>(
    r: &mut Rng,
    len: usize,
    hashes: usize,
    index: usize,
) -> MerkleProof<T::Base, T::Sub, T::Top> {
    let (root, leaf) = (r.domain(), r.domain());
    MerkleProof {
        data: ProofData::Single(SingleProof {
            root,
            leaf,
            path: path(r, len, |_| hashes, |i| (index + i) % 8),
        }),
    }
}

fn sub<T: Shape>(r: &mut Rng, base: usize, sub: usize) -> MerkleProof<T::Base, T::Sub, T::Top> {
    let base_proof = path(r, base, |_| 7, |i| (i * 3) % 8);
    let sub_proof = path(r, sub, |i| 7 - i % 2, |i| 7 - i % 8);
    let (root, leaf) = (r.domain(), r.domain());
    MerkleProof {
        data: ProofData::Sub(SubProof {
            base_proof,
            sub_proof,
            root,
            leaf,
        }),
    }
}

fn top<T: Shape>(
    r: &mut Rng,
    base: usize,
    sub: usize,
    top: usize,
) -> MerkleProof<T::Base, T::Sub, T::Top> {
    let base_proof = path(r, base, |_| 7, |i| (i * 5) % 8);
    let sub_proof = path(r, sub, |_| 7, |i| (i + 6) % 8);
    let top_proof = path(r, top, |_| 1, |i| i % 2);
    let (root, leaf) = (r.domain(), r.domain());
    MerkleProof {
        data: ProofData::Top(TopProof {
            base_proof,
            sub_proof,
            top_proof,
            root,
            leaf,
        }),
    }
}

fn sector<T: Shape>(
    r: &mut Rng,
    inclusion_proofs: Vec<MerkleProof<T::Base, T::Sub, T::Top>>,
) -> SectorProof<T> {
    SectorProof {
        inclusion_proofs,
        comm_c: r.domain(),
        comm_r_last: r.domain(),
    }
}

fn write_one<T: Shape>(
    dir: &Path,
    name: &str,
    v: &FallbackPoStSectorProof<T>,
) -> std::io::Result<()> {
    let bytes = bincode::serialize(v).expect("bincode::serialize");
    fs::write(dir.join(format!("{}.bin", name)), &bytes)?;
    fs::write(dir.join(format!("{}.dump", name)), dump(v))?;
    println!("wrote {}.bin: {} bytes, {}", name, bytes.len(), summary(v));
    Ok(())
}

fn write_dir(dir: &Path) -> std::io::Result<()> {
    fs::create_dir_all(dir)?;

    // Single: path lengths 0, 1, 2 and 6 (2 KiB and 8 MiB have 2 and 6), 7 siblings or fewer,
    // and an index beyond u32 (usize is a u64 on the wire).
    let mut r = Rng(1);
    let mut proofs = vec![
        single::<SectorShapeBase>(&mut r, 0, 7, 0),
        single::<SectorShapeBase>(&mut r, 1, 7, 3),
        single::<SectorShapeBase>(&mut r, 2, 7, 5),
        single::<SectorShapeBase>(&mut r, 6, 7, 1),
        single::<SectorShapeBase>(&mut r, 3, 0, 2),
        single::<SectorShapeBase>(&mut r, 2, 1, 7),
    ];
    if let ProofData::Single(x) = &mut proofs[1].data {
        x.path.path[0].index = (1usize << 40) + 5;
    }
    let v = FallbackPoStSectorProof::<SectorShapeBase> {
        sector_id: SectorId(0),
        comm_r: r.domain(),
        vanilla_proof: Proof {
            sectors: vec![sector(&mut r, proofs)],
        },
    };
    write_one(dir, "2KiB--rust-single", &v)?;

    // Sub: the 32 GiB lengths (9, 1) and others, sector id u64::MAX.
    let mut r = Rng(2);
    let proofs = vec![
        sub::<SectorShapeSub8>(&mut r, 9, 1),
        sub::<SectorShapeSub8>(&mut r, 9, 1),
        sub::<SectorShapeSub8>(&mut r, 0, 0),
        sub::<SectorShapeSub8>(&mut r, 3, 2),
        sub::<SectorShapeSub8>(&mut r, 1, 4),
    ];
    let v = FallbackPoStSectorProof::<SectorShapeSub8> {
        sector_id: SectorId(u64::MAX),
        comm_r: r.domain(),
        vanilla_proof: Proof {
            sectors: vec![sector(&mut r, proofs)],
        },
    };
    write_one(dir, "32GiB--rust-sub", &v)?;

    // Top: the 64 GiB lengths (9, 1, 1) and others.
    let mut r = Rng(3);
    let proofs = vec![
        top::<SectorShapeTop2>(&mut r, 9, 1, 1),
        top::<SectorShapeTop2>(&mut r, 9, 1, 1),
        top::<SectorShapeTop2>(&mut r, 1, 0, 2),
        top::<SectorShapeTop2>(&mut r, 0, 0, 0),
        top::<SectorShapeTop2>(&mut r, 2, 3, 1),
    ];
    let v = FallbackPoStSectorProof::<SectorShapeTop2> {
        sector_id: SectorId(0x0123_4567_89ab_cdef),
        comm_r: r.domain(),
        vanilla_proof: Proof {
            sectors: vec![sector(&mut r, proofs)],
        },
    };
    write_one(dir, "64GiB--rust-top", &v)?;

    // Three sectors: no inclusion proof, all three variants mixed, one Single. The arity markers
    // are PhantomData, so any tree instantiation reads any variant.
    let mut r = Rng(4);
    let mixed = vec![
        top::<SectorShapeTop2>(&mut r, 2, 1, 1),
        single::<SectorShapeTop2>(&mut r, 4, 7, 6),
        sub::<SectorShapeTop2>(&mut r, 2, 2),
        single::<SectorShapeTop2>(&mut r, 1, 2, 4),
    ];
    let s0 = sector::<SectorShapeTop2>(&mut r, vec![]);
    let s1 = sector::<SectorShapeTop2>(&mut r, mixed);
    let last = vec![single::<SectorShapeTop2>(&mut r, 9, 7, 0)];
    let s2 = sector::<SectorShapeTop2>(&mut r, last);
    let v = FallbackPoStSectorProof::<SectorShapeTop2> {
        sector_id: SectorId(1 << 32),
        comm_r: r.domain(),
        vanilla_proof: Proof {
            sectors: vec![s0, s1, s2],
        },
    };
    write_one(dir, "64GiB--rust-mixed", &v)?;

    // No sector at all: the smallest well-formed blob (8 + 32 + 8 bytes).
    let mut r = Rng(5);
    let v = FallbackPoStSectorProof::<SectorShapeBase> {
        sector_id: SectorId(42),
        comm_r: r.domain(),
        vanilla_proof: Proof { sectors: vec![] },
    };
    write_one(dir, "2KiB--rust-empty", &v)?;
    Ok(())
}

fn main() {
    let args: Vec<String> = env::args().collect();
    let code = match (args.get(1).map(String::as_str), args.get(2)) {
        (Some("write"), Some(dir)) => match write_dir(Path::new(dir)) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("bincode-check: write {}: {}", dir, e);
                2
            }
        },
        (Some("verify"), Some(dir)) => verify_dir(Path::new(dir)),
        _ => {
            eprintln!("usage: bincode-check write <dir> | bincode-check verify <dir>");
            2
        }
    };
    process::exit(code);
}
