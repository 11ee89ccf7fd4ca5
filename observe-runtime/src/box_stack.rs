//! A per-thread stack of spare heap boxes, for what the caller's thread allocates and frees
//! on every observation (open frames, capture buffers).

use std::cell::Cell;

/// At most `N` spare boxes: `boxes[..len]` hold one each, the rest `None`.
///
/// A fixed array of `Cell`s rather than a `RefCell<Vec<_>>`: no borrow flag to set and reset
/// and no capacity to check on each take and give back (~20 instructions of an async
/// child's ~490). Meant for a `thread_local!` initialized with [`BoxStack::new`] in a
/// `const` block.
pub(crate) struct BoxStack<T, const N: usize> {
    len: Cell<usize>,
    boxes: [Cell<Option<Box<T>>>; N],
}

impl<T, const N: usize> BoxStack<T, N> {
    /// An empty stack.
    pub(crate) const fn new() -> Self {
        BoxStack {
            len: Cell::new(0),
            boxes: [const { Cell::new(None) }; N],
        }
    }

    /// The box given back last, if any.
    #[inline]
    pub(crate) fn take(&self) -> Option<Box<T>> {
        let top = self.len.get().checked_sub(1)?;
        let spare = self.boxes.get(top)?.take();
        self.len.set(top);
        spare
    }

    /// Keeps `boxed` for a later [`take`](Self::take); past `N` it is dropped here.
    #[inline]
    pub(crate) fn give(&self, boxed: Box<T>) {
        let len = self.len.get();
        if let Some(slot) = self.boxes.get(len) {
            slot.set(Some(boxed));
            self.len.set(len + 1);
        }
    }

    /// How many boxes are kept.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_at_most_n_boxes_last_in_first_out() {
        const N: usize = 4;
        let stack = BoxStack::<u64, N>::new();
        assert!(stack.take().is_none(), "empty");
        let boxes: Vec<_> = (0..=N as u64).map(Box::new).collect();
        let addresses: Vec<_> = boxes.iter().map(|b| &**b as *const u64).collect();
        for boxed in boxes {
            stack.give(boxed);
        }
        assert_eq!(stack.len(), N, "the box past the cap was dropped");
        for address in addresses[..N].iter().rev() {
            let boxed = stack.take().expect("kept");
            assert_eq!(&*boxed as *const u64, *address);
        }
        assert!(stack.take().is_none(), "all taken back");
    }
}
