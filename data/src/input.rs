//! Reading a binary file, raw or gzip-compressed (told apart by the magic
//! bytes `1f 8b`, not by the name), while counting the offset so that every
//! error can say where in the file it is.

use crate::error::{DataError, Result};
use flate2::read::MultiGzDecoder;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Bytes reserved up front for one read; larger reads grow as data arrives,
/// so a corrupt header that claims a huge size cannot allocate it.
const MAX_RESERVE: u64 = 256 << 20;

/// A file being read from the front, decompressed if it is gzip.
pub(crate) struct Input {
    path: PathBuf,
    gz: bool,
    reader: Box<dyn Read>,
    /// Bytes consumed so far (decompressed bytes for gzip).
    offset: u64,
    /// The file's length on disk: bounds what one read reserves up front.
    len: u64,
}

impl Input {
    /// Open `path`, detecting gzip by its magic bytes.
    pub(crate) fn open(path: &Path) -> Result<Input> {
        let io = |e| DataError::io(path, e);
        let mut file = File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        let mut magic = [0u8; 2];
        let gz = len >= 2 && {
            file.read_exact(&mut magic).map_err(io)?;
            file.seek(SeekFrom::Start(0)).map_err(io)?;
            magic == [0x1f, 0x8b]
        };
        let buffered = BufReader::with_capacity(1 << 20, file);
        let reader: Box<dyn Read> = if gz {
            Box::new(MultiGzDecoder::new(buffered))
        } else {
            Box::new(buffered)
        };
        Ok(Input {
            path: path.to_path_buf(),
            gz,
            reader,
            offset: 0,
            len,
        })
    }

    /// A [`DataError::Corrupt`] at `offset` of this file.
    pub(crate) fn corrupt(&self, offset: u64, reason: impl Into<String>) -> DataError {
        DataError::Corrupt {
            path: self.path.clone(),
            offset,
            decompressed: self.gz,
            reason: reason.into(),
        }
    }

    /// Read exactly `n` bytes, `what` naming them for the error if the file
    /// ends first.
    pub(crate) fn read(&mut self, n: u64, what: &str) -> Result<Vec<u8>> {
        let start = self.offset;
        let buf = self.read_up_to(n)?;
        if (buf.len() as u64) < n {
            return Err(self.corrupt(
                self.offset,
                format!("file ends here, but the {what} starting at byte {start} needs {n} bytes"),
            ));
        }
        Ok(buf)
    }

    /// Read a big-endian u32 (IDX header fields).
    pub(crate) fn read_u32_be(&mut self, what: &str) -> Result<u32> {
        let b = self.read(4, what)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// Read everything that is left.
    pub(crate) fn read_rest(&mut self) -> Result<Vec<u8>> {
        self.read_up_to(u64::MAX)
    }

    /// Check that nothing follows (for gzip this also checks the CRC).
    pub(crate) fn expect_end(&mut self, what: &str) -> Result<()> {
        let extra = self.read_up_to(1)?;
        if extra.is_empty() {
            Ok(())
        } else {
            Err(self.corrupt(self.offset - 1, format!("unexpected data after the {what}")))
        }
    }

    fn read_up_to(&mut self, n: u64) -> Result<Vec<u8>> {
        // Raw: what is left of the file. Gzip: a generous guess at the
        // decompressed size; the buffer still grows past it if need be.
        let bound = if self.gz {
            self.len.saturating_mul(8)
        } else {
            self.len.saturating_sub(self.offset)
        };
        let mut buf = Vec::with_capacity(n.min(bound).min(MAX_RESERVE) as usize);
        let result = (&mut self.reader).take(n).read_to_end(&mut buf);
        // On error `buf` keeps what was read, so the offset stays exact.
        self.offset += buf.len() as u64;
        match result {
            Ok(_) => Ok(buf),
            Err(e) if self.gz => Err(self.corrupt(self.offset, format!("cannot decompress: {e}"))),
            Err(e) => Err(DataError::io(&self.path, e)),
        }
    }
}
