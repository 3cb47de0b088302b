//! Multipart forms (the new clue's evidence, the address confirmation's
//! scan): read field by field, every text and file bounded before it is kept.

use std::collections::HashMap;

use axum::extract::Multipart;

use crate::zh::{self, Refusal};
use crate::State;

/// Longest text field of a multipart form (characters).
pub const MAX_TEXT_CHARS: usize = 4000;

/// One uploaded file: its name, media type and content.
pub type Upload = (String, String, Vec<u8>);

/// Reads a multipart form: text fields (bounded) and the files of
/// `file_field` (each bounded by `max_upload_bytes`, read chunk by chunk, at
/// most `max_files`): `(values, [(file name, media type, content)])`.
pub async fn read_form(state: &State, mut multipart: Multipart, file_field: &str, max_files: usize) -> Result<(HashMap<String, String>, Vec<Upload>), Refusal> {
    let too_big = |field: &str, message: String| Refusal::of_field(field, message);
    let mut values = HashMap::new();
    let mut files = Vec::new();
    while let Some(mut field) = multipart.next_field().await.map_err(|err| too_big(file_field, format!("上传未完成：{err}")))? {
        let name = field.name().unwrap_or_default().to_string();
        if name == file_field {
            let file_name = field.file_name().unwrap_or_default().chars().take(200).collect::<String>();
            let media_type = field.content_type().unwrap_or("application/octet-stream").to_string();
            let mut content = Vec::new();
            while let Some(chunk) = field.chunk().await.map_err(|err| too_big(file_field, format!("上传未完成：{err}")))? {
                if content.len() + chunk.len() > state.config.max_upload_bytes {
                    return Err(too_big(file_field, format!("文件“{file_name}”超过 {} MB。", state.config.max_upload_bytes / 1024 / 1024)));
                }
                content.extend_from_slice(&chunk);
            }
            if file_name.is_empty() && content.is_empty() {
                continue;
            }
            if files.len() == max_files {
                return Err(too_big(file_field, format!("最多 {max_files} 个文件。")));
            }
            files.push((file_name, media_type, content));
        } else {
            let text = field.text().await.map_err(|err| too_big(&name, format!("读取失败：{err}")))?;
            if text.chars().count() > MAX_TEXT_CHARS {
                return Err(too_big(&name, format!("“{}”过长。", zh::field(&name))));
            }
            values.insert(name, text);
        }
    }
    Ok((values, files))
}

