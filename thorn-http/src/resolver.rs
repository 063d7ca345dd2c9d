//! A resolver that applies the recipient policy to every resolved address.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use hyper_util::client::legacy::connect::dns::Name;
use thorn_core::{RecipientPolicy, Refusal};

use thorn_core::BoxError;

/// Resolves a host name and keeps only the addresses the policy allows.
///
/// The connector connects only to what this returns, so a name that
/// resolves to a private address (DNS rebinding included) is refused before
/// any packet is sent to it. When every address is refused, the error is the
/// first [`Refusal`].
#[derive(Clone, Debug)]
pub(crate) struct PolicyResolver {
    policy: Arc<RecipientPolicy>,
}

impl PolicyResolver {
    pub(crate) fn new(policy: Arc<RecipientPolicy>) -> Self {
        PolicyResolver { policy }
    }
}

type Resolving =
    Pin<Box<dyn Future<Output = Result<std::vec::IntoIter<SocketAddr>, BoxError>> + Send>>;

impl tower_service::Service<Name> for PolicyResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = BoxError;
    type Future = Resolving;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let policy = Arc::clone(&self.policy);
        Box::pin(async move {
            let host = name.as_str();
            // The port is set by the connector afterwards.
            let resolved = tokio::net::lookup_host((host, 0)).await?;
            filter(&policy, host, resolved)
        })
    }
}

/// Keeps the allowed addresses; refuses when none is left.
pub(crate) fn filter(
    policy: &RecipientPolicy,
    host: &str,
    resolved: impl Iterator<Item = SocketAddr>,
) -> Result<std::vec::IntoIter<SocketAddr>, BoxError> {
    let mut allowed = Vec::new();
    let mut first_refusal: Option<Refusal> = None;
    for addr in resolved {
        match policy.check_ip(addr.ip()) {
            Ok(()) => allowed.push(addr),
            Err(r) => {
                tracing::debug!(host, address = %addr.ip(), rule = r.rule, "thorn refused a resolved address");
                first_refusal.get_or_insert(r);
            }
        }
    }
    match (allowed.is_empty(), first_refusal) {
        (false, _) => Ok(allowed.into_iter()),
        (true, Some(mut r)) => {
            r.target = format!("{host} (resolved to {})", r.target);
            Err(Box::new(r))
        }
        (true, None) => Err(format!("{host} resolved to no address").into()),
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::sync::Arc;

    use hyper_util::client::legacy::connect::dns::Name;
    use thorn_core::{RecipientPolicy, Refusal};

    use super::{PolicyResolver, filter};

    #[test]
    fn rebinding_to_private_is_filtered() {
        let p = RecipientPolicy::default();
        let addrs: Vec<SocketAddr> = vec![
            "10.0.0.1:0".parse().unwrap(),
            "93.184.216.34:0".parse().unwrap(),
        ];
        let kept: Vec<_> = filter(&p, "example.com", addrs.into_iter())
            .unwrap()
            .collect();
        assert_eq!(kept, vec!["93.184.216.34:0".parse::<SocketAddr>().unwrap()]);

        let only_private: Vec<SocketAddr> = vec!["169.254.169.254:0".parse().unwrap()];
        let err = filter(&p, "metadata.example", only_private.into_iter()).unwrap_err();
        let refusal = err.downcast_ref::<Refusal>().unwrap();
        assert!(refusal.target.contains("metadata.example"), "{refusal}");
        assert!(
            refusal.to_string().contains("THORN_RECIPIENT_VALIDATORS"),
            "{refusal}"
        );
    }

    #[tokio::test]
    async fn a_name_resolving_to_loopback_is_refused() {
        use std::str::FromStr;
        use tower_service::Service;
        let mut resolver =
            PolicyResolver::new(Arc::new(RecipientPolicy::parse("allow_any_port").unwrap()));
        let err = resolver
            .call(Name::from_str("localhost").unwrap())
            .await
            .unwrap_err();
        let refusal = err
            .downcast_ref::<Refusal>()
            .expect("a refusal, not a lookup error");
        assert_eq!(
            refusal.allow.as_deref(),
            Some("allow_loopback,allow_any_port")
        );
        let mut allowing =
            PolicyResolver::new(Arc::new(RecipientPolicy::allow_loopback_any_port()));
        let addrs: Vec<_> = allowing
            .call(Name::from_str("localhost").unwrap())
            .await
            .unwrap()
            .collect();
        assert!(
            !addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback()),
            "{addrs:?}"
        );
    }
}
