//! Ratios of two rates measured in the same round, summarised by their
//! median and range: load from elsewhere on a small machine moves both
//! rates of a pair alike, so the ratio within a pair is steadier than a
//! ratio of best rounds.

/// The per-round ratios of one comparison.
#[derive(Debug, Default)]
pub(crate) struct Ratios(Vec<f64>);

impl Ratios {
    /// Adds one round's pair.
    pub(crate) fn push(&mut self, numerator: f64, denominator: f64) {
        if denominator > 0.0 {
            self.0.push(numerator / denominator);
        }
    }

    /// `median M (from LOW to HIGH, N pairs)`, or `no pairs`.
    pub(crate) fn summary(&self) -> String {
        let mut sorted = self.0.clone();
        sorted.sort_by(f64::total_cmp);
        let Some((&low, &high)) = sorted.first().zip(sorted.last()) else {
            return "no pairs".into();
        };
        let mid = sorted.len() / 2;
        let median = if sorted.len() % 2 == 1 {
            sorted[mid]
        } else {
            (sorted[mid - 1] + sorted[mid]) / 2.0
        };
        format!(
            "median {median:.2} (from {low:.2} to {high:.2}, {} pairs)",
            sorted.len()
        )
    }
}
