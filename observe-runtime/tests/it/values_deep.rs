//! Arguments and results nested far deeper than any limit: capture stops at the documented
//! depth while it serializes, so the caller's stack never holds more than a bounded number of
//! the value's levels, and the stored input or output is the truncation marker.

use std::time::Duration;

use observe_runtime::export::memory::InMemory;
use observe_runtime::limits::MAX_JSON_DEPTH;
use observe_runtime::{observe, Client};
use serde::Serialize;

const FLUSH: Duration = Duration::from_secs(30);

/// A linked list: its derived `Serialize` recurses once per link (`{"next":{"next":...}}`).
#[derive(Serialize)]
struct Chain {
    next: Option<Box<Chain>>,
}

impl Chain {
    /// Built iteratively: nothing here recurses.
    fn deep(levels: usize) -> Chain {
        let mut chain = Chain { next: None };
        for _ in 1..levels {
            chain = Chain {
                next: Some(Box::new(chain)),
            };
        }
        chain
    }
}

impl Drop for Chain {
    /// Unlinks iteratively: the derived drop would recurse once per link, and the test is
    /// about serialization, not about dropping.
    fn drop(&mut self) {
        let mut next = self.next.take();
        while let Some(mut link) = next {
            next = link.next.take();
        }
    }
}

/// A newtype chain: serde_json writes newtypes and `Some` transparently, so this recurses
/// once per link while the JSON it makes is one `null`, never nested at all.
#[derive(Serialize)]
struct Wrapped(Option<Box<Wrapped>>);

impl Wrapped {
    fn deep(levels: usize) -> Wrapped {
        let mut w = Wrapped(None);
        for _ in 1..levels {
            w = Wrapped(Some(Box::new(w)));
        }
        w
    }
}

impl Drop for Wrapped {
    fn drop(&mut self) {
        let mut next = self.0.take();
        while let Some(mut link) = next {
            next = link.0.take();
        }
    }
}

#[observe]
fn takes(chain: &Chain, label: &str) -> usize {
    label.len() + usize::from(chain.next.is_some())
}

#[observe]
fn returns(levels: usize) -> Chain {
    Chain::deep(levels)
}

#[observe]
fn takes_wrapped(w: &Wrapped) -> bool {
    w.0.is_some()
}

fn assert_marker(value: &serde_json::Value) {
    assert_eq!(value["truncated"], true, "{value}");
    let reason = value["reason"].as_str().unwrap();
    assert!(
        reason.contains(&format!("deeper than {MAX_JSON_DEPTH} levels")),
        "{reason}"
    );
    assert!(value["original_bytes"].as_u64().unwrap() > 0, "{value}");
}

/// The captured input of the observation named `name`.
fn input_of(memory: &InMemory, name: &str) -> serde_json::Value {
    let obs = memory.find(name).unwrap();
    obs.details().input.as_ref().unwrap().to_value()
}

/// Runs `f` on a thread with a 2 MiB stack (what `std::thread::spawn` gives), so that the
/// outcome does not depend on the test harness's own stack size.
fn on_small_stack<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .stack_size(2 * 1024 * 1024)
            .spawn_scoped(s, f)
            .unwrap()
            .join()
            .unwrap()
    })
}

#[test]
fn arguments_ten_thousand_and_three_hundred_thousand_deep_are_cut_at_the_documented_depth() {
    let (client, memory) = Client::in_memory();
    for levels in [10_000, 300_000] {
        let chain = Chain::deep(levels);
        let n = on_small_stack(|| client.in_scope(|| takes(&chain, "ok")));
        assert_eq!(n, 3);
    }
    client.flush(FLUSH);
    let obs = memory.observations();
    let inputs: Vec<serde_json::Value> = obs
        .iter()
        .filter(|o| o.name == "takes")
        .map(|o| o.details().input.as_ref().unwrap().to_value())
        .collect();
    assert_eq!(inputs.len(), 2);
    for input in &inputs {
        assert_marker(&input["chain"]);
        // The other argument is kept.
        assert_eq!(input["label"], "ok");
    }
    let stats = client.stats();
    assert_eq!(stats.destination("memory").unwrap().exported, 2);
}

#[test]
fn a_result_three_hundred_thousand_deep_is_cut_at_the_documented_depth() {
    let (client, memory) = Client::in_memory();
    let chain = on_small_stack(|| client.in_scope(|| returns(300_000)));
    assert!(chain.next.is_some());
    client.flush(FLUSH);
    let returned = memory.find("returns").unwrap();
    assert_marker(&returned.details().output.as_ref().unwrap().to_value());
}

#[test]
fn a_value_within_the_depth_limit_is_kept_whole() {
    let (client, memory) = Client::in_memory();
    // The input object is one level, each link one more: the deepest value kept whole.
    let chain = Chain::deep(MAX_JSON_DEPTH - 1);
    client.in_scope(|| takes(&chain, "ok"));
    client.flush(FLUSH);
    let input = input_of(&memory, "takes");
    let mut level = &input["chain"];
    let mut depth = 1;
    while !level["next"].is_null() {
        level = &level["next"];
        depth += 1;
    }
    assert_eq!(depth, MAX_JSON_DEPTH - 1);
}

#[test]
fn a_newtype_chain_that_recurses_without_nesting_is_bounded_too() {
    let (client, memory) = Client::in_memory();
    let w = Wrapped::deep(300_000);
    let kept = on_small_stack(|| client.in_scope(|| takes_wrapped(&w)));
    assert!(kept);
    client.flush(FLUSH);
    let input = input_of(&memory, "takes_wrapped");
    assert_eq!(input["w"]["truncated"], true, "{input}");
}
