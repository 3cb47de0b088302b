use super::*;
use chrono::TimeZone as _;

const SEED: &str = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="; // 32 × 0x01
const OTHER_SEED: &str = "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI="; // 32 × 0x02

fn key() -> ArchiveKey {
    ArchiveKey::from_base64("supervision.archive_key", "archive-2026", SEED).unwrap()
}

fn at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 2, 0, 0).unwrap()
}

fn entry(seq: u32, name: &str, bytes: &[u8], reference_only: bool) -> Entry {
    Entry {
        seq,
        name: name.to_owned(),
        kind: "notice".to_owned(),
        number: format!("甘兰约〔2026〕{seq}号"),
        sha256: sha256_hex(bytes),
        size: bytes.len() as u64,
        service: "scheduling".to_owned(),
        produced_at: at(),
        title: "约谈通知书".to_owned(),
        reference_only,
    }
}

struct Case {
    manifest: Manifest,
    files: Vec<(String, Vec<u8>)>,
}

fn case() -> Case {
    let a = b"%PDF-1.7 interview notice".to_vec();
    let b = vec![7u8; 1300]; // spans three blocks
    let video = b"a recording kept elsewhere".to_vec();
    let manifest = Manifest {
        format: FORMAT.to_owned(),
        case_id: "c-1".to_owned(),
        number: "甘兰约〔2026〕1号".to_owned(),
        division: "620102".to_owned(),
        organ: "620102-market".to_owned(),
        assembled_at: at(),
        retention_class: "ordinary".to_owned(),
        retain_until: NaiveDate::from_ymd_opt(2036, 12, 31),
        entries: vec![
            entry(1, "documents/01-notice.pdf", &a, false),
            entry(2, "documents/02-record.pdf", &b, false),
            entry(3, "documents/03-recording.mp4", &video, true),
        ],
    };
    Case { manifest, files: vec![("documents/01-notice.pdf".to_owned(), a), ("documents/02-record.pdf".to_owned(), b)] }
}

fn write(dir: &tempfile::TempDir, manifest_json: &[u8], signature: &Signature, files: &[(String, Vec<u8>)]) -> std::path::PathBuf {
    let path = dir.path().join("case.tar");
    let mut out = std::fs::File::create(&path).unwrap();
    write_archive(&mut out, manifest_json, signature, files, at()).unwrap();
    path
}

#[test]
fn a_written_archive_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let c = case();
    let json = c.manifest.to_json();
    let sig = key().sign(&json);
    assert_eq!(sig.key_id, "archive-2026");
    assert_eq!(sig.manifest_sha256, sha256_hex(&json));
    let path = write(&dir, &json, &sig, &c.files);
    let public = public_key(&key().public_base64()).unwrap();
    let verified = verify_archive(&path, &public).unwrap();
    assert_eq!(verified.files, 2);
    assert_eq!(verified.manifest, c.manifest);
    assert_eq!(verified.signature, sig);
    // The manifest round-trips and serialises to the same bytes.
    assert_eq!(Manifest::from_json(&json).unwrap().to_json(), json);
    // The file is a real tar: each member at a block boundary.
    assert_eq!(std::fs::metadata(&path).unwrap().len() % 512, 0);
}

#[test]
fn one_changed_byte_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = case();
    let json = c.manifest.to_json();
    let sig = key().sign(&json);
    c.files[1].1[700] ^= 1;
    let path = write(&dir, &json, &sig, &c.files);
    let err = verify_archive(&path, &key().verifying_key()).unwrap_err();
    match &err {
        VerifyError::Changed { name, expected, actual } => {
            assert_eq!(name, "documents/02-record.pdf");
            assert_eq!(expected, &c.manifest.entries[1].sha256);
            assert_ne!(expected, actual);
        }
        other => panic!("expected Changed, got {other:?}"),
    }
    assert!(err.to_string().starts_with("documents/02-record.pdf: "));
}

#[test]
fn a_removed_file_is_missing_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = case();
    let json = c.manifest.to_json();
    let sig = key().sign(&json);
    c.files.remove(0);
    let path = write(&dir, &json, &sig, &c.files);
    let err = verify_archive(&path, &key().verifying_key()).unwrap_err();
    assert_eq!(err, VerifyError::Missing { name: "documents/01-notice.pdf".to_owned() });
}

#[test]
fn a_truncated_file_is_resized_and_an_extra_file_unlisted() {
    let dir = tempfile::tempdir().unwrap();
    let c = case();
    let json = c.manifest.to_json();
    let sig = key().sign(&json);

    let mut short = c.files.clone();
    short[0].1.pop();
    let path = write(&dir, &json, &sig, &short);
    let err = verify_archive(&path, &key().verifying_key()).unwrap_err();
    assert!(matches!(&err, VerifyError::Resized { name, .. } if name == "documents/01-notice.pdf"), "{err:?}");

    let mut extra = c.files.clone();
    extra.push(("documents/99-extra.pdf".to_owned(), b"slipped in".to_vec()));
    let path = write(&dir, &json, &sig, &extra);
    let err = verify_archive(&path, &key().verifying_key()).unwrap_err();
    assert_eq!(err, VerifyError::Unlisted { name: "documents/99-extra.pdf".to_owned() });
}

#[test]
fn an_altered_manifest_fails_the_signature() {
    let dir = tempfile::tempdir().unwrap();
    let c = case();
    let sig = key().sign(&c.manifest.to_json());

    // A changed sha256 (to hide a changed file).
    let mut changed = c.manifest.clone();
    let mut files = c.files.clone();
    files[0].1[0] ^= 1;
    changed.entries[0].sha256 = sha256_hex(&files[0].1);
    let path = write(&dir, &changed.to_json(), &sig, &files);
    let err = verify_archive(&path, &key().verifying_key()).unwrap_err();
    assert!(matches!(err, VerifyError::BadSignature(_)), "{err:?}");

    // An added entry, the signature's digest updated to match.
    let mut added = c.manifest.clone();
    added.entries.push(entry(4, "documents/04-extra.pdf", b"x", false));
    let json = added.to_json();
    let mut forged = sig.clone();
    forged.manifest_sha256 = sha256_hex(&json);
    let mut files = c.files.clone();
    files.push(("documents/04-extra.pdf".to_owned(), b"x".to_vec()));
    let path = write(&dir, &json, &forged, &files);
    let err = verify_archive(&path, &key().verifying_key()).unwrap_err();
    assert!(matches!(err, VerifyError::BadSignature(_)), "{err:?}");
}

#[test]
fn a_signature_by_another_key_fails() {
    let dir = tempfile::tempdir().unwrap();
    let c = case();
    let json = c.manifest.to_json();
    let other = ArchiveKey::from_base64("k", "archive-2026", OTHER_SEED).unwrap();
    let path = write(&dir, &json, &other.sign(&json), &c.files);
    let err = verify_archive(&path, &key().verifying_key()).unwrap_err();
    assert!(matches!(err, VerifyError::BadSignature(_)), "{err:?}");
    // The same archive verifies with the key that signed it.
    assert!(verify_archive(&path, &other.verifying_key()).is_ok());
}

#[test]
fn missing_parts_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.tar");
    let mut out = Vec::new();
    out.extend_from_slice(&tar_header("documents/a.pdf", 1, at()).unwrap());
    out.push(b'a');
    out.resize(out.len() + tar_padding(1), 0);
    out.extend_from_slice(&TAR_END);
    std::fs::write(&path, out).unwrap();
    assert_eq!(verify_archive(&path, &key().verifying_key()).unwrap_err(), VerifyError::MissingPart(MANIFEST));
}

#[test]
fn keys_and_headers_reject_bad_input_naming_the_field() {
    let err = ArchiveKey::from_base64("supervision.archive_key", "k", "not base64!").unwrap_err();
    assert!(err.starts_with("supervision.archive_key: "), "{err}");
    let err = ArchiveKey::from_base64("supervision.archive_key", "k", "AAAA").unwrap_err();
    assert!(err.contains("3 bytes"), "{err}");
    assert!(public_key("AAAA").is_err());
    assert!(tar_header(&"a".repeat(101), 1, at()).is_err());
    assert!(tar_header(&"a".repeat(100), 1, at()).is_ok());
    assert_eq!(tar_padding(0), 0);
    assert_eq!(tar_padding(1), 511);
    assert_eq!(tar_padding(512), 0);
    assert_eq!(tar_padding(513), 511);
    // The header is read back by the tar crate with the name, size and mode.
    let header = tar::Header::from_byte_slice(&tar_header("documents/x.pdf", 1234, at()).unwrap()).clone();
    assert_eq!(header.path().unwrap().to_str(), Some("documents/x.pdf"));
    assert_eq!(header.size().unwrap(), 1234);
    assert_eq!(header.mode().unwrap(), 0o644);
    assert_eq!(header.mtime().unwrap(), at().timestamp() as u64);
}
