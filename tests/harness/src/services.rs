//! The services the harness can start: one table, and the one place where a
//! service is started and put behind gRPC.
//!
//! Adding a service is one line in the `services!` table at the bottom:
//! its variant, its name (also its schema and the name of its client
//! accessor, `sys.<name>()`), its type and its gRPC client. Every service
//! has the shape review set: `T::start(&Config, SharedClock, SharedCalendar,
//! CancellationToken) -> Result<T, Error>`, `t.grpc()`, `t.state.pool`,
//! `t.tasks`.

use std::any::Any;
use std::sync::Arc;

use sqlx::PgPool;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use yuetan_platform::clock::SharedClock;
use yuetan_platform::server::Services;

use crate::System;

/// One started instance of a service, before it is served.
pub(crate) struct Started {
    pub pool: PgPool,
    pub tasks: Vec<JoinHandle<()>>,
    pub grpc: Services,
    /// The service's own value (`Intake`, `Review`, …) with its tasks taken out.
    pub handle: Arc<dyn Any + Send + Sync>,
}

macro_rules! services {
    ($( $(#[$doc:meta])* $variant:ident, $name:ident: $service:ty, $client:ty; )*) => {
        /// A service the harness can start.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Service {
            $( $(#[$doc])* $variant, )*
        }

        impl Service {
            /// Every service, in the table's order.
            pub const ALL: &'static [Service] = &[$(Service::$variant),*];

            /// Its name, which is also its schema (as under `yuetan serve all`).
            pub fn name(self) -> &'static str {
                match self {
                    $(Service::$variant => stringify!($name),)*
                }
            }

            /// Starts one instance on the system's configuration, clock and
            /// calendar; its background tasks stop on `stop`. The only place
            /// a service is started and added to a gRPC server.
            pub(crate) async fn start(self, sys: &System, stop: CancellationToken) -> Started {
                let clock: SharedClock = sys.clock.clone();
                match self {
                    $(Service::$variant => {
                        let mut service = <$service>::start(&sys.config, clock, sys.calendar.clone(), stop)
                            .await
                            .unwrap_or_else(|err| panic!("{} does not start: {err}", stringify!($name)));
                        let tasks = std::mem::take(&mut service.tasks);
                        let pool = service.state.pool.clone();
                        let grpc = service.more_grpc(Services::new(stringify!($name), sys.verifier.clone()).add_authenticated(service.grpc()));
                        Started { pool, tasks, grpc, handle: Arc::new(service) }
                    })*
                }
            }
        }

        impl System {
            $(
                #[doc = concat!("A client of ", stringify!($name), " (panics if it was never started).")]
                pub fn $name(&self) -> $client {
                    <$client>::new(self.channel(Service::$variant))
                }
            )*
        }
    };
}

/// A service that serves more than its own gRPC service (supervision also
/// serves the case-file export, `yuetan.casefile.v1`).
trait MoreGrpc {
    fn more_grpc(&self, services: Services) -> Services {
        services
    }
}
impl MoreGrpc for yuetan_intake::Intake {}
impl MoreGrpc for yuetan_review::Review {}
impl MoreGrpc for yuetan_scheduling::Scheduling {}
impl MoreGrpc for yuetan_rectification::Rectification {}
impl MoreGrpc for yuetan_supervision::Supervision {
    fn more_grpc(&self, services: Services) -> Services {
        services.add_authenticated(self.casefile_grpc())
    }
}

impl System {
    /// A client of the case-file export API (served by supervision).
    pub fn casefile(&self) -> yuetan_proto::casefile::case_file_service_client::CaseFileServiceClient<Channel> {
        yuetan_proto::casefile::case_file_service_client::CaseFileServiceClient::new(self.channel(Service::Supervision))
    }
}

services! {
    Intake, intake: yuetan_intake::Intake, yuetan_proto::intake::intake_service_client::IntakeServiceClient<Channel>;
    Review, review: yuetan_review::Review, yuetan_proto::review::review_service_client::ReviewServiceClient<Channel>;
    Scheduling, scheduling: yuetan_scheduling::Scheduling, yuetan_proto::scheduling::scheduling_service_client::SchedulingServiceClient<Channel>;
    Rectification, rectification: yuetan_rectification::Rectification, yuetan_proto::rectification::rectification_service_client::RectificationServiceClient<Channel>;
    Supervision, supervision: yuetan_supervision::Supervision, yuetan_proto::supervision::supervision_service_client::SupervisionServiceClient<Channel>;
}
