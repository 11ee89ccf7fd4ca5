//! Settings shared by every connection to the store file: the writer's, the readers' and
//! the checkpointing thread's.

use std::time::Duration;

/// How long a writer or reader waits for another process's lock before it gives up.
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
