//! PostgreSQL: one schema per service (no service reads another's), a pool
//! whose every connection has `search_path` set to that schema, and `sqlx`
//! migrations applied at start (the platform's tables, then the service's).

use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool};

use crate::config::{validate_identifier, Config};
use crate::error::Error;

/// The platform's own tables: outbox, inbox, dead letters, timers, audit log.
/// Their versions are below 1000; a service numbers its migrations from 1000
/// so the two sets share one `_sqlx_migrations` table without clashing.
pub fn platform_migrations() -> Migrator {
    sqlx::migrate!("./migrations")
}

/// Connects to `url` with `search_path` = `schema` (created if missing) and
/// applies the platform migrations. Several replicas may call this at once:
/// sqlx serialises migrations with an advisory lock.
pub async fn connect_and_migrate(url: &str, schema: &str) -> Result<PgPool, Error> {
    let pool = connect(url, schema, 16).await?;
    migrate(&pool, platform_migrations()).await?;
    Ok(pool)
}

/// Creates `schema` if needed and opens a pool whose connections use it.
pub async fn connect(url: &str, schema: &str, max_connections: u32) -> Result<PgPool, Error> {
    validate_identifier("database.schema", schema)?;
    let options = PgConnectOptions::from_str(url)
        .map_err(|err| Error::invalid("database.url", err.to_string()))?;
    let mut conn = PgConnection::connect_with(&options)
        .await
        .map_err(|err| Error::Unavailable(format!("connecting to postgres: {err}")))?;
    // Concurrent `CREATE SCHEMA IF NOT EXISTS` can still race on the catalog;
    // an advisory lock makes replicas starting together take turns.
    let create = format!(
        "SELECT pg_advisory_lock(hashtext('yuetan.schema.{schema}')); \
         CREATE SCHEMA IF NOT EXISTS \"{schema}\"; \
         SELECT pg_advisory_unlock(hashtext('yuetan.schema.{schema}'))"
    );
    sqlx::raw_sql(&create).execute(&mut conn).await?;
    conn.close().await.ok();

    let options = options.options([("search_path", schema)]);
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options)
        .await
        .map_err(|err| Error::Unavailable(format!("connecting to postgres: {err}")))
}

/// Applies `migrator` to the pool's schema. Migrations of the other set
/// (platform or service) are already recorded in the same table and ignored.
pub async fn migrate(pool: &PgPool, mut migrator: Migrator) -> Result<(), Error> {
    migrator.set_ignore_missing(true);
    migrator.run(pool).await.map_err(|err| Error::Internal(format!("migration failed: {err}")))
}

/// A business service's database at start: its schema (`config.schema()`
/// when the process runs only this service, the service's name when it
/// runs beside others in `serve all`), a pool on it, the platform's
/// migrations and then the service's own. Returns the pool and the schema.
pub async fn open_service(config: &Config, service: &str, migrations: Migrator) -> Result<(PgPool, String), Error> {
    let schema = if config.service == service { config.schema() } else { service.to_string() };
    let pool = connect(config.database.url.expose(), &schema, config.database.max_connections).await?;
    migrate(&pool, platform_migrations()).await?;
    migrate(&pool, migrations).await?;
    Ok((pool, schema))
}
