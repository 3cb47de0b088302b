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

use std::path::Path;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

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
        let _ = (field, id, seed_b64);
        todo!()
    }

    /// Standard base64 of the public key (what verifiers are given).
    pub fn public_base64(&self) -> String {
        todo!()
    }

    /// Signs `manifest_json` (its sha256's lowercase hex).
    pub fn sign(&self, manifest_json: &[u8]) -> Signature {
        let _ = (manifest_json, &self.key);
        todo!()
    }
}

/// A public key from its standard base64 (32 bytes).
pub fn public_key(b64: &str) -> Result<ed25519_dalek::VerifyingKey, String> {
    let _ = b64;
    todo!()
}

impl Manifest {
    /// The bytes that are signed and shipped (pretty JSON, stable field order).
    pub fn to_json(&self) -> Vec<u8> {
        todo!()
    }

    pub fn from_json(bytes: &[u8]) -> Result<Manifest, VerifyError> {
        let _ = bytes;
        todo!()
    }
}

/// Checks `manifest_json` against `signature` and `key`.
pub fn verify_signature(manifest_json: &[u8], signature: &Signature, key: &ed25519_dalek::VerifyingKey) -> Result<(), VerifyError> {
    let _ = (manifest_json, signature, key);
    todo!()
}

/// The 512-byte ustar header of one member (mode 0644, `mtime`).
pub fn tar_header(name: &str, size: u64, mtime: DateTime<Utc>) -> Result<[u8; 512], String> {
    let _ = (name, size, mtime);
    todo!()
}

/// Zero bytes after a member of `size` bytes, to the next 512-byte block.
pub fn tar_padding(size: u64) -> usize {
    let _ = size;
    todo!()
}

/// The end of a tar: two zero blocks.
pub const TAR_END: [u8; 1024] = [0; 1024];

/// Writes a whole archive (manifest, signature, files) to `out`: `files`
/// gives each non-reference entry's bytes by name. For tests and small
/// files; the service streams with [`tar_header`] and [`tar_padding`].
pub fn write_archive(out: &mut impl std::io::Write, manifest_json: &[u8], signature: &Signature, files: &[(String, Vec<u8>)], mtime: DateTime<Utc>) -> std::io::Result<()> {
    let _ = (out, manifest_json, signature, files, mtime);
    todo!()
}

/// Verifies the archive at `path`: the signature of the manifest with
/// `key`, then every listed file's size and sha256, and no unlisted file.
pub fn verify_archive(path: &Path, key: &ed25519_dalek::VerifyingKey) -> Result<Verified, VerifyError> {
    let _ = (path, key);
    todo!()
}
