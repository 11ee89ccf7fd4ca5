//! One entry on disk: a 16-byte header (payload length, record count, flags, CRC-32 of the
//! rest) and the payload. A reader trusts nothing it has not checked: a short read is a
//! truncated tail, a bad checksum or an absurd length is corruption, and neither panics.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

/// Bytes before the payload.
pub(crate) const HEADER: u64 = 16;
/// The records may have reached the server already (the entry was in flight when it was
/// spooled): delivering it again is counted as `resent`.
pub(crate) const MAYBE_SENT: u32 = 1;
/// No batch the pipeline makes comes near this; a larger length is a corrupt header.
const MAX_PAYLOAD: u32 = 1 << 30;

/// The bytes of one entry, header and payload, written with one `write` call.
pub(crate) fn frame(payload: &[u8], records: u32, flags: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER as usize + payload.len());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&records.to_le_bytes());
    out.extend_from_slice(&flags.to_le_bytes());
    out.extend_from_slice(&checksum(records, flags, payload).to_le_bytes());
    out.extend_from_slice(payload);
    out
}

fn checksum(records: u32, flags: u32, payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&records.to_le_bytes());
    h.update(&flags.to_le_bytes());
    h.update(payload);
    h.finalize()
}

/// What is at one offset of a segment.
pub(crate) enum Found {
    /// A whole entry whose checksum holds.
    Entry {
        records: u32,
        flags: u32,
        payload: Vec<u8>,
        /// Header and payload.
        len: u64,
    },
    /// The offset is the segment's end.
    End,
    /// A tail cut short (a crash mid-write) or bytes that are not an entry; `records` is the
    /// header's count when the header itself was whole (a guess, since it is unchecked),
    /// held to what the bytes on disk could hold, so a damaged count cannot claim billions.
    Bad { records: u32, why: &'static str },
}

/// Reads the entry at `offset` of `file`, whose length is `file_len`.
pub(crate) fn read_at(file: &mut File, offset: u64, file_len: u64) -> Found {
    if offset >= file_len {
        return Found::End;
    }
    if file_len - offset < HEADER {
        return Found::Bad {
            records: 0,
            why: "truncated header",
        };
    }
    let mut header = [0u8; HEADER as usize];
    if file.seek(SeekFrom::Start(offset)).is_err() || file.read_exact(&mut header).is_err() {
        return Found::Bad {
            records: 0,
            why: "unreadable header",
        };
    }
    let word = |i: usize| u32::from_le_bytes(header[i * 4..i * 4 + 4].try_into().unwrap_or([0; 4]));
    let (len, records, flags, crc) = (word(0), word(1), word(2), word(3));
    if len > MAX_PAYLOAD {
        return Found::Bad {
            records: 0,
            why: "impossible length",
        };
    }
    let present = (file_len - offset - HEADER).min(u64::from(len));
    let records = plausible(records, present);
    if present < u64::from(len) {
        return Found::Bad {
            records,
            why: "truncated entry",
        };
    }
    let mut payload = vec![0u8; len as usize];
    if file.read_exact(&mut payload).is_err() {
        return Found::Bad {
            records,
            why: "unreadable entry",
        };
    }
    if checksum(records, flags, &payload) != crc {
        return Found::Bad {
            records,
            why: "checksum mismatch",
        };
    }
    Found::Entry {
        records,
        flags,
        payload,
        len: HEADER + u64::from(len),
    }
}

/// The record count and whole length of the entry at `offset`, from its header alone (the
/// payload is neither read nor checked): `None` when the header is cut short, unreadable or
/// names a length the segment does not hold. Counting what is left at open this way reads
/// 16 bytes an entry, not the whole spool.
pub(crate) fn header_at(file: &mut File, offset: u64, file_len: u64) -> Option<(u32, u64)> {
    if file_len.checked_sub(offset)? < HEADER {
        return None;
    }
    let mut header = [0u8; HEADER as usize];
    file.seek(SeekFrom::Start(offset)).ok()?;
    file.read_exact(&mut header).ok()?;
    let word = |i: usize| u32::from_le_bytes(header[i * 4..i * 4 + 4].try_into().unwrap_or([0; 4]));
    let (len, records) = (word(0), word(1));
    let whole = HEADER + u64::from(len);
    if len > MAX_PAYLOAD || file_len - offset < whole {
        return None;
    }
    Some((plausible(records, u64::from(len)), whole))
}

/// `records` held to what `bytes` of payload can hold.
fn plausible(records: u32, bytes: u64) -> u32 {
    let most = bytes / super::codec::MIN_RECORD_BYTES;
    records.min(u32::try_from(most).unwrap_or(u32::MAX))
}

/// After a bad stretch starting at `offset`, the offset of the next whole entry whose
/// checksum holds (or the segment's end): the entries after a damaged one are kept.
pub(crate) fn resync(file: &mut File, offset: u64, file_len: u64) -> u64 {
    let mut rest = Vec::new();
    if file.seek(SeekFrom::Start(offset)).is_err() || file.read_to_end(&mut rest).is_err() {
        return file_len;
    }
    let rest = &rest[..rest.len().min((file_len - offset) as usize)];
    (1..rest.len())
        .find(|&at| whole_entry(&rest[at..]))
        .map_or(file_len, |at| offset + at as u64)
}

/// True when `bytes` starts with an entry whose checksum holds.
fn whole_entry(bytes: &[u8]) -> bool {
    if bytes.len() < HEADER as usize {
        return false;
    }
    let word = |i: usize| u32::from_le_bytes(bytes[i * 4..i * 4 + 4].try_into().unwrap_or([0; 4]));
    let (len, records, flags, crc) = (word(0), word(1), word(2), word(3));
    let end = HEADER as usize + len as usize;
    len <= MAX_PAYLOAD
        && bytes.len() >= end
        && checksum(records, flags, &bytes[HEADER as usize..end]) == crc
}
