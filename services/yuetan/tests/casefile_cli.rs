//! `yuetan casefile verify|public-key` (R-DOC-3): an archive written in the
//! export's format verifies with the archive key's public half; one changed
//! byte fails naming the file, exit 1.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use chrono::{TimeZone as _, Utc};
use yuetan_casefile::{sha256_hex, write_archive, ArchiveKey, Entry, Manifest, FORMAT};

const SEED: &str = "AwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM="; // 32 × 0x03

fn yuetan(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_yuetan")).args(args).env_remove("YUETAN_CONFIG").output().expect("run yuetan")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn key() -> ArchiveKey {
    ArchiveKey::from_base64("seed", "archive-test", SEED).unwrap()
}

/// Writes an archive of two documents; `tamper` changes a byte of the second.
fn archive(dir: &Path, tamper: bool) -> PathBuf {
    let at = Utc.with_ymd_and_hms(2026, 11, 20, 2, 0, 0).unwrap();
    let files = vec![
        ("documents/01-interview-notice.pdf".to_owned(), b"%PDF-1.7 notice".to_vec()),
        ("documents/02-interview-record.pdf".to_owned(), vec![9u8; 2000]),
    ];
    let entries = files
        .iter()
        .enumerate()
        .map(|(i, (name, bytes))| Entry {
            seq: i as u32 + 1,
            name: name.clone(),
            kind: "document".into(),
            number: String::new(),
            sha256: sha256_hex(bytes),
            size: bytes.len() as u64,
            service: "scheduling".into(),
            produced_at: at,
            title: "文书".into(),
            reference_only: false,
        })
        .collect();
    let manifest = Manifest {
        format: FORMAT.into(),
        case_id: "c-cli".into(),
        number: "兰城市监约案〔2026〕9号".into(),
        division: "620102".into(),
        organ: "620102-market".into(),
        assembled_at: at,
        retention_class: "ordinary".into(),
        retain_until: None,
        entries,
    };
    let json = manifest.to_json();
    let signature = key().sign(&json);
    let mut files = files;
    if tamper {
        files[1].1[1500] ^= 0x20;
    }
    let path = dir.join(if tamper { "tampered.tar" } else { "case.tar" });
    let mut out = std::fs::File::create(&path).unwrap();
    write_archive(&mut out, &json, &signature, &files, at).unwrap();
    path
}

#[test]
fn r_doc_3_casefile_verify_checks_every_file_and_names_a_changed_one() {
    let dir = tempfile::tempdir().unwrap();
    let public = key().public_base64();

    let good = archive(dir.path(), false);
    let output = yuetan(&["casefile", "verify", good.to_str().unwrap(), "--public-key", &public]);
    let out = stdout(&output);
    assert!(output.status.success(), "{out}\n{}", stderr(&output));
    assert!(out.contains("documents/01-interview-notice.pdf"), "{out}");
    assert!(out.contains("documents/02-interview-record.pdf"), "{out}");
    assert!(out.contains("verified: 2 files, manifest sha256 "), "{out}");
    assert!(out.contains("signed by key archive-test"), "{out}");

    let bad = archive(dir.path(), true);
    let output = yuetan(&["casefile", "verify", bad.to_str().unwrap(), "--public-key", &public]);
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
    assert!(!stdout(&output).contains("verified"), "{}", stdout(&output));
    let err = stderr(&output);
    assert!(err.contains("documents/02-interview-record.pdf: sha256"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");

    // Another key's public half does not verify the good archive.
    let other = ArchiveKey::from_base64("seed", "other", "BAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQ=").unwrap();
    let output = yuetan(&["casefile", "verify", good.to_str().unwrap(), "--public-key", &other.public_base64()]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("manifest.sig"), "{}", stderr(&output));
}

#[test]
fn r_doc_3_casefile_public_key_and_verify_use_the_configured_archive_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("yuetan.toml");
    std::fs::write(&config, format!("[supervision]\narchive_key_id = \"archive-test\"\narchive_key = \"{SEED}\"\n")).unwrap();
    let config = config.to_str().unwrap();

    let output = yuetan(&["casefile", "public-key", "--config", config]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), format!("{}\n", key().public_base64()));

    let good = archive(dir.path(), false);
    let output = yuetan(&["casefile", "verify", good.to_str().unwrap(), "--config", config]);
    assert!(output.status.success(), "{}\n{}", stdout(&output), stderr(&output));
    assert!(stdout(&output).contains("verified: 2 files"), "{}", stdout(&output));

    // No key configured and none given: one line naming the setting.
    let empty = dir.path().join("empty.toml");
    std::fs::write(&empty, "").unwrap();
    let output = yuetan(&["casefile", "verify", good.to_str().unwrap(), "--config", empty.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("supervision.archive_key"), "{}", stderr(&output));
}
