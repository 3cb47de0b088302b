//! PostgreSQL: one schema per service (no service reads another's), a pool
//! whose every connection has `search_path` set to that schema, and `sqlx`
//! migrations applied at start (the platform's tables, then the service's).
//!
//! Two roles (docs/security.md): the migration owner (`database.owner_url`)
//! creates the schema, runs the migrations and so owns every table; the
//! service runs as the runtime role (`database.url`), which gets only what
//! it needs: read and write on the service's tables, but on the audit log
//! only SELECT and EXECUTE on `audit_append`. Not owning the audit tables,
//! the runtime role can neither switch their triggers off nor rewrite them.
//! Without `owner_url` (development) the runtime role does everything and
//! owns everything; a warning says the audit log is then unprotected.

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
/// sqlx serialises migrations with an advisory lock. One role does both
/// (development, tests); [`open_schema`] splits them.
pub async fn connect_and_migrate(url: &str, schema: &str) -> Result<PgPool, Error> {
    let pool = connect(url, schema, 16).await?;
    migrate(&pool, platform_migrations()).await?;
    Ok(pool)
}

/// Creates `schema` if needed and opens a pool whose connections use it.
/// A role without the right to create schemas may call this for a schema
/// that exists (the runtime role, `yuetan audit verify`).
pub async fn connect(url: &str, schema: &str, max_connections: u32) -> Result<PgPool, Error> {
    validate_identifier("database.schema", schema)?;
    let options = PgConnectOptions::from_str(url)
        .map_err(|err| Error::invalid("database.url", err.to_string()))?;
    let mut conn = PgConnection::connect_with(&options)
        .await
        .map_err(|err| Error::Unavailable(format!("connecting to postgres: {err}")))?;
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)")
        .bind(schema)
        .fetch_one(&mut conn)
        .await?;
    if !exists {
        // Concurrent `CREATE SCHEMA IF NOT EXISTS` can still race on the
        // catalog; an advisory lock makes replicas starting together take turns.
        let create = format!(
            "SELECT pg_advisory_lock(hashtext('yuetan.schema.{schema}')); \
             CREATE SCHEMA IF NOT EXISTS \"{schema}\"; \
             SELECT pg_advisory_unlock(hashtext('yuetan.schema.{schema}'))"
        );
        sqlx::raw_sql(&create).execute(&mut conn).await?;
    }
    conn.close().await.ok();
    pool(options, schema, max_connections).await
}

async fn pool(options: PgConnectOptions, schema: &str, max_connections: u32) -> Result<PgPool, Error> {
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
/// runs beside others in `serve all`), a pool on it as the runtime role, the
/// platform's migrations and then the service's own, run as the owner when
/// `database.owner_url` is set ([`open_schema`]). Returns the pool and the
/// schema. `serve` opens the platform's own schema the same way, passing
/// `"platform"` and [`platform_migrations`].
pub async fn open_service(config: &Config, service: &str, migrations: Migrator) -> Result<(PgPool, String), Error> {
    let schema = if config.service == service { config.schema() } else { service.to_string() };
    let owner = config.database.owner_url.as_ref().map(|url| url.expose());
    let pool =
        open_schema(config.database.url.expose(), owner, &schema, config.database.max_connections, Some(migrations))
            .await?;
    Ok((pool, schema))
}

/// `schema` ready for a service: created and migrated (the platform's
/// migrations, then `migrations`) as `owner_url`'s role, the runtime role of
/// `runtime_url` granted its rights ([`grant_runtime`]), and a pool on it as
/// the runtime role. Without `owner_url` the runtime role creates and
/// migrates (development), and a warning says the audit log is unprotected.
pub async fn open_schema(
    runtime_url: &str,
    owner_url: Option<&str>,
    schema: &str,
    max_connections: u32,
    migrations: Option<Migrator>,
) -> Result<PgPool, Error> {
    let Some(owner_url) = owner_url else {
        tracing::warn!(
            schema,
            "database.owner_url is not set: the service's own role owns its tables and could cut the audit log \
             (development only; see docs/security.md)"
        );
        let pool = connect(runtime_url, schema, max_connections).await?;
        migrate(&pool, platform_migrations()).await?;
        if let Some(migrations) = migrations {
            migrate(&pool, migrations).await?;
        }
        return Ok(pool);
    };
    let runtime_options = PgConnectOptions::from_str(runtime_url)
        .map_err(|err| Error::invalid("database.url", err.to_string()))?;
    let runtime_role = runtime_options.get_username().to_string();

    let owner = connect(owner_url, schema, 2).await.map_err(|err| match err {
        Error::InvalidArgument { reason, .. } => Error::invalid("database.owner_url", reason),
        Error::Unavailable(detail) => Error::Unavailable(format!("database.owner_url: {detail}")),
        other => other,
    })?;
    let prepared = async {
        // Before migrating: a runtime role that owns the schema would make
        // the owner's migrations fail with a confusing error.
        check_runtime_role(&mut *owner.acquire().await?, schema, &runtime_role).await?;
        migrate(&owner, platform_migrations()).await?;
        if let Some(migrations) = migrations {
            migrate(&owner, migrations).await?;
        }
        grant_runtime(&owner, schema, &runtime_role).await
    }
    .await;
    owner.close().await;
    prepared?;
    pool(runtime_options, schema, max_connections).await
}

/// Gives the runtime role what a service needs in `schema`, run by the
/// owner after every migration (so tables added since are covered; default
/// privileges cover tables the owner creates later): USAGE on the schema;
/// SELECT, INSERT, UPDATE, DELETE on its tables and use of its sequences;
/// on `audit_log` and `audit_chains` only SELECT, and EXECUTE on
/// `audit_append`. Never TRUNCATE, REFERENCES or TRIGGER, and nothing it
/// could use to rewrite the migration history.
///
/// Refuses roles that would make this pointless: the runtime role being the
/// owner, a member of it, a superuser, allowed to create roles (it could
/// make itself a member), or owning anything in the schema (tables created
/// before the roles were split: reassign them first).
pub async fn grant_runtime(owner: &PgPool, schema: &str, runtime_role: &str) -> Result<(), Error> {
    validate_identifier("database.schema", schema)?;
    let mut tx = owner.begin().await?;
    // Replicas starting together would otherwise race on the catalog
    // ("tuple concurrently updated").
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('yuetan.grants.' || $1))")
        .bind(schema)
        .execute(&mut *tx)
        .await?;
    check_runtime_role(&mut tx, schema, runtime_role).await?;
    let role = quote_identifier(runtime_role);
    let grants = format!(
        "GRANT USAGE ON SCHEMA \"{schema}\" TO {role};
         GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA \"{schema}\" TO {role};
         GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA \"{schema}\" TO {role};
         REVOKE INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER
             ON \"{schema}\".audit_log, \"{schema}\".audit_chains, \"{schema}\"._sqlx_migrations FROM {role};
         GRANT SELECT ON \"{schema}\".audit_log, \"{schema}\".audit_chains TO {role};
         REVOKE ALL ON FUNCTION \"{schema}\".audit_append(TEXT, TEXT, TEXT, TEXT, TEXT, TEXT) FROM PUBLIC;
         GRANT EXECUTE ON FUNCTION \"{schema}\".audit_append(TEXT, TEXT, TEXT, TEXT, TEXT, TEXT) TO {role};
         ALTER DEFAULT PRIVILEGES IN SCHEMA \"{schema}\" GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {role};
         ALTER DEFAULT PRIVILEGES IN SCHEMA \"{schema}\" GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO {role};"
    );
    sqlx::raw_sql(&grants).execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(())
}

/// Refuses a runtime role that could cut the audit log anyway (see
/// [`grant_runtime`]).
async fn check_runtime_role(conn: &mut PgConnection, schema: &str, runtime_role: &str) -> Result<(), Error> {
    let check: Option<(bool, bool, bool, i64)> = sqlx::query_as(
        "SELECT r.rolname = current_user, pg_has_role(r.oid, current_user, 'MEMBER'), r.rolsuper OR r.rolcreaterole,
                (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE n.nspname = $2 AND c.relowner = r.oid)
                + (SELECT count(*) FROM pg_namespace n WHERE n.nspname = $2 AND n.nspowner = r.oid)
         FROM pg_roles r WHERE r.rolname = $1",
    )
    .bind(runtime_role)
    .bind(schema)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((same, member, superuser, owns)) = check else {
        return Err(Error::invalid("database.url", format!("role {runtime_role:?} does not exist")));
    };
    if same || member {
        return Err(Error::invalid(
            "database.url",
            format!("the runtime role {runtime_role:?} is (or acts as) the owner of database.owner_url: use two roles"),
        ));
    }
    if superuser {
        return Err(Error::invalid(
            "database.url",
            format!(
                "the runtime role {runtime_role:?} is a superuser or may create roles: it could rewrite the audit log"
            ),
        ));
    }
    if owns > 0 {
        return Err(Error::invalid(
            "database.url",
            format!(
                "the runtime role {runtime_role:?} owns schema {schema} or objects in it (created before the roles \
                 were split); as a superuser run REASSIGN OWNED BY {runtime_role} TO <owner> in this database"
            ),
        ));
    }
    Ok(())
}

/// `"name"`, with inner quotes doubled: a role name is not ours to trust.
fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
