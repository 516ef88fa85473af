//! Bounds on what a layer may cost us, and the readers that enforce them.
//!
//! A small compressed blob can expand without bound (a decompression bomb). Each layer is
//! read through a guard that compares the bytes coming out of the decompressor with the bytes
//! that went in, and stops the stream once the ratio or the absolute size passes the limit.

use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

/// Limits applied while streaming layers.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest uncompressed layer accepted.
    pub max_layer_bytes: u64,
    /// Largest ratio of uncompressed to compressed bytes, once past `ratio_slack` bytes.
    pub max_ratio: u64,
    /// Uncompressed bytes always allowed before the ratio is enforced.
    pub ratio_slack: u64,
    /// Largest package database or manifest file held in memory.
    pub max_metadata_file: u64,
    /// Largest ELF binary held in memory to look inside; larger ones are only hashed.
    pub max_probed_binary: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_layer_bytes: 64 << 30,
            max_ratio: 250,
            ratio_slack: 16 << 20,
            max_metadata_file: 64 << 20,
            max_probed_binary: 1 << 30,
        }
    }
}

#[derive(Debug)]
struct TallyState {
    bytes: u64,
    hasher: Option<Sha256>,
}

/// Byte count and digest of a stream, shared with whoever reads through it.
#[derive(Debug, Clone)]
pub struct Tally(Arc<Mutex<TallyState>>);

impl Tally {
    fn new(hash: bool) -> Self {
        Tally(Arc::new(Mutex::new(TallyState {
            bytes: 0,
            hasher: hash.then(Sha256::new),
        })))
    }

    fn add(&self, data: &[u8]) {
        let mut state = self.0.lock().unwrap_or_else(|p| p.into_inner());
        state.bytes += data.len() as u64;
        if let Some(h) = state.hasher.as_mut() {
            h.update(data);
        }
    }

    pub fn bytes(&self) -> u64 {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).bytes
    }

    /// Stops hashing, when the digest turns out not to be needed.
    pub fn stop_hashing(&self) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).hasher = None;
    }

    /// Hex digest of everything read so far.
    pub fn finish_hash(&self) -> String {
        let state = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let digest = state
            .hasher
            .clone()
            .map(|h| h.finalize())
            .unwrap_or_default();
        super::layer::hex(&digest)
    }
}

/// Passes bytes through while counting and optionally hashing them.
#[derive(Debug)]
pub struct CountingReader<R> {
    inner: R,
    tally: Tally,
}

impl<R: Read> CountingReader<R> {
    pub fn new(inner: R, hash: bool) -> Self {
        CountingReader {
            inner,
            tally: Tally::new(hash),
        }
    }

    pub fn tally(&self) -> Tally {
        self.tally.clone()
    }
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.tally.add(&buf[..n]);
        Ok(n)
    }
}

/// Fails the stream once decompressed output outgrows its compressed input.
pub struct RatioGuard<R> {
    inner: R,
    compressed: Tally,
    produced: u64,
    limits: Limits,
    tripped: Arc<AtomicBool>,
}

impl<R> std::fmt::Debug for RatioGuard<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RatioGuard")
            .field("produced", &self.produced)
            .finish()
    }
}

impl<R: Read> RatioGuard<R> {
    pub fn new(inner: R, compressed: Tally, limits: Limits) -> Self {
        RatioGuard {
            inner,
            compressed,
            produced: 0,
            limits,
            tripped: Arc::default(),
        }
    }

    /// Set once the guard has refused the stream; errors seen later are its consequence.
    pub fn tripped(&self) -> Arc<AtomicBool> {
        self.tripped.clone()
    }
}

impl<R: Read> Read for RatioGuard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.produced += n as u64;
        let allowed = self
            .compressed
            .bytes()
            .saturating_mul(self.limits.max_ratio)
            .saturating_add(self.limits.ratio_slack)
            .min(self.limits.max_layer_bytes);
        if self.produced > allowed {
            self.tripped.store(true, Ordering::Relaxed);
            return Err(io::Error::other("decompressed size limit exceeded"));
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guard_stops_a_stream_that_expands_too_far() {
        let compressed = Tally::new(false);
        compressed.add(&[0; 10]);
        let limits = Limits {
            max_ratio: 2,
            ratio_slack: 0,
            ..Limits::default()
        };
        let mut guard = RatioGuard::new(io::repeat(0).take(100), compressed, limits);
        let tripped = guard.tripped();
        assert!(io::copy(&mut guard, &mut io::sink()).is_err());
        assert!(tripped.load(Ordering::Relaxed));
    }

    #[test]
    fn counting_reader_hashes_what_passes() {
        let mut r = CountingReader::new(&b"abc"[..], true);
        io::copy(&mut r, &mut io::sink()).unwrap();
        assert_eq!(r.tally().bytes(), 3);
        assert_eq!(
            r.tally().finish_hash(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
