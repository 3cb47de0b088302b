//! The monthly draw (R-SUP-1), file scores, return visits (R-SUP-4) and reports (R-SUP-7).

use yuetan_platform::{Actor, Error};
use yuetan_proto::supervision as pb;

use crate::State;

pub async fn list_samples(_state: &State, _actor: &Actor, _req: &pb::ListSamplesRequest) -> Result<pb::ListSamplesResponse, Error> {
    Err(Error::FailedPrecondition("list_samples is not built yet".into()))
}

pub async fn score_file(_state: &State, _actor: &Actor, _req: &pb::ScoreFileRequest) -> Result<pb::ScoreFileResponse, Error> {
    Err(Error::FailedPrecondition("score_file is not built yet".into()))
}

pub async fn list_return_visits(_state: &State, _actor: &Actor, _req: &pb::ListReturnVisitsRequest) -> Result<pb::ListReturnVisitsResponse, Error> {
    Err(Error::FailedPrecondition("list_return_visits is not built yet".into()))
}

pub async fn record_return_visit(_state: &State, _actor: &Actor, _req: &pb::RecordReturnVisitRequest) -> Result<pb::RecordReturnVisitResponse, Error> {
    Err(Error::FailedPrecondition("record_return_visit is not built yet".into()))
}

pub async fn get_report(_state: &State, _actor: &Actor, _req: &pb::GetReportRequest) -> Result<pb::GetReportResponse, Error> {
    Err(Error::FailedPrecondition("get_report is not built yet".into()))
}
