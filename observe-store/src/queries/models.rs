//! The model names the store has seen, for `observe prices --check`.

use crate::read::Store;
use crate::StoreError;

/// A model name and how many observations name it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelCount {
    /// The model name as recorded.
    pub model: String,
    /// Observations with that model.
    pub observations: u64,
}

impl Store {
    /// Every model name that model calls carry and that a price would cost, with how many
    /// carry it, the most used first: generations and embeddings without a cost given by
    /// the caller (an agent keeps its model name but is never priced, and a given cost is
    /// never replaced). It reads every observation (a check a person runs, not a page the
    /// view serves).
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let path = dir.path().join("traces.db");
    /// # drop(observe_store::StoreExporter::open(&path).unwrap());
    /// let store = observe_store::Store::open(&path).unwrap();
    /// assert!(store.model_counts().unwrap().is_empty());
    /// ```
    pub fn model_counts(&self) -> Result<Vec<ModelCount>, StoreError> {
        let rows = self.objects(
            "SELECT model, COUNT(*) AS observations FROM observations
             WHERE model IS NOT NULL AND model <> ''
               AND type IN ('GENERATION', 'EMBEDDING')
               AND NOT (cost_details IS NOT NULL AND cost_computed = 0)
             GROUP BY model ORDER BY observations DESC, model",
            &[],
        )?;
        Ok(rows
            .into_iter()
            .filter_map(|row| {
                Some(ModelCount {
                    model: row["model"].as_str()?.to_owned(),
                    observations: row["observations"].as_u64()?,
                })
            })
            .collect())
    }
}
