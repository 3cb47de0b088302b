//! The case-file archive of the export API (issue 13, R-DOC-3, R-RELIEF-1):
//! the manifest every archive carries, its signature with the archive key,
//! the tar layout of a whole-file download, and the verification that
//! `yuetan casefile verify` and outside systems run.
//!
//! Layout of an archive (tar, format `yuetan.casefile.v1`):
//!
//! ```text
//! manifest.json        the Manifest as signed (bytes exactly as served)
//! manifest.sig         the Signature (JSON): key id, manifest sha256, Ed25519 signature
//! documents/…          every entry of the manifest that is not reference-only
//! ```
//!
//! The signature is the archive key's Ed25519 signature over the ASCII
//! lowercase hex SHA-256 of `manifest.json` (the seals' convention), in
//! standard base64.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::Path;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ed25519_dalek::{Signer as _, Verifier as _};
use sha2::{Digest as _, Sha256};

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// The Ed25519 public key verifiers hold (re-exported so callers need not
/// depend on ed25519-dalek themselves).
pub use ed25519_dalek::VerifyingKey;

/// The format name in every manifest.
pub const FORMAT: &str = "yuetan.casefile.v1";
/// The manifest's name inside an archive.
pub const MANIFEST: &str = "manifest.json";
/// The signature's name inside an archive.
pub const SIGNATURE: &str = "manifest.sig";

/// One file of the case file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Position in the document list (1, 2, …), time order.
    pub seq: u32,
    /// Path inside the archive, e.g. `documents/03-interview-notice.pdf`.
    pub name: String,
    pub kind: String,
    /// Document number (文号), empty when none.
    #[serde(default)]
    pub number: String,
    /// Lowercase hex SHA-256.
    pub sha256: String,
    pub size: u64,
    /// The producing service.
    pub service: String,
    pub produced_at: DateTime<Utc>,
    /// Chinese title.
    #[serde(default)]
    pub title: String,
    /// Listed and hashed, its bytes not inside the archive.
    #[serde(default)]
    pub reference_only: bool,
}

/// The manifest of a case file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub case_id: String,
    pub number: String,
    pub division: String,
    pub organ: String,
    pub assembled_at: DateTime<Utc>,
    /// ordinary, major, livelihood.
    pub retention_class: String,
    /// None: kept permanently.
    pub retain_until: Option<NaiveDate>,
    pub entries: Vec<Entry>,
}

/// `manifest.sig`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    pub key_id: String,
    /// Lowercase hex SHA-256 of `manifest.json`.
    pub manifest_sha256: String,
    /// Standard base64 of the Ed25519 signature over `manifest_sha256`'s ASCII.
    pub signature: String,
}

/// Why an archive does not verify; every variant names what failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    #[error("{0}: cannot read the archive: {1}")]
    Unreadable(String, String),
    #[error("the archive has no {0}")]
    MissingPart(&'static str),
    #[error("manifest.json: {0}")]
    BadManifest(String),
    #[error("manifest.sig: {0}")]
    BadSignature(String),
    #[error("{name}: listed in the manifest but not in the archive")]
    Missing { name: String },
    #[error("{name}: sha256 {actual} does not match the manifest's {expected}")]
    Changed { name: String, expected: String, actual: String },
    #[error("{name}: size {actual} does not match the manifest's {expected}")]
    Resized { name: String, expected: u64, actual: u64 },
    #[error("{name}: in the archive but not in the manifest")]
    Unlisted { name: String },
}

/// What a verified archive holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub manifest: Manifest,
    pub signature: Signature,
    /// Files checked byte for byte (reference-only entries are not counted).
    pub files: usize,
}

/// The archive key (Ed25519) that signs manifests.
#[derive(Debug, Clone)]
pub struct ArchiveKey {
    pub id: String,
    key: ed25519_dalek::SigningKey,
}

impl ArchiveKey {
    /// From the base64 of a 32-byte seed; an error names `field`, never the value.
    pub fn from_base64(field: &str, id: &str, seed_b64: &str) -> Result<ArchiveKey, String> {
        let bytes = STANDARD.decode(seed_b64.trim()).map_err(|_| format!("{field}: not valid base64"))?;
        let seed: [u8; 32] =
            bytes.as_slice().try_into().map_err(|_| format!("{field}: {} bytes, an Ed25519 seed has 32", bytes.len()))?;
        Ok(ArchiveKey { id: id.to_owned(), key: ed25519_dalek::SigningKey::from_bytes(&seed) })
    }

    /// Standard base64 of the public key (what verifiers are given).
    pub fn public_base64(&self) -> String {
        STANDARD.encode(self.key.verifying_key().to_bytes())
    }

    /// The public key itself.
    pub fn verifying_key(&self) -> ed25519_dalek::VerifyingKey {
        self.key.verifying_key()
    }

    /// Signs `manifest_json` (its sha256's lowercase hex).
    pub fn sign(&self, manifest_json: &[u8]) -> Signature {
        let manifest_sha256 = sha256_hex(manifest_json);
        let signature = STANDARD.encode(self.key.sign(manifest_sha256.as_bytes()).to_bytes());
        Signature { key_id: self.id.clone(), manifest_sha256, signature }
    }
}

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A public key from its standard base64 (32 bytes).
pub fn public_key(b64: &str) -> Result<ed25519_dalek::VerifyingKey, String> {
    let bytes = STANDARD.decode(b64.trim()).map_err(|_| "public key: not valid base64".to_owned())?;
    let raw: [u8; 32] =
        bytes.as_slice().try_into().map_err(|_| format!("public key: {} bytes, an Ed25519 public key has 32", bytes.len()))?;
    ed25519_dalek::VerifyingKey::from_bytes(&raw).map_err(|_| "public key: not a valid Ed25519 public key".to_owned())
}

impl Manifest {
    /// The bytes that are signed and shipped (pretty JSON, stable field order).
    pub fn to_json(&self) -> Vec<u8> {
        // Struct fields serialise in declaration order; no maps, so the
        // bytes depend on the values only.
        serde_json::to_vec_pretty(self).expect("a manifest always serialises")
    }

    pub fn from_json(bytes: &[u8]) -> Result<Manifest, VerifyError> {
        let manifest: Manifest = serde_json::from_slice(bytes).map_err(|e| VerifyError::BadManifest(format!("not a manifest: {e}")))?;
        if manifest.format != FORMAT {
            return Err(VerifyError::BadManifest(format!("format {:?}, expected {FORMAT:?}", manifest.format)));
        }
        let mut names = std::collections::BTreeSet::new();
        for entry in &manifest.entries {
            if entry.name == MANIFEST || entry.name == SIGNATURE {
                return Err(VerifyError::BadManifest(format!("{}: an entry may not take the name of a part of the archive", entry.name)));
            }
            if !names.insert(entry.name.as_str()) {
                return Err(VerifyError::BadManifest(format!("{}: listed twice", entry.name)));
            }
        }
        Ok(manifest)
    }
}

/// Checks `manifest_json` against `signature` and `key`.
pub fn verify_signature(manifest_json: &[u8], signature: &Signature, key: &ed25519_dalek::VerifyingKey) -> Result<(), VerifyError> {
    let actual = sha256_hex(manifest_json);
    if actual != signature.manifest_sha256 {
        return Err(VerifyError::BadSignature(format!(
            "manifest.json has sha256 {actual}, the signature is over {}",
            signature.manifest_sha256
        )));
    }
    let bytes = STANDARD.decode(signature.signature.trim()).map_err(|_| VerifyError::BadSignature("signature: not valid base64".to_owned()))?;
    let sig = ed25519_dalek::Signature::from_slice(&bytes)
        .map_err(|_| VerifyError::BadSignature(format!("signature: {} bytes, an Ed25519 signature has 64", bytes.len())))?;
    key.verify(actual.as_bytes(), &sig)
        .map_err(|_| VerifyError::BadSignature(format!("not signed by this key (the signature names key {:?})", signature.key_id)))
}

/// The 512-byte ustar header of one member (mode 0644, `mtime`).
pub fn tar_header(name: &str, size: u64, mtime: DateTime<Utc>) -> Result<[u8; 512], String> {
    if name.is_empty() || name.len() > 100 {
        return Err(format!("{name}: a member name has 1 to 100 bytes, this one {}", name.len()));
    }
    let mut header = tar::Header::new_ustar();
    header.set_path(name).map_err(|e| format!("{name}: {e}"))?;
    header.set_size(size);
    header.set_mode(0o644);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(u64::try_from(mtime.timestamp()).unwrap_or(0));
    header.set_entry_type(tar::EntryType::Regular);
    header.set_cksum();
    Ok(*header.as_bytes())
}

/// Zero bytes after a member of `size` bytes, to the next 512-byte block.
pub fn tar_padding(size: u64) -> usize {
    ((512 - size % 512) % 512) as usize
}

/// The end of a tar: two zero blocks.
pub const TAR_END: [u8; 1024] = [0; 1024];

fn write_member(out: &mut impl std::io::Write, name: &str, bytes: &[u8], mtime: DateTime<Utc>) -> std::io::Result<()> {
    let header = tar_header(name, bytes.len() as u64, mtime).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    out.write_all(&header)?;
    out.write_all(bytes)?;
    out.write_all(&[0u8; 512][..tar_padding(bytes.len() as u64)])
}

/// Writes a whole archive (manifest, signature, files) to `out`: `files`
/// gives each non-reference entry's bytes by name. For tests and small
/// files; the service streams with [`tar_header`] and [`tar_padding`].
pub fn write_archive(out: &mut impl std::io::Write, manifest_json: &[u8], signature: &Signature, files: &[(String, Vec<u8>)], mtime: DateTime<Utc>) -> std::io::Result<()> {
    write_member(out, MANIFEST, manifest_json, mtime)?;
    let sig = serde_json::to_vec_pretty(signature).map_err(std::io::Error::other)?;
    write_member(out, SIGNATURE, &sig, mtime)?;
    for (name, bytes) in files {
        write_member(out, name, bytes, mtime)?;
    }
    out.write_all(&TAR_END)?;
    out.flush()
}

/// The largest manifest or signature read into memory.
const MAX_PART: u64 = 64 * 1024 * 1024;

/// A document member as read: its size and sha256.
struct Member {
    size: u64,
    sha256: String,
}

/// Verifies the archive at `path`: the signature of the manifest with
/// `key`, then every listed file's size and sha256, and no unlisted file.
pub fn verify_archive(path: &Path, key: &ed25519_dalek::VerifyingKey) -> Result<Verified, VerifyError> {
    let shown = path.display().to_string();
    let unreadable = |e: std::io::Error| VerifyError::Unreadable(shown.clone(), e.to_string());
    let file = std::fs::File::open(path).map_err(unreadable)?;
    let mut archive = tar::Archive::new(std::io::BufReader::new(file));
    let mut manifest_json: Option<Vec<u8>> = None;
    let mut signature_json: Option<Vec<u8>> = None;
    let mut members: BTreeMap<String, Member> = BTreeMap::new();
    for entry in archive.entries().map_err(unreadable)? {
        let mut entry = entry.map_err(unreadable)?;
        let kind = entry.header().entry_type();
        if kind.is_dir() || kind.is_pax_global_extensions() {
            continue;
        }
        let name = String::from_utf8(entry.path_bytes().into_owned())
            .map_err(|_| VerifyError::Unreadable(shown.clone(), "a member name is not UTF-8".to_owned()))?;
        if !(kind.is_file() || kind == tar::EntryType::Continuous) {
            return Err(VerifyError::Unlisted { name });
        }
        let duplicate = members.contains_key(&name)
            || (name == MANIFEST && manifest_json.is_some())
            || (name == SIGNATURE && signature_json.is_some());
        if duplicate {
            return Err(VerifyError::Unreadable(name, "the archive holds this name twice".to_owned()));
        }
        let read_err = |name: &str, e: std::io::Error| VerifyError::Unreadable(name.to_owned(), e.to_string());
        if name == MANIFEST || name == SIGNATURE {
            if entry.size() > MAX_PART {
                return Err(VerifyError::Unreadable(name, format!("larger than {MAX_PART} bytes")));
            }
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).map_err(|e| read_err(&name, e))?;
            if name == MANIFEST {
                manifest_json = Some(bytes);
            } else {
                signature_json = Some(bytes);
            }
            continue;
        }
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 64 * 1024];
        let mut size = 0u64;
        loop {
            let n = entry.read(&mut buf).map_err(|e| read_err(&name, e))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            size += n as u64;
        }
        members.insert(name, Member { size, sha256: hex::encode(hasher.finalize()) });
    }
    let manifest_json = manifest_json.ok_or(VerifyError::MissingPart(MANIFEST))?;
    let signature_json = signature_json.ok_or(VerifyError::MissingPart(SIGNATURE))?;
    let signature: Signature =
        serde_json::from_slice(&signature_json).map_err(|e| VerifyError::BadSignature(format!("not a signature: {e}")))?;
    verify_signature(&manifest_json, &signature, key)?;
    let manifest = Manifest::from_json(&manifest_json)?;
    let mut files = 0;
    for entry in &manifest.entries {
        let Some(member) = members.remove(&entry.name) else {
            if entry.reference_only {
                continue;
            }
            return Err(VerifyError::Missing { name: entry.name.clone() });
        };
        if member.size != entry.size {
            return Err(VerifyError::Resized { name: entry.name.clone(), expected: entry.size, actual: member.size });
        }
        if member.sha256 != entry.sha256 {
            return Err(VerifyError::Changed { name: entry.name.clone(), expected: entry.sha256.clone(), actual: member.sha256 });
        }
        if !entry.reference_only {
            files += 1;
        }
    }
    if let Some(name) = members.into_keys().next() {
        return Err(VerifyError::Unlisted { name });
    }
    Ok(Verified { manifest, signature, files })
}

#[cfg(test)]
mod tests;
