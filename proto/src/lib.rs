//! Generated protobuf and gRPC code for Yuetan.
//!
//! The packages mirror the `.proto` files: `yuetan::common::v1`,
//! `yuetan::events::v1`, `yuetan::platform::v1`, `yuetan::intake::v1`, `yuetan::review::v1`, `yuetan::scheduling::v1`, `yuetan::rectification::v1`, `yuetan::supervision::v1`, `yuetan::casefile::v1`. [`FILE_DESCRIPTOR_SET`] feeds gRPC reflection.

#![allow(clippy::all, missing_docs)]

pub mod yuetan {
    pub mod common {
        pub mod v1 {
            tonic::include_proto!("yuetan.common.v1");
        }
    }
    pub mod events {
        pub mod v1 {
            tonic::include_proto!("yuetan.events.v1");
        }
    }
    pub mod platform {
        pub mod v1 {
            tonic::include_proto!("yuetan.platform.v1");
        }
    }
    pub mod intake {
        pub mod v1 {
            tonic::include_proto!("yuetan.intake.v1");
        }
    }
    pub mod review {
        pub mod v1 {
            tonic::include_proto!("yuetan.review.v1");
        }
    }
    pub mod scheduling {
        pub mod v1 {
            tonic::include_proto!("yuetan.scheduling.v1");
        }
    }
    pub mod rectification {
        pub mod v1 {
            tonic::include_proto!("yuetan.rectification.v1");
        }
    }
    pub mod supervision {
        pub mod v1 {
            tonic::include_proto!("yuetan.supervision.v1");
        }
    }
    pub mod casefile {
        pub mod v1 {
            tonic::include_proto!("yuetan.casefile.v1");
        }
    }
}

pub use yuetan::common::v1 as common;
pub use yuetan::events::v1 as events;
pub use yuetan::platform::v1 as platform;
pub use yuetan::intake::v1 as intake;
pub use yuetan::review::v1 as review;
pub use yuetan::scheduling::v1 as scheduling;
pub use yuetan::rectification::v1 as rectification;
pub use yuetan::supervision::v1 as supervision;
pub use yuetan::casefile::v1 as casefile;

/// Every Yuetan message and service, for `tonic-reflection`.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("yuetan_descriptor");
