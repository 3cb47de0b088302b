//! `yuetan supervision rebuild`: the read model from the stream alone.

use yuetan_platform::{Config, Error};

/// What a rebuild found.
#[derive(Debug, Clone)]
pub struct Report {
    pub equal: bool,
    pub events: u64,
    pub differences: Vec<String>,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "replayed {} events; boards {}", self.events, if self.equal { "equal" } else { "differ" })?;
        for d in &self.differences {
            writeln!(f, "  {d}")?;
        }
        Ok(())
    }
}

pub async fn run(_config: &Config, _schema: &str) -> Result<Report, Error> {
    Err(Error::FailedPrecondition("rebuild is not built yet".into()))
}
