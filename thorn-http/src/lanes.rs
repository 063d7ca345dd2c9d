//! Per-subscription lanes of a batch, sorted by URL origin.

use std::collections::HashMap;

use thorn_core::Subscriber;
use url::Url;
use uuid::Uuid;

/// Groups `items` (deliveries, or whatever carries one) into one lane per
/// subscription, as `subscriber` says whose each item is.
///
/// - Within a lane, items keep the order they came in: a backend delivers
///   a lane's items one after another, so that a subscriber sees the
///   events of one batch in the order they were sent.
/// - Lanes are sorted by their URL's origin (scheme, host, port), so that
///   the lanes to one receiver start together and reuse its pooled
///   keep-alive connections. The sort is stable: lanes of one origin stay
///   in the order of their first item.
///
/// No lane is empty. Consecutive items of one subscription (the common
/// case: a flush of events to one subscriber) cost no lookup, and a batch
/// of one subscription allocates nothing beyond its lane.
///
/// ```
/// use std::sync::Arc;
/// use thorn_core::Subscriber;
/// use thorn_http::group_by_subscription;
///
/// let sub = |url: &str| Arc::new(Subscriber::builder("a.*", url, "k").build().unwrap());
/// let (b, a) = (sub("https://b.example/"), sub("https://a.example/"));
/// let items = [(1, &b), (2, &a), (3, &b)];
/// let lanes = group_by_subscription(items, |(_, s)| s);
/// let order: Vec<Vec<i32>> = lanes.iter().map(|l| l.iter().map(|(i, _)| *i).collect()).collect();
/// assert_eq!(order, [vec![2], vec![1, 3]]);
/// ```
pub fn group_by_subscription<T, F>(items: impl IntoIterator<Item = T>, subscriber: F) -> Vec<Vec<T>>
where
    F: Fn(&T) -> &Subscriber,
{
    let mut lanes: Vec<Vec<T>> = Vec::new();
    // Filled only once a second subscription shows up.
    let mut index: HashMap<Uuid, usize> = HashMap::new();
    let mut last: Option<(Uuid, usize)> = None;
    for item in items {
        let id = subscriber(&item).id;
        let lane = match last {
            Some((l, i)) if l == id => i,
            None => {
                lanes.push(Vec::new());
                0
            }
            Some((l, i)) => {
                if index.is_empty() {
                    index.insert(l, i);
                }
                *index.entry(id).or_insert_with(|| {
                    lanes.push(Vec::new());
                    lanes.len() - 1
                })
            }
        };
        last = Some((id, lane));
        if let Some(lane) = lanes.get_mut(lane) {
            lane.push(item);
        }
    }
    if lanes.len() > 1 {
        lanes.sort_by(|a, b| origin(a, &subscriber).cmp(&origin(b, &subscriber)));
    }
    lanes
}

/// The origin of a lane's URL, borrowed: no string is made to compare two.
fn origin<'a, T>(
    lane: &'a [T],
    subscriber: &impl Fn(&T) -> &Subscriber,
) -> Option<(&'a str, Option<&'a str>, Option<u16>)> {
    let url: &Url = &subscriber(lane.first()?).url;
    Some((url.scheme(), url.host_str(), url.port_or_known_default()))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use thorn_core::Subscriber;

    use super::group_by_subscription;

    fn sub(url: &str) -> Arc<Subscriber> {
        Arc::new(Subscriber::builder("a.*", url, "k").build().unwrap())
    }

    /// The lanes as the items' numbers.
    fn numbers(lanes: &[Vec<(u32, Arc<Subscriber>)>]) -> Vec<Vec<u32>> {
        lanes
            .iter()
            .map(|l| l.iter().map(|(n, _)| *n).collect())
            .collect()
    }

    #[test]
    fn lanes_keep_order_within_and_sort_by_origin_stably() {
        let c1 = sub("https://c.example/one");
        let a1 = sub("https://a.example/one");
        let c2 = sub("https://c.example/two");
        let a_port = sub("https://a.example:8443/");
        let b = sub("http://b.example/");
        let a2 = sub("https://a.example:443/two");
        let items = [
            (1, &c1),
            (2, &a1),
            (3, &c2),
            (4, &c1),
            (5, &a_port),
            (6, &b),
            (7, &a2),
            (8, &a1),
            (9, &c2),
            (10, &c1),
        ]
        .map(|(n, s)| (n, Arc::clone(s)));
        let lanes = group_by_subscription(items, |(_, s)| s);
        assert_eq!(
            numbers(&lanes),
            [
                // http sorts before https.
                vec![6],
                // https://a.example (port 443 said or not): a1 came first.
                vec![2, 8],
                vec![7],
                vec![5],
                // https://c.example: c1 came before c2.
                vec![1, 4, 10],
                vec![3, 9],
            ]
        );
        for lane in &lanes {
            assert!(
                lane.iter().all(|(_, s)| s.id == lane[0].1.id),
                "one subscription a lane"
            );
        }
    }

    #[test]
    fn small_and_empty_batches() {
        let a = sub("https://a.example/");
        let none: [(u32, Arc<Subscriber>); 0] = [];
        assert!(group_by_subscription(none, |(_, s)| s).is_empty());
        let one = group_by_subscription([(1, Arc::clone(&a))], |(_, s)| s);
        assert_eq!(numbers(&one), [vec![1]]);
        let run = group_by_subscription((1..=3).map(|n| (n, Arc::clone(&a))), |(_, s)| s);
        assert_eq!(numbers(&run), [vec![1, 2, 3]]);
    }
}
