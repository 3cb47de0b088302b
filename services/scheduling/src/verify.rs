//! `yuetan document verify FILE` (R-DOC-2, R-DOC-5): a file is one of the
//! organ's sealed documents when its sha256 is recorded as sealed and the
//! recorded Ed25519 signature over that sha256 checks with the organ's key.
//! One byte changed gives another sha256, which no record has.

use sqlx::PgConnection;
use yuetan_platform::Error;

use crate::store::{self, DocumentRow};
use crate::Seals;

/// The sealed document `content` is, with its signature checked.
pub async fn verify_file(conn: &mut PgConnection, seals: &Seals, content: &[u8]) -> Result<DocumentRow, Error> {
    let sha256 = yuetan_documents::seal::sha256_hex(content);
    let sealed: Vec<DocumentRow> = store::documents_by_sha256(conn, &sha256).await?.into_iter().filter(|d| d.status == "sealed").collect();
    let Some(document) = sealed.into_iter().last() else {
        return Err(Error::NotFound(format!(
            "no sealed document has this content (sha256 {sha256}): the file was altered, or it is not one of the organ's documents"
        )));
    };
    let key = seals
        .verifying_key(&document.seal_key_id)
        .ok_or_else(|| Error::FailedPrecondition(format!("seal key {} of document {} is not configured", document.seal_key_id, document.number)))?;
    yuetan_documents::seal::verify_seal(&key, &sha256, &document.seal_signature)
        .map_err(|e| Error::FailedPrecondition(format!("the seal of {} does not match its record: {e}", document.number)))?;
    Ok(document)
}
