//! A batch of writes sent as one statement: each write becomes a
//! data-modifying CTE of `WITH w0 AS (…), w1 AS (…) SELECT ARRAY[counts]`.
//!
//! A service call that writes its state row, an outbox event, a timer, the
//! audit row and the answer to its request id pays one round trip for all
//! of them instead of five; the statement is atomic like any other, and it
//! runs inside the caller's transaction. Each write reports how many rows it
//! touched ([`Counts`]), so a caller can tell an insert that found its key
//! taken (`ON CONFLICT DO NOTHING`) from one that wrote.
//!
//! PostgreSQL runs the CTEs of one statement on one snapshot, in no set
//! order: a batch may not write the same row twice, nor read what another
//! of its writes writes. Foreign keys are checked at the end of the
//! statement, so a row and a row referencing it can share a batch.

use sqlx::{PgConnection, Postgres, QueryBuilder};

use crate::error::Error;

/// Writes to send together. Every write must end in `RETURNING …` (or be a
/// `SELECT` of a function), so its rows can be counted.
pub struct WriteBatch {
    query: QueryBuilder<'static, Postgres>,
    writes: usize,
}

/// A handle on one write's row count in [`Counts`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counted(usize);

/// Rows touched by each write, in the order they were added.
#[derive(Debug, Clone, Default)]
pub struct Counts(Vec<i64>);

impl Counts {
    pub fn get(&self, write: Counted) -> i64 {
        self.0.get(write.0).copied().unwrap_or(0)
    }
}

impl Default for WriteBatch {
    fn default() -> Self {
        Self::new()
    }
}

impl WriteBatch {
    pub fn new() -> Self {
        Self { query: QueryBuilder::new("WITH "), writes: 0 }
    }

    /// Adds one write; `build` pushes its SQL and binds onto the statement.
    pub fn push(&mut self, build: impl FnOnce(&mut QueryBuilder<'static, Postgres>)) -> Counted {
        if self.writes > 0 {
            self.query.push(", ");
        }
        self.query.push(format!("w{} AS (", self.writes));
        build(&mut self.query);
        self.query.push(")");
        self.writes += 1;
        Counted(self.writes - 1)
    }

    pub fn is_empty(&self) -> bool {
        self.writes == 0
    }

    /// Runs every write in one statement, in the caller's transaction.
    pub async fn execute(mut self, conn: &mut PgConnection) -> Result<Counts, Error> {
        if self.writes == 0 {
            return Ok(Counts::default());
        }
        self.query.push(" SELECT ARRAY[");
        for i in 0..self.writes {
            if i > 0 {
                self.query.push(", ");
            }
            self.query.push(format!("(SELECT count(*) FROM w{i})"));
        }
        self.query.push("]::bigint[]");
        let counts: Vec<i64> = self.query.build_query_scalar().fetch_one(&mut *conn).await?;
        Ok(Counts(counts))
    }
}
