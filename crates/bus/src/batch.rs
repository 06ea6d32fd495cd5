//! Batches of database events in one stream message (`rosey.db.batch`, durable mode only).
//!
//! In a burst the durable outbox packs the events that are already queued into one
//! JetStream message instead of one message each: the stream stores, replicates and
//! acknowledges one message per batch, and the database service acknowledges it once after
//! the commit that covers all of its events. An event alone still travels as before, on its
//! own subject with its id as `Nats-Msg-Id`.
//!
//! The payload is a version line, then the events back to back:
//!
//! ```text
//! rosey-batch 1\n
//! <subject> <id> <length>\n<payload: length bytes>\n
//! <subject> <id> <length>\n<payload: length bytes>\n
//! …
//! ```
//!
//! The length prefix lets the reader slice each event's JSON without scanning it twice (a JSON
//! array of raw values would be validated once by the outer parser and again per event), and
//! keeps the message readable with `nats stream view`. Subjects and ids never contain spaces
//! or line breaks (the writer checks). Each event keeps its own id: the service de-duplicates
//! per event, so a batch that is delivered again after a crash changes nothing.

use bytes::{BufMut, Bytes, BytesMut};

/// The subject of a batch message.
pub use rosey_model::subjects::DB_BATCH;

/// First line of every batch.
const VERSION_LINE: &[u8] = b"rosey-batch 1\n";

/// One event inside a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    pub subject: &'a str,
    pub id: &'a str,
    pub payload: &'a [u8],
}

/// Why a batch could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    #[error("not a Rosey batch (expected the line `rosey-batch 1`)")]
    Version,
    #[error("batch record {index}: {what}")]
    Record { index: usize, what: &'static str },
}

/// Whether `token` may be a subject or an id in a batch header line.
pub fn header_safe(token: &str) -> bool {
    !token.is_empty() && !token.bytes().any(|b| b == b' ' || b == b'\n' || b == b'\r')
}

/// Bytes one record adds to a batch (for the size budget).
pub fn record_len(subject: &str, id: &str, payload: &[u8]) -> usize {
    subject.len() + id.len() + payload.len() + 24
}

/// Builds a batch payload.
pub struct BatchWriter {
    buf: BytesMut,
    records: usize,
}

impl BatchWriter {
    pub fn with_capacity(bytes: usize) -> Self {
        let mut buf = BytesMut::with_capacity(bytes + VERSION_LINE.len());
        buf.put_slice(VERSION_LINE);
        BatchWriter { buf, records: 0 }
    }

    /// Appends an event. Panics in debug builds on a subject or id that [`header_safe`]
    /// refuses (callers check: the outbox sends such an event alone).
    pub fn push(&mut self, subject: &str, id: &str, payload: &[u8]) {
        debug_assert!(header_safe(subject) && header_safe(id));
        self.buf.put_slice(subject.as_bytes());
        self.buf.put_u8(b' ');
        self.buf.put_slice(id.as_bytes());
        self.buf.put_u8(b' ');
        self.buf.put_slice(payload.len().to_string().as_bytes());
        self.buf.put_u8(b'\n');
        self.buf.put_slice(payload);
        self.buf.put_u8(b'\n');
        self.records += 1;
    }

    pub fn records(&self) -> usize {
        self.records
    }

    pub fn finish(self) -> Bytes {
        self.buf.freeze()
    }
}

/// The `Nats-Msg-Id` of a batch: its first event's id and its size. A batch is retried
/// unchanged, so a re-publish carries the same id and the stream drops it; no other batch
/// starts with the same event.
pub fn batch_id(first_id: &str, records: usize) -> String {
    format!("batch:{first_id}+{records}")
}

/// Splits a batch into its records, or says where it is broken.
pub fn read(payload: &[u8]) -> Result<Vec<Record<'_>>, BatchError> {
    let mut rest = payload
        .strip_prefix(VERSION_LINE)
        .ok_or(BatchError::Version)?;
    let mut out = Vec::new();
    while !rest.is_empty() {
        let index = out.len();
        let bad = |what| BatchError::Record { index, what };
        let eol = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or(bad("header line not terminated"))?;
        let header = std::str::from_utf8(&rest[..eol]).map_err(|_| bad("header not UTF-8"))?;
        let mut parts = header.split(' ');
        let (Some(subject), Some(id), Some(len), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad("header is not `<subject> <id> <length>`"));
        };
        if subject.is_empty() || id.is_empty() {
            return Err(bad("empty subject or id"));
        }
        let len: usize = len.parse().map_err(|_| bad("length is not a number"))?;
        let body = &rest[eol + 1..];
        // `get`, not `len + 1`: a length near usize::MAX must not overflow.
        if body.get(len) != Some(&b'\n') {
            return Err(bad("payload shorter than its length"));
        }
        out.push(Record {
            subject,
            id,
            payload: &body[..len],
        });
        rest = &body[len + 1..];
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn build(records: &[(&str, &str, &[u8])]) -> Bytes {
        let mut w = BatchWriter::with_capacity(64);
        for (s, i, p) in records {
            w.push(s, i, p);
        }
        w.finish()
    }

    #[test]
    fn round_trip_and_readable() {
        let b = build(&[
            (
                "rosey.db.message.log",
                "a-1",
                br#"{"username":"x","message":"hi\nthere"}"#,
            ),
            ("rosey.db.user.joined", "a-2", b"{}"),
        ]);
        assert!(b.starts_with(b"rosey-batch 1\nrosey.db.message.log a-1 "));
        let r = read(&b).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].subject, "rosey.db.message.log");
        assert_eq!(r[0].payload, br#"{"username":"x","message":"hi\nthere"}"#);
        assert_eq!(r[1].id, "a-2");
        assert_eq!(read(b"rosey-batch 1\n").unwrap(), vec![]);
    }

    #[test]
    fn broken_batches_say_where() {
        assert_eq!(read(b"{\"x\":1}"), Err(BatchError::Version));
        let ok = build(&[("s", "i", b"{}"), ("t", "j", b"[1]")]);
        // Cut anywhere inside the second record.
        for cut in ok.len() - 8..ok.len() {
            match read(&ok[..cut]) {
                Err(BatchError::Record { index: 1, .. }) => {}
                other => panic!("cut at {cut}: {other:?}"),
            }
        }
        for bad in [
            &b"rosey-batch 1\ns i x\n{}\n"[..],
            b"rosey-batch 1\ns i\n{}\n",
            b"rosey-batch 1\ns i 2 9\n{}\n",
            b"rosey-batch 1\ns i 2\n{}}",
            b"rosey-batch 1\n i 2\n{}\n",
            // usize::MAX: `len + 1` overflowed (found while writing the fuzz target).
            b"rosey-batch 1\ns i 18446744073709551615\n{}\n",
        ] {
            assert!(
                matches!(read(bad), Err(BatchError::Record { index: 0, .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn header_tokens() {
        assert!(header_safe("abc-1"));
        assert!(!header_safe("a b") && !header_safe("") && !header_safe("a\nb"));
        assert_eq!(batch_id("p-7", 3), "batch:p-7+3");
    }

    proptest! {
        #[test]
        fn any_records_round_trip(
            records in proptest::collection::vec(
                ("[a-z.]{1,20}", "[A-Za-z0-9:+-]{1,30}", proptest::collection::vec(any::<u8>(), 0..200)),
                0..20,
            )
        ) {
            let mut w = BatchWriter::with_capacity(16);
            for (s, i, p) in &records {
                w.push(s, i, p);
            }
            let bytes = w.finish();
            let back = read(&bytes).unwrap();
            prop_assert_eq!(back.len(), records.len());
            for (r, (s, i, p)) in back.iter().zip(&records) {
                prop_assert_eq!(r.subject, s.as_str());
                prop_assert_eq!(r.id, i.as_str());
                prop_assert_eq!(r.payload, p.as_slice());
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut input = b"rosey-batch 1\n".to_vec();
            input.extend(bytes);
            let _ = read(&input);
        }
    }
}
