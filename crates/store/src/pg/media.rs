//! The media reads on PostgreSQL: `crate::media`'s statements (through [`dialect`]) and
//! row mappers, run by the one query helper below.

use super::{PgStore, dialect};
use crate::media::{Arg, FromCols, MediaRows};
use crate::{StoreError, error::pg_op};

/// PostgreSQL's query helper for the media reads.
impl MediaRows for PgStore {
    fn media_rows<T: FromCols>(
        &mut self,
        what: &'static str,
        sql: &'static str,
        args: &[Arg<'_>],
    ) -> Result<Vec<T>, StoreError> {
        let params: Vec<&(dyn postgres::types::ToSql + Sync)> = args
            .iter()
            .map(|a| match a {
                Arg::Int(v) => v as &(dyn postgres::types::ToSql + Sync),
                Arg::Text(t) => t,
            })
            .collect();
        let rows = self.rows(what, dialect(sql), &params)?;
        rows.iter()
            .map(|r| T::from_cols(r).map_err(pg_op(what)))
            .collect()
    }
}
