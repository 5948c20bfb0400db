//! File storage through `object_store`: a local directory by default (in-memory in tests).
//! Files are content-addressed by SHA-256 (`sha256/ab/cd/<hex>`), never under `static/`,
//! and are served only by handlers that check the caller's scope first.

use std::sync::Arc;

use bytes::Bytes;
use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use crate::config::ObjectStoreConfig;
use crate::web::token::sha256_hex;

/// Why a file operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// No file under that key.
    #[error("file not found")]
    NotFound,
    /// The stored bytes no longer match their hash.
    #[error("stored file {0} does not match its SHA-256")]
    Corrupt(String),
    /// The store failed.
    #[error("file storage: {0}")]
    Backend(String),
}

/// The configured store.
#[derive(Clone)]
pub struct FileStore {
    inner: Arc<dyn ObjectStore>,
}

impl std::fmt::Debug for FileStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FileStore({})", self.inner)
    }
}

impl FileStore {
    /// Opens the store described by the configuration (creating a local directory if needed).
    pub fn open(cfg: &ObjectStoreConfig) -> Result<Self, StorageError> {
        let inner: Arc<dyn ObjectStore> = match cfg {
            ObjectStoreConfig::Memory => Arc::new(object_store::memory::InMemory::new()),
            ObjectStoreConfig::Local(dir) => {
                std::fs::create_dir_all(dir)
                    .map_err(|e| StorageError::Backend(format!("cannot create {}: {e}", dir.display())))?;
                Arc::new(
                    object_store::local::LocalFileSystem::new_with_prefix(dir)
                        .map_err(|e| StorageError::Backend(e.to_string()))?,
                )
            }
        };
        Ok(Self { inner })
    }

    fn path_for(hash: &str) -> Result<ObjPath, StorageError> {
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(StorageError::NotFound);
        }
        Ok(ObjPath::from(format!("sha256/{}/{}/{}", &hash[..2], &hash[2..4], hash)))
    }

    /// Stores `bytes` and returns their SHA-256 (hex), which is the key to read them back.
    /// Storing the same bytes twice is a no-op that returns the same key.
    pub async fn put(&self, bytes: Bytes) -> Result<String, StorageError> {
        let hash = sha256_hex(&bytes);
        let path = Self::path_for(&hash)?;
        if self.inner.head(&path).await.is_ok() {
            return Ok(hash);
        }
        self.inner
            .put(&path, PutPayload::from_bytes(bytes))
            .await
            .map_err(|e| StorageError::Backend(e.to_string()))?;
        Ok(hash)
    }

    /// Reads the file with this SHA-256, verifying the bytes still match it.
    pub async fn get(&self, hash: &str) -> Result<Bytes, StorageError> {
        let path = Self::path_for(hash)?;
        let got = self.inner.get(&path).await.map_err(|e| match e {
            object_store::Error::NotFound { .. } => StorageError::NotFound,
            other => StorageError::Backend(other.to_string()),
        })?;
        let bytes = got.bytes().await.map_err(|e| StorageError::Backend(e.to_string()))?;
        if sha256_hex(&bytes) != hash {
            return Err(StorageError::Corrupt(hash.to_string()));
        }
        Ok(bytes)
    }

    /// True when a file with this hash is stored.
    pub async fn exists(&self, hash: &str) -> bool {
        match Self::path_for(hash) {
            Ok(p) => self.inner.head(&p).await.is_ok(),
            Err(_) => false,
        }
    }
}

impl FileStore {
    /// Every stored file: its SHA-256 key, size and last-modified time. Anything under the
    /// store that is not a content-addressed file (a crashed write's staging file) is listed
    /// with an empty key and its raw location, so a sweep can remove it too.
    pub async fn list(&self) -> Result<Vec<StoredFile>, StorageError> {
        use futures_util::StreamExt;
        let mut out = Vec::new();
        let mut stream = self.inner.list(None);
        while let Some(meta) = stream.next().await {
            let meta = meta.map_err(|e| StorageError::Backend(e.to_string()))?;
            let location = meta.location.to_string();
            let name = location.rsplit('/').next().unwrap_or_default();
            let key = match Self::path_for(name) {
                Ok(p) if p == meta.location => name.to_string(),
                _ => String::new(),
            };
            out.push(StoredFile { key, location, size: meta.size, modified: meta.last_modified });
        }
        Ok(out)
    }

    /// Deletes one listed file.
    pub async fn delete(&self, file: &StoredFile) -> Result<(), StorageError> {
        let path = ObjPath::from(file.location.as_str());
        match self.inner.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(StorageError::Backend(e.to_string())),
        }
    }
}

/// One file found by [`FileStore::list`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFile {
    /// The SHA-256 key, or empty for something that is not a content-addressed file.
    pub key: String,
    /// Where it is in the store.
    pub location: String,
    pub size: u64,
    pub modified: chrono::DateTime<chrono::Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn content_addressed_round_trip() -> Result<(), StorageError> {
        let s = FileStore::open(&ObjectStoreConfig::Memory)?;
        let k = s.put(Bytes::from_static(b"%PDF-1.7 hello")).await?;
        assert_eq!(k, sha256_hex(b"%PDF-1.7 hello"));
        assert_eq!(s.put(Bytes::from_static(b"%PDF-1.7 hello")).await?, k);
        assert_eq!(&s.get(&k).await?[..], b"%PDF-1.7 hello");
        assert!(matches!(s.get("../etc/passwd").await, Err(StorageError::NotFound)));
        assert!(matches!(s.get(&"0".repeat(64)).await, Err(StorageError::NotFound)));
        let listed = s.list().await?;
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].key, k);
        s.delete(&listed[0]).await?;
        assert!(!s.exists(&k).await);
        Ok(())
    }
}
