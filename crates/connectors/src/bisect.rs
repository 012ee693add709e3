//! Per-row outcomes for sinks that write a batch in one transaction: a batch that fails on the
//! data of some rows is split in halves, again and again, until each failing row is alone;
//! those rows are rejected (they go to the error sink with the server's reason) and every
//! other row is written. Shared by the database sinks (PostgreSQL; ClickHouse and Trino next).
//!
//! Layout: a sink implements [`BisectWrite`] (write some pieces, say what a failure means,
//! reject a piece) and calls [`bisect`].

use async_trait::async_trait;
use dataflow_core::Rejection;

/// What a failed write of some pieces means.
#[derive(Debug)]
pub enum Failure<E> {
    /// The data of some piece: split to find it.
    Data(E),
    /// Write the same pieces again (the writer changed how it writes them).
    Again,
    /// The batch as a whole failed (a lost connection, a setting): stop here.
    Batch(E),
}

/// A sink's side of the bisection.
#[async_trait]
pub trait BisectWrite: Send {
    /// One row, or anything else written with the batch (a delete).
    type Piece: Clone + Send + Sync;
    /// The error of a write.
    type Error: Send;

    /// Writes `pieces` in one transaction: all of them, or none.
    async fn write_pieces(&mut self, pieces: &[Self::Piece]) -> Result<(), Self::Error>;

    /// What a failure of [`BisectWrite::write_pieces`] means.
    fn judge(&mut self, error: Self::Error) -> Failure<Self::Error>;

    /// The rejection of a piece that failed alone.
    fn reject(&self, piece: &Self::Piece, error: Self::Error) -> Rejection;
}

/// Writes `pieces`, splitting each failing group in halves until every failing piece is
/// alone; returns their rejections (everything else is written). A failure of the whole batch
/// ends it with that error: what was written so far is written (a retry of the batch writes
/// it again, which the sink must tolerate).
pub async fn bisect<W: BisectWrite + ?Sized>(
    writer: &mut W,
    pieces: Vec<W::Piece>,
) -> Result<Vec<Rejection>, W::Error> {
    let mut rejections = Vec::new();
    let mut pending = vec![pieces];
    while let Some(pieces) = pending.pop() {
        if pieces.is_empty() {
            continue;
        }
        let Err(error) = writer.write_pieces(&pieces).await else {
            continue;
        };
        match writer.judge(error) {
            Failure::Again => pending.push(pieces),
            Failure::Batch(error) => return Err(error),
            Failure::Data(error) if pieces.len() == 1 => {
                rejections.push(writer.reject(&pieces[0], error));
            }
            Failure::Data(_) => {
                let middle = pieces.len() / 2;
                pending.push(pieces[middle..].to_vec());
                pending.push(pieces[..middle].to_vec());
            }
        }
    }
    Ok(rejections)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes numbers; a batch holding a multiple of 7 fails as bad data, and the first
    /// write of all fails once with "again".
    #[derive(Default)]
    struct Sevens {
        written: Vec<u32>,
        writes: usize,
    }

    #[async_trait]
    impl BisectWrite for Sevens {
        type Piece = u32;
        type Error = String;

        async fn write_pieces(&mut self, pieces: &[u32]) -> Result<(), String> {
            self.writes += 1;
            if self.writes == 1 {
                return Err("again".into());
            }
            match pieces.iter().find(|n| *n % 7 == 0) {
                Some(bad) => Err(format!("{bad} is a multiple of 7")),
                None => {
                    self.written.extend_from_slice(pieces);
                    Ok(())
                }
            }
        }

        fn judge(&mut self, error: String) -> Failure<String> {
            if error == "again" {
                Failure::Again
            } else {
                Failure::Data(error)
            }
        }

        fn reject(&self, piece: &u32, error: String) -> Rejection {
            Rejection::new(*piece as usize, error)
        }
    }

    #[tokio::test]
    async fn exactly_the_failing_pieces_are_rejected_and_the_rest_written() {
        let mut writer = Sevens::default();
        let rejections = bisect(&mut writer, (1..=50).collect()).await.unwrap();
        let rejected: Vec<usize> = rejections.iter().map(|r| r.index).collect();
        assert_eq!(rejected, vec![7, 14, 21, 28, 35, 42, 49]);
        assert_eq!(rejections[0].reason, "7 is a multiple of 7");
        let mut written = writer.written.clone();
        written.sort();
        assert_eq!(written, (1..=50).filter(|n| n % 7 != 0).collect::<Vec<_>>());
    }
}
