//! `yuetan.casefile.v1.CaseFileService`, served by supervision beside its
//! own service: the case-file export and `RegisterRelief`. Officers in
//! scope and service accounts (role `system`) call it; every call is
//! audited with the caller (in the handlers).

use std::sync::Arc;

use tonic::{Request, Response, Status};
use yuetan_platform::auth;
use yuetan_platform::requests;
use yuetan_proto::casefile as pb;
use yuetan_proto::casefile::case_file_service_server::CaseFileService;

use crate::api::{archive, relief};
use crate::State;

#[derive(Debug, Clone)]
pub struct CaseFileApi {
    state: Arc<State>,
}

impl CaseFileApi {
    pub fn new(state: Arc<State>) -> Self {
        Self { state }
    }
}

#[tonic::async_trait]
impl CaseFileService for CaseFileApi {
    async fn get_case_file(&self, request: Request<pb::GetCaseFileRequest>) -> Result<Response<pb::CaseFile>, Status> {
        let actor = auth::actor(&request)?;
        archive::get_case_file(&self.state, actor, request.get_ref()).await.map(Response::new).map_err(Status::from)
    }

    type DownloadCaseFileStream = archive::ChunkStream;

    async fn download_case_file(&self, request: Request<pb::DownloadCaseFileRequest>) -> Result<Response<Self::DownloadCaseFileStream>, Status> {
        let actor = auth::actor(&request)?;
        archive::download_case_file(self.state.clone(), actor, request.get_ref()).await.map(Response::new).map_err(Status::from)
    }

    async fn register_relief(&self, request: Request<pb::RegisterReliefRequest>) -> Result<Response<pb::Relief>, Status> {
        let (actor, req) = (auth::actor(&request)?, request.get_ref());
        let result = relief::register_relief(&self.state, actor, req).await;
        requests::or_replay(&self.state.pool, &self.state.vault, &actor.officer_id, &req.request_id, "RegisterRelief", req, result)
            .await
            .map(Response::new)
            .map_err(Status::from)
    }
}
