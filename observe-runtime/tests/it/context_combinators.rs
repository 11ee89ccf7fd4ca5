//! Children started by `select!` and `FuturesUnordered` get the right parent on a
//! multi-threaded runtime; the loser of a `select!` ends as cancelled.

use std::time::Duration;

use futures::stream::{FuturesUnordered, StreamExt};
use observe_runtime::model::Level;
use observe_runtime::{observe, Client};

#[observe]
async fn step(i: u64) -> u64 {
    tokio::time::sleep(Duration::from_millis(i % 7)).await;
    i
}

#[observe]
async fn fan_out(n: u64) -> u64 {
    let mut running: FuturesUnordered<_> = (0..n).map(step).collect();
    let mut sum = 0;
    while let Some(v) = running.next().await {
        sum += v;
    }
    sum
}

#[observe]
async fn race() -> &'static str {
    // `biased`: on a loaded machine both sleeps may be over by the first poll; the
    // branches are then tried in order, so the short one still wins and the other is
    // cancelled.
    tokio::select! {
        biased;
        _ = step(1) => "fast",
        _ = step(10_000) => "slow",
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn futures_unordered_children_hang_under_their_own_parent() {
    let (client, memory) = Client::in_memory();
    let handles: Vec<_> = (0..200)
        .map(|_| tokio::spawn(client.attach(fan_out(20))))
        .collect();
    for h in handles {
        assert_eq!(h.await.unwrap(), (0..20).sum::<u64>());
    }
    client.flush(Duration::from_secs(30));
    let obs = memory.observations();
    assert_eq!(obs.len(), 200 * 21);
    let parents: std::collections::HashMap<_, _> = obs
        .iter()
        .filter(|o| o.name == "fan_out")
        .map(|o| (o.id, o.trace_id))
        .collect();
    assert_eq!(parents.len(), 200);
    let mut per_parent = std::collections::HashMap::new();
    for o in obs.iter().filter(|o| o.name == "step") {
        let parent = o.parent_id.expect("steps have a parent");
        assert_eq!(
            parents[&parent], o.trace_id,
            "a step hangs under another trace"
        );
        *per_parent.entry(parent).or_insert(0) += 1;
    }
    assert!(per_parent.values().all(|&n| n == 20));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn select_cancels_the_loser_and_both_are_children() {
    let (client, memory) = Client::in_memory();
    assert_eq!(client.attach(race()).await, "fast");
    client.flush(Duration::from_secs(30));
    let root = memory.find("race").unwrap();
    let steps: Vec<_> = memory
        .observations()
        .into_iter()
        .filter(|o| o.name == "step")
        .collect();
    assert_eq!(steps.len(), 2);
    for s in &steps {
        assert_eq!(s.parent_id, Some(root.id));
    }
    let loser = steps
        .iter()
        .find(|s| s.details().input.as_ref().unwrap().to_value()["i"] == 10_000)
        .unwrap();
    assert_eq!(loser.level, Level::Warning);
    assert_eq!(loser.details().status_message.as_deref(), Some("cancelled"));
    let winner = steps.iter().find(|s| s.id != loser.id).unwrap();
    assert_eq!(winner.level, Level::Default);
    // The loser is dropped when `select!` returns, before its parent ends.
    assert!(loser.end <= root.end);
}
