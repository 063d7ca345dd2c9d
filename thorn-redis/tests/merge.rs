//! Single sends that arrive while another is being written go together in
//! one loose entry, against a real redis-server: fewer entries than sends,
//! and a worker delivers every one, each with its own delivery id.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;

use common::{RunningWorker, WAIT, grouped, send_one};
use redis::AsyncCommands as _;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_that_arrive_together_share_an_entry_and_are_each_delivered() {
    let (_redis, receiver, config, thorn, keys, mut c) = grouped().await;
    // Writes wait for a second: the first send's write is held on the
    // wire, and the sends that come meanwhile wait for the next one.
    let _: () = redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(1000)
        .arg("WRITE")
        .query_async(&mut c)
        .await
        .unwrap();
    let sends: Vec<_> = (0..11)
        .map(|_| {
            let thorn = thorn.clone();
            tokio::spawn(async move { send_one(&thorn, "tick.one").await })
        })
        .collect();
    let mut ids = BTreeSet::new();
    for send in sends {
        ids.insert(send.await.unwrap().to_string());
    }
    assert_eq!(ids.len(), 11);
    let entries: usize = c.xlen(&keys.stream).await.unwrap();
    assert!(entries < 11, "{entries} entries for 11 sends");

    let worker = RunningWorker::with_config(config);
    assert_eq!(receiver.wait_for(11, WAIT).await, 11);
    let got: BTreeSet<String> = receiver.delivery_ids().into_iter().collect();
    assert_eq!(got, ids);
    let stats = worker.stop().await;
    assert_eq!(stats.delivered, 11);
    assert_eq!(stats.entries as usize, entries);
}
