//! Sealed attachments: age ciphertexts in an object store (a local folder by
//! default), each named by the SHA-256 of its bytes. Writes are staged in a local
//! file while hashed, and only enter the store under their name once the hash and
//! length are known, so a partial or wrong upload is never visible.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use object_store::local::LocalFileSystem;
use object_store::path::Path as StorePath;
use object_store::{GetResultPayload, ObjectStore, ObjectStoreExt, WriteMultipart};
use tokio::io::AsyncReadExt;

use crate::crypto::seal::{HashingWriter, open_stream, seal_stream};
use crate::domain::is_sha256_hex;
use crate::protocol::envelope::Digest;

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("blob larger than {0} bytes")]
    TooLarge(u64),
    #[error("blob bytes do not match the name or length given")]
    Mismatch,
    #[error("no such blob")]
    NotFound,
    #[error("blob store: {0}")]
    Store(String),
    #[error("blob I/O: {0}")]
    Io(String),
    #[error(transparent)]
    Crypto(#[from] crate::crypto::CryptoError),
}

fn store_err(e: object_store::Error) -> BlobError {
    match e {
        object_store::Error::NotFound { .. } => BlobError::NotFound,
        e => BlobError::Store(e.to_string()),
    }
}

fn io_err(e: std::io::Error) -> BlobError {
    BlobError::Io(e.to_string())
}

/// Removes a staged file when dropped (once committed it is gone already).
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[derive(Clone, Debug)]
pub struct Blobs {
    store: Arc<dyn ObjectStore>,
    staging: PathBuf,
    /// The folder behind a local store: a staged file then enters the store by a
    /// rename on the same file system, with no copy.
    local_root: Option<PathBuf>,
}

impl Blobs {
    /// The default store: `DATA/blobs/`, staging in `DATA/staging/`.
    pub fn local(data_dir: &Path) -> Result<Self, BlobError> {
        let root = data_dir.join("blobs");
        let staging = data_dir.join("staging");
        for dir in [&root, &staging] {
            std::fs::create_dir_all(dir).map_err(io_err)?;
        }
        // Leftovers of an interrupted upload are never referenced.
        if let Ok(entries) = std::fs::read_dir(&staging) {
            for entry in entries.flatten() {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        let store = LocalFileSystem::new_with_prefix(&root).map_err(store_err)?;
        Ok(Self {
            store: Arc::new(store),
            staging,
            local_root: Some(root),
        })
    }

    fn key(sha256: &str) -> StorePath {
        StorePath::from(format!("sha256/{}/{sha256}", &sha256[..2]))
    }

    /// The stored length of a blob, if present.
    pub async fn len(&self, sha256: &str) -> Result<Option<u64>, BlobError> {
        if !is_sha256_hex(sha256) {
            return Ok(None);
        }
        match self.store.head(&Self::key(sha256)).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(store_err(e)),
        }
    }

    /// Deletes a blob (retention). Deleting one that is not there succeeds.
    pub async fn delete(&self, sha256: &str) -> Result<(), BlobError> {
        if !is_sha256_hex(sha256) {
            return Ok(());
        }
        match self.store.delete(&Self::key(sha256)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(store_err(e)),
        }
    }

    fn staging_path(&self) -> PathBuf {
        self.staging.join(uuid::Uuid::new_v4().simple().to_string())
    }

    /// Moves a staged file into the store under its digest (idempotent).
    async fn commit(&self, staged: &Path, digest: &Digest) -> Result<(), BlobError> {
        let result = async {
            if self.len(&digest.sha256).await? == Some(digest.len) {
                return Ok(());
            }
            if let Some(root) = &self.local_root {
                // The same layout LocalFileSystem reads: ROOT/sha256/ab/<sha256>.
                let dest = root
                    .join("sha256")
                    .join(&digest.sha256[..2])
                    .join(&digest.sha256);
                if let Some(parent) = dest.parent() {
                    tokio::fs::create_dir_all(parent).await.map_err(io_err)?;
                }
                let file = tokio::fs::File::open(staged).await.map_err(io_err)?;
                file.sync_all().await.map_err(io_err)?;
                return tokio::fs::rename(staged, &dest).await.map_err(io_err);
            }
            let upload = self
                .store
                .put_multipart(&Self::key(&digest.sha256))
                .await
                .map_err(store_err)?;
            let mut writer = WriteMultipart::new(upload);
            let mut file = tokio::fs::File::open(staged).await.map_err(io_err)?;
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n = file.read(&mut buf).await.map_err(io_err)?;
                if n == 0 {
                    break;
                }
                writer.wait_for_capacity(2).await.map_err(store_err)?;
                writer.write(&buf[..n]);
            }
            writer.finish().await.map_err(store_err)?;
            Ok(())
        }
        .await;
        let _ = tokio::fs::remove_file(staged).await;
        result
    }

    /// Receives a blob named `sha256` from a stream: at most `max` bytes, stored
    /// only if the bytes hash to the name.
    pub async fn receive<S, E>(
        &self,
        sha256: &str,
        mut body: S,
        max: u64,
    ) -> Result<Digest, BlobError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        if !is_sha256_hex(sha256) {
            return Err(BlobError::Mismatch);
        }
        let staged = self.staging_path();
        // Removed however this ends, a dropped upload included.
        let _remove = RemoveOnDrop(staged.clone());
        let written = async {
            let file = std::fs::File::create(&staged).map_err(io_err)?;
            let mut hashing = HashingWriter::new(std::io::BufWriter::new(file));
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| BlobError::Io(e.to_string()))?;
                if hashing.digest().len + chunk.len() as u64 > max {
                    return Err(BlobError::TooLarge(max));
                }
                hashing.write_all(&chunk).map_err(io_err)?;
            }
            hashing.flush().map_err(io_err)?;
            Ok(hashing.digest())
        }
        .await;
        let digest = match written {
            Ok(d) if d.sha256 == sha256 => d,
            Ok(_) => {
                Err(BlobError::Mismatch).inspect_err(|_| drop(std::fs::remove_file(&staged)))?
            }
            Err(e) => {
                let _ = std::fs::remove_file(&staged);
                return Err(e);
            }
        };
        self.commit(&staged, &digest).await?;
        Ok(digest)
    }

    /// Seals a plaintext file to `recipients` and stores the ciphertext.
    pub async fn seal_file(
        &self,
        recipients: &[age::x25519::Recipient],
        plaintext: &Path,
    ) -> Result<Digest, BlobError> {
        let staged = self.staging_path();
        let (input, output, recipients) =
            (plaintext.to_owned(), staged.clone(), recipients.to_vec());
        let digest = tokio::task::spawn_blocking(move || -> Result<Digest, BlobError> {
            let input = std::io::BufReader::new(std::fs::File::open(&input).map_err(io_err)?);
            let output = std::io::BufWriter::new(std::fs::File::create(&output).map_err(io_err)?);
            Ok(seal_stream(&recipients, input, output)?)
        })
        .await
        .map_err(|e| BlobError::Io(e.to_string()))?;
        match digest {
            Ok(digest) => {
                self.commit(&staged, &digest).await?;
                Ok(digest)
            }
            Err(e) => {
                let _ = std::fs::remove_file(&staged);
                Err(e)
            }
        }
    }

    /// Seals what `plaintext` yields (at most `max` bytes) to `recipients` and stores
    /// the ciphertext; returns the blob and the plaintext's size. The plaintext is
    /// never written anywhere.
    pub async fn seal_reader<R>(
        &self,
        recipients: &[age::x25519::Recipient],
        plaintext: R,
        max: u64,
    ) -> Result<(Digest, u64), BlobError>
    where
        R: tokio::io::AsyncRead + Unpin + Send + 'static,
    {
        let staged = self.staging_path();
        let (output, recipients) = (staged.clone(), recipients.to_vec());
        let sealed = tokio::task::spawn_blocking(move || -> Result<(Digest, u64), BlobError> {
            let input = std::io::Read::take(tokio_util::io::SyncIoBridge::new(plaintext), max + 1);
            let mut counted = CountingReader {
                inner: input,
                count: 0,
            };
            let output = std::io::BufWriter::new(std::fs::File::create(&output).map_err(io_err)?);
            let digest = seal_stream(&recipients, &mut counted, output)?;
            if counted.count > max {
                return Err(BlobError::TooLarge(max));
            }
            Ok((digest, counted.count))
        })
        .await
        .map_err(|e| BlobError::Io(e.to_string()))?;
        let size = sealed.as_ref().map(|(_, size)| *size).unwrap_or(0);
        let digest = self.commit_or_drop(&staged, sealed.map(|(d, _)| d)).await?;
        Ok((digest, size))
    }

    /// Opens a stored blob with `identity` and seals it again to `recipients` (our
    /// attachment, sent to a peer), streaming. Returns the new blob.
    pub async fn reseal(
        &self,
        sha256: &str,
        identity: &[age::x25519::Identity],
        recipients: &[age::x25519::Recipient],
    ) -> Result<Digest, BlobError> {
        let (file, downloaded) = self.local_file(sha256).await?;
        let staged = self.staging_path();
        let (identity, output, recipients) =
            (identity.to_vec(), staged.clone(), recipients.to_vec());
        let digest = tokio::task::spawn_blocking(move || -> Result<Digest, BlobError> {
            let decryptor = age::Decryptor::new_buffered(std::io::BufReader::new(file))
                .map_err(|_| BlobError::Crypto(crate::crypto::CryptoError::Open))?;
            let plaintext = decryptor
                .decrypt(identity.iter().map(|i| i as &dyn age::Identity))
                .map_err(|_| BlobError::Crypto(crate::crypto::CryptoError::Open))?;
            let output = std::io::BufWriter::new(std::fs::File::create(&output).map_err(io_err)?);
            Ok(seal_stream(&recipients, plaintext, output)?)
        })
        .await
        .map_err(|e| BlobError::Io(e.to_string()))?;
        if let Some(d) = downloaded {
            let _ = std::fs::remove_file(d);
        }
        self.commit_or_drop(&staged, digest).await
    }

    async fn commit_or_drop(
        &self,
        staged: &Path,
        digest: Result<Digest, BlobError>,
    ) -> Result<Digest, BlobError> {
        match digest {
            Ok(digest) => {
                self.commit(staged, &digest).await?;
                Ok(digest)
            }
            Err(e) => {
                let _ = std::fs::remove_file(staged);
                Err(e)
            }
        }
    }

    /// Opens a stored blob with `identity` to nowhere: whether it opens whole (its
    /// bytes are as sealed and the key is right), and the plaintext's size. A
    /// download checks this first, so a damaged blob is an error before any byte
    /// is sent rather than a short file.
    pub async fn verify_opens(
        &self,
        sha256: &str,
        identity: &[age::x25519::Identity],
    ) -> Result<u64, BlobError> {
        let (file, downloaded) = self.local_file(sha256).await?;
        let identity = identity.to_vec();
        let opened = tokio::task::spawn_blocking(move || {
            open_stream(&identity, std::io::BufReader::new(file), std::io::sink())
        })
        .await
        .map_err(|e| BlobError::Io(e.to_string()))?;
        if let Some(d) = downloaded {
            let _ = std::fs::remove_file(d);
        }
        Ok(opened?)
    }

    /// The plaintext of a stored blob as a stream, opened with `identity` as it is
    /// read (for a download): no plaintext is written anywhere. A failure midway
    /// ends the stream with an error (the response is cut, never a short file
    /// that looks whole).
    pub async fn open_stream(
        &self,
        sha256: &str,
        identity: &[age::x25519::Identity],
    ) -> Result<OpenedStream, BlobError> {
        let (file, downloaded) = self.local_file(sha256).await?;
        let identity = identity.to_vec();
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
        tokio::task::spawn_blocking(move || {
            let output = ChannelWriter { tx: tx.clone() };
            let output = std::io::BufWriter::with_capacity(64 * 1024, output);
            if let Err(e) = open_stream(&identity, std::io::BufReader::new(file), output) {
                tracing::warn!(error = %e, "a blob could not be opened while streaming");
                let _ = tx.blocking_send(Err(std::io::Error::other("the blob did not open")));
            }
            if let Some(d) = downloaded {
                let _ = std::fs::remove_file(d);
            }
        });
        Ok(Box::pin(futures_util::stream::unfold(
            rx,
            |mut rx| async move { rx.recv().await.map(|item| (item, rx)) },
        )))
    }

    /// Opens a stored blob with `identity` into the file `out`; returns its length.
    pub async fn open_to_file(
        &self,
        sha256: &str,
        identity: &[age::x25519::Identity],
        out: &Path,
    ) -> Result<u64, BlobError> {
        let (file, staged) = self.local_file(sha256).await?;
        let (identity, out) = (identity.to_vec(), out.to_owned());
        let result = tokio::task::spawn_blocking(move || -> Result<u64, BlobError> {
            let input = std::io::BufReader::new(file);
            let output = std::io::BufWriter::new(std::fs::File::create(&out).map_err(io_err)?);
            Ok(open_stream(&identity, input, output)?)
        })
        .await
        .map_err(|e| BlobError::Io(e.to_string()))?;
        if let Some(staged) = staged {
            let _ = std::fs::remove_file(staged);
        }
        result
    }

    /// A readable file of the blob: the stored file itself for a local store, else
    /// a staged download (returned so the caller removes it).
    async fn local_file(
        &self,
        sha256: &str,
    ) -> Result<(std::fs::File, Option<PathBuf>), BlobError> {
        if !is_sha256_hex(sha256) {
            return Err(BlobError::NotFound);
        }
        let got = self
            .store
            .get(&Self::key(sha256))
            .await
            .map_err(store_err)?;
        match got.payload {
            GetResultPayload::File(file, _) => Ok((file, None)),
            GetResultPayload::Stream(mut stream) => {
                let staged = self.staging_path();
                let mut file = std::fs::File::create(&staged).map_err(io_err)?;
                while let Some(chunk) = stream.next().await {
                    file.write_all(&chunk.map_err(store_err)?).map_err(io_err)?;
                }
                Ok((std::fs::File::open(&staged).map_err(io_err)?, Some(staged)))
            }
        }
    }

    /// The blob's bytes as a stream, for sending.
    pub async fn stream(
        &self,
        sha256: &str,
    ) -> Result<impl Stream<Item = Result<Bytes, BlobError>> + Send + 'static, BlobError> {
        if !is_sha256_hex(sha256) {
            return Err(BlobError::NotFound);
        }
        let got = self
            .store
            .get(&Self::key(sha256))
            .await
            .map_err(store_err)?;
        Ok(got.into_stream().map(|r| r.map_err(store_err)))
    }
}

/// The plaintext of a blob as it is opened, a chunk at a time.
pub type OpenedStream =
    std::pin::Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static>>;

/// Sends what is written to it down a channel, for a stream to yield.
struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
}

impl std::io::Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.tx
            .blocking_send(Ok(Bytes::copy_from_slice(buf)))
            .map_err(|_| std::io::Error::other("the reader went away"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Counts the bytes read through it.
struct CountingReader<R> {
    inner: R,
    count: u64,
}

impl<R: std::io::Read> std::io::Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}
