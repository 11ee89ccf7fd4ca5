//! The byte budget: how many bytes of records the pipeline may hold, checked on the hot path
//! without a shared atomic operation per record.
//!
//! As with the record credits, a thread takes bytes from the shared budget a chunk at a time
//! (one atomic operation per chunk) and spends them locally; a record larger than a chunk
//! takes exactly what it needs. What a thread holds unused goes back when the thread exits.
//! The worker gives bytes back when the last destination is done with a batch.

use std::cell::RefCell;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use crossbeam_utils::CachePadded;

/// Bytes left to hand out.
pub(crate) struct Budget {
    left: CachePadded<AtomicI64>,
    /// What a thread takes at once: small against the total.
    chunk: usize,
    /// Bytes only roots may take (see [`Budget::take_reserved`]): under a burst the children
    /// spend the rest, and the root that ends after them still gets in.
    reserve: i64,
}

impl Budget {
    pub(crate) fn new(total: usize) -> Budget {
        Budget {
            left: CachePadded::new(AtomicI64::new(total as i64)),
            chunk: (total / 256).clamp(1, 256 * 1024),
            reserve: (total / 32) as i64,
        }
    }

    /// Takes `n` bytes, all or nothing, leaving the roots' reserve.
    fn take(&self, n: usize) -> bool {
        self.take_above(n, self.reserve)
    }

    /// Takes `n` bytes for a root, from the reserve too. Called only when [`charge`]
    /// failed: the common path takes nothing from here.
    pub(crate) fn take_reserved(&self, n: usize) -> bool {
        self.take_above(n, 0)
    }

    fn take_above(&self, n: usize, keep: i64) -> bool {
        let n = n as i64;
        let before = self.left.fetch_sub(n, Ordering::AcqRel);
        if before - n < keep {
            self.left.fetch_add(n, Ordering::AcqRel);
            return false;
        }
        true
    }

    /// Gives `n` bytes back.
    pub(crate) fn give(&self, n: usize) {
        self.left.fetch_add(n as i64, Ordering::AcqRel);
    }
}

/// One thread's unspent bytes for one pipeline.
struct Credit {
    pipeline_id: u64,
    budget: Arc<Budget>,
    left: usize,
}

impl Drop for Credit {
    fn drop(&mut self) {
        self.budget.give(self.left);
    }
}

thread_local! {
    /// This thread's byte credits, one per pipeline it pushes to; the one used last first.
    static CREDITS: RefCell<Vec<Credit>> = const { RefCell::new(Vec::new()) };
}

/// Charges `bytes` for a record of pipeline `id`: from this thread's credit when it has
/// enough, else from the shared budget. False when the budget is spent.
#[inline]
pub(crate) fn charge(id: u64, budget: &Arc<Budget>, bytes: usize) -> bool {
    CREDITS
        .try_with(|cell| {
            let Ok(mut credits) = cell.try_borrow_mut() else {
                return budget.take(bytes);
            };
            match credits.first_mut() {
                Some(c) if c.pipeline_id == id && c.left >= bytes => {
                    c.left -= bytes;
                    true
                }
                _ => charge_slow(&mut credits, id, budget, bytes),
            }
        })
        // This thread's storage is gone (it is exiting): straight from the budget.
        .unwrap_or_else(|_| budget.take(bytes))
}

#[cold]
fn charge_slow(credits: &mut Vec<Credit>, id: u64, budget: &Arc<Budget>, bytes: usize) -> bool {
    let index = match credits.iter().position(|c| c.pipeline_id == id) {
        Some(index) => index,
        None => {
            // Forget the credits of pipelines that are gone.
            credits.retain(|c| Arc::strong_count(&c.budget) > 1);
            credits.push(Credit {
                pipeline_id: id,
                budget: budget.clone(),
                left: 0,
            });
            credits.len() - 1
        }
    };
    credits.swap(0, index);
    let credit = &mut credits[0];
    if credit.left >= bytes {
        credit.left -= bytes;
        return true;
    }
    let need = bytes - credit.left.min(bytes);
    let refill = need.max(budget.chunk);
    if budget.take(refill) {
        credit.left = credit.left + refill - bytes;
        return true;
    }
    // Not a whole chunk left: just what this record needs.
    if need < refill && budget.take(need) {
        credit.left = credit.left + need - bytes;
        return true;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_spends_its_chunk_and_gives_the_rest_back_on_exit() {
        let budget = Arc::new(Budget::new(10_000));
        let b = budget.clone();
        std::thread::spawn(move || {
            let mut taken = 0;
            while charge(1, &b, 30) {
                taken += 30;
            }
            // Every byte but the roots' reserve can be spent, by chunks then by the record.
            let open = 10_000 - b.reserve as usize;
            assert!(taken > open - 30 && taken <= open, "{taken}");
            b.give(taken);
        })
        .join()
        .unwrap();
        assert_eq!(budget.left.load(Ordering::Relaxed), 10_000);
    }

    #[test]
    fn a_root_may_take_the_reserve_that_other_records_leave() {
        let budget = Arc::new(Budget::new(32_000));
        let mut taken = 0;
        while charge(3, &budget, 100) {
            taken += 100;
        }
        assert!(taken <= 32_000 - 1_000, "the reserve is left: {taken}");
        assert!(budget.take_reserved(900));
        assert!(!budget.take_reserved(32_000));
    }

    #[test]
    fn a_record_larger_than_a_chunk_takes_what_it_needs() {
        let budget = Arc::new(Budget::new(1_000_000));
        assert!(charge(7, &budget, 600_000));
        assert!(!charge(7, &budget, 600_000));
        budget.give(600_000);
        assert!(charge(7, &budget, 600_000));
    }
}
