//! The archive's RPCs: `ListArchive`, `RecordPaperArchive`,
//! `ApproveDestruction`, `DestroyCaseFile` (supervision.v1) and the case-file
//! export `GetCaseFile`, `DownloadCaseFile` (casefile.v1).

use yuetan_platform::{Actor, Error};
use yuetan_proto::casefile as cf;
use yuetan_proto::supervision as pb;

use crate::State;

pub async fn list_archive(state: &State, actor: &Actor, req: &pb::ListArchiveRequest) -> Result<pb::ListArchiveResponse, Error> {
    let _ = (state, actor, req);
    Err(Error::Internal("not built yet".into()))
}

pub async fn record_paper_archive(state: &State, actor: &Actor, req: &pb::RecordPaperArchiveRequest) -> Result<pb::ArchiveResponse, Error> {
    let _ = (state, actor, req);
    Err(Error::Internal("not built yet".into()))
}

pub async fn approve_destruction(state: &State, actor: &Actor, req: &pb::ApproveDestructionRequest) -> Result<pb::ArchiveResponse, Error> {
    let _ = (state, actor, req);
    Err(Error::Internal("not built yet".into()))
}

pub async fn destroy_case_file(state: &State, actor: &Actor, req: &pb::DestroyCaseFileRequest) -> Result<pb::ArchiveResponse, Error> {
    let _ = (state, actor, req);
    Err(Error::Internal("not built yet".into()))
}

pub async fn get_case_file(state: &State, actor: &Actor, req: &cf::GetCaseFileRequest) -> Result<cf::CaseFile, Error> {
    let _ = (state, actor, req);
    Err(Error::Internal("not built yet".into()))
}

/// The chunks of a download, in order (validated, authorised and audited
/// before the first is sent).
pub type ChunkStream = std::pin::Pin<Box<dyn futures::Stream<Item = Result<cf::Chunk, tonic::Status>> + Send + 'static>>;

pub async fn download_case_file(state: std::sync::Arc<State>, actor: &Actor, req: &cf::DownloadCaseFileRequest) -> Result<ChunkStream, Error> {
    let _ = (state, actor, req);
    Err(Error::Internal("not built yet".into()))
}
