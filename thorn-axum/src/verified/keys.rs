//! Where a receiver's keys come from.

use thorn_core::Secret;

/// The secrets that may have signed a delivery: the current one first,
/// then any being rotated out. `subscription` is the delivery's
/// `Hook-Subscription` header, for receivers with a secret per
/// subscription.
///
/// A [`Secret`], a `Vec<Secret>` and any
/// `Fn(Option<&str>) -> Vec<Secret>` are key lookups.
pub trait KeyLookup: Send + Sync + 'static {
    /// The secrets for `subscription`; none refuses the delivery.
    fn keys(&self, subscription: Option<&str>) -> Vec<Secret>;
}

impl KeyLookup for Secret {
    fn keys(&self, _subscription: Option<&str>) -> Vec<Secret> {
        vec![self.clone()]
    }
}

impl KeyLookup for Vec<Secret> {
    fn keys(&self, _subscription: Option<&str>) -> Vec<Secret> {
        self.clone()
    }
}

impl<F> KeyLookup for F
where
    F: Fn(Option<&str>) -> Vec<Secret> + Send + Sync + 'static,
{
    fn keys(&self, subscription: Option<&str>) -> Vec<Secret> {
        self(subscription)
    }
}
