//! Object storage for evidence, recordings and rendered documents
//! (ARCHITECTURE §1), through the `object_store` crate: a local folder by
//! default, any S3-compatible store (MinIO, a provincial cloud) when
//! `[objects.s3]` is configured.
//!
//! Objects are content-addressed: the key is the hex SHA-256 of the bytes
//! (`sha256/ab/cdef…`), so storing the same file twice stores it once, a
//! reference can be checked against the bytes it names, and a crash between
//! the upload and the database row that cites it leaves at most an
//! unreferenced object, never a reference to a missing or different one.

use std::path::PathBuf;
use std::sync::Arc;

use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::secret::Secret;
use crate::error::Error;

/// `[objects]` configuration.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct ObjectsConfig {
    /// Folder of the local store (created if missing); used when `s3` is absent.
    pub root: PathBuf,
    /// An S3-compatible store instead of the folder.
    pub s3: Option<S3Config>,
    /// Largest object accepted, in bytes.
    pub max_object_bytes: usize,
}

impl Default for ObjectsConfig {
    fn default() -> Self {
        Self { root: PathBuf::from("var/objects"), s3: None, max_object_bytes: 64 * 1024 * 1024 }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct S3Config {
    pub bucket: String,
    /// e.g. `https://oss.example.gov.cn`; empty for AWS itself.
    #[serde(default)]
    pub endpoint: String,
    #[serde(default)]
    pub region: String,
    pub access_key_id: Secret,
    pub secret_access_key: Secret,
    /// Plain HTTP endpoints (a MinIO on the local network).
    #[serde(default)]
    pub allow_http: bool,
}

/// A content-addressed object store.
#[derive(Debug, Clone)]
pub struct Objects {
    store: Arc<dyn ObjectStore>,
    max_object_bytes: usize,
}

/// What [`Objects::put`] stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// Hex SHA-256 of the content.
    pub sha256: String,
    pub size: u64,
}

impl Objects {
    pub fn new(config: &ObjectsConfig) -> Result<Objects, Error> {
        let store: Arc<dyn ObjectStore> = match &config.s3 {
            Some(s3) => {
                let mut builder = AmazonS3Builder::new()
                    .with_bucket_name(&s3.bucket)
                    .with_access_key_id(s3.access_key_id.expose())
                    .with_secret_access_key(s3.secret_access_key.expose())
                    .with_allow_http(s3.allow_http);
                if !s3.endpoint.is_empty() {
                    builder = builder.with_endpoint(&s3.endpoint);
                }
                if !s3.region.is_empty() {
                    builder = builder.with_region(&s3.region);
                }
                Arc::new(builder.build().map_err(|err| Error::invalid("objects.s3", err.to_string()))?)
            }
            None => {
                std::fs::create_dir_all(&config.root).map_err(|err| {
                    Error::Unavailable(format!("creating object folder {}: {err}", config.root.display()))
                })?;
                Arc::new(
                    LocalFileSystem::new_with_prefix(&config.root)
                        .map_err(|err| Error::invalid("objects.root", err.to_string()))?,
                )
            }
        };
        Ok(Objects { store, max_object_bytes: config.max_object_bytes })
    }

    /// The key of a SHA-256 (hex, 64 lowercase characters).
    fn key(sha256: &str) -> Result<ObjectPath, Error> {
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            return Err(Error::invalid("sha256", format!("{sha256:?} is not a lowercase hex SHA-256")));
        }
        Ok(ObjectPath::from(format!("sha256/{}/{}", &sha256[..2], sha256)))
    }

    /// Stores `content` under its SHA-256 and returns the address.
    pub async fn put(&self, content: Vec<u8>) -> Result<Stored, Error> {
        if content.is_empty() {
            return Err(Error::invalid("content", "an empty file is not evidence"));
        }
        if content.len() > self.max_object_bytes {
            return Err(Error::invalid(
                "content",
                format!("{} bytes is more than the {} allowed", content.len(), self.max_object_bytes),
            ));
        }
        let sha256 = hex::encode(Sha256::digest(&content));
        let size = content.len() as u64;
        let key = Self::key(&sha256)?;
        if !self.exists(&sha256).await? {
            self.store
                .put(&key, PutPayload::from(content))
                .await
                .map_err(|err| store_failed("put", &err))?;
        }
        Ok(Stored { sha256, size })
    }

    /// Whether the object is stored, and its size.
    pub async fn size_of(&self, sha256: &str) -> Result<Option<u64>, Error> {
        match self.store.head(&Self::key(sha256)?).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(err) => Err(store_failed("head", &err)),
        }
    }

    pub async fn exists(&self, sha256: &str) -> Result<bool, Error> {
        Ok(self.size_of(sha256).await?.is_some())
    }

    /// Deletes an object (R-DOC-4: a destroyed file's documents); deleting
    /// one that is not there is not an error.
    pub async fn delete(&self, sha256: &str) -> Result<(), Error> {
        match self.store.delete(&Self::key(sha256)?).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(err) => Err(store_failed("delete", &err)),
        }
    }

    /// The bytes of an object, checked against their address.
    pub async fn get(&self, sha256: &str) -> Result<Vec<u8>, Error> {
        let result = match self.store.get(&Self::key(sha256)?).await {
            Ok(result) => result,
            Err(object_store::Error::NotFound { .. }) => return Err(Error::NotFound(format!("object {sha256}"))),
            Err(err) => return Err(store_failed("get", &err)),
        };
        let bytes = result.bytes().await.map_err(|err| store_failed("read", &err))?;
        if hex::encode(Sha256::digest(&bytes)) != sha256 {
            return Err(Error::Internal(format!("object {sha256} does not match its address")));
        }
        Ok(bytes.to_vec())
    }
}

/// A failure of the store itself. Its text names server paths, buckets or
/// endpoints: it goes to the log, and the caller (and so the client) gets
/// only that the store is unavailable.
fn store_failed(operation: &str, err: &object_store::Error) -> Error {
    tracing::error!(operation, error = %err, "object store failed");
    Error::Unavailable("object store unavailable".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn content_is_stored_once_under_its_sha256_and_read_back_checked() {
        let dir = tempfile::tempdir().unwrap();
        let objects = Objects::new(&ObjectsConfig { root: dir.path().to_path_buf(), ..ObjectsConfig::default() }).unwrap();
        let stored = objects.put(b"inspection record".to_vec()).await.unwrap();
        assert_eq!(stored.sha256, hex::encode(Sha256::digest(b"inspection record")));
        assert_eq!(objects.put(b"inspection record".to_vec()).await.unwrap(), stored);
        assert_eq!(objects.get(&stored.sha256).await.unwrap(), b"inspection record");
        assert_eq!(objects.size_of(&stored.sha256).await.unwrap(), Some(17));
        let file = dir.path().join("sha256").join(&stored.sha256[..2]).join(&stored.sha256);
        assert!(file.exists(), "stored as a file in the folder");

        std::fs::write(&file, b"altered").unwrap();
        assert!(matches!(objects.get(&stored.sha256).await, Err(Error::Internal(_))), "tampering is detected");
        assert!(!objects.exists(&"0".repeat(64)).await.unwrap());
        assert!(matches!(objects.put(Vec::new()).await, Err(Error::InvalidArgument { .. })));
        assert!(matches!(objects.exists("not-a-hash").await, Err(Error::InvalidArgument { .. })));

        objects.delete(&stored.sha256).await.unwrap();
        assert!(!objects.exists(&stored.sha256).await.unwrap(), "deleted");
        objects.delete(&stored.sha256).await.expect("deleting what is gone is not an error");
    }

    #[tokio::test]
    async fn a_failing_store_tells_the_client_nothing_of_its_paths() {
        let dir = tempfile::tempdir().unwrap();
        let objects = Objects::new(&ObjectsConfig { root: dir.path().to_path_buf(), ..ObjectsConfig::default() }).unwrap();
        // A file where the store's folder should be: every write fails.
        std::fs::write(dir.path().join("sha256"), b"in the way").unwrap();
        let err = objects.put(b"inspection record".to_vec()).await.unwrap_err();
        assert!(matches!(err, Error::Unavailable(_)), "{err}");
        let status = tonic::Status::from(err);
        let root = dir.path().display().to_string();
        assert!(!status.message().contains(&root), "{}", status.message());
        assert!(!status.message().contains("sha256/"), "{}", status.message());
        assert_eq!(status.message(), "unavailable: object store unavailable");
    }
}
