//! A document's PDF, from the service that made it (scheduling: the notice,
//! the delivery receipts, the interview record; rectification: its notice,
//! the certificate, the penalty draft): shown inline in the case page's preview frame, or
//! downloaded. Whether the officer may read it is the service's answer.

use axum::extract::{Path, Query, State as AxumState};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use yuetan_proto::{rectification, scheduling};

use crate::backend::Calls;
use crate::pages::layout;
use crate::session::Session;
use crate::web::Shared;

#[derive(Debug, Deserialize)]
pub struct FileQuery {
    download: Option<String>,
}

pub async fn file(AxumState(state): Shared, session: Session, Path((source, document_id)): Path<(String, String)>, Query(query): Query<FileQuery>) -> Response {
    if document_id.len() > 64 {
        return layout::not_found();
    }
    let calls = match Calls::new(&state.channels, &state.tokens, &session.officer) {
        Ok(calls) => calls,
        Err(err) => return layout::error_page(&err.to_string()).into_response(),
    };
    let answer = match source.as_str() {
        "scheduling" => calls.scheduling().get_document_file(calls.req(scheduling::GetDocumentFileRequest { document_id })).await.map(|f| {
            let f = f.into_inner();
            (f.number, f.pdf)
        }),
        "rectification" => calls.rectification().get_document_file(calls.req(rectification::GetDocumentFileRequest { document_id })).await.map(|f| {
            let f = f.into_inner();
            (f.number, f.pdf)
        }),
        "record" => calls.scheduling().get_record_file(calls.req(scheduling::GetRecordFileRequest { record_id: document_id })).await.map(|f| {
            let f = f.into_inner();
            (f.number, f.pdf)
        }),
        _ => return layout::not_found(),
    };
    let (number, pdf) = match answer {
        Ok(file) => file,
        Err(status) => return crate::web::status_page(&status),
    };
    let disposition = if query.download.is_some() { "attachment" } else { "inline" };
    // RFC 6266: an ASCII fallback and the document number in UTF-8.
    let encoded: String = form_urlencoded::byte_serialize(format!("{number}.pdf").as_bytes()).collect::<String>().replace('+', "%20");
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/pdf".to_string()),
            (header::CONTENT_DISPOSITION, format!("{disposition}; filename=\"document.pdf\"; filename*=UTF-8''{encoded}")),
            // Framed by the console's own case page only.
            (header::CONTENT_SECURITY_POLICY, "default-src 'none'; frame-ancestors 'self'".to_string()),
            (header::X_FRAME_OPTIONS, "SAMEORIGIN".to_string()),
            (header::CACHE_CONTROL, "private, no-store".to_string()),
        ],
        pdf,
    )
        .into_response()
}
