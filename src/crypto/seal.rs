//! Sealing with age: to a peer's recipients for the wire, to our own recipient at
//! rest. Streams never hold a whole file in memory; the SHA-256 and length of the
//! ciphertext are computed while it is written.

use std::io::{self, Read, Write};

use sha2::{Digest as _, Sha256};

use super::CryptoError;
use super::hash::Digest;

/// Largest plaintext `open_bytes` returns: message bodies are small JSON.
pub const MAX_BODY_PLAINTEXT: u64 = 16 * 1024 * 1024;

fn encryptor(recipients: &[age::x25519::Recipient]) -> Result<age::Encryptor, CryptoError> {
    age::Encryptor::with_recipients(recipients.iter().map(|r| r as &dyn age::Recipient))
        .map_err(|e| CryptoError::Seal(e.to_string()))
}

/// Seals `input` to `recipients`, writing the ciphertext to `output`.
pub fn seal_stream(
    recipients: &[age::x25519::Recipient],
    mut input: impl Read,
    output: impl Write,
) -> Result<Digest, CryptoError> {
    let mut hashing = HashingWriter::new(output);
    let mut writer = encryptor(recipients)?
        .wrap_output(&mut hashing)
        .map_err(|e| CryptoError::Seal(e.to_string()))?;
    io::copy(&mut input, &mut writer).map_err(|e| CryptoError::Seal(e.to_string()))?;
    writer
        .finish()
        .map_err(|e| CryptoError::Seal(e.to_string()))?;
    hashing
        .flush()
        .map_err(|e| CryptoError::Seal(e.to_string()))?;
    Ok(hashing.digest())
}

/// Opens an age stream with `identity`, writing the plaintext to `output`;
/// returns the plaintext length. Fails on any tampering.
pub fn open_stream(
    identity: &[age::x25519::Identity],
    input: impl io::BufRead,
    mut output: impl Write,
) -> Result<u64, CryptoError> {
    let decryptor = age::Decryptor::new_buffered(input).map_err(|_| CryptoError::Open)?;
    let mut reader = decryptor
        .decrypt(identity.iter().map(|i| i as &dyn age::Identity))
        .map_err(|_| CryptoError::Open)?;
    io::copy(&mut reader, &mut output).map_err(|_| CryptoError::Open)
}

pub fn seal_bytes(
    recipients: &[age::x25519::Recipient],
    plaintext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let mut out = Vec::with_capacity(plaintext.len() + 256);
    seal_stream(recipients, plaintext, &mut out)?;
    Ok(out)
}

pub fn open_bytes(
    identity: &[age::x25519::Identity],
    ciphertext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let mut out = Vec::new();
    let limited = LimitedWriter {
        inner: &mut out,
        left: MAX_BODY_PLAINTEXT,
    };
    open_stream(identity, ciphertext, limited)?;
    Ok(out)
}

/// Counts and hashes what passes through to `inner`.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    len: u64,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            len: 0,
        }
    }

    pub fn digest(&self) -> Digest {
        Digest {
            sha256: hex::encode(self.hasher.clone().finalize()),
            len: self.len,
        }
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

struct LimitedWriter<W> {
    inner: W,
    left: u64,
}

impl<W: Write> Write for LimitedWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.len() as u64 > self.left {
            return Err(io::Error::other("plaintext too large"));
        }
        self.left -= buf.len() as u64;
        self.inner.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_and_open_round_trip_and_tampering_fails() {
        let id = age::x25519::Identity::generate();
        let other = age::x25519::Identity::generate();
        let sealed = seal_bytes(&[id.to_public()], b"{\"schema\":\"note/1\"}").unwrap();
        assert_eq!(Digest::of(&sealed).len, sealed.len() as u64);
        assert_eq!(
            open_bytes(std::slice::from_ref(&id), &sealed).unwrap(),
            b"{\"schema\":\"note/1\"}"
        );
        assert!(open_bytes(std::slice::from_ref(&other), &sealed).is_err());
        let mut flipped = sealed.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert!(open_bytes(std::slice::from_ref(&id), &flipped).is_err());
    }

    #[test]
    fn streaming_digest_matches_the_bytes_written() {
        let id = age::x25519::Identity::generate();
        let mut out = Vec::new();
        let digest = seal_stream(&[id.to_public()], &[7u8; 200_000][..], &mut out).unwrap();
        assert_eq!(digest, Digest::of(&out));
    }
}
