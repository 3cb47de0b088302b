//! The daily roll-up (18:00 CST): county, city, province.

use sqlx::PgConnection;
use yuetan_platform::timers::Timer;
use yuetan_platform::Error;

use crate::State;

/// The daily roll-up; key: the date.
pub const ROLLUP_TIMER: &str = "supervision.rollup";
/// The monthly section warnings (R-SUP-2); key: the month.
pub const WARN_TIMER: &str = "supervision.warn";

impl State {
    pub async fn daily_rollup(&self, _conn: &mut PgConnection, _timer: &Timer) -> Result<(), Error> {
        Ok(())
    }

    pub async fn warn_sections(&self, _conn: &mut PgConnection, _timer: &Timer) -> Result<(), Error> {
        Ok(())
    }
}
