//! The party's rectification report (整改报告, DOMAIN R-RECT-3) as posted
//! to `POST /r/{token}` (multipart/form-data): a text (`text`, 整改情况说明)
//! and up to [`MAX_FILES`] proofs (`files`: photos, test reports, rules),
//! each read bounded and judged by its magic bytes, never by its name or
//! declared type. Nothing here writes: the handler stores the files and
//! the report only once the whole form is in order (`web.rs`, `flow.rs`).

use axum::extract::multipart::{Field, Multipart, MultipartError};
use axum::http::StatusCode;

/// Longest text (characters, after CRLF → LF).
pub const MAX_TEXT_CHARS: usize = 5000;
/// Most files of one report.
pub const MAX_FILES: usize = 10;
/// Largest file (bytes): 10 MiB.
pub const MAX_FILE_BYTES: usize = 10 * 1024 * 1024;
/// Largest request body of `POST /r/{token}` (bytes): 60 MiB.
pub const MAX_REPORT_BODY_BYTES: usize = 60 * 1024 * 1024;
/// Longest text read (bytes): a character is at most 4 bytes (a line break
/// sent as CRLF is 2), so more bytes than this is more than
/// [`MAX_TEXT_CHARS`] characters.
const MAX_TEXT_BYTES: usize = 4 * MAX_TEXT_CHARS;
/// Longest unknown field name repeated in a refusal (characters).
const MAX_NAME_SHOWN: usize = 64;

/// What a file is, by its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Jpeg,
    Png,
    Pdf,
}

impl FileKind {
    /// JPEG (`FF D8 FF`), PNG (its 8-byte signature) or PDF (`%PDF-`).
    pub fn sniff(bytes: &[u8]) -> Option<FileKind> {
        if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(FileKind::Jpeg)
        } else if bytes.starts_with(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A]) {
            Some(FileKind::Png)
        } else if bytes.starts_with(b"%PDF-") {
            Some(FileKind::Pdf)
        } else {
            None
        }
    }
}

/// Why a report was refused: the status (400, 413), the field
/// (`text`, `files`, `files[i]`, `body`) and why, in Chinese for the page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRefusal {
    pub status: StatusCode,
    pub field: String,
    pub why: String,
}

impl FieldRefusal {
    fn new(status: StatusCode, field: impl Into<String>, why: impl Into<String>) -> FieldRefusal {
        FieldRefusal { status, field: field.into(), why: why.into() }
    }

    fn invalid(field: impl Into<String>, why: impl Into<String>) -> FieldRefusal {
        FieldRefusal::new(StatusCode::BAD_REQUEST, field, why)
    }
}

/// One accepted file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportFile {
    pub kind: FileKind,
    pub bytes: Vec<u8>,
}

/// A report whose every field is in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportForm {
    /// Line breaks as LF.
    pub text: String,
    pub files: Vec<ReportFile>,
}

/// The text as given (UTF-8, at most [`MAX_TEXT_BYTES`] read), checked:
/// present and not blank, at most [`MAX_TEXT_CHARS`] characters, no
/// control characters but line breaks and tabs. CRLF and CR become LF.
pub fn check_text(raw: Option<&[u8]>) -> Result<String, FieldRefusal> {
    let raw = raw.ok_or_else(|| FieldRefusal::invalid("text", "请填写整改情况说明"))?;
    let text = std::str::from_utf8(raw).map_err(|_| FieldRefusal::invalid("text", "整改情况说明不是有效的 UTF-8 文本"))?;
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    // Blank is also text of only invisible characters (U+200B …), as the gRPC fields say.
    if !yuetan_platform::fields::has_visible(&text) {
        return Err(FieldRefusal::invalid("text", "请填写整改情况说明"));
    }
    if text.chars().count() > MAX_TEXT_CHARS {
        return Err(FieldRefusal::invalid("text", format!("整改情况说明不能超过 {MAX_TEXT_CHARS} 字")));
    }
    if text.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(FieldRefusal::invalid("text", "整改情况说明含有不可见的控制字符"));
    }
    Ok(text)
}

/// The refusal of a body that ends in an error: over the whole bound (413)
/// or not multipart/form-data at all (400).
fn body_refusal(err: &MultipartError) -> FieldRefusal {
    if err.status() == StatusCode::PAYLOAD_TOO_LARGE {
        FieldRefusal::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "files",
            format!("提交的内容合计不能超过 {} MiB", MAX_REPORT_BODY_BYTES / (1024 * 1024)),
        )
    } else {
        FieldRefusal::invalid("body", "提交的内容不是有效的表单（multipart/form-data）")
    }
}

/// Reads a field up to `limit` bytes: `Ok(None)` if it is longer (the rest
/// is read and dropped).
async fn read_bounded(field: &mut Field<'_>, limit: usize) -> Result<Option<Vec<u8>>, MultipartError> {
    let mut bytes = Vec::new();
    let mut over = false;
    while let Some(chunk) = field.chunk().await? {
        if over || bytes.len() + chunk.len() > limit {
            over = true;
            bytes = Vec::new();
        } else {
            bytes.extend_from_slice(&chunk);
        }
    }
    Ok((!over).then_some(bytes))
}

/// Reads the whole form (bounded by the route's `DefaultBodyLimit`) and
/// checks it; the first refusal wins, and the rest of the body is still
/// read (and dropped) so that the browser gets the page, not a reset.
pub async fn read_form(multipart: &mut Multipart) -> Result<ReportForm, FieldRefusal> {
    let mut text: Option<Vec<u8>> = None;
    let mut files: Vec<ReportFile> = Vec::new();
    let mut refusal: Option<FieldRefusal> = None;
    loop {
        let mut field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(err) => return Err(refusal.unwrap_or_else(|| body_refusal(&err))),
        };
        let name = field.name().unwrap_or_default().to_string();
        let named = field.file_name().is_some_and(|n| !n.is_empty());
        let limit = match name.as_str() {
            _ if refusal.is_some() => 0,
            "text" => MAX_TEXT_BYTES,
            "files" => MAX_FILE_BYTES,
            _ => 0,
        };
        let read = match read_bounded(&mut field, limit).await {
            Ok(read) => read,
            Err(err) => return Err(refusal.unwrap_or_else(|| body_refusal(&err))),
        };
        if refusal.is_some() {
            continue;
        }
        refusal = match (name.as_str(), read) {
            ("text", _) if text.is_some() => Some(FieldRefusal::invalid("text", "整改情况说明只能填写一次")),
            ("text", None) => Some(FieldRefusal::invalid("text", format!("整改情况说明不能超过 {MAX_TEXT_CHARS} 字"))),
            ("text", Some(bytes)) => {
                text = Some(bytes);
                None
            }
            ("files", None) => Some(FieldRefusal::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("files[{}]", files.len()),
                format!("每个文件不能超过 {} MiB", MAX_FILE_BYTES / (1024 * 1024)),
            )),
            // A file input left empty: the browser sends a part with no name and no content.
            ("files", Some(bytes)) if bytes.is_empty() && !named => None,
            ("files", Some(bytes)) => {
                let field = format!("files[{}]", files.len());
                if files.len() >= MAX_FILES {
                    Some(FieldRefusal::invalid("files", format!("最多上传 {MAX_FILES} 个文件")))
                } else if bytes.is_empty() {
                    Some(FieldRefusal::invalid(field, "文件是空的"))
                } else if let Some(kind) = FileKind::sniff(&bytes) {
                    files.push(ReportFile { kind, bytes });
                    None
                } else {
                    Some(FieldRefusal::invalid(field, "只接受 JPEG、PNG 图片或 PDF 文件（按文件内容判断，不看文件名）"))
                }
            }
            (other, _) => {
                let shown: String = other.chars().filter(|c| !c.is_control()).take(MAX_NAME_SHOWN).collect();
                Some(FieldRefusal::invalid(if shown.is_empty() { "body".to_string() } else { shown }, "表单中没有这一项"))
            }
        };
    }
    if let Some(refusal) = refusal {
        return Err(refusal);
    }
    let text = check_text(text.as_deref())?;
    Ok(ReportForm { text, files })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r_rect_3_a_report_of_only_invisible_characters_is_blank() {
        assert_eq!(check_text(Some("\u{200B}\u{FEFF} \n".as_bytes())).unwrap_err().field, "text");
        assert!(check_text(Some("已整改\u{200B}".as_bytes())).is_ok());
    }

    #[test]
    fn files_are_judged_by_their_magic_bytes() {
        assert_eq!(FileKind::sniff(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10]), Some(FileKind::Jpeg));
        assert_eq!(FileKind::sniff(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), Some(FileKind::Png));
        assert_eq!(FileKind::sniff(b"%PDF-1.7\n"), Some(FileKind::Pdf));
        for bad in [&b"just text, named photo.png"[..], b"", b"\x89PNG", b"%PDF", b"GIF89a", b"PK\x03\x04"] {
            assert_eq!(FileKind::sniff(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_text_is_required_bounded_and_line_breaks_become_lf() {
        assert_eq!(check_text(Some("已整改。\r\n已复查。".as_bytes())).unwrap(), "已整改。\n已复查。");
        for bad in [None, Some(&b""[..]), Some(b" \r\n\t"), Some(b"\xff\xfe"), Some(b"a\0b")] {
            assert_eq!(check_text(bad).unwrap_err().field, "text", "{bad:?}");
        }
        let most = "整".repeat(MAX_TEXT_CHARS);
        assert_eq!(check_text(Some(most.as_bytes())).unwrap().chars().count(), MAX_TEXT_CHARS);
        let over = format!("{most}改");
        let refusal = check_text(Some(over.as_bytes())).unwrap_err();
        assert_eq!((refusal.status, refusal.field.as_str()), (StatusCode::BAD_REQUEST, "text"));
        // CRLF line breaks count once.
        let lines = "\r\n".repeat(MAX_TEXT_CHARS - 1) + "a";
        assert!(lines.len() <= MAX_TEXT_BYTES);
        assert_eq!(check_text(Some(lines.as_bytes())).unwrap().chars().count(), MAX_TEXT_CHARS);
    }
}
