//! Generates the Rust code for every `.proto` under this crate with a vendored
//! `protoc`, so a build never depends on a system protobuf compiler.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    std::env::set_var("PROTOC", protoc);

    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    let protos = [
        "yuetan/common/v1/common.proto",
        "yuetan/events/v1/events.proto",
        "yuetan/platform/v1/platform.proto",
        "yuetan/intake/v1/intake.proto",
        "yuetan/review/v1/review.proto",
        "yuetan/scheduling/v1/scheduling.proto",
        "yuetan/rectification/v1/rectification.proto",
        "yuetan/supervision/v1/supervision.proto",
        "yuetan/casefile/v1/casefile.proto",
    ];
    for proto in protos {
        println!("cargo:rerun-if-changed={proto}");
    }
    tonic_prost_build::configure()
        .file_descriptor_set_path(out_dir.join("yuetan_descriptor.bin"))
        .compile_protos(&protos, &["."])?;
    Ok(())
}
