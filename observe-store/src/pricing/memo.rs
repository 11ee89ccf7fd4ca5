//! Which entry of a price list a model name matched, remembered per list: a process sees a
//! handful of model names, and trying every entry's regex for each generation would cost
//! microseconds on the store's writer.

use std::collections::HashMap;
use std::sync::Mutex;

/// Names remembered before the memo starts over (a bound for programs that make up model
/// names; a real program's few names are found again at once).
const CAPACITY: usize = 1024;

/// Model name to the index of the first matching entry (`None`: no entry matches).
#[derive(Debug, Default)]
pub(crate) struct Memo(Mutex<HashMap<Box<str>, Option<usize>>>);

impl Memo {
    /// The remembered answer for `model`, else `find`'s, remembered.
    pub(crate) fn get_or(
        &self,
        model: &str,
        find: impl FnOnce() -> Option<usize>,
    ) -> Option<usize> {
        // A poisoned lock only means another thread panicked mid-insert; the map is still
        // a valid cache.
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(found) = map.get(model) {
            return *found;
        }
        let found = find();
        if map.len() >= CAPACITY {
            map.clear();
        }
        map.insert(model.into(), found);
        found
    }
}

/// A copy of a list is a new list: it starts with an empty memo.
impl Clone for Memo {
    fn clone(&self) -> Memo {
        Memo::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_is_found_once() {
        let memo = Memo::default();
        let mut calls = 0;
        for _ in 0..3 {
            assert_eq!(
                memo.get_or("m", || {
                    calls += 1;
                    Some(2)
                }),
                Some(2)
            );
        }
        assert_eq!(calls, 1);
        assert_eq!(memo.get_or("none", || None), None);
        assert_eq!(memo.get_or("none", || Some(9)), None);
        assert_eq!(memo.clone().get_or("m", || Some(5)), Some(5));
    }
}
